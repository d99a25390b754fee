//! The team's API (`/api/bounty/...`), the start of the dashboard's: bearer tokens from
//! `guardian token create`, checked by `auth::Team` (no valid token → 401, a role too low →
//! 403); the database is read off the async threads, and its failures answer 500.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{
    AppState,
    auth::{Team, Triager, Viewer, error, internal},
};
use crate::{
    bounty::{
        Severity, Status,
        list::{DEFAULT_LIMIT, MAX_LIMIT},
        protocol,
        tokens::Role,
        triage::{CloseReason, Decision, TriageError},
    },
    chain::signer::process_env,
    deployment::Deployment,
    incident::playbook::Responder,
    notify::{Contacts, Outbox},
};

/// `GET /api/bounty/reports[?status=S][&limit=N][&before=ID]` (viewer): the reports (in that
/// status), newest first, `limit` of them (50 unless said, at most 200) numbered below `before`,
/// each with its acknowledgement clock, without threads or proofs; `next_before` (the `before`
/// of the next page) when more remain.
#[utoipa::path(get, path = "/api/bounty/reports", tag = "bounty team", params(("status" = Option<String>, Query), ("limit" = Option<usize>, Query, description = "50 unless said, at most 200"), ("before" = Option<i64>, Query)), security(("bearer" = []), ("session" = [])), responses((status = 200, description = "the reports, newest first, with `next_before` when more remain", body = Object), (status = 400, description = "a filter out of range")))]
pub(super) async fn list(
    State(state): State<AppState>,
    _team: Team<Viewer>,
    Query(query): Query<ListQuery>,
) -> Response {
    let limit = match query.limit.as_deref().map(str::parse::<usize>) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "limit",
                &format!("`limit` must be a whole number from 1 to {MAX_LIMIT}"),
            );
        }
    };
    let before = match query.before.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(n)) if n > 0 => Some(n),
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "before",
                "`before` must be a report number (the previous page's `next_before`)",
            );
        }
    };
    let status = match query.status.as_deref().map(Status::parse) {
        Some(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "status",
                "`status` must be reported, acknowledged, needs-info, confirmed, duplicate, closed, fixed or paid",
            );
        }
        Some(Some(s)) => Some(s),
        None => None,
    };
    let now = crate::storage::now_ms();
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || {
        store.bounty_reports_page(status, before, Some(limit))
    })
    .await
    {
        Ok(Ok(page)) => {
            let rows: Vec<_> = page
                .reports
                .iter()
                .map(|r| crate::bounty::listing(r, &state.manifest.bounty, now))
                .collect();
            let mut answer = json!({ "reports": rows });
            if let Some(next) = page.next_before {
                answer["next_before"] = next.into();
            }
            Json(answer).into_response()
        }
        Ok(Err(e)) => internal("the reports could not be read", &e),
        Err(e) => internal("the reports could not be read", &e),
    }
}

/// `GET /api/bounty/reports/{id}` (triager): one report, by its number or its public id (the
/// one its researcher quotes), with its thread (the proof of concept stays encrypted: `guardian
/// bounty show` decrypts it with the team's key).
#[utoipa::path(get, path = "/api/bounty/reports/{id}", tag = "bounty team", params(("id" = String, Path, description = "its number or its public id")), security(("bearer" = []), ("session" = [])), responses((status = 200, description = "the report with its thread (the proof of concept stays encrypted)", body = Object), (status = 404, description = "no such report")))]
pub(super) async fn show(
    State(state): State<AppState>,
    _team: Team<Triager>,
    Path(id): Path<String>,
) -> Response {
    let (r, duplicates) = match read_report(&state, id).await {
        Ok(Some(found)) => found,
        Ok(None) => return error(StatusCode::NOT_FOUND, "report", "no such report"),
        Err(answer) => return answer,
    };
    Json(json!({
        "possible_duplicates": duplicates,
        "disclosure": crate::bounty::triage::disclosure(&r.view),
        "clock": crate::bounty::sla::report_clock(&r.view, &state.manifest.bounty, crate::storage::now_ms()),
        "incident": r.view.triage.incident_id,
        "report": r.view,
        "proof_of_concept": if r.poc_age.is_some() { "encrypted" } else { "none" },
    }))
    .into_response()
}

/// `GET /api/bounty/reports` filters.
#[derive(Debug, serde::Deserialize)]
pub(super) struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
    before: Option<String>,
}

