//! Reading what a report needs (the records and the war room) and recording a written report:
//! the two effects around the pure [`super::build`], shared by `incident report` and the drill.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Exploit, Records, Report, build};
use crate::{
    deployment::Deployment,
    incident::{IncidentError, warroom},
    storage::{StorageError, Store, now_ms},
};

/// The report of incident `id` as its records and the chain have it now. A war room that cannot
/// be read leaves the contracts' states out (a warning on stderr), never the report.
pub async fn generate(
    deployment: &Deployment,
    id: i64,
    exploit: Option<Exploit>,
) -> Result<Report, IncidentError> {
    let store = &deployment.store;
    let incident = store.incident(id)?.ok_or(IncidentError::NotFound(id))?;
    let (timeline, integrity) = store.timeline(id)?;
    let alerts = incident
        .alerts
        .iter()
        .filter_map(|a| store.alert(*a).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    let actions: Vec<_> = store
        .actions()?
        .into_iter()
        .filter(|a| incident.actions.contains(&a.id))
        .collect();
    let mut transactions = Vec::new();
    for a in &actions {
        transactions.extend(store.transactions(a.id)?);
    }
    let contracts = match warroom::states(deployment, &incident).await {
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
    Ok(build(&Records {
        incident: &incident,
        timeline: &timeline,
        integrity: &integrity,
        alerts: &alerts,
        actions: &actions,
        transactions: &transactions,
        contracts: &contracts,
        chains: &chains,
        exploit,
        now: now_ms(),
    }))
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
