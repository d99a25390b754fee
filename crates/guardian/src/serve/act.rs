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

use super::{
    AppState,
    auth::{Responder as Acts, Team, error, internal},
    session::SignedForm,
};
use crate::{
    chain::signer::process_env, deployment::Deployment, incident::playbook::Responder,
    notify::Contacts, response::pause::PauseReport,
};

/// A pause asked for.
#[derive(Debug, Deserialize)]
pub(super) struct PauseBody {
    /// `affected` or `all`.
    scope: String,
    /// Why (recorded).
    reason: String,
}

/// Pauses under incident `id` as `actor`, on the deployment of the server's manifest file.
async fn pause(
    state: &AppState,
    id: i64,
    actor: String,
    everything: bool,
    reason: String,
) -> Result<PauseReport, Box<Response>> {
    let Some(path) = state.manifest_path.clone() else {
        return Err(Box::new(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "server",
            "this server was started without its manifest's file: pause with guardian pause",
        )));
    };
    if reason.trim().is_empty() {
        return Err(Box::new(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason",
            "say why (it is recorded with your name)",
        )));
    }
    let runtime = tokio::runtime::Handle::current();
    let done = tokio::task::spawn_blocking(move || {
        runtime.block_on(async move {
            let deployment = Deployment::open(&path, None, &process_env)
                .await
                .map_err(|e| Box::new(internal("the deployment could not be opened", &e)))?;
            let contacts = Contacts::load(&deployment.manifest, &process_env);
            let responder = Responder {
                deployment: &deployment,
                contacts: &contacts,
                actor,
                signer: None,
                outbid: None,
            };
            responder
                .pause_now(id, everything, reason.trim())
                .await
                .map_err(|e| Box::new(error(StatusCode::CONFLICT, "pause", &e.to_string())))
        })
    })
    .await;
    done.map_err(|e| Box::new(internal("the pause could not be sent", &e)))?
}

/// `POST /incidents/{id}/pause` (a responder's form: scope, reason, the confirmation box).
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
    match pause(&state, id, form.holder.name.clone(), everything, reason).await {
        Ok(_) => Redirect::to(&format!("/incidents/{id}")).into_response(),
        Err(r) => *r,
    }
}

/// `POST /api/incidents/{id}/pause` (responder): `{"scope": "affected"|"all", "reason": "…"}`;
/// answers the pause's report.
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
    match pause(&state, id, team.holder.name, everything, body.reason).await {
        Ok(report) => Json(json!({ "pause": report })).into_response(),
        Err(r) => *r,
    }
}

/// `POST /incidents/{id}/note` (a responder's form: `text`).
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
