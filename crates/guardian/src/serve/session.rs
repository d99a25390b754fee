//! Signing in from a browser: a person pastes their team token once (`POST /signin`, never in a
//! URL) and gets a session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS); the session
//! carries a CSRF value that every change made with the cookie must send back, as the
//! `X-CSRF-Token` header (the page's script, the API) or a `csrf` form field (the pages' forms,
//! which work without JavaScript). A bearer token needs no CSRF value: a browser never sends one
//! on its own.

use axum::{
    Form,
    extract::{FromRequest, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{AppState, auth::internal, escape, pages::layout};
use crate::{
    bounty::{sessions::Live, tokens::TokenHolder},
    storage::now_ms,
};

/// The session cookie's name.
pub(super) const COOKIE: &str = "guardian_session";
/// The header a script sends the CSRF value in.
pub(super) const CSRF_HEADER: &str = "x-csrf-token";

/// The session cookie of a request, if it sent one.
pub(super) fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty())
}

/// The live session a request's cookie names, read off the async threads.
pub(super) async fn live(state: &AppState, headers: &HeaderMap) -> Result<Option<Live>, Response> {
    let Some(session) = cookie(headers).map(str::to_string) else {
        return Ok(None);
    };
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.live_session(&session, now_ms()))
        .await
        .map_err(|e| internal("the session could not be checked", &e))?
        .map_err(|e| internal("the session could not be checked", &e))
}

/// Whether a request made with a session's cookie is allowed: reads always; a change only with
/// the session's CSRF value in the `X-CSRF-Token` header (forms are checked by [`SignedForm`]).
pub(super) fn csrf_ok(method: &Method, headers: &HeaderMap, live: &Live) -> bool {
    matches!(*method, Method::GET | Method::HEAD)
        || headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == live.csrf)
}

/// The refusal of a change without its CSRF value.
pub(super) fn csrf_refused() -> Response {
    super::auth::error(
        StatusCode::FORBIDDEN,
        "csrf",
        "this change lacks the page's CSRF token: reload the page and try again",
    )
}

/// A form posted from one of the team's pages by a signed-in person whose role allows `R`:
/// its fields, checked against the session's CSRF value (`csrf`).
pub(super) struct SignedForm<R: super::auth::Needs> {
    /// Who posted it.
    pub(super) holder: TokenHolder,
    /// Its fields, `csrf` removed.
    pub(super) fields: Vec<(String, String)>,
    needs: std::marker::PhantomData<R>,
}

impl<R: super::auth::Needs> SignedForm<R> {
    /// The value of field `name`.
    pub(super) fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<R: super::auth::Needs> FromRequest<AppState> for SignedForm<R> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let Some(live) = live(state, &headers).await? else {
            return Err(Redirect::to("/signin").into_response());
        };
        if !live.holder.role.allows(R::ROLE) {
            return Err(super::pages::forbidden_page(R::ROLE, &live.holder));
        }
        let Form(mut fields): Form<Vec<(String, String)>> = Form::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let sent = fields
            .iter()
            .position(|(k, _)| k == "csrf")
            .map(|i| fields.remove(i).1);
        if sent.as_deref() != Some(live.csrf.as_str()) {
            return Err(csrf_refused());
        }
        Ok(Self {
            holder: live.holder,
            fields,
            needs: std::marker::PhantomData,
        })
    }
}

/// `GET /signin`: the form a person pastes their token in.
#[utoipa::path(get, path = "/signin", tag = "session", responses((status = 200, description = "the sign-in form", content_type = "text/html")))]
pub(super) async fn form() -> Html<String> {
    Html(signin_page(None))
}

fn signin_page(problem: Option<&str>) -> String {
    let problem = problem
        .map(|p| format!("<p class=\"errors\" role=\"alert\">{}</p>", escape(p)))
        .unwrap_or_default();
    layout(
        "Sign in · guardian",
        None,
        &format!(
            "<h1>Sign in</h1>{problem}<form method=\"post\" action=\"/signin\"><label for=\"token\">Your team token (from <code>guardian token create</code>)</label><input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required autofocus><button type=\"submit\">Sign in</button></form><p>The token is sent once; the browser keeps a session cookie, never the token.</p>"
        ),
    )
}

/// The sign-in form's field.
#[derive(Deserialize)]
pub(super) struct SignIn {
    token: String,
}

/// `POST /signin`: opens a session for a valid token and sets its cookie; a wrong, revoked or
/// expired token is refused (401) with the form again.
#[utoipa::path(post, path = "/signin", tag = "session", request_body(content_type = "application/x-www-form-urlencoded", description = "`token`: a team token (guardian token create)"), responses((status = 303, description = "signed in: the session cookie is set (HttpOnly, SameSite=Strict)"), (status = 401, description = "a wrong, revoked or expired token")))]
pub(super) async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    let store = state.store.clone();
    let token = form.token.trim().to_string();
    let opened = tokio::task::spawn_blocking(move || store.open_session(&token, now_ms())).await;
    let opened = match opened {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return internal("the sign-in could not be checked", &e),
        Err(e) => return internal("the sign-in could not be checked", &e),
    };
    let Some(opened) = opened else {
        return (
            StatusCode::UNAUTHORIZED,
            Html(signin_page(Some(
                "That token is not valid: it may be mistyped, expired or revoked.",
            ))),
        )
            .into_response();
    };
    let max_age = (opened.expires_at - now_ms()).max(0) / 1000;
    let secure = if served_over_https(&state, &headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        opened.session
    );
    let mut response = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// Whether the page is served over HTTPS: `[server] public_url` is https (behind a proxy that
/// ends TLS).
fn served_over_https(state: &AppState, _headers: &HeaderMap) -> bool {
    state
        .manifest
        .server
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
}

/// `POST /signout` (with the form's CSRF value): ends the session and clears its cookie.
#[utoipa::path(post, path = "/signout", tag = "session", security(("session" = [])), request_body(content_type = "application/x-www-form-urlencoded", description = "the page's `csrf` value"), responses((status = 303, description = "signed out: the session ended and its cookie cleared")))]
pub(super) async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    _form: SignedForm<super::auth::Viewer>,
) -> Response {
    if let Some(session) = cookie(&headers).map(str::to_string) {
        let store = state.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.end_session(&session, now_ms())).await;
    }
    let mut response = Redirect::to("/signin").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("guardian_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// A person's browser refused a change: the error as a page (what is wrong, what to do) instead
/// of the API's JSON. Only for a request that asks for HTML (a browser's form); the API's
/// callers still get the JSON.
pub(super) async fn errors_as_pages(request: Request, next: axum::middleware::Next) -> Response {
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let response = next.run(request).await;
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !wants_html || !json || response.status().is_success() {
        return response;
    }
    let status = response.status();
    let Ok(body) = axum::body::to_bytes(response.into_body(), 64 * 1024).await else {
        return status.into_response();
    };
    let errors: Vec<(String, String)> = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["errors"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or("").to_string(),
                e["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let items: String = errors
        .iter()
        .map(|(field, message)| {
            format!(
                "<li><strong>{}</strong>: {}</li>",
                escape(field),
                escape(message)
            )
        })
        .collect();
    let page = layout(
        "Refused · guardian",
        None,
        &format!(
            "<h1>Refused ({})</h1><div class=\"errors\" role=\"alert\"><ul>{items}</ul></div><p>Nothing was changed. Go back, reload the page and try again; <a href=\"/\">the overview</a>.</p>",
            status.as_u16()
        ),
    );
    (status, Html(page)).into_response()
}
