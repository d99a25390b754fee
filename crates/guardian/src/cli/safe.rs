//! `guardian safe`: the proposals of Safes that hold roles — what waits on which owners, their
//! confirmations, their execution and cancellation.

use std::process::ExitCode;

use alloy::primitives::Bytes;

use crate::{
    output::{Table, emit},
    response::safe::{self, How, ProposalState, Proposed},
    safe::tx::{CALL, DELEGATECALL},
};

/// Safe proposals: status, confirm (sign), execute, cancel.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    action: Action,
    /// Print the result as JSON.
    #[arg(long, global = true)]
    json: bool,
}

/// The safe subcommands.
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Every pending proposal with its confirmations ("1 of 2: waiting for 0x…"); with --all,
    /// also those executed (by guardian or from the Safe app), cancelled or superseded.
    Status {
        /// Include proposals that are no longer pending.
        #[arg(long)]
        all: bool,
    },
    /// Confirm a proposal as one of the Safe's owners: with a key of the manifest (--signer), or
    /// with a signature of its safeTxHash made elsewhere (--signature, checked against the
    /// owners before it is kept). An owner may also call approveHash on the Safe from any wallet.
    Sign {
        /// The proposal's id.
        id: i64,
        /// A signer of the manifest whose key owns the Safe.
        #[arg(
            long,
            value_name = "NAME",
            conflicts_with = "signature",
            required_unless_present = "signature"
        )]
        signer: Option<String>,
        /// A 65-byte signature (0x…) of the proposal's safeTxHash.
        #[arg(long, value_name = "0x…")]
        signature: Option<Bytes>,
    },
    /// Execute a proposal whose confirmations meet the Safe's threshold (any account may pay).
    Execute {
        /// The proposal's id.
        id: i64,
        /// Who pays the gas (default: the first signer of the manifest with a key).
        #[arg(long, value_name = "NAME")]
        signer: Option<String>,
    },
    /// Propose the no-op at a proposal's nonce: executed (it needs the threshold too), the
    /// proposal can never be.
    Cancel {
        /// The proposal's id.
        id: i64,
    },
}

impl Args {
    /// Runs the subcommand.
    pub async fn run(self, ctx: &super::Context) -> anyhow::Result<ExitCode> {
        let deployment = ctx.deployment(None).await?;
        match self.action {
            Action::Status { all } => {
                let before = kept(&deployment)?;
                let states = safe::states(&deployment, !all).await?;
                record_seen(&deployment, &before)?;
                Ok(emit(&states, self.json, true, print_states))
            }
            Action::Sign {
                id,
                signer,
                signature,
            } => {
                let how = match (&signer, signature) {
                    (Some(name), _) => How::Signer(deployment.signer(name)?),
                    (None, Some(sig)) => How::Signature(sig),
                    (None, None) => anyhow::bail!("give --signer NAME or --signature 0x…"),
                };
                let signed = safe::sign(&deployment, id, how).await?;
                record_if_incident(
                    &deployment,
                    id,
                    "confirmed",
                    serde_json::json!({"owner": signed.owner, "via": signed.via,
                        "confirmations": signed.confirmations, "threshold": signed.threshold}),
                )?;
                Ok(emit(&signed, self.json, true, |s| {
                    println!(
                        "proposal {}: confirmed by {} ({}); {} of {}",
                        s.id, s.owner, s.via, s.confirmations, s.threshold
                    );
                    if let Some(shared) = &s.shared {
                        println!("  {shared}");
                    }
                }))
            }
            Action::Execute { id, signer } => {
                let payer = match &signer {
                    Some(name) => deployment.signer(name)?,
                    None => deployment.signers.first().ok_or_else(|| {
                        anyhow::anyhow!(
                            "no signer with a key in the manifest to pay for the execution: add one, or name it with --signer"
                        )
                    })?,
                };
                let before = kept(&deployment)?;
                let done = safe::execute(&deployment, id, payer).await;
                record_seen(&deployment, &before)?;
                let done = done?;
                record_if_incident(
                    &deployment,
                    id,
                    "executed",
                    serde_json::json!({"tx": done.tx, "block": done.block,
                        "upgrades": done.upgrades}),
                )?;
                Ok(emit(&done, self.json, done.ok(), |d| {
                    println!(
                        "proposal {}: executed in {} (block {})",
                        d.id, d.tx, d.block
                    );
                    for u in &d.upgrades {
                        println!(
                            "  upgrade of {} to {}: {}",
                            u.contract,
                            u.implementation,
                            if u.ok() {
                                "every check holds"
                            } else {
                                "CHECKS FAILED"
                            }
                        );
                        for c in &u.checks {
                            println!(
                                "    {} {}: {} → {}",
                                if c.ok { "ok  " } else { "FAIL" },
                                c.check,
                                c.before,
                                c.after
                            );
                        }
                    }
                }))
            }
            Action::Cancel { id } => {
                let actor = crate::operator::identified(None, &crate::config::env::process_env)?;
                let p = safe::cancel(&deployment, id, &actor).await?;
                record_if_incident(
                    &deployment,
                    id,
                    "cancel proposed",
                    serde_json::json!({"cancelled_by": p.id, "safe_tx_hash": p.hashes.safe_tx_hash}),
                )?;
                Ok(emit(&p, self.json, true, print_proposal))
            }
        }
    }
}

