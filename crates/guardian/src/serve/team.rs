//! The team's API (`/api/bounty/...`), the start of the dashboard's: bearer tokens from
//! `guardian token create`; no valid token → 401, a role too low → 403.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{AppState, reports::bearer};
use crate::{
    bounty::{
        Severity, Status, protocol,
        tokens::{Role, TokenHolder},
        triage::{CloseReason, Decision, TriageError},
    },
    chain::signer::process_env,
    deployment::Deployment,
    incident::playbook::Responder,
    notify::{Contacts, Outbox},
};

/// The holder of the request's team token, if its role is at least `needed`.
fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    needed: Role,
) -> Result<TokenHolder, Box<Response>> {
    let holder = bearer(headers)
        .map(|t| state.store.api_token_holder(t))
        .transpose()
        .map_err(|_| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the token could not be checked",
            )
        })?
        .flatten();
    match holder {
        None => Err(deny(
            StatusCode::UNAUTHORIZED,
            "a team token is needed: Authorization: Bearer <token from guardian token create>",
        )),
        Some(h) if h.role < needed => Err(deny(
            StatusCode::FORBIDDEN,
            &format!(
                "this needs the {} role; the token is {}",
                needed.as_str(),
                h.role.as_str()
            ),
        )),
        Some(h) => Ok(h),
    }
}

fn deny(status: StatusCode, message: &str) -> Box<Response> {
    Box::new(error(status, message))
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// `GET /api/bounty/reports[?status=S]` (viewer): every report (in that status), newest first,
/// with its acknowledgement clock, without threads or proofs.
pub(super) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    if let Err(r) = authorize(&state, &headers, Role::Viewer) {
        return *r;
    }
    let status = match query.status.as_deref().map(Status::parse) {
        Some(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "`status` must be reported, acknowledged, needs-info, confirmed, duplicate, closed, fixed or paid",
            );
        }
        Some(Some(s)) => Some(s),
        None => None,
    };
    let now = crate::storage::now_ms();
    match state.store.bounty_reports() {
        Ok(reports) => {
            let rows: Vec<_> = reports
                .into_iter()
                .filter(|r| status.is_none_or(|s| r.status == s.as_str()))
                .map(|r| crate::bounty::listing(&r, &state.manifest.bounty, now))
                .collect();
            Json(json!({ "reports": rows })).into_response()
        }
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the reports could not be read",
        ),
    }
}

/// `GET /api/bounty/reports/{id}` (triager): one report with its thread (the proof of concept
/// stays encrypted: `guardian bounty show` decrypts it with the team's key).
pub(super) async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = authorize(&state, &headers, Role::Triager) {
        return *r;
    }
    let report = id
        .parse::<i64>()
        .ok()
        .and_then(|id| state.store.bounty_report(id).ok().flatten());
    match report {
        Some(r) => Json(json!({
            "possible_duplicates": state.store.possible_duplicates(r.id).unwrap_or_default(),
            "disclosure": crate::bounty::triage::disclosure(&r.view),
            "clock": crate::bounty::sla::report_clock(&r.view, &state.manifest.bounty, crate::storage::now_ms()),
            "incident": r.view.triage.incident_id,
            "report": r.view,
            "proof_of_concept": if r.poc_age.is_some() { "encrypted" } else { "none" },
        }))
        .into_response(),
        None => error(StatusCode::NOT_FOUND, "no such report"),
    }
}

/// `GET /api/bounty/reports` filters.
#[derive(Debug, serde::Deserialize)]
pub(super) struct ListQuery {
    status: Option<String>,
}

/// The body of a decision: only the fields that decision takes.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DecisionBody {
    message: Option<String>,
    severity: Option<String>,
    impact: Option<String>,
    of: Option<i64>,
    reason: Option<String>,
    evidence: Option<String>,
    amount_usd: Option<u64>,
    tx: Option<String>,
}

/// The decision named in the path, from its body; `Err` names what is missing or wrong.
fn decision(name: &str, b: DecisionBody) -> Result<Decision, String> {
    let need = |v: Option<String>, field: &str| v.ok_or_else(|| format!("`{field}` is required"));
    Ok(match name {
        "ack" => Decision::Acknowledge,
        "ask" => Decision::AskInfo {
            message: need(b.message, "message")?,
        },
        "confirm" => Decision::Confirm {
            severity: need(b.severity, "severity")?.parse::<Severity>()?,
            impact: need(b.impact, "impact")?,
        },
        "duplicate" => Decision::Duplicate {
            of: b.of.ok_or("`of` is required (the earlier report's id)")?,
        },
        "close" => Decision::Close {
            reason: CloseReason::parse(&need(b.reason, "reason")?).ok_or(
                "`reason` must be out-of-scope, severity, technical-validity, intended-behaviour, known-issue or spam",
            )?,
            evidence: need(b.evidence, "evidence")?,
        },
        "fixed" => Decision::Fixed,
        "pay" => Decision::Pay {
            amount_usd: b.amount_usd.ok_or("`amount_usd` is required")?,
            tx: need(b.tx, "tx")?
                .parse()
                .map_err(|_| "`tx` must be a 0x-prefixed 32-byte transaction hash".to_string())?,
        },
        _ => {
            return Err(
                "the decisions are ack, ask, confirm, duplicate, close, fixed and pay".into(),
            );
        }
    })
}

/// `POST /api/bounty/reports/{id}/{decision}` (triager; `pay` needs admin): takes the decision
/// through the same path as `guardian bounty DECISION`, recorded under the token's name.
pub(super) async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, name)): Path<(String, String)>,
    body: Option<Json<DecisionBody>>,
) -> Response {
    let needed = if name == "pay" {
        Role::Admin
    } else {
        Role::Triager
    };
    let holder = match authorize(&state, &headers, needed) {
        Ok(h) => h,
        Err(r) => return *r,
    };
    let Ok(id) = id.parse::<i64>() else {
        return error(StatusCode::NOT_FOUND, "no such report");
    };
    let decision = match decision(&name, body.map(|Json(b)| b).unwrap_or_default()) {
        Ok(d) => d,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let Some(path) = state.manifest_path.clone() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server was started without its manifest's file: decide with guardian bounty",
        );
    };
    let chains: Option<&[String]> = match decision {
        Decision::Confirm { .. } => None,
        _ => Some(&[]),
    };
    let deployment = match Deployment::open(&path, chains, &process_env).await {
        Ok(d) => d,
        Err(e) => {
            // The cause (which may name files or endpoints) goes to the operator's log only.
            tracing::warn!("the team API cannot open the deployment: {e}");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the deployment could not be opened: see the server's log",
            );
        }
    };
    let contacts = Contacts::load(&deployment.manifest, &process_env);
    let responder = Responder {
        deployment: &deployment,
        contacts: &contacts,
        actor: holder.name,
        signer: None,
        outbid: None,
    };
    match protocol::take(&responder, id, &decision).await {
        Ok(taken) => {
            let contacts = std::sync::Arc::new(contacts);
            if let Ok(outbox) = Outbox::new(state.store.clone(), contacts) {
                outbox.deliver_due().await;
            }
            Json(json!({ "taken": taken })).into_response()
        }
        Err(TriageError::NotFound(_)) => error(StatusCode::NOT_FOUND, "no such report"),
        Err(TriageError::Refused(why)) => error(StatusCode::CONFLICT, &why),
        Err(TriageError::Storage(_)) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the decision could not be recorded",
        ),
    }
}
