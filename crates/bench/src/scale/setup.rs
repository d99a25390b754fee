//! One cell made ready: its chains (the suite deployed with automine, then one block a second),
//! `contracts` watched contracts on each, the load's batcher and document, the manifest with every
//! rule kind on, and `guardian monitor` started as its own process with its metrics served.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, U256, keccak256},
    providers::{Provider, ProviderBuilder},
};
use anyhow::Context as _;
use bindings::{DocumentRegistry, testing::RegistrationBatcher};
use guardian::{
    chain::{ChainClient, Signer},
    config::{ContractConfig, ContractKind, RpcSettings},
    devnet::{Devnet, DevnetOptions, accounts},
};

use super::{Cell, load::ChainLoad};
use crate::bench::set_interval_mining;

/// The ERC-1967 implementation slot: a clone of a proxy gets its implementation there.
const IMPLEMENTATION_SLOT: &str =
    "0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc";

/// A block's gas limit on the bench's chains: room for 5,000 updates and the toggle.
const BLOCK_GAS_LIMIT: u64 = 200_000_000;

/// One rule of each configurable kind, beside the built-in ones (privileged, insolvent, Safe
/// watch); thresholds the steady load does not cross, so the only alerts are the toggles'.
const RULES: &str = r#"
[[rules]]
name = "bench-rate"
kind = "rate"
contracts = ["DocumentRegistry"]
event = "ResolverSet"
window_blocks = 10
threshold = 100000000
severity = "warning"

[[rules]]
name = "bench-outflow"
kind = "outflow"
contracts = ["PaymentEscrow"]
window_blocks = 5
max_share = 0.5
severity = "critical"

[[rules]]
name = "bench-actor-burst"
kind = "actor-burst"
contracts = ["DocumentRegistry"]
window_blocks = 10
max_calls = 100000000
severity = "warning"

[[rules]]
name = "bench-failed-share"
kind = "failed-share"
contracts = ["DocumentRegistry"]
window_blocks = 10
max_share = 0.9
min_transactions = 100000000
severity = "warning"
"#;

/// A cell ready to run.
pub struct Prepared {
    /// The chains (dropped: stopped).
    pub devnet: Devnet,
    /// The manifest's directory (the database is `guardian.db` there).
    pub dir: tempfile::TempDir,
    /// Each chain's load.
    pub loads: Vec<ChainLoad>,
    /// The monitor's process.
    pub monitor: Child,
    /// Where it serves its metrics.
    pub metrics_addr: String,
}

impl Prepared {
    /// The monitor's database.
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("guardian.db")
    }

    /// The anvils' process ids.
    pub fn anvil_pids(&self) -> Vec<u32> {
        self.devnet.anvils.iter().filter_map(|a| a.pid()).collect()
    }

    /// Stops the monitor (SIGTERM, then SIGKILL if it lingers) and the chains.
    pub async fn stop(mut self) {
        let pid = self.monitor.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..50 {
            if matches!(self.monitor.try_wait(), Ok(Some(_))) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let _ = self.monitor.kill();
        let _ = self.monitor.wait();
        self.devnet.stop().await;
    }
}

