//! The levels' playbooks: what opening (or escalating) an incident does at once. Level 1 records,
//! watches and tells the team; level 2 pauses the affected contracts; level 3 pauses every
//! contract on every chain and activates every contact of the team and the partners. Every
//! action goes through the same paths an operator's command does, and lands in the timeline.

use std::time::Instant;

use serde::Serialize;
use serde_json::json;

use super::{
    Change, Incident, IncidentError, IncidentStatus, NewIncident, funds, level_name, tasks_for,
};
use crate::{
    deployment::Deployment,
    incident::{IncidentNotice, enqueue_incident},
    notify::Contacts,
    response::pause::{self, Outcome, PauseReport, PauseRequest, Selection},
    storage::{StorageError, Store},
};

/// The actor of what the tool does on its own.
pub const GUARDIAN: &str = "guardian";

/// Who acts, and with what.
pub struct Responder<'a> {
    /// The deployment (chains, signers, records).
    pub deployment: &'a Deployment,
    /// The contacts messages go to.
    pub contacts: &'a Contacts,
    /// The operator (`--as`, `GUARDIAN_OPERATOR`, the OS user), or `guardian` for the monitor.
    pub actor: String,
    /// Sign pauses with this signer only (default: whichever configured signer holds the role).
    pub signer: Option<String>,
    /// A pre-emptive response: the pending transaction its pause must be mined ahead of.
    pub outbid: Option<crate::chain::Outbid>,
}

/// What a playbook did.
#[derive(Debug, Serialize)]
pub struct PlaybookRun {
    /// The incident.
    pub incident: i64,
    /// The level whose actions ran.
    pub level: u8,
    /// The pause it sent (level 2 and 3).
    pub pause: Option<PauseReport>,
    /// Why the pause could not be done at all, if so.
    pub pause_error: Option<String>,
    /// The contacts told.
    pub notified: Vec<String>,
    /// Whether every affected contract is paused now (the incident is `mitigated`).
    pub mitigated: bool,
    /// The rescue prepared for a Safe's owners (level 2 and 3, where a Safe holds
    /// `EMERGENCY_ROLE`), one proposal per chain and Safe.
    pub proposals: Vec<crate::response::safe::Proposed>,
}

