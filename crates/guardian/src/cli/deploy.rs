//! `guardian deploy`: the whole suite to one chain, then its manifest.

use std::{path::PathBuf, process::ExitCode};

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use anyhow::{Context as _, bail};

use crate::{
    chain::{
        ChainClient, Journal, Signer,
        signer::{EnvLookup, process_env},
    },
    config::{ChainConfig, EmergencyConfig, Manifest, RolesConfig, RpcSettings, SignerConfig},
    deploy::{DeployOptions, Suite, SuiteRoles, deploy_suite},
    output::{Table, print_json},
    secret::{RpcUrl, Secret},
    storage::Store,
};

/// The environment variable `deploy` takes its endpoint from when `--rpc-url` is not given, as
/// foundry's tools do.
pub const RPC_URL_ENV: &str = "ETH_RPC_URL";

/// Gas a whole deployment takes, with room to spare (measured: see docs/contracts.md).
const DEPLOY_GAS_BUDGET: u64 = 20_000_000;

/// Deploy the whole suite (implementations and proxies) to a chain and write its manifest.
///
/// The deployer becomes DEFAULT_ADMIN_ROLE; the other roles go to the given addresses
/// (default: the deployer). Nothing is sent until the chain id, the key and the balance check out.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSON-RPC endpoint of the chain to deploy to. Prefer setting ETH_RPC_URL: arguments are
    /// visible to other users of the machine (ps) and stay in shell history, and an endpoint's
    /// path or query usually holds an API key. The manifest then refers to ${ETH_RPC_URL}.
    #[arg(long, value_name = "URL", env = RPC_URL_ENV, hide_env_values = true)]
    rpc_url: Secret,
    /// Environment variable holding the deployer's private key (never the key itself).
    #[arg(long, value_name = "VAR")]
    private_key_env: String,
    /// Refuse to deploy unless the endpoint reports this chain id.
    #[arg(long)]
    chain_id: Option<u64>,
    /// Holder of PAUSER_ROLE (and of the brake's GUARDIAN_ROLE).
    #[arg(long, value_name = "ADDR")]
    pauser: Option<Address>,
    /// Holder of EMERGENCY_ROLE.
    #[arg(long, value_name = "ADDR")]
    emergency: Option<Address>,
    /// Holder of UPGRADER_ROLE.
    #[arg(long, value_name = "ADDR")]
    upgrader: Option<Address>,
    /// An address rescued funds may be sent to (repeatable).
    #[arg(long = "safe-recipient", value_name = "ADDR")]
    safe_recipients: Vec<Address>,
    /// Name of the chain in the manifest.
    #[arg(long, default_value = "local", value_name = "NAME")]
    chain_name: String,
    /// Registration fee of the registry, in wei.
    #[arg(long, default_value = "1000000000000000", value_name = "WEI")]
    registration_fee: U256,
    /// Also deploy a TestToken (for local chains).
    #[arg(long)]
    test_token: bool,
    /// Where to write the manifest.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace an existing manifest.
    #[arg(long)]
    force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// Runs the deployment.
    pub async fn run(self, _ctx: &super::Context) -> anyhow::Result<ExitCode> {
        if self.out.exists() && !self.force {
            bail!(
                "{} already exists; pass --force to replace it",
                self.out.display()
            );
        }
        if self.safe_recipients.iter().any(|a| a.is_zero()) {
            bail!("--safe-recipient must not be the zero address");
        }
        let (rpc_url, source) = endpoint(&self.rpc_url, &process_env)?;
        if source == Source::Argument && rpc_url.has_secret_parts() {
            eprintln!("{COMMAND_LINE_WARNING}");
        }
        let deployer = Signer::from_env("deployer", &self.private_key_env, &process_env)?;
        let settings = RpcSettings::default();
        let client = ChainClient::connect(
            &self.chain_name,
            std::slice::from_ref(&rpc_url),
            self.chain_id,
            &settings,
        )
        .await
        .with_context(|| format!("cannot reach {rpc_url}"))?;

        let provider = client.provider();
        let (balance, fees) = tokio::try_join!(
            async { provider.get_balance(deployer.address()).await },
            provider.estimate_eip1559_fees(),
        )
        .map_err(|e| client.rpc_err(e))?;
        let needed = U256::from(DEPLOY_GAS_BUDGET) * U256::from(fees.max_fee_per_gas);
        if balance < needed {
            bail!(
                "deployer {} has {balance} wei on chain id {} but a deployment needs about {needed} wei: fund it first",
                deployer.address(),
                client.chain_id
            );
        }

        let me = deployer.address();
        let roles = SuiteRoles {
            pauser: self.pauser.unwrap_or(me),
            emergency: self.emergency.unwrap_or(me),
            upgrader: self.upgrader.unwrap_or(me),
        };
        let db_path = self
            .out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .join("guardian.db");
        let store = Store::open_at(&crate::deployment::store_location(
            &db_path.with_file_name("guardian.toml"),
            None,
            &crate::config::env::process_env,
        ))?;
        let action = store.begin_action(
            "deploy",
            &format!("deployer {me}"),
            None,
            &serde_json::json!({"chain_id": client.chain_id, "roles": {
                "pauser": roles.pauser, "emergency": roles.emergency, "upgrader": roles.upgrader}}),
        )?;
        let opts = DeployOptions {
            registration_fee: self.registration_fee,
            test_token: self.test_token,
            name_suffix: String::new(),
        };
        if !self.json {
            eprintln!(
                "deploying the suite to chain id {} as {me} ...",
                client.chain_id
            );
        }
        let journal = Journal {
            store: &store,
            action,
        };
        let suite = match deploy_suite(&client, &deployer, roles, &opts, Some(journal)).await {
            Ok(suite) => suite,
            Err(e) => {
                store.finish_action(action, false, &e.to_string())?;
                return Err(e)
                    .context("deployment failed; the transactions sent so far are in guardian.db");
            }
        };
        store.finish_action(
            action,
            true,
            &format!("{} contracts deployed", suite.contracts.len()),
        )?;

        let manifest = self.manifest(&client, &rpc_url, me, roles, &suite);
        manifest
            .write(&self.out, self.force)
            .with_context(|| format!("cannot write {}", self.out.display()))?;
        self.report(&client, &suite);
        Ok(ExitCode::SUCCESS)
    }

    fn manifest(
        &self,
        client: &ChainClient,
        rpc_url: &RpcUrl,
        admin: Address,
        roles: SuiteRoles,
        suite: &Suite,
    ) -> Manifest {
        let mut manifest = Manifest {
            chains: [(
                self.chain_name.clone(),
                ChainConfig::new(client.chain_id, vec![rpc_url.clone()]),
            )]
            .into(),
            signers: [(
                "deployer".to_string(),
                SignerConfig {
                    private_key_env: Some(self.private_key_env.clone()),
                    ..SignerConfig::default()
                },
            )]
            .into(),
            rpc: RpcSettings::default(),
            roles: RolesConfig {
                admin: Some(admin),
                pauser: vec![roles.pauser],
                emergency: vec![roles.emergency],
                upgrader: vec![roles.upgrader],
            },
            emergency: EmergencyConfig {
                safe_recipients: self.safe_recipients.clone(),
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
        manifest.contracts = suite.manifest_entries(&self.chain_name);
        manifest
    }

    fn report(&self, client: &ChainClient, suite: &Suite) {
        if self.json {
            print_json(&serde_json::json!({
                "chain": self.chain_name,
                "chain_id": client.chain_id,
                "manifest": self.out,
                "contracts": suite.contracts,
                "wiring_gas": suite.wiring_gas,
            }));
            return;
        }
        println!("{}", deployment_table(suite));
        println!("manifest written to {}", self.out.display());
    }
}

/// What `deploy` prints when the endpoint it was given on the command line has a path or query.
/// It names neither: they are what must not be shown.
pub const COMMAND_LINE_WARNING: &str = "warning: the --rpc-url endpoint has a path or query, where API keys usually are; command-line arguments are visible to other users of this machine (ps) and stay in shell history, and the manifest will store the URL as given: pass it in ETH_RPC_URL instead (the manifest then refers to ${ETH_RPC_URL})";

/// Where the endpoint came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// `--rpc-url`.
    Argument,
    /// `ETH_RPC_URL` (clap reads it when the flag is absent).
    Environment,
}

