//! The HTTP client every web channel shares: rustls with the ring provider (as the RPC
//! transport), no redirects (a signed request is not forwarded elsewhere), a per-request timeout,
//! and errors that never quote the URL (it may hold a token).

use std::time::Duration;

use super::NotifyError;
use crate::secret::redact;

/// How much of a refusing server's answer is kept in the error.
const BODY_IN_ERROR: usize = 200;

/// A client whose every request gives up after `timeout`.
pub(super) fn client(timeout: Duration) -> Result<reqwest::Client, NotifyError> {
    crate::tls::install_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("guardian/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| NotifyError::Client(redact(&e.without_url().to_string()).into_owned()))
}

/// Sends `request`; a 2xx answer is success and its body is returned.
pub(super) async fn send(
    contact: &str,
    request: reqwest::RequestBuilder,
) -> Result<String, NotifyError> {
    let failed = |e: reqwest::Error| {
        let e = e.without_url();
        if e.is_timeout() {
            NotifyError::Timeout {
                contact: contact.to_string(),
            }
        } else {
            NotifyError::Request {
                contact: contact.to_string(),
                message: redact(&error_chain(&e)).into_owned(),
            }
        }
    };
    let response = request.send().await.map_err(failed)?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = response.text().await.map_err(failed)?;
    if status.is_success() {
        return Ok(body);
    }
    let mut excerpt: String = body.chars().take(BODY_IN_ERROR).collect();
    if body.chars().count() > BODY_IN_ERROR {
        excerpt.push('…');
    }
    Err(NotifyError::Refused {
        contact: contact.to_string(),
        status: status.as_u16(),
        body: redact(excerpt.trim()).into_owned(),
        retry_after_secs: retry_after,
    })
}

/// The error with its sources, `: `-separated (reqwest's own message says only "error sending
/// request").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
