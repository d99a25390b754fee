//! The post-mortem: every figure of an incident's report computed from its records (the
//! timeline, the linked alerts, the journal's actions and transactions), with no chain or
//! database access of its own, and rendered as Markdown ([`to_markdown`]) or as one
//! self-contained HTML file ([`to_html`]).

mod chart;
mod figures;
mod html;
mod lines;
mod markdown;
mod money;
mod read;
mod review;

use std::collections::BTreeMap;

use serde::Serialize;

pub use html::{escape, to_html};
pub use markdown::{CLOCKS, show_span, to_markdown};
use money::amount;
pub use money::{
    FUNDS_COLUMNS, FUNDS_MEANING, Funds, MOVEMENT_COLUMNS, attacker_line, movement_cells,
    movements_source,
};
pub use read::{
    FundsFigures, Gathered, Published, digest, funds_from_records, generate, publication,
    published, record_written,
};
pub use review::{Detection, FROM_RECORDS, Review, SECTIONS};

use super::{CheckItem, Entry, Incident, Integrity, funds::Snapshot, level_name, warroom};
use crate::{
    alert::Alert,
    storage::{ActionRecord, Status, TxRecord},
};

/// Everything a report is computed from; the CLI reads it, [`build`] only looks.
pub struct Records<'a> {
    /// The incident.
    pub incident: &'a Incident,
    /// Its timeline, oldest first.
    pub timeline: &'a [Entry],
    /// Whether the timeline is as written.
    pub integrity: &'a Integrity,
    /// The alerts linked to it.
    pub alerts: &'a [Alert],
    /// The journal actions done under it.
    pub actions: &'a [ActionRecord],
    /// Those actions' transactions.
    pub transactions: &'a [TxRecord],
    /// The war-room state of each contract in scope (empty when the chain could not be read).
    pub contracts: &'a [warroom::ContractState],
    /// Chain id → manifest chain name.
    pub chains: &'a BTreeMap<u64, String>,
    /// The exploit's first transaction, when the caller knows it better than the timeline (else
    /// the last `exploit` entry is used).
    pub exploit: Option<Exploit>,
    /// When the report is generated, Unix milliseconds.
    pub now: i64,
}

/// Where an exploit started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Exploit {
    /// Its chain id.
    pub chain_id: u64,
    /// The block of its first transaction.
    pub block: u64,
    /// When that block was mined, Unix milliseconds, if known.
    pub at: Option<i64>,
    /// Its first transaction, if known.
    #[serde(default)]
    pub tx: Option<alloy::primitives::TxHash>,
}

/// The exploit as last recorded in the timeline (`Responder::record_exploit`).
fn recorded_exploit(timeline: &[Entry]) -> Option<Exploit> {
    timeline
        .iter()
        .rev()
        .find(|e| e.kind == "exploit")
        .and_then(|e| serde_json::from_value(e.details.clone()).ok())
}

/// The post-mortem of one incident.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The incident's id.
    pub incident: i64,
    /// Its title.
    pub title: String,
    /// Its level now.
    pub level: u8,
    /// What that level is called.
    pub level_name: &'static str,
    /// Its status now.
    pub status: String,
    /// Who led it.
    pub commander: Option<String>,
    /// Who opened it.
    pub opened_by: String,
    /// When, UTC.
    pub opened_at: String,
    /// When, Unix milliseconds.
    pub opened_at_ms: i64,
    /// When the report was generated, UTC.
    pub generated_at: String,
    /// Whether the timeline is as written.
    pub integrity: Integrity,
    /// The level at opening and every change since.
    pub levels: Vec<LevelChange>,
    /// The linked alerts.
    pub alerts: Vec<AlertLine>,
    /// Time to detect, to pause, to rescue, to resume.
    pub durations: Durations,
    /// Each contract in scope and where it stands.
    pub contracts: Vec<warroom::ContractState>,
    /// How many affected addresses were exported (`incident affected`), if they were.
    pub affected_addresses: Option<u64>,
    /// Funds per contract and asset: at risk, lost, rescued, returned.
    pub funds: Vec<Funds>,
    /// The same, summed per chain and asset.
    pub funds_total: Vec<Funds>,
    /// How the funds were read: which block each figure comes from, one line each.
    pub funds_basis: Vec<String>,
    /// Where the exploit started, when recorded.
    pub exploit: Option<Exploit>,
    /// Where the funds went and who took them, as last recorded (`incident movements`, the
    /// closing).
    pub movements: Option<super::movements::Movements>,
    /// The root cause as attested, and the notes.
    pub root_cause: RootCause,
    /// Detection, why it happened, what went well and wrong, where we were lucky.
    pub review: Review,
    /// The bug bounty reports behind it, each crediting its researcher where they agreed.
    pub credits: Vec<Credit>,
    /// The fix: each upgrade done under the incident.
    pub fixes: Vec<Fix>,
    /// How the fix was verified.
    pub verifications: Vec<Note>,
    /// The post-incident checklist.
    pub checklist: Vec<CheckItem>,
    /// Tasks: open ones first (owner: the commander), then the done ones with who did them.
    pub action_items: Vec<ActionItem>,
    /// Every timeline entry, for people.
    pub timeline: Vec<Line>,
}

