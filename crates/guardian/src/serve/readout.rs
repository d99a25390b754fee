//! What the war room reads from the chain on request (a person opens the page): an incident's
//! affected addresses (from each contract's logs and state at the incident's start and now) and
//! its report as it stands. The other pages read the records only.

use std::fmt::Write as _;

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};

use super::{
    AppState,
    act::on_deployment,
    auth::{Team, Viewer, error},
    escape,
    pages::{Signed, layout, short_address},
};
use crate::incident::{
    IncidentError,
    affected::{AffectedParty, affected},
    report::{generate, to_html},
};

/// The path of the server's manifest file, or why nothing can be read from the chain.
fn manifest_path(state: &AppState) -> Result<std::sync::Arc<std::path::PathBuf>, Box<Response>> {
    state.manifest_path.clone().ok_or_else(|| {
        Box::new(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server",
            "this server was started without its manifest's file: use guardian incident affected",
        ))
    })
}

/// An incident error as an answer: 404 for no such incident, 502 for a chain that did not answer.
fn refused(e: &IncidentError) -> Box<Response> {
    let status = match e {
        IncidentError::NotFound(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_GATEWAY,
    };
    Box::new(error(status, "incident", &e.to_string()))
}

/// Incident `id`'s affected parties, read from the chain now.
async fn parties(state: &AppState, id: i64) -> Result<Vec<AffectedParty>, Response> {
    let path = manifest_path(state).map_err(|r| *r)?;
    on_deployment(&path, None, move |deployment| {
        Box::pin(async move {
            let incident = deployment
                .store
                .incident(id)
                .map_err(|e| refused(&e.into()))?
                .ok_or_else(|| refused(&IncidentError::NotFound(id)))?;
            affected(deployment, &incident)
                .await
                .map_err(|e| Box::new(error(StatusCode::BAD_GATEWAY, "chain", &e.to_string())))
        })
    })
    .await
    .map_err(|r| *r)
}

/// `GET /incidents/{id}/affected` (viewer): the affected addresses and what each has at stake,
/// then and now.
#[utoipa::path(get, path = "/incidents/{id}/affected", tag = "pages", params(("id" = i64, Path, description = "the incident's number")), security(("session" = [])), responses((status = 200, description = "the affected addresses, read from the chain now", content_type = "text/html"), (status = 303, description = "not signed in: to /signin")))]
pub(super) async fn affected_page(
    State(state): State<AppState>,
    who: Signed<Viewer>,
    Path(id): Path<i64>,
) -> Response {
    let list = match parties(&state, id).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let mut b = format!(
        "<h1>Incident {id} · affected addresses</h1><p>{} addresses, read from the chain now (<a href=\"/incidents/{id}\">back to the incident</a>; the same as <code>guardian incident affected {id} --csv</code>).</p><div class=\"wide\"><table><tr><th>Address</th><th>Chain</th><th>Contract</th><th>As</th><th>Concerned</th><th>At stake at the start (block)</th><th>At stake now (block)</th><th>Status</th></tr>",
        crate::incident::affected::distinct_addresses(&list)
    );
    for p in &list {
        let show = |amounts: &[crate::incident::affected::Amount]| {
            if amounts.is_empty() {
                "-".to_string()
            } else {
                amounts
                    .iter()
                    .map(|a| escape(&a.show()))
                    .collect::<Vec<_>>()
                    .join("<br>")
            }
        };
        let status = p.status.as_str();
        let detail: Vec<String> = p.detail.iter().take(3).map(|d| escape(d)).collect();
        let more = p.detail.len().saturating_sub(3);
        let _ = write!(
            b,
            "<tr data-party=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{} ({})</td><td>{} ({})</td><td>{status}</td></tr>",
            p.address,
            short_address(&p.address),
            escape(&p.chain),
            escape(&p.contract),
            p.role.as_str(),
            detail.join("<br>"),
            if more > 0 {
                format!("<br>and {more} more")
            } else {
                String::new()
            },
            show(&p.at_stake_start),
            p.start_block,
            show(&p.at_stake_now),
            p.now_block
        );
    }
    b.push_str("</table></div>");
    Html(layout(
        &format!("Incident {id} · affected · guardian"),
        Some((&who.holder, &who.csrf)),
        &b,
    ))
    .into_response()
}

/// `GET /api/incidents/{id}/affected` (viewer): the same as JSON.
#[utoipa::path(get, path = "/api/incidents/{id}/affected", tag = "api", params(("id" = i64, Path, description = "the incident's number")), security(("bearer" = []), ("session" = [])), responses((status = 200, description = "the affected addresses, read from the chain now", body = Vec<AffectedParty>), (status = 401, description = "no valid token or session"), (status = 404, description = "no such incident"), (status = 502, description = "a chain did not answer")))]
pub(super) async fn affected_api(
    State(state): State<AppState>,
    _team: Team<Viewer>,
    Path(id): Path<i64>,
) -> Response {
    match parties(&state, id).await {
        Ok(list) => Json(list).into_response(),
        Err(r) => r,
    }
}

/// `GET /incidents/{id}/report` (viewer): the post-mortem as it stands, as `guardian incident
/// report ID --html` writes it (not recorded as written).
#[utoipa::path(get, path = "/incidents/{id}/report", tag = "pages", params(("id" = i64, Path, description = "the incident's number")), security(("session" = [])), responses((status = 200, description = "the post-mortem as it stands (a whole HTML document)", content_type = "text/html"), (status = 303, description = "not signed in: to /signin")))]
pub(super) async fn report_page(
    State(state): State<AppState>,
    _who: Signed<Viewer>,
    Path(id): Path<i64>,
) -> Response {
    let path = match manifest_path(&state) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let done = on_deployment(&path, None, move |deployment| {
        Box::pin(async move { generate(deployment, id).await.map_err(|e| refused(&e)) })
    })
    .await;
    match done {
        Ok(report) => Html(to_html(&report)).into_response(),
        Err(r) => *r,
    }
}
