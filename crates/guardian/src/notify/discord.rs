//! Discord incoming webhooks: `{"content": ...}`, at most 2000 characters, mentions disabled (an
//! alert's summary must never ping `@everyone`).

use super::{Delivery, NotifyError, http};
use crate::secret::Secret;

/// Discord's limit on a message's content.
const MAX_CONTENT: usize = 2000;

/// Sends one attempt of `delivery` to the webhook `url`.
pub(super) async fn send(d: &Delivery<'_>, url: &Secret) -> Result<(), NotifyError> {
    let mut content: String = d.message.text().chars().take(MAX_CONTENT).collect();
    if let Some(first) = content.find('\n') {
        // The title in bold; the rest as it is.
        content = format!("**{}**{}", &content[..first], &content[first..]);
        content = content.chars().take(MAX_CONTENT).collect();
    }
    let body = serde_json::json!({
        "content": content,
        "allowed_mentions": {"parse": []},
    });
    let request = d
        .client
        .post(url.expose())
        .header("content-type", "application/json")
        .body(body.to_string());
    http::send(d.contact, request).await.map(|_| ())
}