/// A bug bounty report that is evidence of the incident.
#[derive(Debug, Clone, Serialize)]
pub struct Credit {
    /// The report's number (the team's id; never published).
    pub report: i64,
    /// The id its researcher knows it by, which the published report shows (none for a report
    /// recorded before public ids existed: then the report is not numbered at all).
    pub public_id: Option<String>,
    /// Its title.
    pub title: String,
    /// Its severity.
    pub severity: String,
    /// The researcher's name, only where they agreed to be credited.
    pub researcher: Option<String>,
}

impl Credit {
    /// How the published report names the report: by its public id, never by its number
    /// (which would tell how many reports the program has received).
    pub fn published_name(&self) -> String {
        match &self.public_id {
            Some(id) => format!("report {id}"),
            None => "a report".to_string(),
        }
    }
}

/// A level, at opening (`from` is `None`) or changed.
#[derive(Debug, Clone, Serialize)]
pub struct LevelChange {
    /// When, UTC.
    pub at: String,
    /// Who.
    pub actor: String,
    /// The level before.
    pub from: Option<u8>,
    /// The level after.
    pub to: u8,
}

/// A linked alert.
#[derive(Debug, Clone, Serialize)]
pub struct AlertLine {
    /// Its id.
    pub id: i64,
    /// Its rule.
    pub rule: String,
    /// Its severity.
    pub severity: String,
    /// Chain name.
    pub chain: String,
    /// Contract, if about one.
    pub contract: Option<String>,
    /// The block it was raised from.
    pub block: u64,
    /// The transactions that raised it.
    pub transactions: Vec<String>,
    /// When it was stored, UTC.
    pub detected_at: String,
    /// One line.
    pub summary: String,
}

/// The response's durations, each from recorded evidence (`None`: not happened or not recorded).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Durations {
    /// From the exploit to its alert (else from the alert to the incident's opening).
    pub detect: Option<Span>,
    /// From the first alert (else the opening) to the first pause mined.
    pub pause: Option<Span>,
    /// From the same start to the first withdrawal mined.
    pub rescue: Option<Span>,
    /// From the same start to the first unpause mined.
    pub resume: Option<Span>,
}

impl Durations {
    /// Each measure with its name, in the order every view shows them.
    pub fn named(&self) -> [(&'static str, &Option<Span>); 4] {
        [
            ("time to detect", &self.detect),
            ("time to pause", &self.pause),
            ("time to rescue", &self.rescue),
            ("time to resume", &self.resume),
        ]
    }
}

/// What a report of an incident not yet closed says at its top: it is a draft, its figures and
/// checklist may still change. `None` once the incident is closed.
pub fn draft_notice(r: &Report) -> Option<String> {
    (r.status != "closed").then(|| {
        format!(
            "DRAFT: incident {} is {}. Its figures and checklist may still change; the report of the closed incident is the one to publish.",
            r.incident, r.status
        )
    })
}

/// One timeline entry told in one line for people (`incident show`): what happened, from its
/// details.
pub fn tell(e: &Entry, chains: &BTreeMap<u64, String>) -> String {
    lines::describe(e, &|_| None, chains).text
}

/// One measured interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// What it is measured from.
    pub from: String,
    /// What it is measured to.
    pub to: String,
    /// Milliseconds, when both ends have a time read on one clock (never negative).
    pub ms: Option<i64>,
    /// That clock: `local time` (guardian's records) or `block timestamps`; `None` when the
    /// ends were read on different clocks (then only blocks measure it).
    pub clock: Option<String>,
    /// Blocks, when both ends have a block on the same chain.
    pub blocks: Option<u64>,
    /// That chain's name.
    pub chain: Option<String>,
    /// The start's block.
    pub from_block: Option<u64>,
    /// The end's block.
    pub to_block: Option<u64>,
}

