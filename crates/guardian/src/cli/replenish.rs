//! `guardian replenish`: return rescued funds to a contract, so an escrow holds what it owes
//! before it is unpaused.

use std::process::ExitCode;

use alloy::primitives::Address;
use anyhow::bail;

use crate::{
    output::emit,
    response::replenish::{self, ReplenishReport, ReplenishRequest},
};

/// Return funds to a fund-holding contract with `replenish` (paused or not), from a configured
/// signer: the native coin, or an ERC-20 (approved first when needed). Changes no bookkeeping:
/// it only raises what the contract holds, so an escrow can be made whole before it resumes.
#[derive(Debug, clap::Args)]
#[command(
    mut_arg("signer", |a| a.help("The signer that pays (required when more than one is configured)")),
    mut_arg("dry_run", |a| a.help("Check and show what would be sent, send nothing"))
)]
pub struct Args {
    /// The contract to return funds to.
    #[arg(long, value_name = "NAME")]
    contract: String,
    /// Return the native coin.
    #[arg(long, conflicts_with = "token", required_unless_present = "token")]
    native: bool,
    /// Return this ERC-20 token.
    #[arg(long, value_name = "ADDR")]
    token: Option<Address>,
    /// How much, in the asset's units (`10.5` is 10.5 ETH, or 10.5 tokens by their decimals).
    #[arg(long, value_name = "N")]
    amount: String,
    #[command(flatten)]
    action: super::ActionFlags,
}

impl Args {
    /// Runs the replenish.
    pub async fn run(self, ctx: &super::Context) -> anyhow::Result<ExitCode> {
        if !self.native && self.token.is_none() {
            bail!("say what to return: --native or --token ADDR");
        }
        let deployment = self.action.open(ctx, None).await?;
        let request = ReplenishRequest {
            contract: self.contract.clone(),
            token: self.token,
            amount: self.amount.clone(),
            signer: self.action.signer.clone(),
            dry_run: self.action.dry_run,
            reason: self.action.reason.clone(),
        };
        let report = replenish::run(&deployment, &request).await?;
        self.action.record(&deployment, report.action_id)?;
        self.action
            .record_proposals(&deployment, report.proposal.as_slice())?;
        Ok(emit(&report, self.action.json, true, print_human))
    }
}

fn print_human(r: &ReplenishReport) {
    if let Some(p) = &r.proposal {
        println!(
            "proposed to return {} to {} ({}) from the Safe `{}`: nothing moves until its owners sign",
            r.show(r.amount),
            r.contract,
            r.chain,
            r.signer
        );
        super::safe::print_proposal(p);
        return;
    }
    if r.dry_run {
        println!(
            "would return {} to {} ({}) from {} — dry run, nothing sent",
            r.show(r.amount),
            r.contract,
            r.chain,
            r.signer
        );
        return;
    }
    println!(
        "returned {} to {} ({}) from {} in transaction {} (block {})",
        r.show(r.amount),
        r.contract,
        r.chain,
        r.signer,
        r.tx.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
        r.block.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
    );
    if let Some(approve) = r.approve_tx {
        println!("  approved the contract to take it first: {approve}");
    }
    let after = r.balance_after.unwrap_or(r.balance_before);
    match r.owed {
        Some(owed) if owed > after => println!(
            "  {} now holds {}, owes {}: still short {}",
            r.contract,
            r.show(after),
            r.show(owed),
            r.show(owed - after)
        ),
        Some(owed) => println!(
            "  {} now holds {}, owes {}: whole again, it can be unpaused",
            r.contract,
            r.show(after),
            r.show(owed)
        ),
        None => println!("  {} now holds {}", r.contract, r.show(after)),
    }
}
