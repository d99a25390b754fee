//! The incident timeline: append-only, hash-chained entries. The database's triggers refuse
//! every update and delete; each entry carries the hash of the one before, so an entry altered
//! behind the tool's back (with the triggers dropped) is found by [`verify`].

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::storage::sql::{Conn, OptionalExt as _, SqlResult, params};

/// The hash the first entry of every incident chains to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The kind of the entry that holds a bug bounty report as an incident's evidence (the
/// post-mortem credits its researcher from it).
pub const REPORT_EVIDENCE_KIND: &str = "bounty-report";

/// One entry, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Entry {
    /// Row id (increasing).
    pub id: i64,
    /// The incident.
    pub incident_id: i64,
    /// When, Unix milliseconds (UTC).
    pub at: i64,
    /// Who: the operator, or `guardian` for what the tool did on its own.
    pub actor: String,
    /// What kind of entry: `opened`, `alert`, `level`, `transaction`, `notification`, `note`,
    /// `task`, `checklist`, `upgrade`, `withdrawal`, `unpause`, `status`, ...
    pub kind: String,
    /// The details, as JSON.
    pub details: serde_json::Value,
    /// The previous entry's hash ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// Whether an incident's timeline is as it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Integrity {
    /// Every entry's hash matches its content and chains to the one before.
    Intact {
        /// Entries checked.
        entries: usize,
    },
    /// The first entry that does not match.
    Altered {
        /// Its row id.
        entry: i64,
        /// What is wrong with it.
        problem: String,
    },
}

/// The hash of an entry's content chained to `prev`.
fn digest(prev: &str, incident_id: i64, at: i64, actor: &str, kind: &str, details: &str) -> String {
    let mut h = Sha256::new();
    // Length-prefixed fields: no two different entries serialise to the same bytes.
    for field in [
        prev,
        &incident_id.to_string(),
        &at.to_string(),
        actor,
        kind,
        details,
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}

/// Appends one entry to `incident_id`'s timeline (inside the caller's transaction) and returns
/// its id.
pub(crate) fn append(
    conn: &Conn<'_>,
    incident_id: i64,
    at: i64,
    actor: &str,
    kind: &str,
    details: &serde_json::Value,
) -> SqlResult<i64> {
    let prev: String = conn
        .query_row(
            "SELECT hash FROM timeline WHERE incident_id = ?1 ORDER BY id DESC LIMIT 1",
            params![incident_id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or_else(|| GENESIS.to_string());
    let details = details.to_string();
    let hash = digest(&prev, incident_id, at, actor, kind, &details);
    conn.query_row(
        "INSERT INTO timeline (incident_id, at, actor, kind, details, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        params![incident_id, at, actor, kind, details, prev, hash],
        |r| r.get(0),
    )
}

/// Every entry of `incident_id`, oldest first, with the text of the details as stored (the
/// hash covers those exact bytes).
pub(crate) fn entries_raw(conn: &Conn<'_>, incident_id: i64) -> SqlResult<Vec<(Entry, String)>> {
    conn.query_map(
        "SELECT id, incident_id, at, actor, kind, details, prev_hash, hash FROM timeline
         WHERE incident_id = ?1 ORDER BY id",
        params![incident_id],
        |r| {
            let details: String = r.get(5)?;
            Ok((
                Entry {
                    id: r.get(0)?,
                    incident_id: r.get(1)?,
                    at: r.get(2)?,
                    actor: r.get(3)?,
                    kind: r.get(4)?,
                    details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
                    prev_hash: r.get(6)?,
                    hash: r.get(7)?,
                },
                details,
            ))
        },
    )
}

/// Checks the chain of `entries` (as read by [`entries_raw`]); `head` is the last hash the
/// incident's row remembers, so a truncated timeline is found too.
pub(crate) fn verify(entries: &[(Entry, String)], head: Option<&str>) -> Integrity {
    let mut prev = GENESIS.to_string();
    for (e, raw) in entries {
        if e.prev_hash != prev {
            return Integrity::Altered {
                entry: e.id,
                problem:
                    "it does not follow the entry before it (an entry was removed or reordered)"
                        .into(),
            };
        }
        let expected = digest(&prev, e.incident_id, e.at, &e.actor, &e.kind, raw);
        if e.hash != expected {
            return Integrity::Altered {
                entry: e.id,
                problem: "its content no longer matches its hash (it was edited)".into(),
            };
        }
        prev = e.hash.clone();
    }
    match head {
        Some(h) if h != prev => Integrity::Altered {
            entry: entries.last().map(|(e, _)| e.id).unwrap_or_default(),
            problem: "the timeline ends before the last entry the incident recorded (entries were removed)".into(),
        },
        _ => Integrity::Intact {
            entries: entries.len(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_field_changes_the_hash_and_fields_cannot_slide() {
        let base = digest(GENESIS, 1, 2, "alice", "note", "{}");
        assert_ne!(base, digest(GENESIS, 1, 2, "alic", "enote", "{}"));
        assert_ne!(base, digest(GENESIS, 1, 3, "alice", "note", "{}"));
        assert_ne!(base, digest(GENESIS, 2, 2, "alice", "note", "{}"));
        assert_eq!(base.len(), 64);
        assert_eq!(base, digest(GENESIS, 1, 2, "alice", "note", "{}"));
    }
}
