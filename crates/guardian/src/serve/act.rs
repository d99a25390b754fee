//! What the war room changes, by role, each recorded under the person's name on the incident's
//! timeline: a responder pauses (the affected contracts or everything) and adds notes. Each
//! runs through the same path as the command line (`Responder`), on a deployment opened from the
//! manifest's file; a page's form answers with the incident page again, the API with JSON.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::json;

use std::sync::Arc;

use super::{
    AppState,
    auth::{Admin, Responder as Acts, Team, error, internal},
    session::SignedForm,
};
use crate::{
    chain::signer::process_env,
    deployment::Deployment,
    incident::playbook::Responder,
    notify::{Contacts, Outbox},
};

/// A pause asked for.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct PauseBody {
    /// `affected` or `all`.
    scope: String,
    /// Why (recorded).
    reason: String,
}

/// What a person does to an incident from the war room.
enum Act {
    /// Pause its affected contracts, or everything.
    Pause { everything: bool, reason: String },
    /// Raise its level (the new level's playbook runs).
    Escalate { level: u8 },
    /// Mark one of its tasks done.
    TaskDone { task: String },
    /// Take one of its tasks on.
    TaskTake { task: String },
    /// Say the harm is over.
    Resolve,
    /// Close it (its checklist complete).
    Close,
    /// Propose to the Safe the rescue of the fund holders it paused.
    ProposeRescue,
    /// Resume what it paused (proposed to the Safe where one holds the role).
    Unpause,
}

/// Does `what` to incident `id` as `actor`, through the same path as the command line, on the
/// deployment of the server's manifest file. The outcome as JSON.
async fn act(
    state: &AppState,
    id: i64,
    actor: String,
    what: Act,
) -> Result<serde_json::Value, Box<Response>> {
    let Some(path) = state.manifest_path.clone() else {
        return Err(Box::new(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server",
            "this server was started without its manifest's file: use guardian incident",
        )));
    };
    if let Act::Pause { reason, .. } = &what
        && reason.trim().is_empty()
    {
        return Err(Box::new(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason",
            "say why (it is recorded with your name)",
        )));
    }
    let store = state.store.clone();
    let chains: Option<Vec<String>> = match what {
        Act::Pause { .. } | Act::Escalate { .. } | Act::ProposeRescue | Act::Unpause => None,
        _ => Some(Vec::new()),
    };
    on_deployment(&path, chains, move |deployment| {
        Box::pin(async move {
            let contacts = Contacts::load(&deployment.manifest, &process_env);
            let r = Responder {
                deployment,
                contacts: &contacts,
                actor,
                signer: None,
                outbid: None,
            };
            let refused = |e: crate::incident::IncidentError| {
                Box::new(error(StatusCode::CONFLICT, "incident", &e.to_string()))
            };
            let value = match what {
                Act::Pause { everything, reason } => {
                    let report = r
                        .pause_now(id, everything, reason.trim())
                        .await
                        .map_err(refused)?;
                    json!({ "pause": report })
                }
                Act::Escalate { level } => {
                    let run = r.escalate(id, level, None).await.map_err(refused)?;
                    json!({ "escalated": run })
                }
                Act::TaskDone { task } => {
                    json!({ "incident": r.task_done(id, &task).map_err(refused)? })
                }
                Act::TaskTake { task } => {
                    json!({ "incident": r.take_task(id, &task, None).map_err(refused)? })
                }
                Act::Resolve => json!({ "incident": r.resolve(id).map_err(refused)? }),
                Act::Close => json!({ "incident": r.close(id).await.map_err(refused)? }),
                Act::ProposeRescue => {
                    json!({ "proposed": r.propose_rescue(id).await.map_err(refused)? })
                }
                Act::Unpause => json!({ "unpause": r.unpause(id, None).await.map_err(refused)? }),
            };
            // What the change queued (an escalation's messages) goes out now.
            if let Ok(outbox) = Outbox::new(store, Arc::new(contacts)) {
                outbox.deliver_due().await;
            }
            Ok(value)
        })
    })
    .await
}

/// Runs `work` on the deployment of the manifest file at `path` (connected to `chains`, or
/// every chain for `None`), on a thread of its own: the deployment's work holds the records'
/// connection across its awaits.
pub(super) async fn on_deployment<T: Send + 'static>(
    path: &std::path::Path,
    chains: Option<Vec<String>>,
    work: impl for<'a> FnOnce(
        &'a Deployment,
    ) -> futures::future::LocalBoxFuture<'a, Result<T, Box<Response>>>
    + Send
    + 'static,
) -> Result<T, Box<Response>> {
    let runtime = tokio::runtime::Handle::current();
    let path = path.to_path_buf();
    let done = tokio::task::spawn_blocking(move || {
        runtime.block_on(async move {
            let deployment = Deployment::open(&path, chains.as_deref(), &process_env)
                .await
                .map_err(|e| Box::new(internal("the deployment could not be opened", &e)))?;
            work(&deployment).await
        })
    })
    .await;
    done.map_err(|e| Box::new(internal("the change could not be made", &e)))?
}

