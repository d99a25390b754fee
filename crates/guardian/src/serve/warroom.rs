//! What the team's pages and their API show, read from the records only (never a chain: a page
//! view costs no RPC call): each chain as the monitor last read it, the contracts, the open
//! incidents, the alerts, and one incident's war room.

use alloy::primitives::Address;
use serde::Serialize;

use crate::{
    alert::{Alert, Severity},
    config::{ContractKind, Manifest},
    incident::{Entry, Incident, recovery::paused_by},
    storage::{
        AlertFilter, ConfirmationRecord, ProposalRecord, ProposalStatus, StorageError, Store,
        sql::params,
    },
};

/// A chain as the monitor last read it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChainRow {
    /// Its name in the manifest.
    pub name: String,
    /// Its id.
    pub chain_id: u64,
    /// The last block the monitor committed.
    pub block: Option<u64>,
    /// When (Unix ms).
    pub seen_at: Option<i64>,
    /// The instance holding its lease (with `[ha]`).
    pub monitor: Option<String>,
    /// The chain's head when the monitor last asked.
    pub head: Option<u64>,
    /// Blocks between that head and the last block committed.
    pub lag: Option<u64>,
}

/// A role finding: an alert of the `privileged` rule about a contract, high or critical, not
/// acknowledged and not retracted (a role granted, revoked or used by someone not expected).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoleFinding {
    /// The alert.
    pub alert: i64,
    /// What it says.
    pub summary: String,
}

/// A contract of the manifest.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContractRow {
    /// Its name.
    pub name: String,
    /// Its chain.
    pub chain: String,
    /// What it is.
    pub kind: ContractKind,
    /// Where.
    #[schema(value_type = String)]
    pub address: Address,
    /// Its state as the monitor last read it, if it has.
    pub state: Option<crate::storage::ContractState>,
    /// Its role findings, newest first.
    pub role_findings: Vec<RoleFinding>,
}

/// The overview.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Overview {
    /// Every chain.
    pub chains: Vec<ChainRow>,
    /// Every contract.
    pub contracts: Vec<ContractRow>,
    /// The incidents not closed.
    pub incidents: Vec<Incident>,
    /// The latest alerts, newest first.
    pub alerts: Vec<Alert>,
}

/// How many alerts the overview lists.
const LATEST: usize = 20;

