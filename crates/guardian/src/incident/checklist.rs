//! The post-incident checklist: which items the tool's own records prove, and what closing a
//! level 2 or 3 incident still needs from a person.

use alloy::primitives::U256;

use super::{CHECKLIST, Entry, Incident, warroom};
use crate::{deployment::Deployment, funds::read_holdings};

/// What the records say about one item: the evidence, when they prove it.
pub type Proof = Option<String>;

/// The items the records prove, with their evidence. Root cause and the fix's audit are never
/// proven by the tool: a person attests them (`incident check`).
pub async fn proven(
    deployment: &Deployment,
    incident: &Incident,
    timeline: &[Entry],
) -> Vec<(&'static str, String)> {
    let has = |kind: &str, pred: &dyn Fn(&serde_json::Value) -> bool| {
        timeline.iter().find(|e| e.kind == kind && pred(&e.details))
    };
    let succeeded = |d: &serde_json::Value| d["status"] == "succeeded";
    let mut out = Vec::new();

    let by_safe = |what: &str| {
        timeline
            .iter()
            .find(|e| super::recovery::executed_proposal_of(e, timeline, what))
            .map(|e| {
                format!(
                    "Safe proposal {} executed in {}",
                    e.details["proposal"], e.details["tx"]
                )
            })
    };
    if super::recovery::fix_verified(timeline)
        && let Some(verified) = has("fix-verified", &|_| true)
    {
        let up = by_safe("upgrade ").or_else(|| {
            has("upgrade", &succeeded)
                .map(|up| format!("upgrade (action {})", up.details["action_id"]))
        });
        out.push((
            "fix-deployed-and-verified",
            format!(
                "{} and verification by {}: {}",
                up.unwrap_or_default(),
                verified.actor,
                verified.details["note"].as_str().unwrap_or("")
            ),
        ));
    }
    let users_told = has("notification-queued", &|d| d["audience"] == "users");
    let exported = has("affected-exported", &|_| true);
    if let (Some(told), Some(list)) = (users_told, exported) {
        out.push((
            "affected-users-notified",
            format!(
                "affected list exported ({} addresses) and users notified through {}",
                list.details["addresses"], told.details["contacts"]
            ),
        ));
    }
    let rescued = has("withdraw", &succeeded)
        .map(|w| format!("withdrawal (action {})", w.details["action_id"]))
        .or_else(|| by_safe("withdraw "));
    if let Some(how) = rescued
        && let Some(solvent) = escrows_solvent(deployment, incident).await
        && solvent
    {
        out.push((
            "funds-recovered",
            format!("rescued by {how}; every escrow in scope holds what it owes"),
        ));
    }
    if let Some(r) = has("report", &|_| true) {
        out.push((
            "post-mortem-published",
            format!(
                "post-mortem written to {}",
                r.details["path"].as_str().unwrap_or("?")
            ),
        ));
    }
    out
}

/// Whether every escrow in the incident's scope holds at least what it owes now (None: one could
/// not be read).
pub async fn escrows_solvent(deployment: &Deployment, incident: &Incident) -> Option<bool> {
    for c in warroom::scope(&deployment.manifest, incident) {
        if c.kind != crate::config::ContractKind::PaymentEscrow {
            continue;
        }
        let client = deployment.clients.get(c.chain())?;
        let holdings = read_holdings(client, c).await.ok()?;
        if holdings.iter().any(|h| h.shortfall() > U256::ZERO) {
            return Some(false);
        }
    }
    Some(true)
}

/// How a person satisfies an item the records do not prove.
pub fn how_to(item: &str, id: i64) -> String {
    match item {
        "fix-deployed-and-verified" => format!(
            "guardian upgrade NAME --artifact FILE --incident {id}, then guardian incident verify-fix {id} --note TEXT"
        ),
        "affected-users-notified" => format!(
            "guardian incident affected {id} --csv > affected.csv, then guardian incident notify {id} --audience users"
        ),
        "funds-recovered" => format!(
            "guardian withdraw ... --incident {id} and guardian replenish ... --incident {id} (or attest a compensation plan: guardian incident check {id} funds-recovered --evidence URL)"
        ),
        "post-mortem-published" => format!("guardian incident report {id} --out postmortem.md"),
        _ => format!("guardian incident check {id} {item} --evidence TEXT|URL"),
    }
}

/// Whether `item` is a checklist item.
pub fn is_item(item: &str) -> bool {
    CHECKLIST.iter().any(|(id, _)| *id == item)
}
