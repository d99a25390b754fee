//! Who is asking, checked in one place for every route: a team token carrying at least the role
//! the route needs ([`Team`]), or a report's follow-up token ([`ReportAccess`]). The tokens are
//! looked up off the async threads, and every refusal has the one error shape of the server:
//! `{"errors": [{"field": ..., "message": ...}]}`.

use std::marker::PhantomData;

use axum::{
    Json,
    extract::FromRequestParts,
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::AppState;
use crate::bounty::{
    self,
    tokens::{Role, TokenHolder},
};

/// The server's one error answer: `status` with `{"errors": [{"field", "message"}]}`.
pub(super) fn error(status: StatusCode, field: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "errors": [bounty::FieldError::new(field, message)] })),
    )
        .into_response()
}

/// A failure of the server itself: the cause goes to the operator's (redacted) log, the client
/// gets a 500 that names no file, endpoint or query.
pub(super) fn internal(what: &str, cause: &dyn std::fmt::Display) -> Response {
    tracing::error!("{what}: {}", crate::secret::redact(&cause.to_string()));
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server",
        &format!("{what}: see the server's log"),
    )
}

/// The bearer token of a request (`Authorization: Bearer TOKEN`, the scheme in any case).
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A role a route needs.
pub(super) trait Needs: Send + Sync {
    /// The least role that may call the route.
    const ROLE: Role;
}

/// Reads everything.
pub(super) struct Viewer;
/// Takes bounty decisions.
pub(super) struct Triager;
/// Acts in incidents: notes, tasks, escalation, pausing.
pub(super) struct Responder;

/// Everything, resolving and closing incidents included.
pub(super) struct Admin;

impl Needs for Admin {
    const ROLE: Role = Role::Admin;
}

impl Needs for Responder {
    const ROLE: Role = Role::Responder;
}

impl Needs for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl Needs for Triager {
    const ROLE: Role = Role::Triager;
}

/// The holder of a team token whose role is at least `R`'s: no token (or an unknown one) is 401,
/// a role too low 403.
pub(super) struct Team<R: Needs> {
    /// Who is asking, and their role.
    pub(super) holder: TokenHolder,
    needs: PhantomData<R>,
}

impl<R: Needs> Team<R> {
    /// The 403 to answer when the holder's role is below `needed` (a route whose role depends
    /// on what is asked, as a payment does).
    pub(super) fn refusal_below(&self, needed: Role) -> Option<Response> {
        (!self.holder.role.allows(needed)).then(|| forbidden(needed, self.holder.role))
    }
}

fn forbidden(needed: Role, has: Role) -> Response {
    error(
        StatusCode::FORBIDDEN,
        "authorization",
        &format!(
            "this needs the {} role; the token is {}",
            needed.as_str(),
            has.as_str()
        ),
    )
}

impl<R: Needs> FromRequestParts<AppState> for Team<R> {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = || {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                "authorization",
                "a team token is needed: Authorization: Bearer <token from guardian token create>",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        };
        let Some(token) = bearer(&parts.headers).map(str::to_string) else {
            // A browser's session cookie instead (the team's pages and their script).
            return match super::session::live(state, &parts.headers).await? {
                None => Err(unauthorized()),
                Some(l) if !l.holder.role.allows(R::ROLE) => Err(forbidden(R::ROLE, l.holder.role)),
                Some(l) if !super::session::csrf_ok(&parts.method, &parts.headers, &l) => {
                    Err(super::session::csrf_refused())
                }
                Some(l) => Ok(Self {
                    holder: l.holder,
                    needs: PhantomData,
                }),
            };
        };
        let store = state.store.clone();
        let holder = tokio::task::spawn_blocking(move || {
            store.api_token_holder(&token, crate::storage::now_ms())
        })
        .await
        .map_err(|e| internal("the token could not be checked", &e))?
        .map_err(|e| internal("the token could not be checked", &e))?;
        match holder {
            None => Err(unauthorized()),
            Some(h) if !h.role.allows(R::ROLE) => Err(forbidden(R::ROLE, h.role)),
            Some(holder) => Ok(Self {
                holder,
                needs: PhantomData,
            }),
        }
    }
}

/// The researcher's 401: the same for an unknown id, a malformed id (a report number among
/// them), a missing token and a wrong one.
pub(super) fn report_unauthorized() -> Response {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "authorization",
        "send the report's follow-up token as `Authorization: Bearer TOKEN`",
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// The report whose public id the path names, when the request carries its follow-up token.
pub(super) struct ReportAccess(pub(super) bounty::StoredReport);

impl ReportAccess {
    /// Checks the request's token against the report of public id `id` (off the async
    /// threads); a report number is not a public id and gets the same 401 as a wrong token.
    pub(super) async fn check(
        state: &AppState,
        id: &str,
        headers: &HeaderMap,
    ) -> Result<Self, Response> {
        let Some(token) = bearer(headers) else {
            return Err(report_unauthorized());
        };
        let store = state.store.clone();
        let (id, token) = (id.to_string(), token.to_string());
        match tokio::task::spawn_blocking(move || store.bounty_report_for_token(&id, &token)).await
        {
            Ok(Ok(Some(report))) => Ok(Self(report)),
            Ok(Ok(None)) => Err(report_unauthorized()),
            Ok(Err(e)) => Err(internal("the report could not be read", &e)),
            Err(e) => Err(internal("the report could not be read", &e)),
        }
    }
}