/// Reads the overview.
pub fn overview(store: &Store, manifest: &Manifest) -> Result<Overview, StorageError> {
    let seen: Vec<(u64, u64, i64)> = store.with(|c| {
        c.query_map(
            "SELECT chain_id, number, updated_at FROM monitor_cursors",
            params![],
            |r| {
                let id: i64 = r.get(0)?;
                let number: i64 = r.get(1)?;
                Ok((id as u64, number as u64, r.get(2)?))
            },
        )
    })?;
    let (leases, _) = store.leases()?;
    let heads = store.heads()?;
    let chains = manifest
        .chains
        .iter()
        .map(|(name, c)| {
            let cursor = seen.iter().find(|s| s.0 == c.chain_id);
            let head = heads.iter().find(|h| h.0 == c.chain_id).map(|h| h.1);
            ChainRow {
                head,
                lag: head.zip(cursor).map(|(h, s)| h.saturating_sub(s.1)),
                name: name.clone(),
                chain_id: c.chain_id,
                block: cursor.map(|s| s.1),
                seen_at: cursor.map(|s| s.2),
                monitor: leases
                    .iter()
                    .find(|l| l.chain_id == c.chain_id)
                    .map(|l| l.holder.clone()),
            }
        })
        .collect();
    let states = store.contract_states()?;
    let privileged = store.latest_alerts(
        &AlertFilter {
            min_severity: Some(Severity::High),
            rule: Some(crate::monitor::privileged::RULE.to_string()),
            since_ms: None,
            chain_id: None,
            contract: None,
        },
        500,
    )?;
    let contracts = manifest
        .contracts
        .iter()
        .map(|c| {
            let chain_id = manifest.chains.get(c.chain()).map(|ch| ch.chain_id);
            ContractRow {
                name: c.name().to_string(),
                chain: c.chain().to_string(),
                kind: c.kind,
                address: c.address,
                state: states
                    .iter()
                    .find(|s| Some(s.chain_id) == chain_id && s.address == c.address)
                    .cloned(),
                role_findings: privileged
                    .iter()
                    .filter(|a| {
                        Some(a.found.chain_id) == chain_id
                            && a.found.contract.as_deref() == Some(c.name())
                            && a.acknowledged.is_none()
                            && a.status != crate::alert::AlertStatus::Retracted
                    })
                    .map(|a| RoleFinding {
                        alert: a.id,
                        summary: a.found.summary.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(Overview {
        chains,
        contracts,
        incidents: store.incidents(true)?,
        alerts: alerts(store, manifest, &AlertSelection::default(), LATEST)?,
    })
}

/// Which alerts (the alerts page's filters and the API's query; an empty value is no filter).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AlertSelection {
    /// At least this severe (`info`, `warning`, `critical`).
    pub severity: Option<String>,
    /// Of this rule.
    pub rule: Option<String>,
    /// Of this chain (its name).
    pub chain: Option<String>,
    /// About this contract (its name).
    pub contract: Option<String>,
    /// Detected in the last this many hours.
    pub hours: Option<String>,
}

impl AlertSelection {
    /// The same, an empty value read as no filter.
    pub fn cleaned(self) -> Self {
        let keep = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
        Self {
            severity: keep(self.severity),
            rule: keep(self.rule),
            chain: keep(self.chain),
            contract: keep(self.contract),
            hours: keep(self.hours),
        }
    }
}

/// The newest `limit` alerts `selection` picks, newest first.
pub fn alerts(
    store: &Store,
    manifest: &Manifest,
    selection: &AlertSelection,
    limit: usize,
) -> Result<Vec<Alert>, StorageError> {
    let min_severity = selection.severity.as_deref().and_then(|s| match s {
        "info" => Some(Severity::Info),
        "warning" => Some(Severity::Warning),
        "critical" => Some(Severity::Critical),
        _ => None,
    });
    let chain_id = selection
        .chain
        .as_deref()
        .and_then(|n| manifest.chains.get(n).map(|c| c.chain_id));
    if selection.chain.is_some() && chain_id.is_none() {
        return Ok(Vec::new());
    }
    let since_ms = selection
        .hours
        .as_deref()
        .and_then(|h| h.trim().parse::<f64>().ok())
        .filter(|h| *h > 0.0)
        .map(|h| crate::storage::now_ms() - (h * 3_600_000.0) as i64);
    store.latest_alerts(
        &AlertFilter {
            min_severity,
            rule: selection.rule.clone(),
            since_ms,
            chain_id,
            contract: selection.contract.clone(),
        },
        limit,
    )
}

/// A Safe proposal of the incident with its confirmations.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoomProposal {
    /// The proposal.
    pub proposal: ProposalRecord,
    /// Who confirmed, and how.
    pub confirmations: Vec<ConfirmationRecord>,
}

/// One incident's war room.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Room {
    /// The incident.
    pub incident: Incident,
    /// The contracts its pauses changed.
    pub paused: Vec<String>,
    /// Where each contract in its scope stands (at risk, paused, funds rescued, fixed,
    /// resumed), paused states as the monitor last read them.
    pub contracts: Vec<RoomContract>,
    /// The funds at risk, lost, rescued, returned and still short: the report's figures, read
    /// from the records.
    pub funds: crate::incident::report::FundsFigures,
    /// Its Safe proposals still pending, with their confirmations.
    pub proposals: Vec<RoomProposal>,
    /// Its timeline, oldest first.
    pub timeline: Vec<Entry>,
}

/// One contract of an incident's war room.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoomContract {
    /// Where it stands.
    #[serde(flatten)]
    pub state: crate::incident::warroom::ContractState,
    /// The block its paused state was read at by the monitor (`None`: not read; then a pause
    /// this incident sent counts as paused).
    pub read_at: Option<u64>,
}

/// Where each contract in `incident`'s scope stands, from the records: what its actions did and
/// the monitor's latest reads (a pause the incident sent counts when the monitor has not read
/// the contract).
fn room_contracts(
    store: &Store,
    manifest: &Manifest,
    incident: &Incident,
    paused: &[String],
) -> Result<Vec<RoomContract>, StorageError> {
    let touched = crate::incident::warroom::touched(store, incident)?;
    let reads = store.contract_states()?;
    let read_of = |c: &crate::config::ContractConfig| {
        let chain_id = manifest.chains.get(c.chain()).map(|ch| ch.chain_id);
        reads
            .iter()
            .find(|s| Some(s.chain_id) == chain_id && s.address == c.address && s.paused.is_some())
    };
    let states = crate::incident::warroom::states_of(manifest, incident, &touched, |c| {
        read_of(c)
            .and_then(|r| r.paused)
            .or_else(|| paused.iter().any(|p| p == c.name()).then_some(true))
    });
    Ok(states
        .into_iter()
        .map(|state| {
            let read_at = manifest
                .contract(&state.name)
                .and_then(&read_of)
                .and_then(|r| r.paused_at);
            RoomContract { state, read_at }
        })
        .collect())
}

/// Reads incident `id`'s war room.
pub fn incident(store: &Store, manifest: &Manifest, id: i64) -> Result<Option<Room>, StorageError> {
    let Some(incident) = store.incident(id)? else {
        return Ok(None);
    };
    let (timeline, _) = store.timeline(id)?;
    let mut proposals = Vec::new();
    for p in store.proposals(true)? {
        if p.incident_id == Some(id) && p.status == ProposalStatus::Pending {
            let confirmations = store.confirmations(p.id)?;
            proposals.push(RoomProposal {
                proposal: p,
                confirmations,
            });
        }
    }
    let paused = paused_by(&timeline);
    let chains = manifest
        .chains
        .iter()
        .map(|(name, c)| (c.chain_id, name.clone()))
        .collect();
    let funds = crate::incident::report::funds_from_records(store, &chains, &incident, &timeline)?;
    Ok(Some(Room {
        contracts: room_contracts(store, manifest, &incident, &paused)?,
        funds,
        paused,
        incident,
        proposals,
        timeline,
    }))
}

/// Runs `read` on the store off the async threads, answering its result as JSON.
async fn json_of<T: Serialize + Send + 'static>(
    state: &super::AppState,
    what: &'static str,
    read: impl FnOnce(&Store, &Manifest) -> Result<T, StorageError> + Send + 'static,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let s = state.clone();
    match tokio::task::spawn_blocking(move || read(&s.store, &s.manifest)).await {
        Ok(Ok(v)) => axum::Json(v).into_response(),
        Ok(Err(e)) => super::auth::internal(what, &e),
        Err(e) => super::auth::internal(what, &e),
    }
}