/// Deploys the cell's chains and contracts and starts the monitor.
pub async fn prepare(
    anvil: &Path,
    guardian: &Path,
    cell: Cell,
    hook: &str,
) -> anyhow::Result<Prepared> {
    let mut devnet = crate::start_devnet(&DevnetOptions {
        anvil: anvil.to_path_buf(),
        port: 0,
        block_time: None,
        chains: cell.chains,
        copies: 1,
    })
    .await?;
    let user = Signer::dev_account("bench-user", 6)?;
    let pauser = Signer::dev_account("pauser", accounts::PAUSER)?;
    let mut loads = Vec::new();
    let mut clones = Vec::new();
    let mut clients = Vec::new();
    for (i, anvil) in devnet.anvils.iter().enumerate() {
        let name = guardian::devnet::chain_name(i as u32);
        let client = ChainClient::connect(
            &name,
            std::slice::from_ref(&anvil.url),
            Some(anvil.chain_id),
            &RpcSettings::default(),
        )
        .await?;
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(user.key().clone()))
            .connect_http(anvil.url.expose().clone());
        let _: serde_json::Value = provider
            .raw_request(
                "evm_setBlockGasLimit".into(),
                (U256::from(BLOCK_GAS_LIMIT),),
            )
            .await
            .context("evm_setBlockGasLimit")?;
        let suite = devnet.suites[&name]
            .first()
            .context("the chain has no suite")?;
        let registry = suite
            .address(ContractKind::DocumentRegistry)
            .context("no registry")?;
        let toggled = suite
            .address(ContractKind::PaymentEscrow)
            .context("no escrow")?;
        let fee: U256 = DocumentRegistry::new(registry, &provider)
            .registrationFee()
            .call()
            .await?;
        let batcher = RegistrationBatcher::deploy(&provider).await?;
        batcher
            .registerMany(registry, U256::from(1), U256::from(1))
            .value(fee)
            .send()
            .await?
            .get_receipt()
            .await?;
        let own: Vec<ContractConfig> = devnet
            .manifest
            .contracts
            .iter()
            .filter(|c| c.chain() == name)
            .cloned()
            .collect();
        clones.extend(clone_contracts(&provider, &name, &own, cell.contracts).await?);
        let ws = anvil
            .url
            .expose()
            .as_str()
            .replacen("http://", "ws://", 1)
            .parse()
            .map_err(anyhow::Error::msg)?;
        loads.push(ChainLoad {
            chain_id: anvil.chain_id,
            http: anvil.url.clone(),
            ws,
            registry,
            batcher: *batcher.address(),
            document: B256::from(U256::from(1)),
            toggled,
            user: user.key().clone(),
            pauser: pauser.key().clone(),
            events: cell.events,
        });
        clients.push(client);
    }
    devnet.manifest.contracts.extend(clones);
    for load in &loads {
        if let Some(chain) = devnet
            .manifest
            .chains
            .values_mut()
            .find(|c| c.chain_id == load.chain_id)
        {
            // Reads over HTTP, heads over the WebSocket subscription: how an operator lists
            // them (docs/monitor.md); reads over anvil's WebSocket wait about 40 ms each.
            chain.rpc_urls = vec![load.http.clone(), load.ws.clone()];
        }
    }
    for client in &clients {
        set_interval_mining(client, 1).await?;
    }

    let dir = tempfile::Builder::new()
        .prefix("guardian-scale-")
        .tempdir()?;
    let path = dir.path().join("guardian.toml");
    devnet.manifest.write(&path, true)?;
    let mut text = std::fs::read_to_string(&path)?;
    text.push_str(RULES);
    text.push_str(&format!(
        "\n[[contacts]]\nname = \"bench-hook\"\nchannel = \"webhook\"\nurl = \"{hook}\"\nsecret_env = \"BENCH_HOOK_KEY\"\nmin_severity = \"info\"\n"
    ));
    std::fs::write(&path, text)?;
    let metrics_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.to_string()
    };
    let log = std::fs::File::create(dir.path().join("monitor.log"))?;
    let monitor = Command::new(guardian)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BENCH_HOOK_KEY", "bench-hmac-key")
        .env("RUST_LOG", "warn")
        .current_dir(dir.path())
        .args(["monitor", "--metrics-addr", &metrics_addr])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", guardian.display()))?;
    Ok(Prepared {
        devnet,
        dir,
        loads,
        monitor,
        metrics_addr,
    })
}

/// Copies of the chain's suite contracts until `wanted` are watched on it: each a new address
/// given the original's code (and, for a proxy, its implementation) with `anvil_setCode`, so it
/// answers every read the monitor makes (balances, debts) without a deployment of its own.
async fn clone_contracts(
    provider: &impl Provider,
    chain: &str,
    own: &[ContractConfig],
    wanted: usize,
) -> anyhow::Result<Vec<ContractConfig>> {
    let extra = wanted.saturating_sub(own.len());
    if extra == 0 || own.is_empty() {
        return Ok(Vec::new());
    }
    let slot: U256 = IMPLEMENTATION_SLOT.parse()?;
    let mut originals = Vec::new();
    for c in own {
        let code = provider.get_code_at(c.address).await?;
        let implementation = provider.get_storage_at(c.address, slot).await?;
        originals.push((c, code, implementation));
    }
    let mut out = Vec::with_capacity(extra);
    for chunk in (0..extra).collect::<Vec<_>>().chunks(50) {
        let made = futures::future::try_join_all(chunk.iter().map(|i| {
            let (c, code, implementation) = &originals[i % originals.len()];
            let address = Address::from_word(keccak256(format!("bench-clone/{chain}/{i}")));
            async move {
                let _: serde_json::Value = provider
                    .raw_request("anvil_setCode".into(), (address, code.clone()))
                    .await?;
                let _: serde_json::Value = provider
                    .raw_request(
                        "anvil_setStorageAt".into(),
                        (address, slot, B256::from(*implementation)),
                    )
                    .await?;
                let mut clone = (*c).clone();
                clone.address = address;
                clone.name = toml::Spanned::new(0..0, format!("{}-x{i}", c.name()));
                Ok::<_, anyhow::Error>(clone)
            }
        }))
        .await?;
        out.extend(made);
    }
    Ok(out)
}
