//! `guardian devnet`: local chains with the suite deployed, until Ctrl-C.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context as _, bail};

use crate::{
    anvil::find_anvil,
    chain::{Journal, signer::process_env},
    config::{DEFAULT_MANIFEST, Manifest},
    devnet::{Devnet, DevnetOptions, accounts, dev_address},
    output::Table,
    storage::Store,
};

/// Start local chains (anvil) with the whole suite deployed, write the manifest, run until Ctrl-C.
///
/// Admin, pauser, emergency and upgrader are distinct dev accounts; rescued funds may go to a
/// fifth. Every chain stops when this command does.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port of the first chain; further chains use the next ports. 0 picks free ports.
    #[arg(long, default_value_t = 8545)]
    port: u16,
    /// Seconds between blocks (default: a block per transaction).
    #[arg(long, value_name = "SECS")]
    block_time: Option<u64>,
    /// Directory for guardian.toml and guardian.db.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The anvil binary (default: GUARDIAN_ANVIL, the npm package under contracts/, then PATH).
    #[arg(long, value_name = "PATH")]
    anvil: Option<PathBuf>,
    /// Number of chains (chain ids 31337, 31338, ...).
    #[arg(long, default_value_t = 1)]
    chains: u32,
    /// Copies of the suite on each chain.
    #[arg(long, default_value_t = 1)]
    copies: u32,
    /// Hand the admin, upgrader and emergency roles to a Safe v1.4.1 multisig of dev accounts,
    /// M of N (`2-of-3`): the keys that held them lose them, and the manifest names the Safe
    /// (`multisig`) and its owners' keys (`owner-1`…). Pausing stays with the pause key.
    #[arg(long, value_name = "M-of-N", value_parser = parse_m_of_n)]
    safe: Option<(u64, u32)>,
    /// Exit after deploying instead of running until Ctrl-C (the chains stop with it).
    #[arg(long, hide = true)]
    exit: bool,
}

/// `2-of-3` → (2, 3); at least one owner, a threshold between 1 and the owners, at most 10.
fn parse_m_of_n(text: &str) -> Result<(u64, u32), String> {
    let bad = || format!("`{text}`: expected M-of-N, such as 2-of-3 (1 ≤ M ≤ N ≤ 10)");
    let (m, n) = text.split_once("-of-").ok_or_else(bad)?;
    let (m, n): (u64, u32) = (m.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if m == 0 || n == 0 || m > u64::from(n) || n > 10 {
        return Err(bad());
    }
    Ok((m, n))
}

impl Args {
    /// Starts the devnet.
    pub async fn run(self, _ctx: &super::Context) -> anyhow::Result<ExitCode> {
        let manifest_path = self.dir.join(DEFAULT_MANIFEST);
        refuse_to_clobber(&manifest_path)?;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let anvil = find_anvil(self.anvil.as_deref(), &process_env)?;
        let store = Store::open(&self.dir.join("guardian.db"))?;
        let action = store.begin_action(
            "devnet",
            "dev account 0",
            None,
            &serde_json::json!({"chains": self.chains, "copies": self.copies, "block_time": self.block_time}),
        )?;
        eprintln!(
            "starting {} chain(s) and deploying {} suite(s) on each ...",
            self.chains, self.copies
        );
        let opts = DevnetOptions {
            anvil,
            port: self.port,
            block_time: self.block_time,
            chains: self.chains,
            copies: self.copies,
        };
        let mut devnet = match Devnet::start(
            &opts,
            Some(Journal {
                store: &store,
                action,
            }),
        )
        .await
        {
            Ok(d) => d,
            Err(e) => {
                store.finish_action(action, false, &e.to_string())?;
                return Err(e.into());
            }
        };
        if let Some((m, n)) = self.safe {
            eprintln!("handing the admin, upgrader and emergency roles to a {m}-of-{n} Safe ...");
            match devnet.hand_roles_to_safe(m, n).await {
                Ok(d) => eprintln!(
                    "Safe {} (MultiSendCallOnly {}) holds them on every chain",
                    d.safe, d.multisend
                ),
                Err(e) => {
                    store.finish_action(action, false, &e.to_string())?;
                    return Err(e.into());
                }
            }
        }
        store.finish_action(
            action,
            true,
            &format!("{} contracts deployed", devnet.manifest.contracts.len()),
        )?;
        devnet
            .manifest
            .write(&manifest_path, true)
            .with_context(|| format!("cannot write {}", manifest_path.display()))?;
        print_summary(&devnet, &manifest_path)?;

        if !self.exit {
            println!("\nchains are running; press Ctrl-C to stop them");
            wait_for_shutdown().await;
        }
        devnet.stop().await;
        Ok(ExitCode::SUCCESS)
    }
}

/// A devnet may replace its own manifest, but never one that describes real chains.
fn refuse_to_clobber(path: &std::path::Path) -> anyhow::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    match Manifest::load(path) {
        Ok(m)
            if m.chains
                .values()
                .all(|c| c.rpc_urls.iter().all(|u| u.is_loopback())) =>
        {
            Ok(())
        }
        Ok(_) => bail!(
            "{} describes non-local chains; refusing to overwrite it with a devnet manifest (use --dir elsewhere)",
            path.display()
        ),
        Err(e) => bail!(
            "{} exists and is not a devnet manifest ({e}); use --dir elsewhere",
            path.display()
        ),
    }
}

fn print_summary(devnet: &Devnet, manifest_path: &std::path::Path) -> anyhow::Result<()> {
    let mut chains = Table::new(["CHAIN", "CHAIN ID", "RPC"]);
    for (name, chain) in &devnet.manifest.chains {
        let rpc = chain
            .rpc_urls
            .first()
            .map(|u| u.to_string())
            .unwrap_or_default();
        chains.row(vec![name.clone(), chain.chain_id.to_string(), rpc]);
    }
    println!("{chains}");
    let mut contracts = Table::new(["NAME", "CHAIN", "KIND", "ADDRESS"]);
    for c in &devnet.manifest.contracts {
        contracts.row(vec![
            c.name().into(),
            c.chain().into(),
            c.kind.to_string(),
            c.address.to_string(),
        ]);
    }
    println!("{contracts}");
    let mut roles = Table::new(["ROLE", "DEV ACCOUNT", "ADDRESS", "SIGNER"]);
    for (role, index, signer) in [
        ("DEFAULT_ADMIN_ROLE", accounts::ADMIN, "admin"),
        (
            "PAUSER_ROLE, brake GUARDIAN_ROLE",
            accounts::PAUSER,
            "pauser",
        ),
        ("EMERGENCY_ROLE", accounts::EMERGENCY, "emergency"),
        ("UPGRADER_ROLE", accounts::UPGRADER, "upgrader"),
        ("safe recipient", accounts::SAFE, "-"),
    ] {
        roles.row(vec![
            role.into(),
            index.to_string(),
            dev_address(index)?.to_string(),
            signer.into(),
        ]);
    }
    println!("{roles}");
    println!("manifest written to {}", manifest_path.display());
    Ok(())
}

async fn wait_for_shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