impl Responder<'_> {
    pub(super) fn store(&self) -> &Store {
        &self.deployment.store
    }

    /// Checks an incident's contracts against the manifest, before anything is written.
    fn check_contracts(&self, names: &[String]) -> Result<(), IncidentError> {
        let manifest = &self.deployment.manifest;
        let unknown: Vec<&str> = names
            .iter()
            .filter(|n| !manifest.contracts.iter().any(|c| c.name() == n.as_str()))
            .map(String::as_str)
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(IncidentError::invalid(
                "contracts",
                format!(
                    "not in the manifest: {} (known: {})",
                    unknown.join(", "),
                    manifest
                        .contracts
                        .iter()
                        .map(|c| c.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ))
        }
    }

    /// Opens an incident and runs its level's playbook at once. `pause_key` makes its pause
    /// happen once (an automatic response per alert).
    pub async fn open(
        &self,
        new: NewIncident,
        pause_key: Option<&str>,
    ) -> Result<PlaybookRun, IncidentError> {
        if !(1..=3).contains(&new.level) {
            return Err(IncidentError::invalid(
                "level",
                format!(
                    "level {} does not exist: the levels are 1 (minor), 2 (moderate) and 3 (critical)",
                    new.level
                ),
            ));
        }
        if new.title.trim().is_empty() {
            return Err(IncidentError::invalid(
                "title",
                "an incident needs a --title".into(),
            ));
        }
        self.check_contracts(&new.contracts)?;
        if new.level == 2 && new.contracts.is_empty() {
            return Err(IncidentError::invalid("contracts", 
                "level 2 pauses the affected contracts: name them with --contracts A,B (or open at level 3 to pause everything)".into(),
            ));
        }
        if let Some(alert) = new.from_alert
            && self.store().alert(alert)?.is_none()
        {
            return Err(IncidentError::invalid(
                "alert",
                format!("no alert {alert} (guardian alerts lists them)"),
            ));
        }
        let id = self
            .store()
            .open_incident(&new, &tasks_for(new.level), &self.actor)?;
        self.perform(id, new.level, "opened", pause_key).await
    }

    /// Opens `new`, or joins incident `joined` (when given) or else the oldest active one
    /// watching any of `new.contracts`: the joined incident gets the contracts, `links` and
    /// `new.evidence`, is raised to `new.level` if lower (running that level's playbook), or
    /// else pauses again what its level pauses. Returns the incident, whether it was opened,
    /// and what its playbook did.
    pub async fn open_or_join(
        &self,
        new: NewIncident,
        joined: Option<i64>,
        links: Vec<Change>,
        pause_key: Option<&str>,
    ) -> Result<(i64, bool, PlaybookRun), IncidentError> {
        let mut joined = joined;
        if joined.is_none() {
            for c in &new.contracts {
                if let Some(id) = self.store().incidents_watching(c)?.first() {
                    joined = Some(*id);
                    break;
                }
            }
        }
        let Some(id) = joined else {
            return self
                .open(new, pause_key)
                .await
                .map(|run| (run.incident, true, run));
        };
        let mut changes = links;
        changes.push(Change::Contracts(new.contracts.clone()));
        self.store().record(
            id,
            &self.actor,
            new.evidence.as_ref().map(|(k, d)| (k.as_str(), d.clone())),
            &changes,
        )?;
        let current = self.get(id)?.level;
        let run = if new.level > current {
            self.escalate(id, new.level, pause_key).await
        } else {
            self.pause_again(id, pause_key).await
        };
        run.map(|run| (id, false, run))
    }

    /// Raises incident `id` to `level` and performs that level's actions.
    pub async fn escalate(
        &self,
        id: i64,
        level: u8,
        pause_key: Option<&str>,
    ) -> Result<PlaybookRun, IncidentError> {
        let incident = self.get(id)?;
        if incident.status == IncidentStatus::Closed {
            return Err(IncidentError::wrong_state(
                id,
                incident.status,
                format!("incident {id} is closed: open a new one"),
            ));
        }
        if level <= incident.level || level > 3 {
            return Err(IncidentError::invalid(
                "level",
                format!(
                    "incident {id} is at level {}: escalation goes up, to at most 3",
                    incident.level
                ),
            ));
        }
        if level == 2 && incident.contracts.is_empty() {
            return Err(IncidentError::step_missing(
                id,
                format!(
                    "level 2 pauses the affected contracts, and incident {id} names none: escalate to 3, or add them first (guardian incident note is not enough)"
                ),
            ));
        }
        let tasks = tasks_for(level)
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        self.store().record(
            id,
            &self.actor,
            None,
            &[Change::Level(level), Change::Tasks(tasks)],
        )?;
        // Back to open: the higher level's harm is not known to be stopped until it is paused.
        if incident.status != IncidentStatus::Open && level >= 2 {
            self.store()
                .record(id, GUARDIAN, None, &[Change::Status(IncidentStatus::Open)])?;
        }
        self.perform(id, level, "escalated", pause_key).await
    }

    /// The incident `id`.
    pub fn get(&self, id: i64) -> Result<Incident, IncidentError> {
        self.store()
            .incident(id)?
            .ok_or(IncidentError::NotFound(id))
    }

    /// Runs `level`'s actions on incident `id`.
    async fn perform(
        &self,
        id: i64,
        level: u8,
        event: &str,
        pause_key: Option<&str>,
    ) -> Result<PlaybookRun, IncidentError> {
        let incident = self.get(id)?;
        let mut run = PlaybookRun {
            incident: id,
            level,
            pause: None,
            pause_error: None,
            notified: Vec::new(),
            mitigated: false,
            proposals: Vec::new(),
        };
        // The heads at the opening are read alongside the pause, never ahead of it; the stakes
        // in those blocks once it is sent.
        let opening = event == "opened";
        let heads = async {
            match opening {
                true => funds::heads(self.deployment).await,
                false => Default::default(),
            }
        };
        let (heads, paused) = tokio::join!(
            heads,
            self.pause_step(&incident, level, pause_key, &mut run)
        );
        paused?;
        let before = match opening {
            true => {
                let paused_in = run.pause.as_ref().map(|p| p.blocks.clone());
                self.opening_snapshots(&incident, heads, &paused_in.unwrap_or_default())
                    .await
            }
            false => Vec::new(),
        };
        for snap in &before {
            self.record_snapshot(id, snap)?;
        }
        if run.pause.is_some() {
            let after = funds::snapshot(self.deployment, &incident, "paused").await;
            self.record_snapshot(id, &after)?;
        }
        let incident = self.get(id)?;
        let audiences: &[&str] = if level >= 3 {
            &["team", "partners"]
        } else {
            &["team"]
        };
        for audience in audiences {
            let notice = IncidentNotice {
                incident: &incident,
                event,
                audience,
                headline: headline(&incident, level, event),
                lines: lines(&incident, level, &run),
            };
            let told = enqueue_incident(self.store(), self.contacts, &notice)?;
            if !told.is_empty() {
                self.store().record(
                    id,
                    &self.actor,
                    Some((
                        "notification-queued",
                        json!({"audience": audience, "event": event, "contacts": told}),
                    )),
                    &[],
                )?;
            }
            run.notified.extend(told);
        }
        if let Some(pause) = &run.pause {
            run.proposals = self.prepare_rescue(&incident, level, pause).await?;
        }
        Ok(run)
    }

    /// The pause of `level` (level 2: the affected pausable contracts; level 3: everything),
    /// recorded in the timeline, then `mitigated` when everything it covers is paused.
    async fn pause_step(
        &self,
        incident: &Incident,
        level: u8,
        pause_key: Option<&str>,
        run: &mut PlaybookRun,
    ) -> Result<(), IncidentError> {
        if level < 2 {
            return Ok(());
        }
        let selection = if level >= 3 {
            Some(Selection::All)
        } else {
            let pausable = self.affected_pausable(incident);
            (!pausable.is_empty()).then_some(Selection::Named(pausable))
        };
        if let Some(selection) = selection {
            match self.pause(incident, level, selection, pause_key).await {
                Ok(report) => run.pause = Some(report),
                // Another process sent this keyed pause: not a failure of this one.
                Err(
                    e @ IncidentError::Response(crate::response::ResponseError::Storage(
                        StorageError::AlreadyDone(_),
                    )),
                ) => return Err(e),
                Err(e) => {
                    self.store().record(
                        incident.id,
                        GUARDIAN,
                        Some(("pause-failed", json!({"error": e.to_string()}))),
                        &[],
                    )?;
                    run.pause_error = Some(e.to_string());
                }
            }
        }
        run.mitigated = self.mark_mitigated_if_paused(incident, level, run.pause.as_ref())?;
        Ok(())
    }

    /// Runs the pause of incident `id`'s level again, without telling anyone again: a response
    /// joining an incident already at its level (a new contract affected, say).
    pub async fn pause_again(
        &self,
        id: i64,
        pause_key: Option<&str>,
    ) -> Result<PlaybookRun, IncidentError> {
        let incident = self.get(id)?;
        let mut run = PlaybookRun {
            incident: id,
            level: incident.level,
            pause: None,
            pause_error: None,
            notified: Vec::new(),
            mitigated: false,
            proposals: Vec::new(),
        };
        self.pause_step(&incident, incident.level, pause_key, &mut run)
            .await?;
        if let Some(pause) = &run.pause {
            run.proposals = self
                .prepare_rescue(&incident, incident.level, pause)
                .await?;
        }
        Ok(run)
    }

    /// Pauses, under incident `id`, its affected pausable contracts, or every contract on every
    /// chain with `everything`, because `reason` (a person's decision from the war room): the
    /// pause, its transactions and any Safe proposal join the timeline under this actor.
    pub async fn pause_now(
        &self,
        id: i64,
        everything: bool,
        reason: &str,
    ) -> Result<PauseReport, IncidentError> {
        let incident = self.active(id)?;
        let selection = if everything {
            Selection::All
        } else {
            let pausable = self.affected_pausable(&incident);
            if pausable.is_empty() {
                return Err(IncidentError::invalid(
                    "scope",
                    format!("incident {id} names no pausable contract: pause everything instead"),
                ));
            }
            Selection::Named(pausable)
        };
        self.store().record(
            id,
            &self.actor,
            Some((
                "pause-requested",
                json!({"everything": everything, "reason": reason}),
            )),
            &[],
        )?;
        let level = if everything { 3 } else { incident.level.max(2) };
        self.pause(&incident, level, selection, None).await
    }

    /// The manifest's pausable contracts `incident` names.
    fn affected_pausable(&self, incident: &Incident) -> Vec<String> {
        self.deployment
            .manifest
            .contracts
            .iter()
            .filter(|c| c.kind.is_pausable() && incident.contracts.iter().any(|n| n == c.name()))
            .map(|c| c.name().to_string())
            .collect()
    }

    async fn pause(
        &self,
        incident: &Incident,
        level: u8,
        selection: Selection,
        pause_key: Option<&str>,
    ) -> Result<PauseReport, IncidentError> {
        let request = PauseRequest {
            pause: true,
            selection,
            chain: None,
            signer: self.signer.clone(),
            dry_run: false,
            reason: Some(format!(
                "incident {} level {level} ({}): {}",
                incident.id,
                level_name(level),
                incident.title
            )),
            strict: false,
            allow_insolvent: false,
            outbid: self.outbid,
        };
        let started = Instant::now();
        let report = match pause_key {
            Some(key) => pause::run_keyed(self.deployment, &request, started, &|_| {}, key).await?,
            None => pause::run(self.deployment, &request, started, &|_| {}).await?,
        };
        record_action(self.store(), incident.id, &self.actor, report.action_id)?;
        super::recovery::record_proposals(
            self.store(),
            incident.id,
            &self.actor,
            &report.proposals,
        )?;
        Ok(report)
    }

    /// Sets `mitigated` when every affected pausable contract (every target, for a pause of
    /// everything) is paused now, as the pause re-read them.
    fn mark_mitigated_if_paused(
        &self,
        incident: &Incident,
        level: u8,
        pause: Option<&PauseReport>,
    ) -> Result<bool, StorageError> {
        let Some(report) = pause else {
            return Ok(false);
        };
        let relevant: Vec<_> = report
            .targets
            .iter()
            .filter(|t| level >= 3 || incident.contracts.contains(&t.name))
            .collect();
        let all =
            !relevant.is_empty() && relevant.iter().all(|t| t.paused == Some(true)) && report.ok();
        // Re-read: the status may have moved since `incident` was read.
        let open = self
            .get(incident.id)
            .map(|i| i.status == IncidentStatus::Open);
        if all && matches!(open, Ok(true)) {
            self.store().record(
                incident.id,
                GUARDIAN,
                None,
                &[Change::Status(IncidentStatus::Mitigated)],
            )?;
        }
        Ok(all)
    }
}

