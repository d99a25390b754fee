//! `guardian pause` and `guardian unpause`: chosen contracts or everything, every chain at once.

use std::{io::IsTerminal, process::ExitCode, time::Instant};

use anyhow::bail;

use crate::{
    output::{Table, emit},
    response::pause::{self, Outcome, PauseReport, PauseRequest, Selection},
};

/// Pause or unpause contracts: the named ones, or --all on every chain at once.
///
/// Reads every target first and skips those already in the wanted state; sends every transaction
/// at once; re-reads and reports each target. A pause sends what it can and reports each target it
/// cannot (no signer holds PAUSER_ROLE there, a revert) as failed; --strict, and every unpause,
/// refuse before sending anything instead. Exit code 0 only if every target ends in the wanted
/// state.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Every pausable contract in the manifest (through each chain's EmergencyBrake when pausing).
    #[arg(long, conflicts_with = "names")]
    all: bool,
    /// Contracts by name, as in the manifest.
    #[arg(value_name = "NAME", required_unless_present = "all")]
    names: Vec<String>,
    /// Only contracts on this chain.
    #[arg(long, value_name = "NAME")]
    chain: Option<String>,
    /// All or nothing: refuse before sending anything if any target cannot be paused (unpause
    /// always works this way).
    #[arg(long)]
    strict: bool,
    /// Unpause escrows even while they hold less than their open payments are owed (needs
    /// --reason, which is recorded). Without it, unpause refuses and says what to return.
    #[arg(long, requires = "reason")]
    allow_insolvent: bool,
    #[command(flatten)]
    action: super::ActionFlags,
}

impl Args {
    /// Runs a pause (`pause = true`) or unpause.
    pub async fn run(self, ctx: &super::Context, pause: bool) -> anyhow::Result<ExitCode> {
        let started = Instant::now();
        // The emergency pause never waits for the database; every other action does.
        let deployment = self
            .action
            .open_with(ctx, self.chain.as_deref(), pause)
            .await?;
        if deployment.clients.is_empty() {
            bail!(
                "no chain reachable: {}",
                deployment
                    .unreachable
                    .iter()
                    .map(|(n, e)| format!("{n}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        let request = PauseRequest {
            pause,
            selection: if self.all {
                Selection::All
            } else {
                Selection::Named(self.names.clone())
            },
            chain: self.chain.clone(),
            signer: self.action.signer.clone(),
            dry_run: self.action.dry_run,
            reason: self.action.reason.clone(),
            strict: self.strict,
            allow_insolvent: self.allow_insolvent,
            outbid: None,
        };
        let show_progress = !self.action.json && std::io::stderr().is_terminal();
        let progress = |line: &str| {
            if show_progress {
                eprintln!("{line}");
            }
        };
        let report = pause::run(&deployment, &request, started, &progress).await?;
        self.action.record(&deployment, report.action_id)?;
        self.action
            .record_proposals(&deployment, &report.proposals)?;
        Ok(emit(&report, self.action.json, report.ok(), print_human))
    }
}

fn print_human(report: &PauseReport) {
    let verb = report.action;
    let mut t = Table::new(["CHAIN", "NAME", "RESULT", "VIA", "SIGNER", "TX", "BLOCK"]);
    for r in &report.targets {
        let result = match r.outcome {
            Outcome::Changed => format!("{verb}d by this run"),
            Outcome::AlreadyDone => format!("already {verb}d"),
            Outcome::WouldChange => format!("would {verb} (dry run)"),
            Outcome::Failed => format!("FAILED: {}", r.error.as_deref().unwrap_or("unknown")),
            Outcome::Proposed => "proposed to the Safe's owners".to_string(),
        };
        t.row(vec![
            r.chain.clone(),
            r.name.clone(),
            result,
            r.via.clone().unwrap_or_else(|| "-".into()),
            r.signer.clone().unwrap_or_else(|| "-".into()),
            r.tx.map(|h| h.to_string()).unwrap_or_else(|| "-".into()),
            r.block.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
        ]);
    }
    println!("{t}");
    for p in &report.proposals {
        super::safe::print_proposal(p);
    }
    for (at, fees) in &report.fees {
        println!("would pay on {at}: {} — {}", fees.summary(), fees.reason);
    }
    let failed = report
        .targets
        .iter()
        .filter(|t| t.outcome == Outcome::Failed)
        .count();
    let blocks = report
        .blocks
        .iter()
        .map(|(c, (a, b))| {
            if a == b {
                format!("{c}: block {a}")
            } else {
                format!("{c}: blocks {a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "{} target(s), {} transaction(s), {failed} failed, {} ms{}{}",
        report.targets.len(),
        report.transactions,
        report.elapsed_ms,
        if blocks.is_empty() {
            String::new()
        } else {
            format!(" ({blocks})")
        },
        if report.dry_run {
            " — dry run, nothing sent"
        } else {
            ""
        }
    );
}
