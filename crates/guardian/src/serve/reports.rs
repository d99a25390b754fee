//! The researcher's endpoints: `POST /bounty/reports` (JSON or the page's form), and
//! `GET`/`POST /bounty/reports/{public_id}` with the follow-up token as a bearer token. The
//! researcher only ever sees a report's random public id, never the team's number.

use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use axum::{
    Json,
    body::Bytes,
    extract::{ConnectInfo, Path, State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{
    AppState,
    auth::{ReportAccess, report_unauthorized},
    bounty_page,
    limits::Post,
    listen::{client_key, client_of},
};
use crate::{
    bounty::{
        self, FieldError, MAX_MESSAGE, Submission,
        crypto::{new_token, token_hash},
        store::RESEARCHER,
        text::researcher_text,
    },
    storage::now_ms,
};

/// How the client wants its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Html,
}

fn errors_response(format: Format, status: StatusCode, errors: Vec<FieldError>) -> Response {
    match format {
        Format::Json => (status, Json(json!({ "errors": errors }))).into_response(),
        Format::Html => (status, Html(bounty_page::errors(&errors))).into_response(),
    }
}

fn one_error(format: Format, status: StatusCode, field: &str, message: &str) -> Response {
    errors_response(format, status, vec![FieldError::new(field, message)])
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The body, or the answer to give when it is too large or unreadable.
fn body_or_error(
    body: Result<Bytes, BytesRejection>,
    format: Format,
) -> Result<Bytes, Box<Response>> {
    body.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "is larger than this server accepts ([bounty] max_body_bytes)"
        } else {
            "could not be read"
        };
        Box::new(one_error(format, status, "body", message))
    })
}

/// The client a post counts against, or the 429 (with `Retry-After`) when it is over a limit.
fn rate_limited(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    format: Format,
    post: Post,
) -> Result<IpAddr, Box<Response>> {
    let client = client_key(client_of(
        peer,
        headers,
        &state.manifest.server.trusted_proxies,
    ));
    let Err(refusal) = state.limits.check(client, post, Instant::now()) else {
        return Ok(client);
    };
    let secs = refusal
        .wait
        .max(Duration::from_secs(1))
        .as_secs()
        .to_string();
    let mut response = one_error(
        format,
        StatusCode::TOO_MANY_REQUESTS,
        "body",
        &refusal.message,
    );
    if let Ok(value) = HeaderValue::from_str(&secs) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    Err(Box::new(response))
}

/// The 403 for a form posted from another site (a page elsewhere making the visitor's browser
/// post here): its `Origin` names another host than the one it was sent to, or the browser says
/// the request is cross-site. A request without either header (curl, a script) is not a browser
/// being steered, and passes.
fn cross_site(headers: &HeaderMap) -> Option<Response> {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let cross = text(header::HeaderName::from_static("sec-fetch-site"))
        .is_some_and(|site| site.eq_ignore_ascii_case("cross-site"));
    let other_origin = text(header::ORIGIN).is_some_and(|origin| {
        let host = origin
            .split_once("://")
            .map_or(origin, |(_, rest)| rest)
            .trim_end_matches('/');
        text(header::HOST).is_none_or(|h| !h.eq_ignore_ascii_case(host))
    });
    (cross || other_origin).then(|| {
        one_error(
            Format::Html,
            StatusCode::FORBIDDEN,
            "origin",
            "the form must be posted from this server's own page",
        )
    })
}

/// A field of a JSON object as text; `None` with an error when it is not a string.
fn json_text(
    object: &serde_json::Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> String {
    match object.get(field) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            errors.push(FieldError::new(field, "must be a string"));
            String::new()
        }
    }
}

