//! `cargo run --release -p bench -- gas`: the gas table of docs/contracts.md, measured from the
//! receipts of real transactions on a fresh anvil with the suite deployed; printed as markdown.
//!
//! Also the one-chain devnet both `gas` and `mempool` run on ([`Net`]), and the helpers to send a
//! contract call and name its revert (`send_ok!`, [`reason`]) and to make a document id ([`doc`]).

use std::path::{Path, PathBuf};

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, U256, keccak256},
    providers::{DynProvider, Provider as _, ProviderBuilder},
    rpc::types::TransactionReceipt,
};
use anyhow::Context as _;
use bindings::{DocumentRegistry, EmergencyBrake, OwnershipTokenizer, PaymentEscrow, TestToken};
use guardian::{
    chain::{ChainClient, Signer, revert, signer::process_env},
    config::{ContractKind, RpcSettings},
    deploy::Suite,
    devnet::{Devnet, DevnetOptions, accounts},
    secret::RpcUrl,
};

/// `cargo run --release -p bench -- gas`.
#[derive(Debug, clap::Args)]
pub struct GasArgs {
    /// The anvil binary (default: GUARDIAN_ANVIL, the npm package under contracts/, then PATH).
    #[arg(long, value_name = "PATH")]
    anvil: Option<PathBuf>,
}

impl GasArgs {
    /// Deploys the suite, sends every operation of the table once and prints the table.
    pub async fn run(self) -> anyhow::Result<std::process::ExitCode> {
        let net = Net::start(self.anvil.as_deref()).await?;
        let result = gas_table(&net).await;
        net.devnet.stop().await;
        println!("{}", result?);
        Ok(std::process::ExitCode::SUCCESS)
    }
}

/// One fresh anvil (automine) with the suite and a TestToken deployed, and a client for it.
pub(crate) struct Net {
    /// The running chain; [`Devnet::stop`] stops anvil.
    pub devnet: Devnet,
    /// The chain's endpoint, also reachable over WebSocket on its port.
    pub url: RpcUrl,
    /// A client for the chain.
    pub client: ChainClient,
    /// The suite on it.
    pub suite: Suite,
}

impl Net {
    /// Finds anvil (`--anvil`, else the usual places), starts it and deploys the suite.
    pub async fn start(anvil: Option<&Path>) -> anyhow::Result<Self> {
        let anvil = guardian::anvil::find_anvil(anvil, &process_env)?;
        eprintln!("starting anvil and deploying the suite (automine) ...");
        let devnet = crate::start_devnet(&DevnetOptions {
            anvil,
            port: 0,
            block_time: None,
            chains: 1,
            copies: 1,
        })
        .await?;
        let suite = devnet
            .suites
            .get("local")
            .and_then(|s| s.first())
            .cloned()
            .context("the devnet has no suite on `local`")?;
        let url = devnet.anvils.first().context("no anvil")?.url.clone();
        let client = ChainClient::connect(
            "local",
            std::slice::from_ref(&url),
            Some(31337),
            &RpcSettings::default(),
        )
        .await?;
        Ok(Self {
            devnet,
            url,
            client,
            suite,
        })
    }

    /// The address of the suite's contract of `kind`.
    pub fn addr(&self, kind: ContractKind) -> anyhow::Result<Address> {
        self.suite
            .address(kind)
            .with_context(|| format!("the suite has no {kind:?}"))
    }

    /// A provider that signs as `signer` (it caches nonces: one per sender).
    pub fn as_signer(&self, signer: &Signer) -> DynProvider {
        ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer.key().clone()))
            .connect_http(self.url.expose().clone())
            .erased()
    }

    /// A dev account's signer by index (5..9 are unused by the suite).
    pub fn account(index: u32) -> anyhow::Result<Signer> {
        Ok(Signer::dev_account("user", index)?)
    }
}

/// A deterministic non-zero document id.
pub(crate) fn doc(n: u64) -> B256 {
    keccak256(format!("document {n}"))
}

/// The decoded revert of a contract error (`Name(args)`), or its message.
pub(crate) fn reason(e: &alloy::contract::Error) -> String {
    match e.as_revert_data() {
        Some(data) => revert::decode(&data),
        None => e.to_string(),
    }
}

/// Sends a contract call and evaluates to its receipt; returns an error naming the call and its
/// decoded revert if it is refused or reverts on chain.
macro_rules! send_ok {
    ($call:expr) => {{
        let pending = $call.send().await.map_err(|e| {
            anyhow::anyhow!("{} failed: {}", stringify!($call), $crate::gas::reason(&e))
        })?;
        let receipt = anyhow::Context::with_context(pending.get_receipt().await, || {
            format!("{}: no receipt", stringify!($call))
        })?;
        if !receipt.status() {
            anyhow::bail!("{} reverted on chain", stringify!($call));
        }
        receipt
    }};
}
pub(crate) use send_ok;