/// Every pending proposal's confirmations kept now, by proposal.
fn kept(
    deployment: &crate::deployment::Deployment,
) -> anyhow::Result<Vec<(i64, Vec<crate::storage::ConfirmationRecord>)>> {
    let mut out = Vec::new();
    for p in deployment.store.proposals(true)? {
        out.push((p.id, deployment.store.confirmations(p.id)?));
    }
    Ok(out)
}

/// Writes into their incidents' timelines the confirmations found on chain (`approveHash`)
/// since `before`.
fn record_seen(
    deployment: &crate::deployment::Deployment,
    before: &[(i64, Vec<crate::storage::ConfirmationRecord>)],
) -> anyhow::Result<()> {
    for (id, was) in before {
        for c in deployment.store.confirmations(*id)? {
            if !was.iter().any(|w| w.owner == c.owner) {
                record_if_incident(
                    deployment,
                    *id,
                    "confirmed",
                    serde_json::json!({"owner": c.owner, "via": c.via}),
                )?;
            }
        }
    }
    Ok(())
}

/// Writes `event` into the timeline of proposal `id`'s incident, when it has one.
fn record_if_incident(
    deployment: &crate::deployment::Deployment,
    id: i64,
    event: &str,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    let actor = crate::operator::operator(None, &crate::config::env::process_env);
    crate::incident::recovery::record_if_incident(&deployment.store, &actor, id, event, details)?;
    Ok(())
}

fn print_states(states: &Vec<ProposalState>) {
    if states.is_empty() {
        println!("no Safe proposals");
        return;
    }
    let mut t = Table::new([
        "ID",
        "CHAIN",
        "SAFE",
        "NONCE",
        "STATUS",
        "CONFIRMATIONS",
        "WHAT",
    ]);
    for s in states {
        let p = &s.proposal;
        let status = match (&p.executed_tx, p.executed_block) {
            (Some(tx), Some(b)) => format!("{:?} in {tx} (block {b})", p.status).to_lowercase(),
            _ => format!("{:?}", p.status).to_lowercase(),
        };
        let confirmations = if s.waiting.is_empty() || s.confirmed.len() as u64 >= s.threshold {
            format!("{} of {}", s.confirmed.len(), s.threshold)
        } else {
            format!(
                "{} of {}: waiting for {}",
                s.confirmed.len(),
                s.threshold,
                s.waiting
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        t.row(vec![
            p.id.to_string(),
            p.chain.clone(),
            p.safe.to_string(),
            p.nonce.to_string(),
            status,
            confirmations,
            p.title.clone(),
        ]);
    }
    println!("{t}");
    for s in states {
        if let Some(why) = &s.service {
            println!(
                "proposal {}: the Safe Transaction Service could not be read: {why}",
                s.proposal.id
            );
        }
    }
}

/// What the owners must check on their hardware wallets before signing a proposal.
pub fn print_proposal(p: &Proposed) {
    println!(
        "\nSafe proposal {} on {} (chain id {}): Safe {} ({}), nonce {}",
        p.id, p.chain, p.chain_id, p.safe, p.signer, p.tx.nonce
    );
    let operation = match p.tx.operation {
        CALL => "CALL".to_string(),
        DELEGATECALL => {
            "DELEGATECALL (the pinned MultiSendCallOnly, batching the calls below)".into()
        }
        other => format!("operation {other}"),
    };
    println!(
        "  to {} value {} operation {operation}",
        p.tx.to, p.tx.value
    );
    for (n, c) in p.calls.iter().enumerate() {
        println!(
            "  call {}: {} → {} value {} data {}",
            n + 1,
            c.label,
            c.to,
            c.value,
            c.data
        );
    }
    println!("  safeTxHash     {}", p.hashes.safe_tx_hash);
    println!("  domain hash    {}", p.hashes.domain_hash);
    println!("  message hash   {}", p.hashes.message_hash);
    println!(
        "  needs {} of {} owners: {}",
        p.threshold,
        p.owners.len(),
        p.owners
            .iter()
            .map(|o| o.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for f in &p.files {
        println!("  written: {}", f.display());
    }
    for n in &p.notes {
        println!("  {n}");
    }
    println!(
        "  confirm: guardian safe sign {} --signer NAME (or --signature 0x…, or approveHash from an owner's wallet); then guardian safe execute {}",
        p.id, p.id
    );
}
