//! The incident tables (migration 5) and the one write path: a change and its timeline entry in
//! one transaction.

use serde_json::json;

mod change;

pub use self::change::Change;
use self::change::apply;
use super::{
    CHECKLIST, CheckItem, Incident, IncidentStatus, Task,
    timeline::{self, Entry, Integrity},
};
use crate::storage::{
    KeptBy, StorageError, Store, now_ms,
    sql::{Conn, OptionalExt as _, SqlResult, params},
};

/// An incident holds its alerts: retention never deletes an alert an incident holds.
pub const HOLDS_ALERT: KeptBy = KeptBy {
    table: "incident_alerts",
    column: "alert_id",
};

/// A new incident.
#[derive(Debug, Clone)]
pub struct NewIncident {
    /// 1–3.
    pub level: u8,
    /// One line.
    pub title: String,
    /// Who leads it (default: nobody named yet).
    pub commander: Option<String>,
    /// The affected contracts (manifest names).
    pub contracts: Vec<String>,
    /// The alert it was opened from.
    pub from_alert: Option<i64>,
    /// Its first evidence (kind and details), written right after the `opened` entry: a bug
    /// bounty report, say.
    pub evidence: Option<(String, serde_json::Value)>,
}

impl Store {
    /// Opens an incident: the row, its contracts, the level's tasks and the `opened` entry, in one
    /// transaction. Returns its id.
    pub fn open_incident(
        &self,
        new: &NewIncident,
        tasks: &[(&str, &str)],
        actor: &str,
    ) -> Result<i64, StorageError> {
        // A person who opens an incident commands it unless they name someone else; one guardian
        // opens has no commander until a person acts on it.
        let commander = new
            .commander
            .clone()
            .or_else(|| (actor != crate::incident::playbook::GUARDIAN).then(|| actor.to_string()));
        self.write(|tx| {
            let at = now_ms();
            let id: i64 = tx.query_row(
                "INSERT INTO incidents (level, title, status, commander, opened_by, opened_at, updated_at)
                 VALUES (?1, ?2, 'open', ?3, ?4, ?5, ?5) RETURNING id",
                params![new.level, new.title, commander, actor, at],
                |r| r.get(0),
            )?;
            let details = json!({
                "level": new.level,
                "title": new.title,
                "commander": commander,
                "contracts": new.contracts,
                "from_alert": new.from_alert,
            });
            entry(tx, id, at, actor, "opened", &details)?;
            if let Some((kind, details)) = &new.evidence {
                entry(tx, id, at, actor, kind, details)?;
            }
            apply(tx, id, at, actor, &Change::Contracts(new.contracts.clone()))?;
            let tasks = tasks
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            apply(tx, id, at, actor, &Change::Tasks(tasks))?;
            if let Some(alert) = new.from_alert {
                apply(tx, id, at, actor, &Change::Alert(alert))?;
            }
            Ok(id)
        })
    }

    /// Writes `changes` to incident `id` with one timeline entry each, plus an entry of `kind`
    /// with `details` when `kind` is given, all in one transaction. Changes that change nothing
    /// (an alert already linked, a task already done) write no entry.
    pub fn record(
        &self,
        id: i64,
        actor: &str,
        kind: Option<(&str, serde_json::Value)>,
        changes: &[Change],
    ) -> Result<(), StorageError> {
        self.write(|tx| write_changes(tx, id, now_ms(), actor, kind.as_ref(), changes))
    }

