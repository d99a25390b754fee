//! The server's routes and their OpenAPI document, made from the same annotations: each handler
//! carries its `#[utoipa::path]` (method, path, parameters, answers, who may call it) and
//! [`routes!`] registers it in the router from there, so the document served at
//! `/api/openapi.json` lists exactly the routes the server answers.

use std::sync::LazyLock;

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState, act, bounty_page, bounty_queue, history, live, pages, readout, reports, session,
    team, warroom,
};

/// The document's head: what the server is, and how a caller proves who they are.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "guardian serve",
        description = "The Integra Guardian server: the public bug bounty desk (`/bounty`) and the team's war room (its pages, its JSON API and its live feed). Team routes take a team token (`guardian token create --role R --name PERSON`) as a bearer token, or the session cookie a browser gets at `/signin`; a change through the cookie also carries the page's CSRF value. Roles: viewer reads, responder acts on incidents and pauses, triager decides on bounty reports, admin does everything."
    ),
    modifiers(&Schemes),
    tags(
        (name = "pages", description = "the war room in a browser: HTML, working without JavaScript"),
        (name = "api", description = "the pages' data as JSON, with the same roles"),
        (name = "session", description = "signing in and out of the pages"),
        (name = "bounty", description = "the public bounty desk, for researchers"),
        (name = "bounty team", description = "the bounty queue, for the team"),
    )
)]
struct Document;

/// The ways to prove who one is: a team token, the session cookie, a report's follow-up token.
struct Schemes;

impl Modify for Schemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("a team token: guardian token create"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::session::COOKIE,
                "the session a browser gets at /signin",
            ))),
        );
        components.add_security_scheme(
            "follow_up",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "the follow-up token a researcher got with their report's public id",
                    ))
                    .build(),
            ),
        );
    }
}

/// What faces the internet: the bounty program, researchers' reports and their follow-up.
fn public_api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(bounty_page::page))
        .routes(routes!(reports::submit))
        .routes(routes!(reports::show, reports::reply))
}

/// The team's: the war room's pages, its live feed, and the team API.
fn team_api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(pages::overview))
        .routes(routes!(session::form, session::sign_in))
        .routes(routes!(session::sign_out))
        .routes(routes!(pages::alerts))
        .routes(routes!(pages::alert))
        .routes(routes!(history::ack_form))
        .routes(routes!(history::page))
        .routes(routes!(history::ack_api))
        .routes(routes!(pages::incident))
        .routes(routes!(readout::affected_page))
        .routes(routes!(readout::report_page))
        .routes(routes!(readout::affected_api))
        .routes(routes!(act::pause_form))
        .routes(routes!(act::note_form))
        .routes(routes!(act::escalate_form))
        .routes(routes!(act::task_form))
        .routes(routes!(act::resolve_form))
        .routes(routes!(act::close_form))
        .routes(routes!(act::rescue_form))
        .routes(routes!(act::unpause_form))
        .routes(routes!(live::script))
        .routes(routes!(warroom::overview_api))
        .routes(routes!(warroom::alerts_api))
        .routes(routes!(warroom::alert_api))
        .routes(routes!(history::history_api))
        .routes(routes!(warroom::incident_api))
        .routes(routes!(act::pause_api))
        .routes(routes!(live::events))
        .routes(routes!(team::list))
        .routes(routes!(team::show))
        .routes(routes!(team::decide))
        .routes(routes!(bounty_queue::queue))
        .routes(routes!(bounty_queue::report))
        .routes(routes!(bounty_queue::decide_form))
        .routes(routes!(openapi_json))
}

/// The public routes.
pub(super) fn public_routes() -> axum::Router<AppState> {
    public_api().split_for_parts().0
}

/// The team's routes.
pub(super) fn team_routes() -> axum::Router<AppState> {
    team_api()
        .split_for_parts()
        .0
        .layer(axum::middleware::from_fn(session::errors_as_pages))
}

/// The whole document, both listeners' routes, made once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    let mut document = Document::openapi();
    document.merge(public_api().split_for_parts().1);
    document.merge(team_api().split_for_parts().1);
    document
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"the document could not be written: {e}\"}}"))
});

/// `GET /api/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "api",
    responses((status = 200, description = "the OpenAPI 3.1 document of every route", content_type = "application/json"))
)]
pub(super) async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}
