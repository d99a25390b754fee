//! Incidents: the three levels of the user's protocol with their playbooks, the append-only
//! timeline, tasks and the post-incident checklist.
//!
//! Every change to an incident is written together with its timeline entry in one SQLite
//! transaction ([`Store::record`]), so the timeline is the full story of the incident.

pub mod affected;
pub mod automatic;
pub mod checklist;
mod communicate;
mod deliveries;
pub mod funds;
mod lifecycle;
pub mod movements;
mod notice;
pub mod party_status;
pub mod playbook;
mod records;
pub mod recovery;
pub mod report;
mod rescue;
pub mod seal911;
pub mod timeline;
pub mod warroom;

pub use communicate::AUDIENCES;
pub use notice::{IncidentNotice, enqueue_incident};
pub use records::{Change, HOLDS_ALERT, NewIncident};
pub use timeline::{Entry, Integrity};

use serde::{Deserialize, Serialize};

use crate::{alert::Severity, storage::StorageError};

/// Why an incident command could not be done.
#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    /// No incident has this id.
    #[error("no incident {0} (guardian incident list shows them)")]
    NotFound(i64),
    /// The records could not be read or written.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The incident's status (or its task's) does not allow the request.
    #[error("{message}")]
    WrongState {
        /// The incident.
        id: i64,
        /// Its status when the request was refused.
        status: IncidentStatus,
        /// What is wrong, and what to do.
        message: String,
    },
    /// A step of the protocol has to come first: the harm stopped, the fix verified, the
    /// checklist complete, the incident escalated, its contracts named.
    #[error("{message}")]
    StepMissing {
        /// The incident.
        id: i64,
        /// Which step, and how to take it.
        message: String,
    },
    /// An argument is missing or not allowed (an unknown contract, task or audience, an empty
    /// note, a level out of range); nothing depends on the incident's state.
    #[error("{message}")]
    Invalid {
        /// The argument (`title`, `level`, `contracts`, `alert`, `note`, `task`, `item`,
        /// `evidence`, `audience`).
        field: &'static str,
        /// What is wrong, and what to do.
        message: String,
    },
    /// No contact has the audience the message is for.
    #[error("{message}")]
    NoContact {
        /// The audience.
        audience: String,
        /// Which contact to add.
        message: String,
    },
    /// A pause, unpause or other action of the playbook failed.
    #[error(transparent)]
    Response(#[from] crate::response::ResponseError),
    /// A notification could not be queued.
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
    /// A chain did not answer a read.
    #[error(transparent)]
    Chain(#[from] crate::chain::ChainError),
    /// A chain the request must read is not connected (its endpoints did not answer).
    #[error("chain `{chain}` is unreachable: check its endpoints, then try again")]
    Unreachable {
        /// Chain name.
        chain: String,
    },
}

impl IncidentError {
    /// Whether the action this asked for was already taken under the same journal key (by
    /// another process answering the same alert, say).
    pub fn is_already_done(&self) -> bool {
        matches!(self, Self::Response(e) if e.is_already_done())
    }

    pub(crate) fn wrong_state(id: i64, status: IncidentStatus, message: String) -> Self {
        Self::WrongState {
            id,
            status,
            message,
        }
    }

    pub(crate) fn step_missing(id: i64, message: String) -> Self {
        Self::StepMissing { id, message }
    }

    pub(crate) fn invalid(field: &'static str, message: String) -> Self {
        Self::Invalid { field, message }
    }

    pub(crate) fn no_contact(audience: &str, message: String) -> Self {
        Self::NoContact {
            audience: audience.to_string(),
            message,
        }
    }
}

/// Where an incident is in its life.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    /// Opened; the harm may still be going on.
    Open,
    /// Every affected contract is paused or fixed: the harm has stopped.
    Mitigated,
    /// Fixed and resumed; the follow-up (checklist) may still be open.
    Resolved,
    /// Done.
    Closed,
}

impl IncidentStatus {
    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Mitigated => "mitigated",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Mitigated, Self::Resolved, Self::Closed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }

    /// Whether the incident is still being worked (open or mitigated).
    pub fn active(self) -> bool {
        matches!(self, Self::Open | Self::Mitigated)
    }
}

impl std::fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The incident level a severity suggests: info/warning → 1, high → 2, critical → 3.
pub fn level_of(severity: Severity) -> u8 {
    severity.level()
}

/// What a level is called.
pub fn level_name(level: u8) -> &'static str {
    match level {
        1 => "minor",
        2 => "moderate",
        _ => "critical",
    }
}

