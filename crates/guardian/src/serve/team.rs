//! The team's API (`/api/bounty/...`), the start of the dashboard's: bearer tokens from
//! `guardian token create`; no valid token → 401, a role too low → 403.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{AppState, reports::bearer};
use crate::bounty::tokens::{Role, TokenHolder};

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

/// `GET /api/bounty/reports` (viewer): every report, newest first, without threads or proofs.
pub(super) async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&state, &headers, Role::Viewer) {
        return *r;
    }
    match state.store.bounty_reports() {
        Ok(reports) => {
            let rows: Vec<_> = reports
                .into_iter()
                .map(|r| {
                    json!({
                        "id": r.id, "status": r.status, "title": r.title, "severity": r.severity,
                        "impact": r.impact, "contracts": r.contracts, "submitted_at": r.submitted_at,
                    })
                })
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
            "report": r.view,
            "proof_of_concept": if r.poc_age.is_some() { "encrypted" } else { "none" },
        }))
        .into_response(),
        None => error(StatusCode::NOT_FOUND, "no such report"),
    }
}