/// An amount in base units (a decimal string) and for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Amount {
    /// Base units, decimal.
    pub base: String,
    /// In the asset's units: `1.5 ETH`.
    pub shown: String,
}

/// The root cause.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RootCause {
    /// The evidence of the checklist item `root-cause-documented`.
    pub evidence: Option<String>,
    /// Who attested it.
    pub by: Option<String>,
    /// Every note of the timeline.
    pub notes: Vec<Note>,
}

/// A note, a verification or an attestation.
#[derive(Debug, Clone, Serialize)]
pub struct Note {
    /// When, UTC.
    pub at: String,
    /// Who.
    pub actor: String,
    /// What they wrote.
    pub text: String,
}

/// An upgrade done under the incident.
#[derive(Debug, Clone, Serialize)]
pub struct Fix {
    /// The journal action.
    pub action_id: i64,
    /// The upgraded contract.
    pub contract: Option<String>,
    /// The new implementation (address, or what the operator gave).
    pub implementation: Option<String>,
    /// How the action ended.
    pub status: Status,
    /// Its one-line outcome.
    pub summary: Option<String>,
    /// Its transactions.
    pub transactions: Vec<TxLine>,
}

/// A transaction, for people.
#[derive(Debug, Clone, Serialize)]
pub struct TxLine {
    /// What it does.
    pub label: String,
    /// Chain name (or id).
    pub chain: String,
    /// Its hash.
    pub hash: String,
    /// Its block.
    pub block: Option<u64>,
    /// Mined, reverted, ...
    pub status: Status,
}

/// A task.
#[derive(Debug, Clone, Serialize)]
pub struct ActionItem {
    /// Its id.
    pub task: String,
    /// What to do.
    pub title: String,
    /// Who owns it: the commander for open tasks, who did it for done ones.
    pub owner: Option<String>,
    /// Done or not.
    pub done: bool,
    /// When it was done, UTC.
    pub done_at: Option<String>,
    /// When it is due (a follow-up action), `YYYY-MM-DD`.
    pub due: Option<String>,
}

/// A timeline entry, for people.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// UTC.
    pub at: String,
    /// Who.
    pub actor: String,
    /// The entry's kind.
    pub kind: String,
    /// Its family, for the chart: alert, pause, withdrawal, upgrade, unpause, replenish,
    /// notification, note, failure, record.
    pub category: &'static str,
    /// What happened.
    pub text: String,
}

/// A Unix-milliseconds time as `2026-11-27 16:00:00 UTC`.
pub fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// A duration for people: `850 ms`, `12.3 s (12300 ms)`.
pub fn show_ms(ms: i64) -> String {
    if ms.abs() < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s ({ms} ms)", ms as f64 / 1000.0)
    }
}