/// The body of a decision: only the fields that decision takes.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
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
pub(super) fn decision(name: &str, b: DecisionBody) -> Result<Decision, String> {
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
#[utoipa::path(post, path = "/api/bounty/reports/{id}/{decision}", tag = "bounty team", params(("id" = String, Path), ("decision" = String, Path, description = "acknowledge, triage, accept, reject, duplicate, pay, …")), security(("bearer" = []), ("session" = [])), request_body(content = Option<DecisionBody>), responses((status = 200, description = "the report after the decision", body = Object), (status = 403, description = "not a triager (pay: not an admin)"), (status = 409, description = "refused in the report's state"), (status = 422, description = "a field is missing or wrong")))]
pub(super) async fn decide(
    State(state): State<AppState>,
    team: Team<Triager>,
    Path((id, name)): Path<(String, String)>,
    body: Option<Json<DecisionBody>>,
) -> Response {
    if name == "pay"
        && let Some(refused) = team.refusal_below(Role::Admin)
    {
        return refused;
    }
    let holder = team.holder;
    let Ok(id) = id.parse::<i64>() else {
        return error(StatusCode::NOT_FOUND, "report", "no such report");
    };
    let decision = match decision(&name, body.map(|Json(b)| b).unwrap_or_default()) {
        Ok(d) => d,
        Err(e) => return error(StatusCode::BAD_REQUEST, "decision", &e),
    };
    match decide_as(&state, holder.name, id, decision).await {
        Ok(taken) => Json(json!({ "taken": taken })).into_response(),
        Err(answer) => answer,
    }
}

/// Takes `decision` on report `id` as `actor`, on the deployment of the server's manifest file;
/// a refusal or a failure as the answer to give.
pub(super) async fn decide_as(
    state: &AppState,
    actor: String,
    id: i64,
    decision: Decision,
) -> Result<protocol::Taken, Response> {
    let Some(path) = state.manifest_path.clone() else {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server",
            "this server was started without its manifest's file: decide with guardian bounty",
        ));
    };
    // The decision's records, its incident and its pause are written through the synchronous
    // store: the whole of it runs on a blocking thread, with the runtime driving its network calls,
    // so the public page keeps answering while it does.
    let store = state.store.clone();
    let runtime = tokio::runtime::Handle::current();
    let taken = tokio::task::spawn_blocking(move || {
        runtime.block_on(take_decision(&path, store, actor, id, &decision))
    })
    .await;
    match taken {
        Err(e) => Err(internal("the decision could not be taken", &e)),
        Ok(Err(response)) => Err(*response),
        Ok(Ok(Ok(taken))) => Ok(taken),
        Ok(Ok(Err(refused))) => Err(refusal(refused)),
    }
}

/// The answer to a decision the protocol refused: 404 for no such report, 409 in the wrong
/// status, 422 for a field.
pub(super) fn refusal(refused: TriageError) -> Response {
    match refused {
        TriageError::NotFound(_) => error(StatusCode::NOT_FOUND, "report", "no such report"),
        TriageError::WrongState { message, .. } => {
            error(StatusCode::CONFLICT, "decision", &message)
        }
        TriageError::Invalid { field, message } => {
            error(StatusCode::UNPROCESSABLE_ENTITY, field, &message)
        }
        TriageError::Storage(e) => internal("the decision could not be recorded", &e),
    }
}

/// Opens the deployment from `path` and takes `decision` on report `id` as `actor`, then delivers
/// what it queued. `Err` is the answer when the deployment cannot be opened.
pub(super) async fn take_decision(
    path: &std::path::Path,
    store: std::sync::Arc<crate::storage::Store>,
    actor: String,
    id: i64,
    decision: &Decision,
) -> Result<Result<protocol::Taken, TriageError>, Box<Response>> {
    let chains: Option<&[String]> = match decision {
        Decision::Confirm { .. } => None,
        _ => Some(&[]),
    };
    let deployment = match Deployment::open(path, chains, &process_env).await {
        Ok(d) => d,
        // The cause (which may name files or endpoints) goes to the operator's log only.
        Err(e) => return Err(Box::new(internal("the deployment could not be opened", &e))),
    };
    let contacts = Contacts::load(&deployment.manifest, &process_env);
    let responder = Responder {
        deployment: &deployment,
        contacts: &contacts,
        actor,
        signer: None,
        outbid: None,
    };
    let taken = protocol::take(&responder, id, decision).await;
    if taken.is_ok()
        && let Ok(outbox) = Outbox::new(store, std::sync::Arc::new(contacts))
    {
        outbox.deliver_due().await;
    }
    Ok(taken)
}

/// Report `id` (its number or public id) with its possible duplicates, read off the async
/// threads; `None` when there is no such report.
pub(super) async fn read_report(
    state: &AppState,
    id: String,
) -> Result<
    Option<(
        crate::bounty::StoredReport,
        Vec<crate::bounty::similar::DuplicateCandidate>,
    )>,
    Response,
> {
    let store = state.store.clone();
    let read = tokio::task::spawn_blocking(move || {
        let number = match id.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => store.bounty_report_number(&id)?,
        };
        let Some(report) = number
            .map(|n| store.bounty_report(n))
            .transpose()?
            .flatten()
        else {
            return Ok(None);
        };
        let duplicates = store.possible_duplicates(report.id)?;
        Ok::<_, crate::storage::StorageError>(Some((report, duplicates)))
    })
    .await;
    match read {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(e)) => Err(internal("the report could not be read", &e)),
        Err(e) => Err(internal("the report could not be read", &e)),
    }
}
