//! Slack incoming webhooks: `{"text": ...}` (the title in bold), with the plain text as the
//! notification fallback.

use super::{Delivery, NotifyError, http};
use crate::secret::Secret;

/// Sends one attempt of `delivery` to the webhook `url`.
pub(super) async fn send(d: &Delivery<'_>, url: &Secret) -> Result<(), NotifyError> {
    let m = d.message;
    let mut text = format!("*{}*", escape(&m.title));
    for line in m.lines.iter().chain(&m.links) {
        text.push('\n');
        text.push_str(&escape(line));
    }
    let body = serde_json::json!({"text": text});
    let request = d
        .client
        .post(url.expose())
        .header("content-type", "application/json")
        .body(body.to_string());
    http::send(d.contact, request).await.map(|_| ())
}

/// Slack's three control characters, escaped as its documentation asks.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