fn split_names(text: &str) -> Vec<String> {
    text.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Reads a JSON submission; type errors are named like validation errors.
fn from_json(body: &[u8]) -> Result<Submission, Vec<FieldError>> {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    let mut errors = Vec::new();
    let contracts = match object.get("contracts") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => split_names(s),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(_) => {
            errors.push(FieldError::new(
                "contracts",
                "must be an array of contract names",
            ));
            Vec::new()
        }
    };
    let submission = Submission {
        title: json_text(&object, "title", &mut errors),
        severity: json_text(&object, "severity", &mut errors),
        impact: json_text(&object, "impact", &mut errors),
        contracts,
        description: json_text(&object, "description", &mut errors),
        proof_of_concept: json_text(&object, "proof_of_concept", &mut errors),
        contact: json_text(&object, "contact", &mut errors),
        payout_address: json_text(&object, "payout_address", &mut errors),
        credit_as: json_text(&object, "credit_as", &mut errors),
    };
    if errors.is_empty() {
        Ok(submission)
    } else {
        Err(errors)
    }
}

/// Reads the page's form (`application/x-www-form-urlencoded`).
fn from_form(body: &[u8]) -> Submission {
    let mut s = Submission::default();
    for (key, value) in url::form_urlencoded::parse(body) {
        let value = value.into_owned();
        match key.as_ref() {
            "title" => s.title = value,
            "severity" => s.severity = value,
            "impact" => s.impact = value,
            "contracts" => s.contracts.extend(split_names(&value)),
            "description" => s.description = value,
            "proof_of_concept" => s.proof_of_concept = value,
            "contact" => s.contact = value,
            "payout_address" => s.payout_address = value,
            "credit_as" => s.credit_as = value,
            _ => {}
        }
    }
    s
}

/// `POST /bounty/reports`: validates, encrypts the proof of concept, stores the report in one
/// transaction, and answers with its public id and follow-up token (shown this once).
#[utoipa::path(post, path = "/bounty/reports", tag = "bounty", request_body(content = Object, description = "the report: title, severity, contracts, description, proof of concept, contact (JSON, or the page's form)"), responses((status = 201, description = "stored: its public id and the follow-up token, shown this once", body = Object), (status = 422, description = "a field is wrong: named, nothing stored"), (status = 429, description = "too many reports from this address")))]
pub(super) async fn submit(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let kind = content_type(&headers);
    let format = if kind.starts_with("application/x-www-form-urlencoded") {
        Format::Html
    } else {
        Format::Json
    };
    let client = match rate_limited(&state, client, &headers, format, Post::Report) {
        Ok(client) => client,
        Err(response) => return *response,
    };
    if format == Format::Html
        && let Some(response) = cross_site(&headers)
    {
        return response;
    }
    let body = match body_or_error(body, format) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let submission = match format {
        Format::Html => from_form(&body),
        Format::Json if kind.starts_with("application/json") => match from_json(&body) {
            Ok(s) => s,
            Err(errors) => return errors_response(format, StatusCode::BAD_REQUEST, errors),
        },
        Format::Json => {
            return one_error(
                format,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "body",
                "send application/json or the page's form",
            );
        }
    };
    let scope: Vec<&str> = state.manifest.contracts.iter().map(|c| c.name()).collect();
    let report = match bounty::validate(&submission, &scope) {
        Ok(report) => report,
        Err(errors) => return errors_response(format, StatusCode::BAD_REQUEST, errors),
    };
    let sealed = match report
        .proof_of_concept
        .as_deref()
        .map(|p| state.team_key.encrypt(p))
    {
        None => None,
        Some(Ok(sealed)) => Some(sealed),
        Some(Err(e)) => return server_error(format, &e),
    };
    let token = match new_token() {
        Ok(token) => token,
        Err(e) => return server_error(format, &e),
    };
    let store = state.store.clone();
    let hash = token_hash(&token);
    let contacts = state.contacts.clone();
    let manifest = state.manifest.clone();
    let stored = tokio::task::spawn_blocking(move || {
        store
            .insert_bounty_report_telling(
                &report,
                sealed.as_deref(),
                &hash,
                now_ms(),
                Some((&contacts, &manifest.bounty)),
            )
            .map(|ids| (ids, report.title))
    })
    .await;
    let (ids, title) = match stored {
        Ok(Ok(stored)) => stored,
        Ok(Err(e)) => return server_error(format, &e),
        Err(e) => return server_error(format, &e),
    };
    state.limits.accepted(client, Post::Report, Instant::now());
    tracing::info!(id = ids.id, "bounty report received");
    match format {
        Format::Json => (
            StatusCode::CREATED,
            Json(json!({ "id": ids.public_id, "token": token })),
        )
            .into_response(),
        Format::Html => (
            StatusCode::CREATED,
            Html(bounty_page::submitted(&ids.public_id, &token, &title)),
        )
            .into_response(),
    }
}