/// The answer of a page's form: the incident page again, or what went wrong.
fn back(id: i64, done: Result<serde_json::Value, Box<Response>>) -> Response {
    match done {
        Ok(_) => Redirect::to(&format!("/incidents/{id}")).into_response(),
        Err(r) => *r,
    }
}

/// `POST /incidents/{id}/escalate` (a responder's form: `level`).
#[utoipa::path(post, path = "/incidents/{id}/escalate", tag = "pages", params(("id" = i64, Path, description = "the incident's number")), security(("session" = [])), request_body(content_type = "application/x-www-form-urlencoded", description = "`level` (2 or 3); with the page's `csrf` value"), responses((status = 303, description = "done: back to the page"), (status = 403, description = "not a responder, or the CSRF value is missing or wrong"), (status = 409, description = "refused: what to do first"), (status = 422, description = "a field is missing or wrong")))]
pub(super) async fn escalate_form(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm<Acts>,
) -> Response {
    let Some(level) = form.field("level").and_then(|l| l.parse::<u8>().ok()) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "level",
            "choose level 2 or 3",
        );
    };
    back(
        id,
        act(
            &state,
            id,
            form.holder.name.clone(),
            Act::Escalate { level },
        )
        .await,
    )
}

/// `POST /incidents/{id}/task` (a responder's form: `task`, its id, and `take` to take it on
/// rather than mark it done).
#[utoipa::path(post, path = "/incidents/{id}/task", tag = "pages", params(("id" = i64, Path, description = "the incident's number")), security(("session" = [])), request_body(content_type = "application/x-www-form-urlencoded", description = "`task`: the task's id; with the page's `csrf` value"), responses((status = 303, description = "done: back to the page"), (status = 403, description = "not a responder, or the CSRF value is missing or wrong"), (status = 409, description = "refused: what to do first"), (status = 422, description = "a field is missing or wrong")))]
pub(super) async fn task_form(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm<Acts>,
) -> Response {
    let task = form.field("task").unwrap_or_default().to_string();
    let what = if form.field("take").is_some() {
        Act::TaskTake { task }
    } else {
        Act::TaskDone { task }
    };
    back(id, act(&state, id, form.holder.name.clone(), what).await)
}

/// Whether the form carries the incident's number typed again (`confirm`); the refusal if not.
fn typed<R: super::auth::Needs>(form: &SignedForm<R>, id: i64) -> Result<(), Box<Response>> {
    if form.field("confirm").map(str::trim) == Some(id.to_string().as_str()) {
        return Ok(());
    }
    Err(Box::new(error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "confirm",
        &format!("type the incident's number ({id}) to confirm"),
    )))
}

/// A change confirmed by the incident's number typed again, as `form`'s holder.
async fn confirmed<R: super::auth::Needs>(
    state: &AppState,
    id: i64,
    form: SignedForm<R>,
    what: Act,
) -> Response {
    if let Err(refused) = typed(&form, id) {
        return *refused;
    }
    back(id, act(state, id, form.holder.name.clone(), what).await)
}

/// `POST /incidents/{id}/resolve` (an admin's form: `confirm`, the incident's number typed
/// again).
#[utoipa::path(post, path = "/incidents/{id}/resolve", tag = "pages", params(("id" = i64, Path, description = "the incident's number")), security(("session" = [])), request_body(content_type = "application/x-www-form-urlencoded", description = "`confirm`: the incident's number; with the page's `csrf` value"), responses((status = 303, description = "done: back to the page"), (status = 403, description = "not a admin, or the CSRF value is missing or wrong"), (status = 409, description = "refused: what to do first"), (status = 422, description = "a field is missing or wrong")))]
pub(super) async fn resolve_form(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm<Admin>,
) -> Response {
    confirmed(&state, id, form, Act::Resolve).await
}

/// `POST /incidents/{id}/close` (an admin's form: `confirm`, the incident's number typed again).
#[utoipa::path(post, path = "/incidents/{id}/close", tag = "pages", params(("id" = i64, Path, description = "the incident's number")), security(("session" = [])), request_body(content_type = "application/x-www-form-urlencoded", description = "`confirm`: the incident's number; with the page's `csrf` value"), responses((status = 303, description = "done: back to the page"), (status = 403, description = "not a admin, or the CSRF value is missing or wrong"), (status = 409, description = "refused: what to do first"), (status = 422, description = "a field is missing or wrong")))]
pub(super) async fn close_form(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm<Admin>,
) -> Response {
    confirmed(&state, id, form, Act::Close).await
}

/// `POST /incidents/{id}/rescue` (a responder's form: `confirm`, the incident's number typed
/// again): proposes the rescue to the Safe's owners; nothing moves until they sign.
#[utoipa::path(post, path = "/incidents/{id}/rescue", tag = "pages", params(("id" = i64, Path, description = "the incident's number")), security(("session" = [])), request_body(content_type = "application/x-www-form-urlencoded", description = "`confirm`: the incident's number; with the page's `csrf` value"), responses((status = 303, description = "done: back to the page"), (status = 403, description = "not a responder, or the CSRF value is missing or wrong"), (status = 409, description = "refused: what to do first"), (status = 422, description = "a field is missing or wrong")))]
pub(super) async fn rescue_form(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm<Acts>,
) -> Response {
    confirmed(&state, id, form, Act::ProposeRescue).await
}

