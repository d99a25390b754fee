//! A complete local deployment: N anvil chains, K copies of the suite on each, and the manifest
//! that describes them, with distinct dev accounts for each role.

use std::collections::BTreeMap;

use alloy::{primitives::Address, providers::Provider};

use crate::{
    anvil::{Anvil, AnvilError, AnvilOptions},
    chain::{ChainClient, ChainError, Journal, Signer, SignerError},
    config::{ChainConfig, EmergencyConfig, Manifest, RolesConfig, RpcSettings, SignerConfig},
    deploy::{DeployOptions, Suite, SuiteRoles, deploy_suite},
};

/// Dev account indices for each role on a devnet.
pub mod accounts {
    /// Deployer and `DEFAULT_ADMIN_ROLE`.
    pub const ADMIN: u32 = 0;
    /// `PAUSER_ROLE` and the brake's `GUARDIAN_ROLE`.
    pub const PAUSER: u32 = 1;
    /// `EMERGENCY_ROLE`.
    pub const EMERGENCY: u32 = 2;
    /// `UPGRADER_ROLE`.
    pub const UPGRADER: u32 = 3;
    /// The safe recipient of rescued funds.
    pub const SAFE: u32 = 4;
    /// Holds no role (tests use it as an outsider).
    pub const OUTSIDER: u32 = 5;
}

/// The first devnet chain id; further chains count up from it.
pub const FIRST_CHAIN_ID: u64 = 31337;

