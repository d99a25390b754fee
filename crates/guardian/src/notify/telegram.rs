//! Telegram: the Bot API's `sendMessage` at `<base_url>/bot<token>/sendMessage`, plain text (no
//! parse mode, so nothing in a summary needs escaping).

use super::{Delivery, NotifyError, http};
use crate::secret::Secret;

/// Telegram's limit on a message's text.
const MAX_TEXT: usize = 4096;

/// Sends one attempt of `delivery` to `chat_id` through the bot with `token`.
pub(super) async fn send(
    d: &Delivery<'_>,
    base: &str,
    token: &Secret,
    chat_id: &str,
) -> Result<(), NotifyError> {
    let text: String = d.message.text().chars().take(MAX_TEXT).collect();
    let body = serde_json::json!({
        "chat_id": chat_id,
        "text": text,
        "disable_web_page_preview": true,
    });
    let url = format!("{base}/bot{}/sendMessage", token.expose());
    let request = d
        .client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    let answer = http::send(d.contact, request).await?;
    // The Bot API answers {"ok": true, ...}; anything else is a refusal even with HTTP 200.
    let ok = serde_json::from_str::<serde_json::Value>(&answer)
        .is_ok_and(|v| v["ok"] == serde_json::Value::Bool(true));
    if ok {
        Ok(())
    } else {
        Err(NotifyError::Refused {
            contact: d.contact.to_string(),
            status: 200,
            body: crate::secret::redact(&answer.chars().take(200).collect::<String>()).into_owned(),
            retry_after_secs: None,
        })
    }
}