/// The tasks a level's playbook creates: (id, title).
pub fn level_tasks(level: u8) -> &'static [(&'static str, &'static str)] {
    match level {
        1 => &[("prepare-patch", "prepare patch if needed")],
        2 => &[
            ("investigate-root-cause", "investigate root cause"),
            ("develop-and-test-fix", "develop and test fix"),
            (
                "communicate-with-affected-users",
                "communicate with affected users",
            ),
            ("deploy-fix-and-unpause", "deploy fix and unpause"),
        ],
        _ => &[
            (
                "coordinate-with-security-partners",
                "coordinate with security partners",
            ),
            (
                "public-disclosure-after-mitigation",
                "public disclosure after mitigation",
            ),
            ("post-incident-review", "post-incident review"),
        ],
    }
}

/// The tasks an incident opened (or escalated) to `level` has: its own level's and, from level 2
/// up, the level-2 ones (a critical incident needs a fix and an unpause too). Level 1's "prepare
/// patch" is superseded by "develop and test fix" from level 2 up.
pub fn tasks_for(level: u8) -> Vec<(&'static str, &'static str)> {
    (1..=level.min(3))
        .filter(|l| level == 1 || *l >= 2)
        .flat_map(|l| level_tasks(l).iter().copied())
        .collect()
}

/// The post-incident checklist (required to close a level 2 or 3 incident): (id, title).
pub const CHECKLIST: &[(&str, &str)] = &[
    ("root-cause-documented", "root cause documented"),
    ("fix-deployed-and-verified", "fix deployed and verified"),
    (
        "affected-users-notified",
        "affected users identified and notified",
    ),
    (
        "funds-recovered",
        "funds recovered or compensation plan created",
    ),
    ("post-mortem-published", "post-mortem report published"),
    ("fix-audited", "security audit of fix completed"),
];

/// A task of an incident.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Task {
    /// Kebab-case id (`prepare-patch`).
    pub id: String,
    /// What to do.
    pub title: String,
    /// Who took it on.
    pub owner: Option<String>,
    /// Who marked it done.
    pub done_by: Option<String>,
    /// When, Unix milliseconds.
    pub done_at: Option<i64>,
}

/// An item of the post-incident checklist.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CheckItem {
    /// Kebab-case id (`root-cause-documented`).
    pub id: String,
    /// What it requires.
    pub title: String,
    /// Who ticked it (`guardian` when the tool's own records prove it).
    pub ticked_by: Option<String>,
    /// The evidence: a text, a URL, or what the records show.
    pub evidence: Option<String>,
    /// When, Unix milliseconds.
    pub ticked_at: Option<i64>,
}

/// An incident, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Incident {
    /// Its id.
    pub id: i64,
    /// Its level now (1–3).
    pub level: u8,
    /// One line.
    pub title: String,
    /// Where it is in its life.
    pub status: IncidentStatus,
    /// Who leads it.
    pub commander: Option<String>,
    /// Who opened it.
    pub opened_by: String,
    /// When, Unix milliseconds.
    pub opened_at: i64,
    /// The last change, Unix milliseconds.
    pub updated_at: i64,
    /// The affected contracts (manifest names).
    pub contracts: Vec<String>,
    /// The linked alerts.
    pub alerts: Vec<i64>,
    /// The journal actions done under it (pause, withdraw, upgrade, ...).
    pub actions: Vec<i64>,
    /// Its tasks.
    pub tasks: Vec<Task>,
    /// The post-incident checklist.
    pub checklist: Vec<CheckItem>,
}

impl Incident {
    /// The tasks not done yet.
    pub fn open_tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter().filter(|t| t.done_at.is_none())
    }

    /// Whether the checklist item `id` is ticked.
    pub fn ticked(&self, id: &str) -> bool {
        self.checklist
            .iter()
            .any(|c| c.id == id && c.ticked_at.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_has_the_seed_s_tasks() {
        let ids = |l| tasks_for(l).iter().map(|t| t.0).collect::<Vec<_>>();
        assert_eq!(ids(1), ["prepare-patch"]);
        assert_eq!(
            ids(2),
            [
                "investigate-root-cause",
                "develop-and-test-fix",
                "communicate-with-affected-users",
                "deploy-fix-and-unpause"
            ]
        );
        let three = ids(3);
        assert!(three.contains(&"coordinate-with-security-partners"));
        assert!(three.contains(&"deploy-fix-and-unpause"));
        assert!(!three.contains(&"prepare-patch"));
    }
}
