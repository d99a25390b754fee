//! `guardian withdraw`: rescue funds from paused contracts to a safe recipient.

use std::process::ExitCode;

use alloy::primitives::{Address, U256};
use anyhow::bail;

use crate::{
    chain::signer::process_env,
    config::manifest_path,
    deployment::Deployment,
    output::{Table, emit},
    response::withdraw::{self, Amount, Asset, WithdrawReport, WithdrawRequest},
};

/// Move funds out of a paused contract with emergencyWithdraw, to an address listed in
/// [emergency].safe_recipients. With --everything: every fund-holding contract, native coin and
/// every listed token, whole balances, rescuing from every contract it can and naming each one it
/// cannot. Run again after an interruption, it waits for what the first run sent instead of
/// sending it twice.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The contract to rescue from.
    #[arg(long, value_name = "NAME", required_unless_present = "everything")]
    contract: Option<String>,
    /// Every fund-holding contract, native coin and every listed token, whole balances.
    #[arg(long, conflicts_with_all = ["contract", "native", "token", "amount", "all"])]
    everything: bool,
    /// Move the native coin.
    #[arg(long, conflicts_with = "token")]
    native: bool,
    /// Move this ERC-20 token.
    #[arg(long, value_name = "ADDR")]
    token: Option<Address>,
    /// Amount in base units (wei, or the token's smallest unit).
    #[arg(long, value_name = "N", conflicts_with = "all")]
    amount: Option<U256>,
    /// The whole balance.
    #[arg(long)]
    all: bool,
    /// The recipient; must be in [emergency].safe_recipients.
    #[arg(long, value_name = "ADDR")]
    to: Address,
    /// Sign with this signer (default: whichever configured signer holds EMERGENCY_ROLE).
    #[arg(long, value_name = "NAME")]
    signer: Option<String>,
    /// Show what would move, send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Why (recorded with the action).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    incident: super::incident::UnderIncident,
}

impl Args {
    /// Runs the withdrawal.
    pub async fn run(self, ctx: &super::Context) -> anyhow::Result<ExitCode> {
        let (asset, amount) = if self.everything {
            (Asset::Everything, Amount::All)
        } else {
            let asset = match (self.native, self.token) {
                (true, None) => Asset::Native,
                (false, Some(t)) => Asset::Token(t),
                _ => bail!("say what to move: --native or --token ADDR (or --everything)"),
            };
            let amount = match (self.amount, self.all) {
                (Some(a), false) => Amount::Exact(a),
                (None, true) => Amount::All,
                _ => bail!("say how much: --amount N or --all"),
            };
            (asset, amount)
        };
        let path = manifest_path(ctx.config.clone());
        let deployment = Deployment::open(&path, None, &process_env).await?;
        self.incident.check(&deployment)?;
        let request = WithdrawRequest {
            contract: self.contract.clone(),
            asset,
            amount,
            to: self.to,
            signer: self.signer.clone(),
            dry_run: self.dry_run,
            reason: self.reason.clone(),
        };
        let report = withdraw::run(&deployment, &request).await?;
        self.incident
            .record(&deployment, report.action_id, request.dry_run)?;
        Ok(emit(&report, self.json, report.ok(), print_human))
    }
}

fn print_human(report: &WithdrawReport) {
    let mut t = Table::new([
        "CHAIN",
        "CONTRACT",
        "ASSET",
        "AMOUNT",
        "TO",
        "BALANCE AFTER",
        "TX",
        "RESULT",
    ]);
    for m in &report.movements {
        t.row(vec![
            m.chain.clone(),
            m.contract.clone(),
            m.token
                .map(|a| format!("{} {a}", m.symbol))
                .unwrap_or_else(|| m.symbol.clone()),
            m.show(m.amount),
            m.to.to_string(),
            m.balance_after
                .map(|b| m.show(b))
                .unwrap_or_else(|| "-".into()),
            m.tx.map(|h| h.to_string()).unwrap_or_else(|| "-".into()),
            match (&m.error, report.dry_run, m.resumed) {
                (Some(e), _, _) => format!("FAILED: {e}"),
                (None, _, true) => "moved by the interrupted earlier run (not sent again)".into(),
                (None, true, false) => "would move (dry run)".into(),
                (None, false, false) => "moved".into(),
            },
        ]);
    }
    println!("{t}");
    if report.movements.is_empty() && report.skipped.is_empty() {
        println!("nothing to move: every balance is zero");
    }
    for s in &report.skipped {
        println!("NOT RESCUED {}@{}: {}", s.contract, s.chain, s.error);
    }
}