/// `POST /incidents/{id}/unpause` (an admin's form: `confirm`, the incident's number typed
/// again): resumes what the incident paused, after the same checks as `guardian incident
/// unpause` (the fix verified, no escrow short).
#[utoipa::path(post, path = "/incidents/{id}/unpause", tag = "pages", params(("id" = i64, Path, description = "the incident's number")), security(("session" = [])), request_body(content_type = "application/x-www-form-urlencoded", description = "`confirm`: the incident's number; with the page's `csrf` value"), responses((status = 303, description = "done: back to the page"), (status = 403, description = "not a admin, or the CSRF value is missing or wrong"), (status = 409, description = "refused: what to do first"), (status = 422, description = "a field is missing or wrong")))]
pub(super) async fn unpause_form(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm<Admin>,
) -> Response {
    confirmed(&state, id, form, Act::Unpause).await
}

/// `POST /incidents/{id}/pause` (a responder's form: scope, reason, the confirmation box).
#[utoipa::path(post, path = "/incidents/{id}/pause", tag = "pages", params(("id" = i64, Path, description = "the incident's number")), security(("session" = [])), request_body(content_type = "application/x-www-form-urlencoded", description = "`scope` (affected or all), `reason`, `confirm=yes`; with the page's `csrf` value"), responses((status = 303, description = "done: back to the page"), (status = 403, description = "not a responder, or the CSRF value is missing or wrong"), (status = 409, description = "refused: what to do first"), (status = 422, description = "a field is missing or wrong")))]
pub(super) async fn pause_form(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm<Acts>,
) -> Response {
    if form.field("confirm") != Some("yes") {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "confirm",
            "tick the confirmation to pause",
        );
    }
    let everything = form.field("scope") == Some("all");
    let reason = form.field("reason").unwrap_or_default().to_string();
    let what = Act::Pause { everything, reason };
    back(id, act(&state, id, form.holder.name.clone(), what).await)
}

/// `POST /api/incidents/{id}/pause` (responder): `{"scope": "affected"|"all", "reason": "…"}`;
/// answers the pause's report.
#[utoipa::path(post, path = "/api/incidents/{id}/pause", tag = "api", params(("id" = i64, Path, description = "the incident's number")), security(("bearer" = []), ("session" = [])), request_body(content = PauseBody), responses((status = 200, description = "the pause's report: each target, paused or why not", body = Object), (status = 403, description = "not a responder"), (status = 409, description = "refused"), (status = 422, description = "no reason, or a scope that is not affected or all")))]
pub(super) async fn pause_api(
    State(state): State<AppState>,
    team: Team<Acts>,
    Path(id): Path<i64>,
    Json(body): Json<PauseBody>,
) -> Response {
    let everything = match body.scope.as_str() {
        "all" => true,
        "affected" => false,
        _ => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "scope",
                "`scope` is `affected` or `all`",
            );
        }
    };
    let what = Act::Pause {
        everything,
        reason: body.reason,
    };
    match act(&state, id, team.holder.name, what).await {
        Ok(done) => Json(done).into_response(),
        Err(r) => *r,
    }
}

/// `POST /incidents/{id}/note` (a responder's form: `text`).
#[utoipa::path(post, path = "/incidents/{id}/note", tag = "pages", params(("id" = i64, Path, description = "the incident's number")), security(("session" = [])), request_body(content_type = "application/x-www-form-urlencoded", description = "`text`; with the page's `csrf` value"), responses((status = 303, description = "done: back to the page"), (status = 403, description = "not a responder, or the CSRF value is missing or wrong"), (status = 409, description = "refused: what to do first"), (status = 422, description = "a field is missing or wrong")))]
pub(super) async fn note_form(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm<Acts>,
) -> Response {
    let text = form.field("text").unwrap_or_default().trim().to_string();
    if text.is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "text",
            "the note is empty",
        );
    }
    let store = state.store.clone();
    let actor = form.holder.name.clone();
    let written = tokio::task::spawn_blocking(move || {
        let incident = store.incident(id)?;
        match incident {
            Some(i) if i.status.active() => store
                .record(id, &actor, Some(("note", json!({ "text": text }))), &[])
                .map(|()| true),
            _ => Ok(false),
        }
    })
    .await;
    match written {
        Ok(Ok(true)) => Redirect::to(&format!("/incidents/{id}")).into_response(),
        Ok(Ok(false)) => error(
            StatusCode::CONFLICT,
            "incident",
            "no such incident, or it is closed",
        ),
        Ok(Err(e)) => internal("the note could not be recorded", &e),
        Err(e) => internal("the note could not be recorded", &e),
    }
}
