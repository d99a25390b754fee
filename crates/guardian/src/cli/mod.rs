//! The command line: one file per subcommand, each an `Args` struct with `run`.

mod alerts;
mod bounty;
mod db;
mod demo;
mod deploy;
mod devnet;
mod drill;
mod history;
mod incident;
mod monitor;
mod pause;
mod replenish;
mod revoke;
mod runbook;
mod safe;
mod serve;
mod status;
mod token;
mod upgrade;
mod withdraw;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// Emergency controls for the Integra contracts: deploy, watch, pause, rescue.
#[derive(Debug, Parser)]
#[command(name = "guardian", version, about)]
pub struct Cli {
    /// The manifest describing the deployment.
    #[arg(long, global = true, env = "GUARDIAN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug). Keys and RPC paths are never logged.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the incident drill on local chains: exploit, detection, pause, rescue, fix, resume.
    Demo(demo::Args),
    /// Deploy the whole suite to a chain and write its manifest.
    Deploy(Box<deploy::Args>),
    /// Start local chains with the suite deployed, write the manifest, run until Ctrl-C.
    Devnet(devnet::Args),
    /// Rehearse the level-3 response on a fork of the real chains, sending nothing to them.
    Drill(drill::Args),
    /// Show paused state, balances, implementations and role holders; findings first.
    Status(status::Args),
    /// Pause the named contracts, or --all on every chain at once.
    Pause(pause::Args),
    /// Unpause the named contracts, or --all.
    Unpause(pause::Args),
    /// Rescue funds from a paused contract to a safe recipient.
    Withdraw(Box<withdraw::Args>),
    /// Return rescued funds to a contract (before unpausing an escrow that owes more than it holds).
    Replenish(replenish::Args),
    /// Ship a fix: upgrade a contract's proxy, then verify that only the implementation changed.
    Upgrade(upgrade::Args),
    /// Take a role from an account on every contract at once (a compromised key).
    Revoke(revoke::Args),
    /// Show the journal: every action and its transactions.
    History(history::Args),
    /// Watch every chain block by block and raise alerts (privileged events, insolvent escrows).
    Monitor(monitor::Args),
    /// List the monitor's alerts, newest first; `alerts ack ID` acknowledges one.
    Alerts(alerts::Args),
    /// Open and run incidents (levels 1-3 with their playbooks), tasks, checklist, timeline.
    Incident(incident::Args),
    /// Serve the bug bounty desk: the program page and researchers' reports (--listen ADDR).
    Serve(serve::Args),
    /// The bug bounty desk: read and triage reports (list, show, ack, confirm, pay, ...).
    Bounty(bounty::Args),
    /// Create a team API token for `guardian serve` (printed once, stored hashed).
    Token(token::Args),
    /// The database: `db migrate` copies an SQLite file's records into the empty PostgreSQL
    /// database named by GUARDIAN_DATABASE_URL; `db sync` writes what a pause journalled
    /// locally while it was unreachable.
    Db(db::Args),
    /// Safe proposals (actions whose role a Safe holds): `safe status` shows what waits on which
    /// owners; `safe sign`, `safe execute`, `safe cancel`.
    Safe(safe::Args),
    /// Write the team's one-page emergency runbook (findings first, role holders, each level's
    /// commands, contacts, the last drill) as Markdown or HTML.
    Runbook(runbook::Args),
}

/// What every subcommand gets besides its own arguments.
#[derive(Debug, Clone)]
pub struct Context {
    /// The manifest path from `--config` or `GUARDIAN_CONFIG`, if given.
    pub config: Option<PathBuf>,
}

impl Context {
    /// The manifest's path: `--config`, else `GUARDIAN_CONFIG`, else `./guardian.toml`.
    pub fn manifest_path(&self) -> PathBuf {
        crate::config::manifest_path(self.config.clone())
    }

    /// Opens the deployment: the manifest, its signers, its database and its endpoints (only
    /// `chain`'s, when given), with keys from the process environment.
    pub async fn deployment(
        &self,
        chain: Option<&str>,
    ) -> anyhow::Result<crate::deployment::Deployment> {
        self.deployment_with(chain, false).await
    }

    /// As [`Context::deployment`]; with `offline_ok` (the emergency pause) an unreachable
    /// PostgreSQL database gives the local offline journal, and says so.
    pub async fn deployment_with(
        &self,
        chain: Option<&str>,
        offline_ok: bool,
    ) -> anyhow::Result<crate::deployment::Deployment> {
        let chains = chain.map(|c| vec![c.to_string()]);
        let deployment = crate::deployment::Deployment::open_with(
            &self.manifest_path(),
            chains.as_deref(),
            &crate::chain::signer::process_env,
            offline_ok,
        )
        .await?;
        if let Some(why) = &deployment.offline {
            eprintln!("warning: {why}");
        }
        Ok(deployment)
    }