/// Why a devnet could not be started.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// Anvil could not be started.
    #[error(transparent)]
    Anvil(#[from] AnvilError),
    /// A dev key could not be derived.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// Deploying failed.
    #[error("deploying the suite failed: {0}")]
    Chain(#[from] ChainError),
}

/// How to lay out a devnet.
#[derive(Debug, Clone)]
pub struct DevnetOptions {
    /// The anvil binary.
    pub anvil: std::path::PathBuf,
    /// Port of the first chain (the next chains use the following ports); 0 picks free ports.
    pub port: u16,
    /// Seconds between blocks; `None` mines on every transaction.
    pub block_time: Option<u64>,
    /// Number of chains.
    pub chains: u32,
    /// Copies of the suite on each chain.
    pub copies: u32,
}

/// A running devnet. Dropping it stops every chain.
pub struct Devnet {
    /// The chains, in order.
    pub anvils: Vec<Anvil>,
    /// The manifest describing everything deployed.
    pub manifest: Manifest,
    /// The suites per chain name, in deployment order.
    pub suites: BTreeMap<String, Vec<Suite>>,
}

/// The chain name of devnet chain `i` (0-based): `local`, `local2`, `local3`, ...
pub fn chain_name(i: u32) -> String {
    if i == 0 {
        "local".into()
    } else {
        format!("local{}", i + 1)
    }
}

/// The address of a dev account.
pub fn dev_address(index: u32) -> Result<Address, SignerError> {
    Ok(Signer::dev_account("dev", index)?.address())
}

impl Devnet {
    /// Starts the chains, deploys the suites (with a `TestToken` each) and builds the manifest.
    pub async fn start(
        opts: &DevnetOptions,
        journal: Option<Journal<'_>>,
    ) -> Result<Self, DevnetError> {
        let admin = Signer::dev_account("admin", accounts::ADMIN)?;
        let roles = SuiteRoles {
            pauser: dev_address(accounts::PAUSER)?,
            emergency: dev_address(accounts::EMERGENCY)?,
            upgrader: dev_address(accounts::UPGRADER)?,
        };
        // A dev chain mines whatever it is sent; fee-bump replacements are for real fee markets
        // (and replacing a transaction anvil holds back for a nonce gap can lose it).
        // A local chain mines in well under a second: a deploy transaction unmined for 30 s is
        // lost, and waiting the default two minutes for it helps nobody.
        let settings = RpcSettings {
            replace_after_blocks: 0,
            receipt_timeout_secs: 30,
            ..RpcSettings::default()
        };
        let mut anvils = Vec::new();
        for i in 0..opts.chains.max(1) {
            let port = if opts.port == 0 {
                0
            } else {
                opts.port + i as u16
            };
            anvils.push(
                Anvil::spawn(&AnvilOptions {
                    binary: opts.anvil.clone(),
                    port,
                    chain_id: FIRST_CHAIN_ID + u64::from(i),
                    block_time: opts.block_time,
                    hardfork: None,
                    pruned: false,
                })
                .await?,
            );
        }

        let deployments =
            futures::future::try_join_all(anvils.iter().enumerate().map(|(i, anvil)| {
                let admin = &admin;
                let settings = &settings;
                async move {
                    let name = chain_name(i as u32);
                    let client = ChainClient::connect(
                        &name,
                        std::slice::from_ref(&anvil.url),
                        Some(anvil.chain_id),
                        settings,
                    )
                    .await?;
                    let deploying = async {
                        let mut suites = Vec::new();
                        for copy in 0..opts.copies.max(1) {
                            let mut suffix = String::new();
                            if i > 0 {
                                suffix.push_str(&format!("-{name}"));
                            }
                            if copy > 0 {
                                suffix.push_str(&format!("-{}", copy + 1));
                            }
                            let options = DeployOptions {
                                test_token: true,
                                name_suffix: suffix,
                                ..DeployOptions::default()
                            };
                            suites.push(
                                deploy_suite(&client, admin, roles, &options, journal).await?,
                            );
                        }
                        Ok::<_, ChainError>(suites)
                    };
                    let suites = if opts.block_time.is_none() {
                        tokio::select! {
                            suites = deploying => suites?,
                            () = unstick(&client) => unreachable!("unstick never returns"),
                        }
                    } else {
                        deploying.await?
                    };
                    Ok::<_, ChainError>((name, anvil, suites))
                }
            }))
            .await?;

        let mut manifest = Manifest {
            chains: BTreeMap::new(),
            signers: BTreeMap::new(),
            rpc: RpcSettings::default(),
            roles: RolesConfig {
                admin: Some(admin.address()),
                pauser: vec![roles.pauser],
                emergency: vec![roles.emergency],
                upgrader: vec![roles.upgrader],
            },
            emergency: EmergencyConfig {
                safe_recipients: vec![dev_address(accounts::SAFE)?],
            },
            contracts: Vec::new(),
            rules: Vec::new(),
            contacts: Vec::new(),
            notify: crate::config::NotifySettings::default(),
            monitor: Default::default(),
            incident: Default::default(),
            bounty: Default::default(),
            server: Default::default(),
            storage: Default::default(),
            ha: None,
        };
        for (name, index) in [
            ("admin", accounts::ADMIN),
            ("pauser", accounts::PAUSER),
            ("emergency", accounts::EMERGENCY),
            ("upgrader", accounts::UPGRADER),
            // The safe recipient's own key: it returns rescued funds with `replenish`.
            ("safe", accounts::SAFE),
        ] {
            manifest.signers.insert(
                name.into(),
                SignerConfig {
                    dev_account: Some(index),
                    ..SignerConfig::default()
                },
            );
        }
        let mut suites = BTreeMap::new();
        for (name, anvil, chain_suites) in deployments {
            manifest.chains.insert(
                name.clone(),
                ChainConfig::new(anvil.chain_id, vec![anvil.url.clone()]),
            );
            for suite in &chain_suites {
                manifest.contracts.extend(suite.manifest_entries(&name));
            }
            suites.insert(name, chain_suites);
        }
        Ok(Self {
            anvils,
            manifest,
            suites,
        })
    }

    /// Stops every chain.
    pub async fn stop(self) {
        for anvil in self.anvils {
            anvil.stop().await;
        }
    }
}

/// anvil mining on demand (automine) was seen, on a loaded machine with transactions arriving
/// concurrently, to keep a transaction in its pool unmined until the next one arrives; a
/// deployment waiting for that receipt before sending more would wait forever. While a devnet
/// deploys, a pool that stays non-empty for two seconds gets a block mined for it.
async fn unstick(client: &ChainClient) {
    let mut pending_since: Option<std::time::Instant> = None;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let status: Result<serde_json::Value, _> = client
            .provider()
            .raw_request("txpool_status".into(), ())
            .await;
        let pending = status
            .ok()
            .and_then(|s| s["pending"].as_str().map(String::from))
            .and_then(|hex| u64::from_str_radix(hex.trim_start_matches("0x"), 16).ok())
            .unwrap_or(0);
        if pending == 0 {
            pending_since = None;
            continue;
        }
        let since = *pending_since.get_or_insert_with(std::time::Instant::now);
        if since.elapsed() >= std::time::Duration::from_secs(2) {
            tracing::warn!(chain = %client.name, pending, "anvil left transactions unmined; mining a block for them");
            let _: Result<serde_json::Value, _> =
                client.provider().raw_request("evm_mine".into(), ()).await;
            pending_since = None;
        }
    }
}
