//! A change to an incident, and how it is applied with its timeline entry.

use serde_json::json;

use super::entry;
use crate::{
    incident::IncidentStatus,
    storage::sql::{Conn, OptionalExt as _, SqlResult, params},
};

/// A change to an incident; each is written with its timeline entry.
#[derive(Debug, Clone)]
pub enum Change {
    /// The level is now this.
    Level(u8),
    /// The status is now this.
    Status(IncidentStatus),
    /// These contracts are affected too.
    Contracts(Vec<String>),
    /// This alert belongs to it.
    Alert(i64),
    /// This journal action was done under it.
    Action(i64),
    /// New tasks (id, title); ones it already has are kept as they are.
    Tasks(Vec<(String, String)>),
    /// This task is done.
    TaskDone(String),
    /// This open task is now this person's.
    TaskOwner {
        /// The task's id.
        task: String,
        /// Who owns it.
        owner: String,
    },
    /// This checklist item is ticked, with this evidence.
    Tick {
        /// The item's id.
        item: String,
        /// What proves it.
        evidence: String,
    },
    /// The commander is now this person.
    Commander(String),
    /// A Safe proposal of the incident moved: proposed, confirmed (by whom, how), executed (tx,
    /// block) or cancelled.
    Proposal {
        /// The proposal.
        id: i64,
        /// `proposed`, `confirmed`, `executed`, `cancel proposed`.
        event: String,
        /// What the entry says of it.
        details: serde_json::Value,
    },
}

/// Applies one change and writes its entry (none when nothing changed).
pub(super) fn apply(
    conn: &Conn<'_>,
    id: i64,
    at: i64,
    actor: &str,
    change: &Change,
) -> SqlResult<()> {
    match change {
        Change::Level(level) => {
            let from: u8 = conn.query_row(
                "SELECT level FROM incidents WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )?;
            if from != *level {
                conn.execute(
                    "UPDATE incidents SET level = ?2 WHERE id = ?1",
                    params![id, level],
                )?;
                entry(conn, id, at, actor, "level", &json!({"from": from, "to": level}))?;
            }
        }
        Change::Status(status) => {
            let from: String = conn.query_row(
                "SELECT status FROM incidents WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )?;
            if from != status.as_str() {
                conn.execute(
                    "UPDATE incidents SET status = ?2 WHERE id = ?1",
                    params![id, status.as_str()],
                )?;
                entry(
                    conn,
                    id,
                    at,
                    actor,
                    "status",
                    &json!({"from": from, "to": status.as_str()}),
                )?;
            }
        }
        Change::Contracts(names) => {
            let mut added = Vec::new();
            for n in names {
                if conn.execute(
                    "INSERT INTO incident_contracts (incident_id, contract) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![id, n],
                )? > 0
                {
                    added.push(n.clone());
                }
            }
            if !added.is_empty() {
                entry(conn, id, at, actor, "contracts", &json!({"added": added}))?;
            }
        }
        Change::Alert(alert) => {
            if conn.execute(
                "INSERT INTO incident_alerts (incident_id, alert_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![id, alert],
            )? > 0
            {
                let found = conn
                    .query_row(
                        "SELECT rule, severity, chain, contract, block_number, summary FROM alerts WHERE id = ?1",
                        params![alert],
                        |r| {
                            Ok(json!({
                                "alert": alert,
                                "rule": r.get::<String>(0)?,
                                "severity": r.get::<String>(1)?,
                                "chain": r.get::<String>(2)?,
                                "contract": r.get::<Option<String>>(3)?,
                                "block_number": r.get::<i64>(4)?,
                                "summary": r.get::<String>(5)?,
                            }))
                        },
                    )
                    .optional()?
                    .unwrap_or_else(|| json!({"alert": alert}));
                entry(conn, id, at, actor, "alert", &found)?;
            }
        }
        Change::Action(action) => {
            conn.execute(
                "INSERT INTO incident_actions (incident_id, action_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![id, action],
            )?;
        }
        Change::Tasks(tasks) => {
            let mut seq: i64 = conn.query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM incident_tasks WHERE incident_id = ?1",
                params![id],
                |r| r.get(0),
            )?;
            let mut added = Vec::new();
            for (task, title) in tasks {
                seq += 1;
                if conn.execute(
                    "INSERT INTO incident_tasks (incident_id, task, title, seq) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                    params![id, task, title, seq],
                )? > 0
                {
                    added.push(task.clone());
                }
            }
            if !added.is_empty() {
                entry(conn, id, at, actor, "tasks", &json!({"added": added}))?;
            }
        }
        Change::TaskDone(task) => {
            if conn.execute(
                "UPDATE incident_tasks SET done_by = ?3, done_at = ?4
                 WHERE incident_id = ?1 AND task = ?2 AND done_at IS NULL",
                params![id, task, actor, at],
            )? > 0
            {
                entry(conn, id, at, actor, "task", &json!({"task": task, "done": true}))?;
            }
        }
        Change::TaskOwner { task, owner } => {
            if conn.execute(
                "UPDATE incident_tasks SET owner = ?3
                 WHERE incident_id = ?1 AND task = ?2 AND done_at IS NULL",
                params![id, task, owner],
            )? > 0
            {
                entry(conn, id, at, actor, "task", &json!({"task": task, "owner": owner}))?;
            }
        }
        Change::Tick { item, evidence } => {
            if conn.execute(
                "INSERT INTO incident_checklist (incident_id, item, ticked_by, evidence, ticked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                params![id, item, actor, evidence, at],
            )? > 0
            {
                entry(
                    conn,
                    id,
                    at,
                    actor,
                    "checklist",
                    &json!({"item": item, "evidence": evidence}),
                )?;
            }
        }
        Change::Commander(name) => {
            conn.execute(
                "UPDATE incidents SET commander = ?2 WHERE id = ?1",
                params![id, name],
            )?;
            entry(conn, id, at, actor, "commander", &json!({"commander": name}))?;
        }
        Change::Proposal {
            id: proposal,
            event,
            details,
        } => {
            conn.execute(
                "UPDATE safe_proposals SET incident_id = ?2 WHERE id = ?1 AND incident_id IS NULL",
                params![proposal, id],
            )?;
            let mut said = json!({"proposal": proposal, "event": event});
            if let (Some(out), Some(more)) = (said.as_object_mut(), details.as_object()) {
                out.extend(more.clone());
            }
            entry(conn, id, at, actor, "safe", &said)?;
        }
    }
    Ok(())
}
