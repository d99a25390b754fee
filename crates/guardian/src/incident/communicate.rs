//! Communication under the seed's rules: `incident notify` sends a templated message (or the
//! operator's own text) to the contacts of one audience. Level 1 never communicates with users;
//! the public hears only once the incident is mitigated.

use serde_json::json;

use super::{IncidentError, IncidentStatus, level_name, playbook::Responder, warroom};
use super::{IncidentNotice, enqueue_incident};

/// The audiences incident messages go to.
pub const AUDIENCES: &[&str] = &["team", "partners", "users", "public"];

impl Responder<'_> {
    /// Queues the message for `audience` (the template, or `text` when given) and records it;
    /// returns the contacts told. Refused, with nothing queued, when the seed's rules forbid it
    /// or nobody has that audience.
    pub async fn notify(
        &self,
        id: i64,
        audience: &str,
        text: Option<&str>,
    ) -> Result<Vec<String>, IncidentError> {
        let incident = self.get(id)?;
        if !AUDIENCES.contains(&audience) {
            return Err(IncidentError::invalid(
                "audience",
                format!(
                    "unknown audience `{audience}`: one of {}",
                    AUDIENCES.join(", ")
                ),
            ));
        }
        if incident.status == IncidentStatus::Closed {
            return Err(IncidentError::wrong_state(
                id,
                incident.status,
                format!("incident {id} is closed: its record is final"),
            ));
        }
        if audience == "users" && incident.level == 1 {
            return Err(IncidentError::step_missing(
                id,
                format!(
                    "incident {id} is level 1 (minor): the protocol has no user communication at this level; escalate it first if users must be told"
                ),
            ));
        }
        if audience == "public" && incident.status == IncidentStatus::Open {
            return Err(IncidentError::step_missing(
                id,
                format!(
                    "incident {id} is not mitigated yet: public disclosure waits until the harm has stopped (every affected contract paused or fixed, or guardian incident mitigate {id})"
                ),
            ));
        }
        let settings = &self.deployment.manifest.incident;
        let states = warroom::states(self.deployment, &incident).await?;
        let scope = states
            .iter()
            .map(|c| format!("{} on {} ({}): {}", c.name, c.chain, c.address, c.state))
            .collect::<Vec<_>>();
        let reach = format!(
            "questions: {}; updates: {}; enterprise customers: {}",
            settings.security_email, settings.discord_channel, settings.hotline
        );
        let (headline, template): (String, Vec<String>) = match audience {
            "team" => (
                format!("{} — update", incident.title),
                vec![
                    format!(
                        "level {} ({}), status {}, commander {}",
                        incident.level,
                        level_name(incident.level),
                        incident.status,
                        incident.commander.as_deref().unwrap_or("not named")
                    ),
                    format!("contracts: {}", scope.join("; ")),
                    format!(
                        "open tasks: {}",
                        incident
                            .open_tasks()
                            .map(|t| t.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    format!("next: guardian incident show {id}"),
                ],
            ),
            "partners" => (
                format!("Integra security incident {id}: coordination requested"),
                vec![
                    format!(
                        "we are responding to a level {} ({}) incident: {}",
                        incident.level,
                        level_name(incident.level),
                        incident.title
                    ),
                    format!("contracts: {}", scope.join("; ")),
                    format!("reach the response team at {}", settings.security_email),
                ],
            ),
            "users" => (
                "Integra security notice: action on contracts you use".to_string(),
                vec![
                    format!("we identified an issue affecting: {}", scope.join("; ")),
                    "the affected contracts are paused to protect funds; do not send transactions to them until we say they are resumed".to_string(),
                    reach.clone(),
                ],
            ),
            _ => (
                format!("Integra security disclosure: {}", incident.title),
                vec![
                    format!(
                        "a level {} ({}) incident was mitigated; status {}",
                        incident.level,
                        level_name(incident.level),
                        incident.status
                    ),
                    format!("contracts: {}", scope.join("; ")),
                    "a post-mortem will follow".to_string(),
                    reach.clone(),
                    format!(
                        "found a vulnerability? report it through our bug bounty program ({})",
                        settings.security_email
                    ),
                ],
            ),
        };
        let lines = match text {
            Some(t) => t.lines().map(str::to_string).collect(),
            None => template,
        };
        let notice = IncidentNotice {
            incident: &incident,
            event: "communication",
            audience,
            headline,
            lines,
        };
        let told = enqueue_incident(&self.deployment.store, self.contacts, &notice)?;
        if told.is_empty() {
            return Err(IncidentError::no_contact(
                audience,
                format!(
                    "no contact has the audience `{audience}` (at level {}'s severity): add one to [[contacts]] with audiences = [\"{audience}\"]",
                    incident.level
                ),
            ));
        }
        self.deployment.store.record(
            id,
            &self.actor,
            Some((
                "notification-queued",
                json!({"audience": audience, "event": "communication", "contacts": told, "custom": text.is_some()}),
            )),
            &[],
        )?;
        Ok(told)
    }
}
