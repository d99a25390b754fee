//! The history page (every action the journal holds, newest first, each with its transactions:
//! what was sent, by whom, and how it ended) and acknowledging an alert from its page (a
//! responder; recorded under their name).

use std::fmt::Write as _;

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{
    AppState,
    auth::{Responder, Team, Viewer, error, internal},
    escape,
    pages::{Signed, ago, layout, utc},
    session::SignedForm,
};
use crate::storage::{ActionRecord, StorageError, Store, TxRecord};

/// How many actions the page lists.
const SHOWN: usize = 100;

/// An action, its transactions and the incident it was taken under.
type Done = (ActionRecord, Vec<TxRecord>, Option<i64>);

/// The latest actions, newest first, each with its transactions and the incident it was taken
/// under.
fn history(store: &Store) -> Result<Vec<Done>, StorageError> {
    let actions: Vec<_> = store.actions()?.into_iter().take(SHOWN).collect();
    let incidents = store.incidents(false)?;
    let mut with_txs = Vec::with_capacity(actions.len());
    for a in actions {
        let txs = store.transactions(a.id)?;
        let under = incidents
            .iter()
            .find(|i| i.actions.contains(&a.id))
            .map(|i| i.id);
        with_txs.push((a, txs, under));
    }
    Ok(with_txs)
}

/// `GET /api/history` (viewer): the history page's data.
#[utoipa::path(get, path = "/api/history", tag = "api", security(("bearer" = []), ("session" = [])), responses((status = 200, description = "the latest 100 actions, newest first: each with its transactions and incident", body = Object), (status = 401, description = "no valid token or session")))]
pub(super) async fn history_api(State(state): State<AppState>, _team: Team<Viewer>) -> Response {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || history(&store)).await {
        Ok(Ok(list)) => Json(
            list.into_iter()
                .map(|(action, transactions, incident)| {
                    serde_json::json!({"action": action, "transactions": transactions, "incident": incident})
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Ok(Err(e)) => internal("the history could not be read", &e),
        Err(e) => internal("the history could not be read", &e),
    }
}

/// `GET /history`: the journal's actions and their transactions.
#[utoipa::path(get, path = "/history", tag = "pages", security(("session" = [])), responses((status = 200, description = "the journal's actions and their transactions", content_type = "text/html"), (status = 303, description = "not signed in: to /signin")))]
pub(super) async fn page(State(state): State<AppState>, who: Signed<Viewer>) -> Response {
    let store = state.store.clone();
    let read = tokio::task::spawn_blocking(move || history(&store)).await;
    let list = match read {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return internal("the history could not be read", &e),
        Err(e) => return internal("the history could not be read", &e),
    };
    let now = crate::storage::now_ms();
    let mut b = String::from(
        "<h1>History</h1><p>Every action, newest first, with the transactions it sent and the incident it was taken under.</p><div class=\"wide\"><table><tr><th>Action</th><th>What</th><th>Who</th><th>When</th><th>How it ended</th><th>Incident</th><th>Transactions</th></tr>",
    );
    let chain_of = |id: u64| state.manifest.chains.iter().find(|(_, c)| c.chain_id == id);
    for (a, txs, under) in &list {
        let txs: Vec<String> = txs
            .iter()
            .map(|t| {
                let short = format!("{}…", &t.tx_hash.to_string()[..12]);
                let (chain, hash) = match chain_of(t.chain_id) {
                    Some((name, c)) => (
                        escape(name),
                        match &c.explorer_url {
                            Some(url) => format!(
                                "<a href=\"{}/tx/{}\" title=\"{}\" rel=\"noreferrer\">{short}</a>",
                                escape(url.trim_end_matches('/')),
                                t.tx_hash,
                                t.tx_hash
                            ),
                            None => format!("<code title=\"{}\">{short}</code>", t.tx_hash),
                        },
                    ),
                    None => (
                        format!("chain {}", t.chain_id),
                        format!("<code title=\"{}\">{short}</code>", t.tx_hash),
                    ),
                };
                format!(
                    "<div id=\"tx-{}\">{} · {chain} · {hash} <a href=\"#action-{}\" aria-label=\"its action\">↑</a> · {:?}{}</div>",
                    t.tx_hash,
                    escape(&t.label),
                    a.id,
                    t.status,
                    t.block_number
                        .map(|b| format!(" in block {b}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        let _ = write!(
            b,
            "<tr id=\"action-{}\"><td><a href=\"#action-{}\">{}</a></td><td>{}</td><td>{}</td><td>{} ({} UTC)</td><td>{:?}: {}</td><td>{}</td><td>{}</td></tr>",
            a.id,
            a.id,
            a.id,
            escape(&a.kind),
            escape(&a.actor),
            ago(a.started_at, now),
            utc(a.started_at),
            a.status,
            escape(a.summary.as_deref().unwrap_or("")),
            under.map_or("-".to_string(), |i| format!(
                "<a href=\"/incidents/{i}\">incident {i}</a>"
            )),
            txs.join("")
        );
    }
    b.push_str("</table></div>");
    Html(layout(
        "History · guardian",
        Some((&who.holder, &who.csrf)),
        &b,
    ))
    .into_response()
}

/// Acknowledges alert `id` as `by`; the answer when it cannot.
async fn acknowledge(
    state: &AppState,
    id: i64,
    by: String,
    note: Option<String>,
) -> Result<(), Response> {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.acknowledge(id, &by, note.as_deref())).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err(error(StatusCode::NOT_FOUND, "alert", "no such alert")),
        Ok(Err(e)) => Err(internal("the acknowledgement could not be recorded", &e)),
        Err(e) => Err(internal("the acknowledgement could not be recorded", &e)),
    }
}

/// `POST /alerts/{id}/ack` (a responder's form: an optional `note`).
#[utoipa::path(post, path = "/alerts/{id}/ack", tag = "pages", params(("id" = i64, Path, description = "the alert's number")), security(("session" = [])), request_body(content_type = "application/x-www-form-urlencoded", description = "`note` (optional); with the page's `csrf` value"), responses((status = 303, description = "done: back to the page"), (status = 403, description = "not a responder, or the CSRF value is missing or wrong"), (status = 409, description = "refused: what to do first"), (status = 422, description = "a field is missing or wrong")))]
pub(super) async fn ack_form(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm<Responder>,
) -> Response {
    let note = form
        .field("note")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    match acknowledge(&state, id, form.holder.name.clone(), note).await {
        Ok(()) => Redirect::to(&format!("/alerts/{id}")).into_response(),
        Err(r) => r,
    }
}

/// An acknowledgement asked for through the API.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(super) struct AckBody {
    note: Option<String>,
}

/// `POST /api/alerts/{id}/ack` (responder): `{"note": "…"}` (optional).
#[utoipa::path(post, path = "/api/alerts/{id}/ack", tag = "api", params(("id" = i64, Path, description = "the alert's number")), security(("bearer" = []), ("session" = [])), request_body(content = Option<AckBody>), responses((status = 200, description = "acknowledged"), (status = 403, description = "not a responder"), (status = 404, description = "no such alert")))]
pub(super) async fn ack_api(
    State(state): State<AppState>,
    team: Team<Responder>,
    Path(id): Path<i64>,
    body: Option<Json<AckBody>>,
) -> Response {
    let note = body.and_then(|Json(b)| b.note);
    match acknowledge(&state, id, team.holder.name, note).await {
        Ok(()) => Json(serde_json::json!({"acknowledged": id})).into_response(),
        Err(r) => r,
    }
}