/// Every operation of the table once, then the deployment's own gas: the markdown table.
async fn gas_table(net: &Net) -> anyhow::Result<String> {
    let mut rows: Vec<(String, u64)> = Vec::new();
    let mut add = |name: &str, r: &TransactionReceipt| rows.push((name.to_string(), r.gas_used));

    let user = net.as_signer(&Net::account(6)?);
    let other = Net::account(7)?;
    let other_p = net.as_signer(&other);
    let fee = U256::from(1_000_000_000_000_000u64);
    let resolver = net.addr(ContractKind::AuditResolver)?;
    let registry = DocumentRegistry::new(net.addr(ContractKind::DocumentRegistry)?, user.clone());
    let tokenizer_addr = net.addr(ContractKind::OwnershipTokenizer)?;
    let tokenizer = OwnershipTokenizer::new(tokenizer_addr, user.clone());
    let escrow_addr = net.addr(ContractKind::PaymentEscrow)?;
    let escrow = PaymentEscrow::new(escrow_addr, user.clone());
    let token_addr = net.addr(ContractKind::TestToken)?;
    let token = TestToken::new(token_addr, user.clone());

    add(
        "registerDocument (no resolver)",
        &send_ok!(
            registry
                .registerDocument(doc(1), doc(100), Address::ZERO)
                .value(fee)
        ),
    );
    add(
        "registerDocument (AuditResolver hook)",
        &send_ok!(
            registry
                .registerDocument(doc(2), doc(101), resolver)
                .value(fee)
        ),
    );
    add(
        "setResolver",
        &send_ok!(registry.setResolver(doc(1), resolver)),
    );
    add(
        "reserveToken",
        &send_ok!(tokenizer.reserveToken(doc(2), other.address())),
    );
    let claim = OwnershipTokenizer::new(tokenizer_addr, other_p.clone());
    add(
        "claimToken (mint + hook)",
        &send_ok!(claim.claimToken(doc(2))),
    );
    let third = Net::account(8)?.address();
    add(
        "ERC-721 transferFrom (hook)",
        &send_ok!(claim.transferFrom(other.address(), third, U256::from(1))),
    );
    add(
        "transferDocumentOwnership (hook)",
        &send_ok!(registry.transferDocumentOwnership(doc(2), other.address())),
    );
    let native = U256::from(10u64.pow(18));
    add(
        "deposit (native)",
        &send_ok!(
            escrow
                .deposit(doc(1), Address::ZERO, native, other.address())
                .value(native)
        ),
    );
    send_ok!(token.mint(Net::account(6)?.address(), U256::from(10_000u64)));
    send_ok!(token.approve(escrow_addr, U256::from(10_000u64)));
    add(
        "deposit (ERC-20)",
        &send_ok!(escrow.deposit(doc(1), token_addr, U256::from(1000u64), other.address())),
    );
    add("release (native)", &send_ok!(escrow.release(U256::from(1))));
    let payee = PaymentEscrow::new(escrow_addr, other_p);
    add("refund (ERC-20)", &send_ok!(payee.refund(U256::from(2))));
    send_ok!(
        escrow
            .deposit(doc(1), Address::ZERO, native, other.address())
            .value(native)
    );
    send_ok!(escrow.deposit(doc(1), token_addr, U256::from(1000u64), other.address()));

    let pauser = net.as_signer(&Signer::dev_account("pauser", accounts::PAUSER)?);
    let reg_p = DocumentRegistry::new(net.addr(ContractKind::DocumentRegistry)?, pauser.clone());
    add("pause", &send_ok!(reg_p.pause()));
    add("unpause", &send_ok!(reg_p.unpause()));
    let brake = EmergencyBrake::new(net.addr(ContractKind::EmergencyBrake)?, pauser);
    add(
        "EmergencyBrake.pauseAll (4 targets)",
        &send_ok!(brake.pauseAll()),
    );
    let emergency = Signer::dev_account("emergency", accounts::EMERGENCY)?;
    let safe_signer = Signer::dev_account("safe", accounts::SAFE)?;
    let em = PaymentEscrow::new(escrow_addr, net.as_signer(&emergency));
    add(
        "emergencyWithdraw (native)",
        &send_ok!(em.emergencyWithdraw(Address::ZERO, safe_signer.address(), native)),
    );
    add(
        "emergencyWithdraw (ERC-20)",
        &send_ok!(em.emergencyWithdraw(token_addr, safe_signer.address(), U256::from(1000u64))),
    );
    // One provider for the safe: it caches nonces.
    let safe = net.as_signer(&safe_signer);
    let back = PaymentEscrow::new(escrow_addr, safe.clone());
    add(
        "replenish (native)",
        &send_ok!(back.replenish(Address::ZERO, native).value(native)),
    );
    send_ok!(TestToken::new(token_addr, safe).approve(escrow_addr, U256::from(1000u64)));
    add(
        "replenish (ERC-20)",
        &send_ok!(back.replenish(token_addr, U256::from(1000u64))),
    );

    Ok(render(&rows, &net.suite))
}

/// The markdown table: the operations in the order sent, then each contract's deployment, the
/// wiring and the whole suite.
fn render(rows: &[(String, u64)], suite: &Suite) -> String {
    let mut out = String::from("| operation | gas used |\n|---|---:|\n");
    for (name, gas) in rows {
        out.push_str(&format!("| `{name}` | {gas} |\n"));
    }
    for c in &suite.contracts {
        let how = if c.implementation.is_some() {
            "implementation + proxy"
        } else {
            "plain"
        };
        out.push_str(&format!("| deploy {} ({how}) | {} |\n", c.name, c.gas_used));
    }
    out.push_str(&format!(
        "| deploy wiring (hook sources, brake targets and roles) | {} |\n",
        suite.wiring_gas
    ));
    let total: u64 = suite.contracts.iter().map(|c| c.gas_used).sum::<u64>() + suite.wiring_gas;
    out.push_str(&format!("| **whole suite deployment** | {total} |"));
    out
}