/// `GET /api/overview` (viewer): the overview page's data.
#[utoipa::path(get, path = "/api/overview", tag = "api", security(("bearer" = []), ("session" = [])), responses((status = 200, description = "every chain, contract, open incident and the latest alerts", body = Overview), (status = 401, description = "no valid token or session")))]
pub(super) async fn overview_api(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    _team: super::auth::Team<super::auth::Viewer>,
) -> axum::response::Response {
    json_of(&state, "the overview could not be read", overview).await
}

/// `GET /api/alerts[?severity=&rule=&chain=&contract=&hours=]` (viewer): the alerts page's data.
#[utoipa::path(get, path = "/api/alerts", tag = "api", params(("severity" = Option<String>, Query, description = "at least: info, warning, critical"), ("rule" = Option<String>, Query), ("chain" = Option<String>, Query), ("contract" = Option<String>, Query, description = "its name in the manifest"), ("hours" = Option<f64>, Query, description = "detected in the last this many hours")), security(("bearer" = []), ("session" = [])), responses((status = 200, description = "the alerts, newest first (200 at most)", body = Vec<Alert>), (status = 401, description = "no valid token or session")))]
pub(super) async fn alerts_api(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    _team: super::auth::Team<super::auth::Viewer>,
    axum::extract::Query(q): axum::extract::Query<AlertSelection>,
) -> axum::response::Response {
    let selection = q.cleaned();
    json_of(&state, "the alerts could not be read", move |s, m| {
        alerts(s, m, &selection, 200)
    })
    .await
}

/// `GET /api/alerts/{id}` (viewer): one alert, with its acknowledgement (404 for no such alert).
#[utoipa::path(get, path = "/api/alerts/{id}", tag = "api", params(("id" = i64, Path, description = "the alert's number")), security(("bearer" = []), ("session" = [])), responses((status = 200, description = "the alert", body = Alert), (status = 401, description = "no valid token or session"), (status = 404, description = "no such alert")))]
pub(super) async fn alert_api(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    _team: super::auth::Team<super::auth::Viewer>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let s = state.clone();
    match tokio::task::spawn_blocking(move || s.store.alert(id)).await {
        Ok(Ok(Some(alert))) => axum::Json(alert).into_response(),
        Ok(Ok(None)) => {
            super::auth::error(axum::http::StatusCode::NOT_FOUND, "alert", "no such alert")
        }
        Ok(Err(e)) => super::auth::internal("the alert could not be read", &e),
        Err(e) => super::auth::internal("the alert could not be read", &e),
    }
}

/// `GET /api/incidents/{id}` (viewer): the incident page's data (404 for no such incident).
#[utoipa::path(get, path = "/api/incidents/{id}", tag = "api", params(("id" = i64, Path, description = "the incident's number")), security(("bearer" = []), ("session" = [])), responses((status = 200, description = "the incident's war room", body = Room), (status = 401, description = "no valid token or session"), (status = 404, description = "no such incident")))]
pub(super) async fn incident_api(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    _team: super::auth::Team<super::auth::Viewer>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let s = state.clone();
    match tokio::task::spawn_blocking(move || incident(&s.store, &s.manifest, id)).await {
        Ok(Ok(Some(room))) => axum::Json(room).into_response(),
        Ok(Ok(None)) => super::auth::error(
            axum::http::StatusCode::NOT_FOUND,
            "incident",
            "no such incident",
        ),
        Ok(Err(e)) => super::auth::internal("the incident could not be read", &e),
        Err(e) => super::auth::internal("the incident could not be read", &e),
    }
}
