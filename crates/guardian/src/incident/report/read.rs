//! Reading what a report needs (the records and the war room), recording a written report, and
//! the report published when an incident closes: the effects around the pure [`super::build`].

use serde_json::json;
use sha2::{Digest, Sha256};

use std::collections::BTreeMap;

use super::{Records, Report, build};
use crate::{
    deployment::Deployment,
    incident::{Entry, Incident, IncidentError, Integrity, warroom},
    storage::{ActionRecord, StorageError, Store, TxRecord, now_ms},
};

/// What a report is computed from besides the incident and its timeline, read once.
pub struct Gathered {
    alerts: Vec<crate::alert::Alert>,
    actions: Vec<ActionRecord>,
    transactions: Vec<TxRecord>,
    contracts: Vec<warroom::ContractState>,
    chains: BTreeMap<u64, String>,
}

impl Gathered {
    /// Reads the linked alerts, the journal's actions and transactions, and the war room from the
    /// chain. A war room that cannot be read leaves the contracts' states out (a warning on
    /// stderr), never the report.
    pub async fn read(deployment: &Deployment, incident: &Incident) -> Result<Self, IncidentError> {
        let store = &deployment.store;
        let alerts = incident
            .alerts
            .iter()
            .filter_map(|a| store.alert(*a).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        let (actions, transactions) = journal(store, incident)?;
        let contracts = match warroom::states(deployment, incident).await {
            Ok(states) => states,
            Err(e) => {
                eprintln!(
                    "warning: the war room could not be read; the report lists no contract states: {e}"
                );
                Vec::new()
            }
        };
        let chains = deployment
            .manifest
            .chains
            .iter()
            .map(|(name, c)| (c.chain_id, name.clone()))
            .collect();
        Ok(Self {
            alerts,
            actions,
            transactions,
            contracts,
            chains,
        })
    }

    /// The report of `incident` with this `timeline`, as of `now`.
    pub fn report(&self, incident: &Incident, timeline: &[Entry], integrity: &Integrity) -> Report {
        build(&Records {
            incident,
            timeline,
            integrity,
            alerts: &self.alerts,
            actions: &self.actions,
            transactions: &self.transactions,
            contracts: &self.contracts,
            chains: &self.chains,
            exploit: None,
            now: now_ms(),
        })
    }
}

/// The journal's actions done under `incident`, and their transactions.
fn journal(
    store: &Store,
    incident: &Incident,
) -> Result<(Vec<ActionRecord>, Vec<TxRecord>), StorageError> {
    let actions: Vec<_> = store
        .actions()?
        .into_iter()
        .filter(|a| incident.actions.contains(&a.id))
        .collect();
    let mut transactions = Vec::new();
    for a in &actions {
        transactions.extend(store.transactions(a.id)?);
    }
    Ok((actions, transactions))
}

/// The funds figures of a report, with how they were read.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct FundsFigures {
    /// Per contract and asset.
    pub rows: Vec<super::Funds>,
    /// Summed per chain and asset.
    pub totals: Vec<super::Funds>,
    /// Which block each figure was read in, one line each.
    pub basis: Vec<String>,
}

/// The funds figures of `incident` from the records alone, with no chain read (the war room's
/// page): the same computation as the report's.
pub fn funds_from_records(
    store: &Store,
    chains: &BTreeMap<u64, String>,
    incident: &Incident,
    timeline: &[Entry],
) -> Result<FundsFigures, StorageError> {
    let (actions, transactions) = journal(store, incident)?;
    let report = build(&Records {
        incident,
        timeline,
        integrity: &Integrity::Intact {
            entries: timeline.len(),
        },
        alerts: &[],
        actions: &actions,
        transactions: &transactions,
        contracts: &[],
        chains,
        exploit: None,
        now: now_ms(),
    });
    Ok(FundsFigures {
        rows: report.funds,
        totals: report.funds_total,
        basis: report.funds_basis,
    })
}

/// The report of incident `id` as its records and the chain have it now.
pub async fn generate(deployment: &Deployment, id: i64) -> Result<Report, IncidentError> {
    let store = &deployment.store;
    let incident = store.incident(id)?.ok_or(IncidentError::NotFound(id))?;
    let (timeline, integrity) = store.timeline(id)?;
    let gathered = Gathered::read(deployment, &incident).await?;
    Ok(gathered.report(&incident, &timeline, &integrity))
}

/// The report published when the incident was closed: its Markdown, its HTML and the Markdown's
/// sha256, as recorded in the timeline with the closing. `None` while it is not closed.
#[derive(Debug, Clone)]
pub struct Published {
    /// Markdown.
    pub markdown: String,
    /// One self-contained HTML file.
    pub html: String,
    /// The Markdown's sha256.
    pub sha256: String,
}

/// The report published with incident `id`'s closing, if it is closed.
pub fn published(store: &Store, id: i64) -> Result<Option<Published>, StorageError> {
    let (timeline, _) = store.timeline(id)?;
    Ok(timeline
        .iter()
        .rev()
        .find(|e| e.kind == "report" && e.details["published"] == true)
        .map(|e| Published {
            markdown: e.details["markdown"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            html: e.details["html"].as_str().unwrap_or_default().to_string(),
            sha256: e.details["sha256"].as_str().unwrap_or_default().to_string(),
        }))
}

/// The timeline entry that publishes `report` (kind `report`): both renderings and the
/// Markdown's sha256.
pub fn publication(report: &Report) -> (String, serde_json::Value) {
    let markdown = super::to_markdown(report);
    let html = super::to_html(report);
    (
        "report".into(),
        json!({
            "published": true,
            "format": "md+html",
            "sha256": digest(&markdown),
            "sha256_html": digest(&html),
            "markdown": markdown,
            "html": html,
        }),
    )
}

/// The sha256 of a report's text, hex.
pub fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Records in incident `id`'s timeline that its report was written to `path` (an entry of kind
/// `report` with the path, the format and the text's sha256, which proves "post-mortem
/// published"). Returns the sha256.
pub fn record_written(
    store: &Store,
    id: i64,
    actor: &str,
    path: &std::path::Path,
    format: &str,
    text: &str,
) -> Result<String, StorageError> {
    let sha256 = digest(text);
    store.record(
        id,
        actor,
        Some((
            "report",
            json!({"path": path.display().to_string(), "format": format, "sha256": sha256}),
        )),
        &[],
    )?;
    Ok(sha256)
}
