//! `guardian withdraw`: rescue funds from paused contracts to a safe recipient.

use std::process::ExitCode;

use alloy::primitives::{Address, U256};
use anyhow::bail;

use crate::{
    output::{Table, emit},
    response::withdraw::{self, Amount, Asset, WithdrawReport, WithdrawRequest},
};

/// Move funds out of a paused contract with emergencyWithdraw, to an address listed in
/// [emergency].safe_recipients. With --everything: every fund-holding contract, native coin and
/// every listed token, whole balances, rescuing from every contract it can and naming each one it
/// cannot. Run again after an interruption, it waits for what the first run sent instead of
/// sending it twice.
#[derive(Debug, clap::Args)]
#[command(
    mut_arg("signer", |a| a.help("Sign with this signer (default: whichever configured signer holds EMERGENCY_ROLE)")),
    mut_arg("dry_run", |a| a.help("Show what would move, send nothing"))
)]
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
    #[command(flatten)]
    action: super::ActionFlags,
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
        let deployment = self.action.open(ctx, None).await?;
        let request = WithdrawRequest {
            contract: self.contract.clone(),
            asset,
            amount,
            to: self.to,
            signer: self.action.signer.clone(),
            dry_run: self.action.dry_run,
            reason: self.action.reason.clone(),
        };
        let report = withdraw::run(&deployment, &request).await?;
        self.action.record(&deployment, report.action_id)?;
        self.action
            .record_proposals(&deployment, &report.proposals)?;
        Ok(emit(&report, self.action.json, report.ok(), print_human))
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
    for p in &report.proposals {
        super::safe::print_proposal(p);
    }
    if report.movements.is_empty() && report.skipped.is_empty() && report.proposals.is_empty() {
        println!("nothing to move: every balance is zero");
    }
    for s in &report.skipped {
        println!("NOT RESCUED {}@{}: {}", s.contract, s.chain, s.error);
    }
}
