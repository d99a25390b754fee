//! An incident's life after its playbook: notes, tasks, the checklist, and the status steps
//! (`mitigated` → `resolved` → `closed`), each refused with what to do when it does not hold.

use serde_json::json;

use super::{
    Change, Incident, IncidentError, IncidentStatus,
    checklist::{self, how_to, is_item},
    playbook::{GUARDIAN, Responder},
    report,
};

/// The checklist item the closing itself satisfies.
const PUBLISHED: &str = "post-mortem-published";

impl Responder<'_> {
    /// The incident, refusing a closed one (its record is final).
    pub(super) fn active(&self, id: i64) -> Result<Incident, IncidentError> {
        let incident = self.get(id)?;
        if incident.status == IncidentStatus::Closed {
            return Err(IncidentError::wrong_state(
                id,
                incident.status,
                format!("incident {id} is closed: its record is final (open a new incident)"),
            ));
        }
        Ok(incident)
    }

    /// Adds to the post-mortem's review (`section`, one of [`report::SECTIONS`]): a step of the
    /// "why" chain, what went well or wrong, where the team was lucky, or a follow-up action with
    /// its owner (default: the operator) and due date (`YYYY-MM-DD`).
    pub fn review(
        &self,
        id: i64,
        section: &str,
        text: &str,
        owner: Option<&str>,
        due: Option<&str>,
    ) -> Result<Incident, IncidentError> {
        self.active(id)?;
        if !report::SECTIONS.contains(&section) {
            return Err(IncidentError::invalid(
                "section",
                format!(
                    "{section} is not a review section: one of {}",
                    report::SECTIONS.join(", ")
                ),
            ));
        }
        if text.trim().is_empty() {
            return Err(IncidentError::invalid("note", "the text is empty".into()));
        }
        let action = section == "action";
        if !action && (owner.is_some() || due.is_some()) {
            return Err(IncidentError::invalid(
                "section",
                "an owner and a due date belong to an action: guardian incident review ID action TEXT --owner NAME --due YYYY-MM-DD".into(),
            ));
        }
        if let Some(d) = due
            && chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err()
        {
            return Err(IncidentError::invalid(
                "due",
                format!("{d} is not a date: give it as YYYY-MM-DD"),
            ));
        }
        let mut details = json!({"section": section, "text": text.trim()});
        if action {
            details["owner"] = json!(owner.unwrap_or(&self.actor));
            details["due"] = json!(due);
        }
        self.deployment
            .store
            .record(id, &self.actor, Some(("review", details)), &[])?;
        self.get(id)
    }

    /// Adds a note to the timeline.
    pub fn note(&self, id: i64, text: &str) -> Result<Incident, IncidentError> {
        self.active(id)?;
        if text.trim().is_empty() {
            return Err(IncidentError::invalid("note", "the note is empty".into()));
        }
        self.deployment.store.record(
            id,
            &self.actor,
            Some(("note", json!({"text": text}))),
            &[],
        )?;
        self.get(id)
    }

    /// Marks a task done.
    pub fn task_done(&self, id: i64, task: &str) -> Result<Incident, IncidentError> {
        self.open_task(id, task)?;
        self.deployment
            .store
            .record(id, &self.actor, None, &[Change::TaskDone(task.into())])?;
        self.get(id)
    }

    /// Gives an open task to `owner` (the operator when `None`).
    pub fn take_task(
        &self,
        id: i64,
        task: &str,
        owner: Option<&str>,
    ) -> Result<Incident, IncidentError> {
        self.open_task(id, task)?;
        let owner = owner.map_or_else(|| self.actor.clone(), |o| o.trim().to_string());
        if owner.is_empty() {
            return Err(IncidentError::invalid(
                "owner",
                "name who owns the task".into(),
            ));
        }
        self.deployment.store.record(
            id,
            &self.actor,
            None,
            &[Change::TaskOwner {
                task: task.into(),
                owner,
            }],
        )?;
        self.get(id)
    }

    /// Incident `id`, active, whose task `task` is still open.
    fn open_task(&self, id: i64, task: &str) -> Result<Incident, IncidentError> {
        let incident = self.active(id)?;
        let Some(t) = incident.tasks.iter().find(|t| t.id == task) else {
            return Err(IncidentError::invalid(
                "task",
                format!(
                    "incident {id} has no task `{task}`; its tasks: {}",
                    incident
                        .tasks
                        .iter()
                        .map(|t| t.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        if t.done_at.is_some() {
            return Err(IncidentError::wrong_state(
                id,
                incident.status,
                format!(
                    "task `{task}` of incident {id} is already done (by {})",
                    t.done_by.as_deref().unwrap_or("?")
                ),
            ));
        }
        Ok(incident)
    }

    /// Ticks a checklist item a person attests, with the evidence (a text or a URL).
    pub fn check(&self, id: i64, item: &str, evidence: &str) -> Result<Incident, IncidentError> {
        self.active(id)?;
        if !is_item(item) {
            return Err(IncidentError::invalid(
                "item",
                format!(
                    "`{item}` is not a checklist item; the items: {}",
                    super::CHECKLIST
                        .iter()
                        .map(|(i, _)| *i)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if evidence.trim().is_empty() {
            return Err(IncidentError::invalid(
                "evidence",
                "a checklist item needs --evidence (a text or a URL)".into(),
            ));
        }
        self.deployment.store.record(
            id,
            &self.actor,
            None,
            &[Change::Tick {
                item: item.into(),
                evidence: evidence.into(),
            }],
        )?;
        self.get(id)
    }

    /// Records that the fix was verified (a checklist proof together with the upgrade).
    pub fn verify_fix(&self, id: i64, note: &str) -> Result<Incident, IncidentError> {
        self.active(id)?;
        if note.trim().is_empty() {
            return Err(IncidentError::invalid(
                "note",
                "say how the fix was verified: --note TEXT".into(),
            ));
        }
        self.deployment.store.record(
            id,
            &self.actor,
            Some(("fix-verified", json!({"note": note}))),
            &[],
        )?;
        self.get(id)
    }

    /// Marks the incident mitigated (the harm has stopped), as a person says.
    pub fn mitigate(&self, id: i64) -> Result<Incident, IncidentError> {
        let incident = self.active(id)?;
        if incident.status != IncidentStatus::Open {
            return Err(IncidentError::wrong_state(
                id,
                incident.status,
                format!("incident {id} is {}, not open", incident.status),
            ));
        }
        self.deployment.store.record(
            id,
            &self.actor,
            None,
            &[Change::Status(IncidentStatus::Mitigated)],
        )?;
        self.get(id)
    }

    /// Marks the incident resolved: fixed and resumed. A level 2 or 3 incident must be
    /// mitigated first.
    pub fn resolve(&self, id: i64) -> Result<Incident, IncidentError> {
        let incident = self.active(id)?;
        match incident.status {
            IncidentStatus::Resolved => {
                return Err(IncidentError::wrong_state(
                    id,
                    incident.status,
                    format!(
                        "incident {id} is already resolved; close it with guardian incident close {id}"
                    ),
                ));
            }
            IncidentStatus::Open if incident.level >= 2 => {
                return Err(IncidentError::step_missing(
                    id,
                    format!(
                        "incident {id} (level {}) is still open: nothing records that the harm stopped. Pause what is affected (guardian incident escalate, guardian pause ... ) or say so with guardian incident mitigate {id}",
                        incident.level
                    ),
                ));
            }
            _ => {}
        }
        self.deployment.store.record(
            id,
            &self.actor,
            None,
            &[Change::Status(IncidentStatus::Resolved)],
        )?;
        self.get(id)
    }

    /// Closes the incident and publishes its final report. Level 2 and 3 need the whole checklist
    /// but the post-mortem: what the records prove is ticked now (by `guardian`), and the rest is
    /// refused with how to satisfy each item. The report is rendered from the closed incident and
    /// recorded (Markdown and HTML, in a `report` entry) in the closing's own transaction, with
    /// "post-mortem published" ticked: [`report::published`] reads it back.
    pub async fn close(&self, id: i64) -> Result<Incident, IncidentError> {
        let incident = self.active(id)?;
        if incident.level >= 2 {
            if incident.status != IncidentStatus::Resolved {
                return Err(IncidentError::wrong_state(
                    id,
                    incident.status,
                    format!(
                        "incident {id} is {}: resolve it first (guardian incident resolve {id}) once it is fixed and resumed",
                        incident.status
                    ),
                ));
            }
            self.tick_proven(&incident).await?;
            let incident = self.get(id)?;
            // The post-mortem is published by the closing itself.
            let missing: Vec<String> = incident
                .checklist
                .iter()
                .filter(|c| c.ticked_at.is_none() && c.id != PUBLISHED)
                .map(|c| format!("  - {} ({}): {}", c.id, c.title, how_to(&c.id, id)))
                .collect();
            if !missing.is_empty() {
                return Err(IncidentError::step_missing(
                    id,
                    format!(
                        "incident {id} (level {}) cannot be closed: the post-incident checklist is not complete:\n{}",
                        incident.level,
                        missing.join("\n")
                    ),
                ));
            }
        }
        // Where the funds went, read now if not yet recorded (evidence: a chain that does not
        // answer leaves the report saying so, never the closing undone).
        let incident = self.get(id)?;
        let (timeline, _) = self.deployment.store.timeline(id)?;
        if super::movements::recorded(&timeline).is_none()
            && let Ok(moves) = super::movements::read(self.deployment, &incident).await
        {
            let details = serde_json::to_value(&moves).unwrap_or_default();
            self.deployment.store.record(
                id,
                GUARDIAN,
                Some((super::movements::KIND, details)),
                &[],
            )?;
        }
        // The final report, rendered from the closed incident and written with its closing in
        // one transaction: what is published is what the records say once it is closed.
        let gathered = report::Gathered::read(self.deployment, &incident).await?;
        let mut changes = Vec::new();
        if !incident.ticked(PUBLISHED) {
            changes.push(Change::Tick {
                item: PUBLISHED.into(),
                evidence: "published with the closing: the timeline's report entry holds it".into(),
            });
        }
        changes.push(Change::Status(IncidentStatus::Closed));
        self.deployment.store.record_then(
            id,
            &self.actor,
            &changes,
            |closed, timeline, integrity| {
                report::publication(&gathered.report(closed, timeline, integrity))
            },
        )?;
        self.get(id)
    }

    /// Ticks, as `guardian`, every checklist item the records prove and nobody ticked yet.
    pub async fn tick_proven(&self, incident: &Incident) -> Result<(), IncidentError> {
        let (timeline, _) = self.deployment.store.timeline(incident.id)?;
        let changes: Vec<Change> = checklist::proven(self.deployment, incident, &timeline)
            .await
            .into_iter()
            .filter(|(item, _)| !incident.ticked(item))
            .map(|(item, evidence)| Change::Tick {
                item: item.into(),
                evidence,
            })
            .collect();
        if !changes.is_empty() {
            self.deployment
                .store
                .record(incident.id, GUARDIAN, None, &changes)?;
        }
        Ok(())
    }
}
