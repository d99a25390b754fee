//! `guardian upgrade`: ship a fix by moving a UUPS proxy to a new implementation, and prove that
//! only the implementation changed.

use std::{io::IsTerminal, path::PathBuf, process::ExitCode};

use alloy::primitives::Address;

use crate::{
    output::{Table, emit},
    response::upgrade::{self, Implementation, UpgradeReport, UpgradeRequest},
};

/// Upgrade a contract's UUPS proxy to a new implementation (DocumentRegistry, OwnershipTokenizer,
/// PaymentEscrow, AuditResolver; the EmergencyBrake and the test token are not upgradeable).
///
/// With --artifact the implementation is deployed first; with --implementation it must have code
/// and answer proxiableUUID(). A configured signer must hold UPGRADER_ROLE: checked first, nothing
/// is sent otherwise. After upgradeToAndCall(impl, ""), the ERC-1967 slot must hold the new
/// address, and the paused state, the roles of every [roles] holder and the balances must be as
/// before. Exit code 0 only if the upgrade happened and every check holds.
#[derive(Debug, clap::Args)]
#[command(
    mut_arg("signer", |a| a.help("Sign with this signer (default: whichever configured signer holds UPGRADER_ROLE)")),
    mut_arg("dry_run", |a| a.help("Check the signer and the implementation, send nothing"))
)]
pub struct Args {
    /// The contract to upgrade, by its manifest name.
    #[arg(value_name = "NAME")]
    name: String,
    /// Deploy the implementation from this {abi, bin} artifact (as in contracts/artifacts/).
    #[arg(long, value_name = "PATH", required_unless_present = "implementation")]
    artifact: Option<PathBuf>,
    /// The already deployed implementation.
    #[arg(long, value_name = "ADDR", conflicts_with = "artifact")]
    implementation: Option<Address>,
    /// The chain the contract must be on (a guard against the wrong name).
    #[arg(long, value_name = "NAME")]
    chain: Option<String>,
    #[command(flatten)]
    action: super::ActionFlags,
}

impl Args {
    /// Runs the upgrade.
    pub async fn run(self, ctx: &super::Context) -> anyhow::Result<ExitCode> {
        let deployment = self.action.open(ctx, self.chain.as_deref()).await?;
        let implementation = match (self.artifact.clone(), self.implementation) {
            (Some(p), _) => Implementation::Artifact(p),
            (None, Some(a)) => Implementation::Address(a),
            (None, None) => {
                anyhow::bail!("say what to upgrade to: --artifact PATH or --implementation ADDR")
            }
        };
        let request = UpgradeRequest {
            contract: self.name.clone(),
            implementation,
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
        let report = upgrade::run(&deployment, &request, &progress).await?;
        self.action.record(&deployment, report.action_id)?;
        self.action
            .record_proposals(&deployment, report.proposal.as_slice())?;
        Ok(emit(&report, self.action.json, report.ok(), print_human))
    }
}

fn print_human(r: &UpgradeReport) {
    println!(
        "{} ({}) proxy {}: implementation {} -> {}, signer {} {}",
        r.contract,
        r.chain,
        r.proxy,
        r.previous_implementation,
        r.implementation
            .map(|a| a.to_string())
            .unwrap_or_else(|| "(deployed from the artifact)".into()),
        r.signer,
        r.signer_address,
    );
    for tx in &r.transactions {
        println!("  {}: {} in block {}", tx.label, tx.tx, tx.block);
    }
    if !r.checks.is_empty() {
        let mut t = Table::new(["CHECK", "BEFORE", "AFTER", "RESULT"]);
        // A configured address that lacks a role before and after is checked, not listed.
        let quiet =
            |c: &&upgrade::Check| c.ok && c.check.contains("_ROLE of ") && c.before == "false";
        let hidden = r.checks.iter().filter(quiet).count();
        for c in r.checks.iter().filter(|c| !quiet(c)) {
            t.row(vec![
                c.check.clone(),
                c.before.clone(),
                c.after.clone(),
                if c.ok { "ok" } else { "FAILED" }.into(),
            ]);
        }
        println!("{t}");
        if hidden > 0 {
            println!(
                "({hidden} more role check(s) hold: configured addresses that lack the role, before and after)"
            );
        }
    }
    if let Some(e) = &r.error {
        println!("FAILED: {e}");
    }
    if let Some(p) = &r.proposal {
        super::safe::print_proposal(p);
        println!(
            "the upgrade waits for the Safe's owners; `guardian safe status` shows it (the checks run only for an upgrade guardian sends itself)"
        );
        return;
    }
    let failed = r.checks.iter().filter(|c| !c.ok).count();
    println!(
        "{}",
        match (r.dry_run, r.ok()) {
            (true, _) => "dry run: the signer holds UPGRADER_ROLE and the implementation is usable; nothing sent".to_string(),
            (false, true) => format!("upgraded; {} check(s) hold ({} ms)", r.checks.len(), r.elapsed_ms),
            (false, false) => format!("NOT OK: {failed} check(s) failed"),
        }
    );
}
