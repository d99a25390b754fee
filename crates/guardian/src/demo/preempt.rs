//! The drill's second run: the same exploit on the second chain, whose mempool the monitor
//! watches with a `preempt = true` rule. The exploit's first transaction is seen pending,
//! simulated, and answered by a pause that outbids it: both land in the same block, the pause
//! first, and the exploit reverts `EnforcedPause()` with nothing lost.

use std::time::Duration;

use alloy::providers::Provider;
use bindings::drill::PaymentEscrowBuggy;
use serde::Serialize;

use super::{
    DemoError, Progress, at,
    scene::Scene,
    steps::{client_url, contract, eth},
};
use crate::{
    config::ContractKind,
    deployment::Deployment,
    response::upgrade::{self, Implementation, UpgradeRequest},
};

/// The pre-emptive run's outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PreemptReport {
    /// Its chain.
    pub chain: String,
    /// Whether the exploit's first transaction reverted.
    pub exploit_reverted: bool,
    /// Its revert, by name.
    pub exploit_error: Option<String>,
    /// What the attacker took beyond its deposit, in wei (decimal string).
    pub lost_wei: String,
    /// The block the pause was mined in.
    pub paused_block: Option<u64>,
    /// The block the exploit's first transaction was mined in.
    pub exploit_block: u64,
    /// Whether the pause came before the exploit within their block.
    pub pause_first: bool,
    /// Milliseconds from the pending exploit first seen by the monitor's node watch to the pause
    /// broadcast, from the records (the alert's time to the pause's `sent_at`).
    pub alert_to_broadcast_ms: Option<i64>,
    /// The incident the pre-emption opened.
    pub incident: Option<i64>,
}

/// Plays the exploit on `chain` (whose mempool the monitor watches).
pub(super) async fn play(
    d: &Deployment,
    chain: &str,
    progress: &Progress,
) -> Result<PreemptReport, DemoError> {
    let client = d.clients.get(chain).ok_or_else(|| DemoError::Step {
        step: "connecting",
        message: format!("chain {chain} unreachable"),
    })?;
    let escrow = contract(d, chain, ContractKind::PaymentEscrow)?;
    let registry = contract(d, chain, ContractKind::DocumentRegistry)?;
    let scene = Scene::new(client_url(d, chain)?, registry.address, escrow.address);
    let mut report = PreemptReport {
        chain: chain.to_string(),
        ..PreemptReport::default()
    };
    progress.step(&format!(
        "second run on {chain}: the same bug, the mempool watched"
    ));
    scene
        .traffic(&super::steps::VICTIMS, super::steps::MERCHANT)
        .await
        .map_err(at("ordinary traffic"))?;
    let shipped = upgrade::run(
        d,
        &UpgradeRequest {
            contract: escrow.name().to_string(),
            implementation: Implementation::InitCode(PaymentEscrowBuggy::BYTECODE.clone()),
            chain: None,
            signer: None,
            dry_run: false,
            reason: Some("routine release of the escrow (it carries the same bug)".into()),
        },
        &|_| {},
    )
    .await
    .map_err(at("shipping the buggy release"))?;
    if let Some(p) = &shipped.proposal {
        super::multisig::sign_and_execute(d, p.id, "drill").await?;
    }
    let drainer = scene
        .prepare_attacker(super::steps::ATTACKER)
        .await
        .map_err(at("the attacker's preparation"))?;
    // Incidents opened before this run (the reactive one, closed by now) are not this run's.
    let newest_before = d
        .store
        .incidents(false)
        .map_err(at("incidents"))?
        .iter()
        .map(|i| i.id)
        .max()
        .unwrap_or(0);

    progress.step(&format!(
        "EXPLOIT on {chain}: the first transaction enters the mempool"
    ));
    let first = scene
        .first_strike(super::steps::ATTACKER, drainer)
        .await
        .map_err(at("the exploit"))?;
    report.exploit_block = first.block;
    report.exploit_reverted = first.reverted;
    report.exploit_error = first.error.clone();
    let taken = scene.balance(drainer, None).await.map_err(at("balances"))?;
    let deposit =
        alloy::primitives::utils::parse_ether(super::scene::ATTACK_DEPOSIT_ETH).unwrap_or_default();
    let lost = taken.saturating_sub(deposit);
    report.lost_wei = lost.to_string();

    // The pre-emption's incident and its pause, from the records.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let incident = loop {
        // This run's incident, once its pause is recorded in it.
        let list = d.store.incidents(false).map_err(at("incidents"))?;
        if let Some(i) = list
            .into_iter()
            .find(|i| i.id > newest_before && !i.actions.is_empty())
        {
            break Some(i);
        }
        if std::time::Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    if let Some(i) = &incident {
        report.incident = Some(i.id);
        let alert = i
            .alerts
            .first()
            .and_then(|a| d.store.alert(*a).ok().flatten());
        for action in &i.actions {
            for tx in d.store.transactions(*action).map_err(at("the journal"))? {
                if tx.chain_id != client.chain_id || report.paused_block.is_some() {
                    continue;
                }
                report.paused_block = tx.block_number;
                report.alert_to_broadcast_ms = alert.as_ref().map(|a| tx.sent_at - a.detected_at);
                let index = |h| async move {
                    client
                        .provider()
                        .get_transaction_receipt(h)
                        .await
                        .ok()
                        .flatten()
                        .and_then(|r| r.transaction_index)
                };
                let (pause_at, exploit_at) = tokio::join!(index(tx.tx_hash), index(first.hash));
                report.pause_first = tx.block_number == Some(first.block)
                    && matches!((pause_at, exploit_at), (Some(p), Some(e)) if p < e);
            }
        }
    }
    if report.exploit_reverted {
        progress.done(&format!(
            "pre-empted: the pause was mined in block {} ahead of the exploit, which reverted {}; lost {}",
            report.paused_block.map(|b| b.to_string()).unwrap_or_else(|| "?".into()),
            report.exploit_error.as_deref().unwrap_or(""),
            eth(lost),
        ));
    } else {
        progress.warn(&format!(
            "NOT pre-empted: the exploit's first transaction went through in block {}",
            first.block
        ));
    }
    Ok(report)
}