fn server_error(format: Format, e: &dyn std::fmt::Display) -> Response {
    // The cause goes to the operator's log, not to the public.
    tracing::error!("bounty desk: {e}");
    one_error(
        format,
        StatusCode::INTERNAL_SERVER_ERROR,
        "body",
        "the server could not store the report: try again later, or write to the security e-mail",
    )
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html") && !a.contains("application/json"))
}

/// `GET /bounty/reports/{public_id}`: the status, the researcher's own fields and the thread (JSON,
/// or an HTML page when only HTML is accepted).
#[utoipa::path(get, path = "/bounty/reports/{id}", tag = "bounty", params(("id" = String, Path, description = "the public id")), security(("follow_up" = [])), responses((status = 200, description = "the status, the researcher's own fields and the thread", body = Object), (status = 404, description = "no such report, or the wrong follow-up token")))]
pub(super) async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match ReportAccess::check(&state, &id, &headers).await {
        Ok(ReportAccess(report)) if wants_html(&headers) => {
            Html(bounty_page::report(&report.view)).into_response()
        }
        Ok(ReportAccess(report)) => Json(report.view.for_researcher()).into_response(),
        Err(response) => response,
    }
}

/// `POST /bounty/reports/{public_id}` with `{"message": "..."}`: the researcher's reply (`\r\n` made
/// `\n`; a control character but newline and tab refused, naming `message`, nothing stored).
#[utoipa::path(post, path = "/bounty/reports/{id}", tag = "bounty", params(("id" = String, Path, description = "the public id")), security(("follow_up" = [])), request_body(content = Object, description = "`{\"message\": \"…\"}`"), responses((status = 201, description = "the reply stored"), (status = 404, description = "no such report, or the wrong follow-up token"), (status = 422, description = "the message is empty or has a control character")))]
pub(super) async fn reply(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let client = match rate_limited(&state, client, &headers, Format::Json, Post::Reply) {
        Ok(client) => client,
        Err(response) => return *response,
    };
    let report = match ReportAccess::check(&state, &id, &headers).await {
        Ok(ReportAccess(report)) => report,
        Err(response) => return response,
    };
    let body = match body_or_error(body, Format::Json) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let message = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(object)) => match object.get("message") {
            Some(Value::String(m)) => match researcher_text("message", m) {
                Ok(m) => m.trim().to_string(),
                Err(e) => return errors_response(Format::Json, StatusCode::BAD_REQUEST, vec![e]),
            },
            _ => String::new(),
        },
        _ => {
            return one_error(
                Format::Json,
                StatusCode::BAD_REQUEST,
                "body",
                "must be a JSON object",
            );
        }
    };
    let length = message.chars().count();
    if length == 0 || length > MAX_MESSAGE {
        return one_error(
            Format::Json,
            StatusCode::BAD_REQUEST,
            "message",
            &format!("is required, at most {MAX_MESSAGE} characters"),
        );
    }
    let store = state.store.clone();
    let id = report.id;
    let done = tokio::task::spawn_blocking(move || {
        store.add_bounty_message(id, RESEARCHER, &message, now_ms())?;
        store.bounty_report(id)
    })
    .await;
    match done {
        Ok(Ok(Some(report))) => {
            state.limits.accepted(client, Post::Reply, Instant::now());
            (StatusCode::CREATED, Json(report.view.for_researcher())).into_response()
        }
        Ok(Ok(None)) => report_unauthorized(),
        Ok(Err(e)) => server_error(Format::Json, &e),
        Err(e) => server_error(Format::Json, &e),
    }
}