    /// Opens the database beside the manifest, which must exist already; `missing` says why it
    /// might not (and what to run first).
    pub fn existing_store(&self, missing: &str) -> anyhow::Result<crate::storage::Store> {
        use anyhow::Context as _;
        let manifest_path = self.manifest_path();
        let env = &crate::config::env::process_env;
        let manifest = crate::config::Manifest::load_with_env(&manifest_path, env).ok();
        let db = crate::deployment::store_location(&manifest_path, manifest.as_ref(), env);
        if !db.exists() {
            anyhow::bail!("no journal at {db}: {missing}");
        }
        crate::storage::Store::open_at(&db).with_context(|| format!("cannot open {db}"))
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // Before anything builds an HTTP client: reqwest has no TLS provider of its own here.
    crate::tls::install_provider();
    let ctx = Context { config: cli.config };
    // Notifications an earlier run still owes go out after any command that acts or reads a
    // deployment (the monitor and incident commands deliver on their own; deploy, devnet and
    // demo have no earlier records to owe).
    let owes = !matches!(
        cli.command,
        Command::Deploy(_)
            | Command::Devnet(_)
            | Command::Demo(_)
            | Command::Monitor(_)
            | Command::Incident(_)
            | Command::Serve(_)
            | Command::Token(_)
            | Command::Db(_)
    );
    let result = match cli.command {
        Command::Demo(args) => args.run(&ctx).await,
        Command::Deploy(args) => args.run(&ctx).await,
        Command::Devnet(args) => args.run(&ctx).await,
        Command::Drill(args) => args.run(&ctx).await,
        Command::Status(args) => args.run(&ctx).await,
        Command::Pause(args) => args.run(&ctx, true).await,
        Command::Unpause(args) => args.run(&ctx, false).await,
        Command::Withdraw(args) => args.run(&ctx).await,
        Command::Replenish(args) => args.run(&ctx).await,
        Command::Upgrade(args) => args.run(&ctx).await,
        Command::Revoke(args) => args.run(&ctx).await,
        Command::History(args) => args.run(&ctx).await,
        Command::Monitor(args) => args.run(&ctx).await,
        Command::Alerts(args) => args.run(&ctx).await,
        Command::Incident(args) => args.run(&ctx).await,
        Command::Serve(args) => args.run(&ctx).await,
        Command::Bounty(args) => args.run(&ctx).await,
        Command::Token(args) => args.run(&ctx).await,
        Command::Db(args) => args.run(&ctx).await,
        Command::Safe(args) => args.run(&ctx).await,
        Command::Runbook(args) => args.run(&ctx).await,
    };
    if owes {
        incident::deliver_owed(ctx.config.clone()).await;
    }
    result
}

/// Logs go to stderr, with every registered secret redacted; `RUST_LOG` overrides the level.
pub fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "guardian=info,warn",
        _ => "guardian=debug,info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Every line passes the secret registry on its way out: alloy's and reqwest's own spans
    // carry full endpoint URLs at debug and trace level.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::secret::RedactingStderr)
        .try_init();
}

// What every action command (pause, unpause, withdraw, replenish, upgrade, revoke) shares: its
// flags, and opening the deployment under the incident the action is recorded in.

/// The flags every action command takes.
#[derive(Debug, clap::Args)]
pub struct ActionFlags {
    /// Sign with this signer (default: whichever configured signer holds the role).
    #[arg(long, value_name = "NAME")]
    pub signer: Option<String>,
    /// Show what would be sent, send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Why (recorded with the action).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    incident: incident::UnderIncident,
}

impl ActionFlags {
    /// Opens the deployment (only `chain`'s endpoints, when given) and checks the incident the
    /// action is to be recorded under, before anything is read from a chain.
    pub async fn open(
        &self,
        ctx: &Context,
        chain: Option<&str>,
    ) -> anyhow::Result<crate::deployment::Deployment> {
        self.open_with(ctx, chain, false).await
    }

    /// As [`ActionFlags::open`]; with `offline_ok` (the emergency pause) an unreachable
    /// PostgreSQL database does not stop it: it is journalled locally, and no incident is
    /// checked or written (the incident is in the database).
    pub async fn open_with(
        &self,
        ctx: &Context,
        chain: Option<&str>,
        offline_ok: bool,
    ) -> anyhow::Result<crate::deployment::Deployment> {
        let deployment = ctx.deployment_with(chain, offline_ok).await?;
        if deployment.offline.is_none() {
            self.incident.check(&deployment)?;
        }
        Ok(deployment)
    }

    /// Records the action in the incident named by `--incident`, if any.
    pub fn record(
        &self,
        deployment: &crate::deployment::Deployment,
        action_id: i64,
    ) -> anyhow::Result<()> {
        if deployment.offline.is_some() {
            return Ok(());
        }
        self.incident.record(deployment, action_id, self.dry_run)?;
        Ok(())
    }

    /// Records the Safe proposals the action made in the incident named by `--incident`, if
    /// any: each is the incident's from then on (its confirmations and execution join it).
    pub fn record_proposals(
        &self,
        deployment: &crate::deployment::Deployment,
        proposals: &[crate::response::safe::Proposed],
    ) -> anyhow::Result<()> {
        let Some(incident) = self.incident.id() else {
            return Ok(());
        };
        let actor = crate::operator::operator(None, &crate::config::env::process_env);
        crate::incident::recovery::record_proposals(
            &deployment.store,
            incident,
            &actor,
            proposals,
        )?;
        Ok(())
    }
}