/// The endpoint clap gave (from `--rpc-url` or `ETH_RPC_URL`) and where it came from. When it
/// is what `ETH_RPC_URL` holds, the manifest refers to `${ETH_RPC_URL}` instead of storing it.
/// The value never appears in an error: it may hold an API key.
fn endpoint(raw: &Secret, env: EnvLookup<'_>) -> anyhow::Result<(RpcUrl, Source)> {
    let url: RpcUrl = raw
        .expose()
        .trim()
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--rpc-url / {RPC_URL_ENV}: {e}"))?;
    let from_env = env(RPC_URL_ENV).is_some_and(|v| v == raw.expose());
    Ok(if from_env {
        (
            url.with_template(format!("${{{RPC_URL_ENV}}}")),
            Source::Environment,
        )
    } else {
        (url, Source::Argument)
    })
}

/// The table of a deployed suite: name, kind, address, implementation, gas.
pub fn deployment_table(suite: &Suite) -> Table {
    let mut table = Table::new(["NAME", "KIND", "ADDRESS", "IMPLEMENTATION", "GAS"]);
    for c in &suite.contracts {
        table.row(vec![
            c.name.clone(),
            c.kind.to_string(),
            c.address.to_string(),
            c.implementation
                .map(|a| a.to_string())
                .unwrap_or_else(|| "-".into()),
            c.gas_used.to_string(),
        ]);
    }
    table.row(vec![
        "(wiring)".into(),
        "roles, brake targets".into(),
        String::new(),
        String::new(),
        suite.wiring_gas.to_string(),
    ]);
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://eth.example.org/v2/DEPLOYKEY123?apikey=Q1W2E3";

    #[test]
    fn an_endpoint_from_the_environment_is_written_as_a_reference() {
        let env = |name: &str| (name == RPC_URL_ENV).then(|| URL.to_string());
        let (url, source) = endpoint(&URL.parse().expect("secret"), &env).expect("valid");
        assert_eq!(source, Source::Environment);
        assert_eq!(url.expose().as_str(), URL);
        assert_eq!(url.template(), Some("${ETH_RPC_URL}"));
        let none = |_: &str| None;
        let (url, source) = endpoint(&URL.parse().expect("secret"), &none).expect("valid");
        assert_eq!((source, url.template()), (Source::Argument, None));
    }

    #[test]
    fn an_invalid_endpoint_is_refused_without_showing_it() {
        let none = |_: &str| None;
        let err = endpoint(&"ftp://h/SECRETPATH".parse().expect("secret"), &none)
            .expect_err("bad scheme")
            .to_string();
        assert!(err.starts_with("--rpc-url / ETH_RPC_URL: "), "{err}");
        assert!(!err.contains("SECRETPATH"), "{err}");
        assert!(!COMMAND_LINE_WARNING.contains("DEPLOYKEY"));
    }

    #[test]
    fn parsed_arguments_never_debug_print_the_endpoint() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "guardian",
            "deploy",
            "--rpc-url",
            URL,
            "--private-key-env",
            "K",
            "--out",
            "x.toml",
        ])
        .expect("parses");
        let debug = format!("{cli:?}");
        assert!(debug.contains("[redacted]"), "{debug}");
        assert!(
            !debug.contains("DEPLOYKEY123") && !debug.contains("Q1W2E3"),
            "{debug}"
        );
    }

    #[test]
    fn help_never_shows_the_environment_value() {
        use clap::CommandFactory;
        let help = crate::cli::Cli::command()
            .find_subcommand_mut("deploy")
            .expect("deploy")
            .render_long_help()
            .to_string();
        assert!(help.contains("ETH_RPC_URL"), "{help}");
        let args = crate::cli::Cli::command();
        let deploy = args.find_subcommand("deploy").expect("deploy");
        let rpc = deploy
            .get_arguments()
            .find(|a| a.get_id() == "rpc_url")
            .expect("--rpc-url");
        assert!(rpc.is_hide_env_values_set());
    }
}
