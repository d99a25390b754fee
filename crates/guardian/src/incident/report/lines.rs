//! Each timeline entry told in one line for people, with the family it is drawn in on the chart.

use std::collections::BTreeMap;

use super::super::Entry;
use super::{Line, utc};

/// One timeline entry, for people.
pub(super) fn describe<'a>(
    e: &Entry,
    kind_of: &dyn Fn(i64) -> Option<&'a str>,
    chains: &BTreeMap<u64, String>,
) -> Line {
    let d = &e.details;
    let s = |k: &str| match &d[k] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        v => v.to_string(),
    };
    let list = |k: &str| {
        d[k].as_array()
            .map(|a| {
                a.iter()
                    .map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string()))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let action_kind = d["action_id"].as_i64().and_then(kind_of);
    let category = match e.kind.as_str() {
        "alert" => "alert",
        "transaction" => action_kind.map_or("record", category_of_action),
        k @ ("pause" | "withdraw" | "upgrade" | "unpause" | "replenish") => category_of_action(k),
        "fix-verified" => "upgrade",
        "notification" | "notification-queued" => "notification",
        "note" | "task" | "checklist" | "report" | "review" => "note",
        "pause-failed" => "failure",
        _ => "record",
    };
    let text = match e.kind.as_str() {
        "opened" => format!("opened at level {}: {}", s("level"), s("title")),
        // Published with the post-mortem: the id the researcher knows (a report recorded before
        // public ids existed keeps its number).
        "bounty-report" => format!(
            "evidence: bug bounty report {} ({}, {}): {}",
            match e.details["public_id"].as_str() {
                Some(id) => id.to_string(),
                None => format!("#{}", s("report")),
            },
            s("severity"),
            s("impact"),
            s("title")
        ),
        "contracts" => format!("affected contracts: {}", list("added")),
        "tasks" => format!("tasks added: {}", list("added")),
        "alert" => format!(
            "alert {} ({}, {}) on {} {} at block {}: {}",
            s("alert"),
            s("rule"),
            s("severity"),
            s("chain"),
            s("contract"),
            s("block_number"),
            s("summary")
        ),
        "level" => format!("level {} → {}", s("from"), s("to")),
        "status" => format!("status {} → {}", s("from"), s("to")),
        "transaction" => format!(
            "{} on {}: {} in block {} ({}){}",
            s("label"),
            d["chain_id"]
                .as_u64()
                .and_then(|c| chains.get(&c).cloned())
                .unwrap_or_else(|| s("chain_id")),
            s("hash"),
            s("block"),
            s("result"),
            d["error"]
                .as_str()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ),
        "funds" => format!(
            "stakes read ({}) at blocks {}",
            s("when"),
            d["blocks"]
                .as_object()
                .map(|m| m
                    .iter()
                    .map(|(c, b)| format!("{c} {b}"))
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        ),
        "notification-queued" => format!(
            "{} told ({}): {}",
            s("audience"),
            s("event"),
            list("contacts")
        ),
        "notification" => format!(
            "{} via {}: {}",
            s("contact"),
            s("channel"),
            if d["delivered"] == true {
                "delivered".to_string()
            } else {
                format!("not delivered: {}", s("error"))
            }
        ),
        "note" => s("text"),
        "task" if d.get("owner").is_some() => {
            format!("task {} taken on by {}", s("task"), s("owner"))
        }
        "task" => format!("task {} done", s("task")),
        "safe" => format!(
            "Safe proposal {} {} on {}: {}",
            s("proposal"),
            s("event"),
            s("chain"),
            match list("calls") {
                calls if calls.is_empty() => "-".to_string(),
                calls => calls,
            }
        ),
        "pause-requested" => format!("pause asked for: {}", s("reason")),
        "checklist" => format!("checklist {}: {}", s("item"), s("evidence")),
        "fix-verified" => format!("fix verified: {}", s("note")),
        "pause-failed" => format!("pause failed: {}", s("error")),
        "movements" => format!(
            "funds movements read from {}: {} movements, {} of the attacker's addresses",
            s("source"),
            d["movements"].as_array().map_or(0, Vec::len),
            d["attackers"].as_array().map_or(0, Vec::len)
        ),
        "review" => match d.get("due").and_then(|v| v.as_str()) {
            Some(due) => format!(
                "review ({}): {} (owner {}, due {due})",
                s("section"),
                s("text"),
                s("owner")
            ),
            None => format!("review ({}): {}", s("section"), s("text")),
        },
        "report" if d["published"] == true => format!(
            "post-mortem published with the closing (Markdown sha256 {})",
            s("sha256")
        ),
        "report" => format!(
            "post-mortem ({}) written to {} (sha256 {})",
            s("format"),
            s("path"),
            s("sha256")
        ),
        "commander" if d.get("why").is_some() => {
            format!("commander: {} ({})", s("commander"), s("why"))
        }
        "commander" => format!("commander: {}", s("commander")),
        k if d.get("action_id").is_some() => format!(
            "{k} (action {}) {}: {}",
            s("action_id"),
            s("status"),
            s("summary")
        ),
        _ => d.to_string(),
    };
    Line {
        at_ms: e.at,
        at: utc(e.at),
        actor: e.actor.clone(),
        kind: e.kind.clone(),
        category,
        text,
    }
}

fn category_of_action(kind: &str) -> &'static str {
    match kind {
        "pause" => "pause",
        "withdraw" => "withdrawal",
        "upgrade" => "upgrade",
        "unpause" => "unpause",
        "replenish" => "replenish",
        _ => "record",
    }
}
