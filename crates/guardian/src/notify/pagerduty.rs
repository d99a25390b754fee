//! PagerDuty Events API v2 (`POST <base_url>/v2/enqueue`): an alert triggers an event under a
//! deduplication key per alert; its retraction resolves it.

use crate::{alert::Severity, secret::Secret};

use super::{Delivery, NotifyError, http, message::rfc3339};

/// PagerDuty's limit on a summary.
const MAX_SUMMARY: usize = 1024;

/// PagerDuty's severity for ours.
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::High => "error",
        Severity::Critical => "critical",
    }
}

/// Sends one attempt of `delivery` with the integration's `routing_key`.
pub(super) async fn send(
    d: &Delivery<'_>,
    base: &str,
    routing_key: &Secret,
) -> Result<(), NotifyError> {
    let m = d.message;
    let body = if m.resolves {
        serde_json::json!({
            "routing_key": routing_key.expose(),
            "event_action": "resolve",
            "dedup_key": m.dedup_key,
        })
    } else {
        let alert = &m.body["alert"];
        let mut payload = serde_json::json!({
            "summary": m.title.chars().take(MAX_SUMMARY).collect::<String>(),
            "source": m.source,
            "severity": severity(m.severity),
            "custom_details": {
                "lines": m.lines,
                "alert": alert,
            },
        });
        if let Some(at) = alert["detected_at"].as_str() {
            payload["timestamp"] = at.into();
        } else {
            payload["timestamp"] = rfc3339(crate::storage::now_ms()).into();
        }
        for (key, field) in [
            ("component", "contract"),
            ("group", "chain"),
            ("class", "rule"),
        ] {
            if let Some(v) = alert[field].as_str() {
                payload[key] = v.into();
            }
        }
        let links: Vec<serde_json::Value> = m
            .links
            .iter()
            .map(|href| serde_json::json!({"href": href, "text": "transaction"}))
            .collect();
        serde_json::json!({
            "routing_key": routing_key.expose(),
            "event_action": "trigger",
            "dedup_key": m.dedup_key,
            "payload": payload,
            "links": links,
        })
    };
    let request = d
        .client
        .post(format!("{base}/v2/enqueue"))
        .header("content-type", "application/json")
        .body(body.to_string());
    http::send(d.contact, request).await.map(|_| ())
}
