//! Test support: each test gets its own anvil with the whole suite deployed by `guardian`'s own
//! deployer, signers for every role, and helpers to call contracts and read reverts by name.

pub mod bin;
pub mod http_sink;
pub mod postgres;
pub mod proxy;
pub mod smtp_sink;
pub mod tls;

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionReceipt,
};
use guardian::{
    anvil::find_anvil,
    chain::{ChainClient, Signer, revert},
    config::{ContractKind, RpcSettings},
    deploy::Suite,
    devnet::{Devnet, DevnetOptions, accounts},
};

/// One chain with the suite on it, and a signer per role.
pub struct TestNet {
    /// The running chain(s); dropping it stops anvil.
    pub devnet: Devnet,
    /// A client for the first chain.
    pub client: ChainClient,
    /// The first suite.
    pub suite: Suite,
    pub admin: Signer,
    pub pauser: Signer,
    pub emergency: Signer,
    pub upgrader: Signer,
    pub safe: Signer,
    pub outsider: Signer,
}

pub fn anvil_path() -> std::path::PathBuf {
    if std::env::var("GUARDIAN_TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("guardian=warn")
            .with_writer(std::io::stderr)
            .try_init();
    }
    // Every test starts anvil through here, before it builds any HTTP client of its own (alloy's
    // `connect_http`, reqwest): those need the TLS provider the library installs.
    guardian::tls::install_provider();
    find_anvil(None, &|name| std::env::var(name).ok())
        .expect("anvil: run `npm ci --prefix contracts` first")
}

/// Starts `chains` fresh anvils with `copies` suites each. anvil was seen, on this loaded 2-core
/// machine with many chains starting at once, to leave a deploy transaction unmined for good; a
/// devnet that fails to deploy is started afresh (at most three times) rather than failing a test
/// that is about something else.
pub async fn start_devnet(chains: u32, copies: u32, block_time: Option<u64>) -> Devnet {
    let options = DevnetOptions {
        anvil: anvil_path(),
        port: 0,
        block_time,
        chains,
        copies,
    };
    let mut attempt = 1;
    loop {
        match Devnet::start(&options, None).await {
            Ok(devnet) => return devnet,
            Err(e) if attempt < 3 => {
                eprintln!("devnet attempt {attempt} failed ({e}); starting a fresh one");
                attempt += 1;
            }
            Err(e) => panic!("devnet starts: {e}"),
        }
    }
}

/// A fresh anvil (own port) with the suite and a TestToken deployed.
pub async fn testnet() -> TestNet {
    testnet_with(None).await
}

/// Like [`testnet`], with interval mining every `block_time` seconds.
pub async fn testnet_with(block_time: Option<u64>) -> TestNet {
    let devnet = start_devnet(1, 1, block_time).await;
    let url = devnet.anvils[0].url.clone();
    let client = ChainClient::connect("local", &[url], Some(31337), &RpcSettings::default())
        .await
        .expect("connect");
    let suite = devnet.suites["local"][0].clone();
    let dev = |name: &str, i| Signer::dev_account(name, i).expect("dev key");
    TestNet {
        devnet,
        client,
        suite,
        admin: dev("admin", accounts::ADMIN),
        pauser: dev("pauser", accounts::PAUSER),
        emergency: dev("emergency", accounts::EMERGENCY),
        upgrader: dev("upgrader", accounts::UPGRADER),
        safe: dev("safe", accounts::SAFE),
        outsider: dev("outsider", accounts::OUTSIDER),
    }
}

impl TestNet {
    /// The address of the suite's contract of `kind`.
    pub fn addr(&self, kind: ContractKind) -> Address {
        self.suite.address(kind).expect("deployed")
    }

    /// A provider that signs as `signer`.
    pub fn as_signer(&self, signer: &Signer) -> DynProvider {
        ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer.key().clone()))
            .connect_http(self.devnet.anvils[0].url.expose().clone())
            .erased()
    }

    /// Like [`TestNet::as_signer`], but the nonce of every transaction is read from the node.
    /// `as_signer` caches nonces, and a call refused in gas estimation (every `send_err!`) has
    /// already taken one, so the next transaction through that provider waits forever in the
    /// queue; a provider from this function can be reused after a refusal.
    pub fn as_signer_uncached(&self, signer: &Signer) -> DynProvider {
        ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(EthereumWallet::from(signer.key().clone()))
            .connect_http(self.devnet.anvils[0].url.expose().clone())
            .erased()
    }

    /// A read-only provider.
    pub fn reader(&self) -> DynProvider {
        self.client.provider().clone().erased()
    }

    /// A fresh dev account's signer by index (6..9 are unused by the suite).
    pub fn account(&self, index: u32) -> Signer {
        Signer::dev_account("user", index).expect("dev key")
    }

    pub async fn balance(&self, who: Address) -> U256 {
        self.client
            .provider()
            .get_balance(who)
            .await
            .expect("balance")
    }

    pub async fn block_number(&self) -> u64 {
        self.client
            .provider()
            .get_block_number()
            .await
            .expect("block")
    }

    pub async fn nonce(&self, who: Address) -> u64 {
        self.client
            .provider()
            .get_transaction_count(who)
            .await
            .expect("nonce")
    }
}

