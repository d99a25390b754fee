//! `guardian revoke`: take a role from a (compromised) account on every contract at once.

use std::{io::IsTerminal, process::ExitCode};

use alloy::primitives::Address;

use crate::{
    output::{Table, emit},
    response::{
        pause::Selection,
        revoke::{self, RevokeOutcome, RevokeReport, RevokeRequest},
    },
    roles::Role,
};

/// Revoke a role from an account on every contract where it holds it (--all), or on the named
/// ones, with a signer holding DEFAULT_ADMIN_ROLE there.
///
/// An attacker holding PAUSER_ROLE could simply unpause: this takes the role everywhere at once,
/// and with it the brakes' GUARDIAN_ROLE (which could pause everything again after each unpause).
/// Contracts where the account does not hold the role are reported "not held" and skipped. If no
/// configured signer is admin on any contract where the account holds the role, nothing is sent;
/// otherwise it revokes wherever it can and names every contract it could not (exit code 1).
#[derive(Debug, clap::Args)]
#[command(
    mut_arg("signer", |a| a.help("Sign with this signer (default: whichever configured signer holds DEFAULT_ADMIN_ROLE)")),
    mut_arg("dry_run", |a| a.help("Show where the role would be taken, send nothing"))
)]
pub struct Args {
    /// The role: PAUSER_ROLE, EMERGENCY_ROLE, UPGRADER_ROLE, GUARDIAN_ROLE (the EmergencyBrake's),
    /// HOOK_SOURCE_ROLE, DEFAULT_ADMIN_ROLE (or pauser, emergency, …).
    #[arg(value_name = "ROLE")]
    role: Role,
    /// The account to take it from.
    #[arg(value_name = "ACCOUNT")]
    account: Address,
    /// Every contract in the manifest that has the role.
    #[arg(long, conflicts_with = "names")]
    all: bool,
    /// Contracts by name, as in the manifest.
    #[arg(value_name = "NAME", required_unless_present = "all")]
    names: Vec<String>,
    /// Only contracts on this chain.
    #[arg(long, value_name = "NAME")]
    chain: Option<String>,
    #[command(flatten)]
    action: super::ActionFlags,
}

impl Args {
    /// Runs the revoke.
    pub async fn run(self, ctx: &super::Context) -> anyhow::Result<ExitCode> {
        let deployment = self.action.open(ctx, self.chain.as_deref()).await?;
        let request = RevokeRequest {
            role: self.role,
            account: self.account,
            selection: if self.all {
                Selection::All
            } else {
                Selection::Named(self.names.clone())
            },
            chain: self.chain.clone(),
            signer: self.action.signer.clone(),
            dry_run: self.action.dry_run,
            reason: self.action.reason.clone(),
        };
        let show_progress = !self.action.json && std::io::stderr().is_terminal();
        let progress = |line: &str| {
            if show_progress {
                eprintln!("{line}");
            }
        };
        let report = revoke::run(&deployment, &request, &progress).await?;
        self.action.record(&deployment, report.action_id)?;
        self.action
            .record_proposals(&deployment, &report.proposals)?;
        Ok(emit(&report, self.action.json, report.ok(), print_human))
    }
}

fn print_human(report: &RevokeReport) {
    let mut t = Table::new(["CHAIN", "NAME", "ROLE", "RESULT", "SIGNER", "TX", "BLOCK"]);
    for r in &report.targets {
        let result = match r.outcome {
            RevokeOutcome::Revoked => "revoked by this run".to_string(),
            RevokeOutcome::NotHeld => "not held".to_string(),
            RevokeOutcome::WouldRevoke => "would revoke (dry run)".to_string(),
            RevokeOutcome::Failed => {
                format!("FAILED: {}", r.error.as_deref().unwrap_or("unknown"))
            }
            RevokeOutcome::Proposed => "proposed to the Safe's owners".to_string(),
        };
        t.row(vec![
            r.chain.clone(),
            r.name.clone(),
            r.role.to_string(),
            result,
            r.signer.clone().unwrap_or_else(|| "-".into()),
            r.tx.map(|h| h.to_string()).unwrap_or_else(|| "-".into()),
            r.block.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
        ]);
    }
    println!("{t}");
    for p in &report.proposals {
        super::safe::print_proposal(p);
    }
    let failed = report
        .targets
        .iter()
        .filter(|t| t.outcome == RevokeOutcome::Failed)
        .count();
    println!(
        "{} of {}: {} contract(s), {} transaction(s), {failed} failed{}",
        report.role,
        report.account,
        report.targets.len(),
        report.transactions,
        if report.dry_run {
            " — dry run, nothing sent"
        } else {
            ""
        }
    );
}
