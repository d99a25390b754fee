//! A complete local deployment: N anvil chains, K copies of the suite on each, and the manifest
//! that describes them, with distinct dev accounts for each role.

use std::collections::BTreeMap;

use alloy::{primitives::Address, providers::Provider};

use bindings::interfaces::IAccessControl;

use crate::{
    anvil::{Anvil, AnvilError, AnvilOptions},
    chain::{Call, ChainClient, ChainError, Journal, Preflight, Signer, SignerError, send_all},
    config::{
        ChainConfig, ContractKind, EmergencyConfig, Manifest, RolesConfig, RpcSettings,
        SignerConfig,
    },
    deploy::{DeployOptions, Suite, SuiteRoles, deploy_suite},
    roles::Role,
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
    /// Deploys the Safe of `devnet --safe` (its nonce starts at 0 on every chain, so the Safe
    /// has one address everywhere).
    pub const SAFE_DEPLOYER: u32 = 9;
    /// The first owner of the Safe of `devnet --safe`; the others follow.
    pub const FIRST_OWNER: u32 = 10;
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
    /// The devnet has no chain.
    #[error("the devnet has no chain")]
    NoChain,
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
            safe: Default::default(),
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

    /// Hands the roles real teams keep in a multisig to a Safe (v1.4.1) of `owners` dev accounts
    /// needing `threshold` of them, on every chain: the Safe gets `DEFAULT_ADMIN_ROLE`
    /// everywhere, `UPGRADER_ROLE` and `EMERGENCY_ROLE` where they apply; the upgrader and
    /// emergency keys lose theirs, and the admin key renounces its own last. The manifest then
    /// names the Safe (`multisig`) and the owners' keys (`owner-1`…) instead of those keys.
    pub async fn hand_roles_to_safe(
        &mut self,
        threshold: u64,
        owners: u32,
    ) -> Result<crate::safe::Deployed, DevnetError> {
        let keys: Vec<Signer> = (0..owners)
            .map(|i| Signer::dev_account(&format!("owner-{}", i + 1), accounts::FIRST_OWNER + i))
            .collect::<Result<_, _>>()?;
        let addresses: Vec<Address> = keys.iter().map(|k| k.address()).collect();
        // One deployer whose nonce starts at 0 on every chain: the same addresses everywhere.
        let deployer = Signer::dev_account("safe-deployer", accounts::SAFE_DEPLOYER)?;
        let admin = Signer::dev_account("admin", accounts::ADMIN)?;
        let mut deployed = None;
        for (name, chain) in &self.manifest.chains {
            let client = ChainClient::connect(
                name,
                &chain.rpc_urls,
                Some(chain.chain_id),
                &self.manifest.rpc,
            )
            .await?;
            // On a chain mining on demand, anvil may hold a transaction back (see `unstick`).
            let deploying = crate::safe::deploy(&client, &deployer, &addresses, threshold);
            let d = tokio::select! {
                d = deploying => d,
                () = unstick(&client) => unreachable!("unstick never returns"),
            }
            .map_err(|e| match e {
                crate::safe::SafeError::Chain(c) => DevnetError::Chain(c),
                other => DevnetError::Chain(ChainError::Rpc {
                    chain: name.clone(),
                    source: alloy::transports::TransportErrorKind::custom_str(&other.to_string()),
                }),
            })?;
            let mut calls = Vec::new();
            for c in self.manifest.contracts.iter().filter(|c| c.chain() == name) {
                if c.kind == ContractKind::TestToken {
                    continue;
                }
                let mut grant = |role: Role| {
                    calls.push(Call::new(
                        format!("grant {} on {} to the Safe", role.name(), c.name()),
                        c.address,
                        IAccessControl::grantRoleCall {
                            role: role.id(),
                            account: d.safe,
                        },
                    ))
                };
                grant(Role::Admin);
                if c.kind.is_pausable() {
                    grant(Role::Upgrader);
                }
                if c.kind.holds_funds() {
                    grant(Role::Emergency);
                }
                for (role, holder, held) in [
                    (
                        Role::Upgrader,
                        dev_address(accounts::UPGRADER)?,
                        c.kind.is_pausable(),
                    ),
                    (
                        Role::Emergency,
                        dev_address(accounts::EMERGENCY)?,
                        c.kind.holds_funds(),
                    ),
                ] {
                    if !held {
                        continue;
                    }
                    calls.push(Call::new(
                        format!("revoke {} on {} from its key", role.name(), c.name()),
                        c.address,
                        IAccessControl::revokeRoleCall {
                            role: role.id(),
                            account: holder,
                        },
                    ));
                }
                calls.push(Call::new(
                    format!("the admin key renounces its role on {}", c.name()),
                    c.address,
                    IAccessControl::renounceRoleCall {
                        role: Role::Admin.id(),
                        callerConfirmation: admin.address(),
                    },
                ));
            }
            let handing = send_all(&client, &admin, calls, None, Preflight::AllOrNothing);
            let handed = tokio::select! {
                h = handing => h,
                () = unstick(&client) => unreachable!("unstick never returns"),
            };
            for sent in handed? {
                sent?;
            }
            deployed = Some(d);
        }
        let d = deployed.ok_or(DevnetError::NoChain)?;
        for name in ["admin", "emergency", "upgrader"] {
            self.manifest.signers.remove(name);
        }
        for (k, index) in keys.iter().zip(accounts::FIRST_OWNER..) {
            self.manifest.signers.insert(
                k.name.clone(),
                SignerConfig {
                    dev_account: Some(index),
                    ..SignerConfig::default()
                },
            );
        }
        self.manifest.signers.insert(
            "multisig".into(),
            SignerConfig {
                safe: Some(crate::config::PerChain::All(d.safe)),
                multisend: Some(d.multisend),
                ..SignerConfig::default()
            },
        );
        self.manifest.roles.admin = Some(d.safe);
        self.manifest.roles.emergency = vec![d.safe];
        self.manifest.roles.upgrader = vec![d.safe];
        Ok(d)
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
pub async fn unstick(client: &ChainClient) {
    let mut pending_since: Option<std::time::Instant> = None;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let status: Result<serde_json::Value, _> = client
            .provider()
            .raw_request("txpool_status".into(), ())
            .await;
        let count = |key: &str| {
            status
                .as_ref()
                .ok()
                .and_then(|s| s[key].as_str())
                .and_then(|hex| u64::from_str_radix(hex.trim_start_matches("0x"), 16).ok())
                .unwrap_or(0)
        };
        // A queued transaction (its nonce ahead of the account's) waits for the one before it;
        // mining does not release it, but the warning below says what is held.
        let pending = count("pending") + count("queued");
        if pending == 0 {
            pending_since = None;
            continue;
        }
        let since = *pending_since.get_or_insert_with(std::time::Instant::now);
        if since.elapsed() >= std::time::Duration::from_secs(2) {
            let held: Result<serde_json::Value, _> = client
                .provider()
                .raw_request("txpool_inspect".into(), ())
                .await;
            tracing::warn!(chain = %client.name, pending, held = %held.unwrap_or_default(), "anvil left transactions unmined; mining a block for them");
            let _: Result<serde_json::Value, _> =
                client.provider().raw_request("evm_mine".into(), ()).await;
            pending_since = None;
        }
    }
}