/// Writes a journal action done under incident `id` into its timeline: the action (its kind,
/// outcome and reason) and each of its transactions (hash, chain, block, result).
pub fn record_action(
    store: &Store,
    id: i64,
    actor: &str,
    action_id: i64,
) -> Result<(), StorageError> {
    let action = store.actions()?.into_iter().find(|a| a.id == action_id);
    let Some(action) = action else {
        return Ok(());
    };
    let txs = store.transactions(action_id)?;
    store.record(
        id,
        actor,
        Some((
            action.kind.as_str(),
            json!({
                "action_id": action_id,
                "status": action.status,
                "summary": action.summary,
                "reason": action.reason,
                "params": action.params,
                "transactions": txs.len(),
            }),
        )),
        &[Change::Action(action_id)],
    )?;
    for tx in txs {
        store.record(
            id,
            actor,
            Some((
                "transaction",
                json!({
                    "action_id": action_id,
                    "label": tx.label,
                    "chain_id": tx.chain_id,
                    "hash": tx.tx_hash,
                    "block": tx.block_number,
                    "result": tx.status,
                    "error": tx.error,
                }),
            )),
            &[],
        )?;
    }
    Ok(())
}

fn headline(incident: &Incident, level: u8, event: &str) -> String {
    let what = match (level, event) {
        (3, _) => "activate emergency response team",
        (_, "escalated") => "escalated",
        _ => "opened",
    };
    format!("{} ({what})", incident.title)
}

fn lines(incident: &Incident, level: u8, run: &PlaybookRun) -> Vec<String> {
    let mut out = vec![format!(
        "level {level} ({}), status {}; affected: {}",
        level_name(level),
        incident.status,
        if incident.contracts.is_empty() {
            "not named yet".to_string()
        } else {
            incident.contracts.join(", ")
        }
    )];
    if let Some(p) = &run.pause {
        let paused = p.targets.iter().filter(|t| t.paused == Some(true)).count();
        let failed: Vec<&str> = p
            .targets
            .iter()
            .filter(|t| t.outcome == Outcome::Failed)
            .map(|t| t.name.as_str())
            .collect();
        out.push(format!(
            "paused: {paused} of {} contract(s){}",
            p.targets.len(),
            if failed.is_empty() {
                String::new()
            } else {
                format!("; NOT paused: {}", failed.join(", "))
            }
        ));
    }
    if let Some(e) = &run.pause_error {
        out.push(format!("the pause could not be done: {e}"));
    }
    if let Some(c) = &incident.commander {
        out.push(format!("commander: {c}"));
    }
    out.push(format!("next: guardian incident show {}", incident.id));
    out
}