/// A deterministic non-zero document id.
pub fn doc(n: u64) -> B256 {
    keccak256(format!("document {n}"))
}

/// Sends a contract call and returns its receipt; panics with the decoded error on failure.
#[macro_export]
macro_rules! send_ok {
    ($call:expr) => {{
        let pending = $call.send().await.unwrap_or_else(|e| {
            panic!(
                "{} failed: {}",
                stringify!($call),
                $crate::support::reason(&e)
            )
        });
        let receipt = pending.get_receipt().await.expect("receipt");
        assert!(receipt.status(), "{} reverted on chain", stringify!($call));
        receipt
    }};
}

/// Sends a contract call that must revert; returns the decoded error, e.g. `EnforcedPause()`.
#[macro_export]
macro_rules! send_err {
    ($call:expr) => {{
        match $call.send().await {
            Ok(pending) => {
                let receipt = pending.get_receipt().await.expect("receipt");
                assert!(
                    !receipt.status(),
                    "{} succeeded but should have reverted",
                    stringify!($call)
                );
                String::from("reverted on chain")
            }
            Err(e) => $crate::support::reason(&e),
        }
    }};
}

/// The decoded revert of a contract error (`Name(args)`), or its message.
pub fn reason(e: &alloy::contract::Error) -> String {
    match e.as_revert_data() {
        Some(data) => revert::decode(&data),
        None => e.to_string(),
    }
}

/// Asserts a revert names the expected error.
pub fn assert_error(actual: &str, expected_name: &str) {
    assert!(
        actual.starts_with(&format!("{expected_name}(")),
        "expected {expected_name}, got {actual}"
    );
}

/// Decodes every log of `receipt` that is an event `E`.
pub fn events<E: alloy::sol_types::SolEvent>(receipt: &TransactionReceipt) -> Vec<E> {
    receipt
        .inner
        .logs()
        .iter()
        .filter_map(|log| E::decode_log(&log.inner).ok().map(|l| l.data))
        .collect()
}

/// On the chain at `url` deployed by `guardian deploy` (its manifest `manifest`): registers
/// `doc(1)` and deposits `amount` of ETH into the escrow from dev account 6 to dev account 7.
/// Returns the escrow as account 6 sees it, and the payee.
pub async fn register_and_deposit(
    url: alloy::transports::http::reqwest::Url,
    manifest: &guardian::config::Manifest,
    amount: U256,
) -> (
    bindings::PaymentEscrow::PaymentEscrowInstance<DynProvider>,
    Address,
) {
    let addr = |kind| {
        manifest
            .contracts
            .iter()
            .find(|c| c.kind == kind)
            .expect("deployed")
            .address
    };
    let user = Signer::dev_account("user", 6).expect("key");
    let payee = Signer::dev_account("user", 7).expect("key").address();
    let p = ProviderBuilder::new()
        .wallet(EthereumWallet::from(user.key().clone()))
        .connect_http(url)
        .erased();
    let registry = bindings::DocumentRegistry::new(addr(ContractKind::DocumentRegistry), p.clone());
    let fee = registry.registrationFee().call().await.expect("fee");
    send_ok!(
        registry
            .registerDocument(doc(1), doc(2), Address::ZERO)
            .value(fee)
    );
    let escrow = bindings::PaymentEscrow::new(addr(ContractKind::PaymentEscrow), p);
    send_ok!(
        escrow
            .deposit(doc(1), Address::ZERO, amount, payee)
            .value(amount)
    );
    (escrow, payee)
}

/// A well-known public anvil dev key (account 0); never a real secret.
pub const DEV_KEY_0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// A chain that keeps only its latest state, as a pruned (non-archive) node does, with the suite
/// deployed by `guardian deploy` (its manifest written to `manifest`). Returns the running anvil
/// and its URL.
pub async fn pruned_chain_with_suite(
    manifest: &std::path::Path,
) -> (
    guardian::anvil::Anvil,
    alloy::transports::http::reqwest::Url,
) {
    let anvil = guardian::anvil::Anvil::spawn(&guardian::anvil::AnvilOptions {
        binary: anvil_path(),
        port: 0,
        chain_id: 31337,
        block_time: None,
        hardfork: None,
        pruned: true,
    })
    .await
    .expect("anvil --prune-history 1");
    let url: alloy::transports::http::reqwest::Url =
        anvil.url.expose().as_str().parse().expect("url");
    let key = format!("0x{DEV_KEY_0}");
    let out = manifest.to_string_lossy();
    let (ok, _, err) = bin::run(
        std::path::Path::new("."),
        &[("DEPLOYER_KEY", key.as_str())],
        &[
            "deploy",
            "--rpc-url",
            url.as_str(),
            "--private-key-env",
            "DEPLOYER_KEY",
            "--test-token",
            "--out",
            &out,
        ],
    )
    .await;
    assert!(ok, "deploy: {err}");
    (anvil, url)
}