    /// Writes `changes` as [`Store::record`] does, then, in the same transaction, reads the
    /// incident and its timeline as they now stand and appends the entry `then` makes of them.
    /// Closing uses it: the published report is rendered from the closed incident and written
    /// with its closing, so the two cannot disagree. Returns the entry's details.
    pub fn record_then(
        &self,
        id: i64,
        actor: &str,
        changes: &[Change],
        then: impl FnOnce(&Incident, &[Entry], &Integrity) -> (String, serde_json::Value),
    ) -> Result<serde_json::Value, StorageError> {
        self.write(|tx| {
            let at = now_ms();
            write_changes(tx, id, at, actor, None, changes)?;
            let incident = read_incident(tx, id)?.ok_or(crate::storage::sql::SqlError::NoRows)?;
            let (timeline, integrity) = read_timeline(tx, id)?;
            let (kind, details) = then(&incident, &timeline, &integrity);
            entry(tx, id, at, actor, &kind, &details)?;
            Ok(details)
        })
    }

    /// The incident `id`, if there is one.
    pub fn incident(&self, id: i64) -> Result<Option<Incident>, StorageError> {
        self.with(|conn| read_incident(conn, id))
    }

    /// Every incident, newest first (`active_only`: open or mitigated).
    pub fn incidents(&self, active_only: bool) -> Result<Vec<Incident>, StorageError> {
        self.with(|conn| {
            let ids: Vec<i64> = conn
                .query_map(
                    "SELECT id, status FROM incidents ORDER BY id DESC",
                    params![],
                    |r| Ok((r.get::<i64>(0)?, r.get::<String>(1)?)),
                )?
                .into_iter()
                .filter_map(|(id, s)| {
                    (!active_only || IncidentStatus::parse(&s).is_some_and(IncidentStatus::active))
                        .then_some(id)
                })
                .collect();
            ids.into_iter()
                .filter_map(|id| read_incident(conn, id).transpose())
                .collect()
        })
    }

    /// The active incidents that list `contract` as affected, oldest first.
    pub fn incidents_watching(&self, contract: &str) -> Result<Vec<i64>, StorageError> {
        self.with(|conn| {
            conn.query_map(
                "SELECT i.id FROM incidents i JOIN incident_contracts c ON c.incident_id = i.id
                 WHERE c.contract = ?1 AND i.status IN ('open', 'mitigated') ORDER BY i.id",
                params![contract],
                |r| r.get(0),
            )
        })
    }