/// Computes the report of `r.incident` from its records.
pub fn build(r: &Records<'_>) -> Report {
    let i = r.incident;
    let kind_of = |action: i64| {
        r.actions
            .iter()
            .find(|a| a.id == action)
            .map(|a| a.kind.as_str())
    };
    let snapshots: Vec<Snapshot> = r
        .timeline
        .iter()
        .filter(|e| e.kind == "funds")
        .filter_map(|e| serde_json::from_value(e.details.clone()).ok())
        .collect();
    let snaps = figures::Snapshots::of(&snapshots);
    let (funds, funds_basis) = figures::funds(r, &snaps);
    let exploit = r.exploit.or_else(|| recorded_exploit(r.timeline));
    let note = |e: &Entry, key: &str| Note {
        at: utc(e.at),
        actor: e.actor.clone(),
        text: e.details[key].as_str().unwrap_or_default().to_string(),
    };
    let root = i.checklist.iter().find(|c| c.id == "root-cause-documented");
    let mut report = Report {
        incident: i.id,
        title: i.title.clone(),
        level: i.level,
        level_name: level_name(i.level),
        status: i.status.to_string(),
        commander: i.commander.clone(),
        opened_by: i.opened_by.clone(),
        opened_at: utc(i.opened_at),
        opened_at_ms: i.opened_at,
        generated_at: utc(r.now),
        integrity: r.integrity.clone(),
        levels: figures::levels(r.timeline),
        alerts: r
            .alerts
            .iter()
            .map(|a| AlertLine {
                id: a.id,
                rule: a.found.rule.clone(),
                severity: a.found.severity.to_string(),
                chain: a.found.chain.clone(),
                contract: a.found.contract.clone(),
                block: a.found.block_number,
                transactions: a.found.tx_hashes.iter().map(|h| h.to_string()).collect(),
                detected_at: utc(a.detected_at),
                summary: a.found.summary.clone(),
            })
            .collect(),
        durations: figures::durations(r, exploit, snaps.opened),
        contracts: r.contracts.to_vec(),
        affected_addresses: r
            .timeline
            .iter()
            .rev()
            .find(|e| e.kind == "affected-exported")
            .and_then(|e| e.details["addresses"].as_u64()),
        funds,
        funds_total: Vec::new(),
        funds_basis,
        exploit,
        movements: super::movements::recorded(r.timeline),
        review: Review::default(),
        root_cause: RootCause {
            evidence: root.and_then(|c| c.evidence.clone()),
            by: root.and_then(|c| c.ticked_by.clone()),
            notes: r
                .timeline
                .iter()
                .filter(|e| e.kind == "note")
                .map(|e| note(e, "text"))
                .collect(),
        },
        credits: r
            .timeline
            .iter()
            .filter(|e| e.kind == super::timeline::REPORT_EVIDENCE_KIND)
            .filter_map(|e| {
                Some(Credit {
                    report: e.details["report"].as_i64()?,
                    public_id: e.details["public_id"].as_str().map(str::to_string),
                    title: e.details["title"].as_str().unwrap_or_default().to_string(),
                    severity: e.details["severity"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    researcher: e.details["credit_as"].as_str().map(str::to_string),
                })
            })
            .collect(),
        fixes: figures::fixes(r),
        verifications: r
            .timeline
            .iter()
            .filter(|e| e.kind == "fix-verified")
            .map(|e| note(e, "note"))
            .collect(),
        checklist: i.checklist.clone(),
        action_items: i
            .open_tasks()
            .map(|t| ActionItem {
                task: t.id.clone(),
                title: t.title.clone(),
                owner: t.owner.clone().or_else(|| i.commander.clone()),
                done: false,
                done_at: None,
                due: None,
            })
            .chain(
                i.tasks
                    .iter()
                    .filter(|t| t.done_at.is_some())
                    .map(|t| ActionItem {
                        task: t.id.clone(),
                        title: t.title.clone(),
                        owner: t.done_by.clone(),
                        done: true,
                        done_at: t.done_at.map(utc),
                        due: None,
                    }),
            )
            .chain(
                r.timeline
                    .iter()
                    .filter(|e| e.kind == "review" && e.details["section"] == "action")
                    .map(|e| ActionItem {
                        task: "follow-up".into(),
                        title: e.details["text"].as_str().unwrap_or_default().to_string(),
                        owner: e.details["owner"].as_str().map(str::to_string),
                        done: false,
                        done_at: None,
                        due: e.details["due"].as_str().map(str::to_string),
                    }),
            )
            .collect(),
        timeline: r
            .timeline
            .iter()
            .map(|e| lines::describe(e, &kind_of, r.chains))
            .collect(),
    }
    .with_totals();
    report.review = review::of(
        r.timeline,
        &report.alerts,
        &report.opened_by,
        &report.durations,
        &report.funds_total,
    );
    report
}

#[cfg(test)]
mod tests {}
