//! Deliveries into the timeline: each incident message the outbox has finished with (delivered,
//! or given up) becomes a `notification` entry, once.

use serde_json::json;

use super::records::entry;
use crate::storage::{StorageError, Store, now_ms, sql::params};

/// An incident message the outbox has finished with.
struct Finished {
    row: i64,
    incident: i64,
    contact: String,
    channel: String,
    topic: String,
    delivered_at: Option<i64>,
    gave_up_at: Option<i64>,
    error: Option<String>,
    attempts: i64,
}

impl Store {
    /// Writes a `notification` entry for every incident message the outbox has finished with
    /// (delivered, or given up) and not yet written, in one transaction with their marks.
    /// Returns how many entries were written.
    pub fn log_incident_deliveries(&self) -> Result<usize, StorageError> {
        self.write(|tx| {
            let rows: Vec<Finished> = tx.query_map(
                "SELECT id, incident_id, contact, channel, topic, delivered_at, gave_up_at, last_error, attempts
                 FROM outbox WHERE incident_id IS NOT NULL AND incident_logged = 0
                   AND (delivered_at IS NOT NULL OR gave_up_at IS NOT NULL) ORDER BY id",
                params![],
                |r| {
                    Ok(Finished {
                        row: r.get(0)?,
                        incident: r.get(1)?,
                        contact: r.get(2)?,
                        channel: r.get(3)?,
                        topic: r.get(4)?,
                        delivered_at: r.get(5)?,
                        gave_up_at: r.get(6)?,
                        error: r.get(7)?,
                        attempts: r.get(8)?,
                    })
                },
            )?;
            for Finished { row, incident, contact, channel, topic, delivered_at, gave_up_at, error, attempts } in &rows {
                let at = delivered_at.or(*gave_up_at).unwrap_or_else(now_ms);
                entry(
                    tx,
                    *incident,
                    at,
                    super::playbook::GUARDIAN,
                    "notification",
                    &json!({
                        "contact": contact,
                        "channel": channel,
                        "topic": topic,
                        "delivered": delivered_at.is_some(),
                        "attempts": attempts,
                        "error": if delivered_at.is_some() { None } else { error.clone() },
                    }),
                )?;
                tx.execute("UPDATE outbox SET incident_logged = 1 WHERE id = ?1", params![row])?;
            }
            Ok(rows.len())
        })
    }
}