    /// The incident an alert belongs to, if any.
    pub fn incident_of_alert(&self, alert_id: i64) -> Result<Option<i64>, StorageError> {
        self.with(|conn| {
            conn.query_row(
                "SELECT incident_id FROM incident_alerts WHERE alert_id = ?1 ORDER BY incident_id LIMIT 1",
                params![alert_id],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// The timeline of incident `id`, oldest first, and whether it is intact.
    pub fn timeline(&self, id: i64) -> Result<(Vec<Entry>, Integrity), StorageError> {
        self.with(|conn| read_timeline(conn, id))
    }
}

/// The changes of [`Store::record`] (and its entry of `kind`), in the caller's transaction.
fn write_changes(
    tx: &Conn<'_>,
    id: i64,
    at: i64,
    actor: &str,
    kind: Option<&(&str, serde_json::Value)>,
    changes: &[Change],
) -> SqlResult<()> {
    if actor != crate::incident::playbook::GUARDIAN {
        first_person_commands(tx, id, at, actor)?;
    }
    if let Some((kind, details)) = kind {
        entry(tx, id, at, actor, kind, details)?;
    }
    for c in changes {
        apply(tx, id, at, actor, c)?;
    }
    tx.execute(
        "UPDATE incidents SET updated_at = ?2 WHERE id = ?1",
        params![id, at],
    )?;
    Ok(())
}

fn read_timeline(conn: &Conn<'_>, id: i64) -> SqlResult<(Vec<Entry>, Integrity)> {
    let raw = timeline::entries_raw(conn, id)?;
    let head: Option<String> = conn
        .query_row(
            "SELECT head_hash FROM incidents WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let integrity = timeline::verify(&raw, head.as_deref());
    Ok((raw.into_iter().map(|(e, _)| e).collect(), integrity))
}

/// Appends an entry and remembers it as the incident's head.
pub(super) fn entry(
    conn: &Conn<'_>,
    id: i64,
    at: i64,
    actor: &str,
    kind: &str,
    details: &serde_json::Value,
) -> SqlResult<()> {
    timeline::append(conn, id, at, actor, kind, details)?;
    let head: String = conn.query_row(
        "SELECT hash FROM timeline WHERE incident_id = ?1 ORDER BY id DESC LIMIT 1",
        params![id],
        |r| r.get(0),
    )?;
    conn.execute(
        "UPDATE incidents SET head_hash = ?2 WHERE id = ?1",
        params![id, head],
    )?;
    Ok(())
}

fn read_incident(conn: &Conn<'_>, id: i64) -> SqlResult<Option<Incident>> {
    let Some(mut incident) = conn
        .query_row(
            "SELECT id, level, title, status, commander, opened_by, opened_at, updated_at
             FROM incidents WHERE id = ?1",
            params![id],
            |r| {
                Ok(Incident {
                    id: r.get(0)?,
                    level: r.get(1)?,
                    title: r.get(2)?,
                    status: IncidentStatus::parse(&r.get::<String>(3)?)
                        .unwrap_or(IncidentStatus::Open),
                    commander: r.get(4)?,
                    opened_by: r.get(5)?,
                    opened_at: r.get(6)?,
                    updated_at: r.get(7)?,
                    contracts: Vec::new(),
                    alerts: Vec::new(),
                    actions: Vec::new(),
                    tasks: Vec::new(),
                    checklist: Vec::new(),
                })
            },
        )
        .optional()?
    else {
        return Ok(None);
    };
    incident.contracts = conn.query_map(
        "SELECT contract FROM incident_contracts WHERE incident_id = ?1 ORDER BY contract",
        params![id],
        |r| r.get(0),
    )?;
    incident.alerts = conn.query_map(
        "SELECT alert_id FROM incident_alerts WHERE incident_id = ?1 ORDER BY alert_id",
        params![id],
        |r| r.get(0),
    )?;
    incident.actions = conn.query_map(
        "SELECT action_id FROM incident_actions WHERE incident_id = ?1 ORDER BY action_id",
        params![id],
        |r| r.get(0),
    )?;
    incident.tasks = conn.query_map(
        "SELECT task, title, done_by, done_at, owner FROM incident_tasks WHERE incident_id = ?1 ORDER BY seq",
        params![id],
        |r| {
            Ok(Task {
                id: r.get(0)?,
                title: r.get(1)?,
                owner: r.get(4)?,
                done_by: r.get(2)?,
                done_at: r.get(3)?,
            })
        },
    )?;
    let mut ticks = conn
        .query_map(
            "SELECT item, ticked_by, evidence, ticked_at FROM incident_checklist WHERE incident_id = ?1",
            params![id],
            |r| {
                Ok((
                    r.get::<String>(0)?,
                    (r.get::<String>(1)?, r.get::<String>(2)?, r.get::<i64>(3)?),
                ))
            },
        )?
        .into_iter()
        .collect::<std::collections::BTreeMap<_, _>>();
    incident.checklist = CHECKLIST
        .iter()
        .map(|(item, title)| {
            let tick = ticks.remove(*item);
            CheckItem {
                id: item.to_string(),
                title: title.to_string(),
                ticked_by: tick.as_ref().map(|t| t.0.clone()),
                evidence: tick.as_ref().map(|t| t.1.clone()),
                ticked_at: tick.map(|t| t.2),
            }
        })
        .collect();
    Ok(Some(incident))
}

/// An incident guardian opened has no commander: the first person to act on it becomes it, and
/// the timeline says so.
fn first_person_commands(tx: &Conn<'_>, id: i64, at: i64, actor: &str) -> SqlResult<()> {
    let commander: Option<Option<String>> = tx
        .query_row(
            "SELECT commander FROM incidents WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(None) = commander {
        tx.execute(
            "UPDATE incidents SET commander = ?2 WHERE id = ?1",
            params![id, actor],
        )?;
        entry(
            tx,
            id,
            at,
            actor,
            "commander",
            &json!({"commander": actor, "why": "the first person to act on an incident guardian opened"}),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::tasks_for;

    fn open(store: &Store) -> i64 {
        store
            .open_incident(
                &NewIncident {
                    level: 2,
                    title: "escrow drain".into(),
                    commander: Some("alice".into()),
                    contracts: vec!["escrow".into()],
                    from_alert: None,
                    evidence: None,
                },
                &tasks_for(2),
                "alice",
            )
            .expect("open")
    }

    #[test]
    fn changes_are_recorded_with_their_entries_and_the_chain_holds() {
        for store in Store::each_backend() {
            let id = open(&store);
            store
                .record(
                    id,
                    "bob",
                    Some(("note", json!({"text": "looking at release()"}))),
                    &[
                        Change::TaskDone("investigate-root-cause".into()),
                        Change::TaskDone("investigate-root-cause".into()),
                        Change::Level(3),
                    ],
                )
                .expect("record");
            let inc = store.incident(id).expect("read").expect("there");
            assert_eq!(inc.level, 3);
            assert_eq!(inc.contracts, ["escrow"]);
            let done = inc.tasks.iter().find(|t| t.id == "investigate-root-cause");
            assert_eq!(done.and_then(|t| t.done_by.as_deref()), Some("bob"));
            let (entries, integrity) = store.timeline(id).expect("timeline");
            let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
            // The task done twice is one entry; every change names who made it.
            assert_eq!(
                kinds,
                ["opened", "contracts", "tasks", "note", "task", "level"]
            );
            assert_eq!(entries[4].actor, "bob");
            assert_eq!(integrity, Integrity::Intact { entries: 6 });
        }
    }

    /// Dropping a trigger, in each dialect (PostgreSQL names its table).
    fn drop_trigger(store: &Store, name: &str) -> String {
        match store.backend() {
            crate::storage::sql::Backend::Sqlite => format!("DROP TRIGGER {name}"),
            crate::storage::sql::Backend::Postgres => format!("DROP TRIGGER {name} ON timeline"),
        }
    }

    #[test]
    fn the_timeline_refuses_updates_and_deletes_and_finds_an_edit() {
        for store in Store::each_backend() {
            let id = open(&store);
            let err = store
                .with(|c| c.execute("UPDATE timeline SET actor = 'mallory'", params![]))
                .expect_err("update refused");
            assert!(err.to_string().contains("append-only"), "{err}");
            store
                .with(|c| c.execute("DELETE FROM timeline", params![]))
                .expect_err("delete refused");

            // Someone with the file drops the guard and edits an entry: the chain shows where.
            store
                .with(|c| {
                    c.execute_batch(&format!(
                        "{};
                     UPDATE timeline SET details = '{{\"level\":1}}' WHERE kind = 'opened';",
                        drop_trigger(&store, "timeline_no_update")
                    ))
                })
                .expect("tamper");
            let (entries, integrity) = store.timeline(id).expect("timeline");
            assert_eq!(
                integrity,
                Integrity::Altered {
                    entry: entries[0].id,
                    problem: "its content no longer matches its hash (it was edited)".into()
                }
            );
        }
    }

    #[test]
    fn a_removed_last_entry_is_found() {
        for store in Store::each_backend() {
            let id = open(&store);
            store
                .with(|c| {
                    c.execute_batch(&format!(
                        "{};
                     DELETE FROM timeline WHERE id = (SELECT MAX(id) FROM timeline);",
                        drop_trigger(&store, "timeline_no_delete")
                    ))
                })
                .expect("tamper");
            let (_, integrity) = store.timeline(id).expect("timeline");
            assert!(
                matches!(integrity, Integrity::Altered { .. }),
                "{integrity:?}"
            );
        }
    }
}
