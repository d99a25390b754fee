//! The bounty desk's records: reports (the proof of concept only as age ciphertext, the
//! follow-up token only as its SHA-256) and their events (status transitions with operator and
//! time, and the thread of messages between the researcher and the team).

use rusqlite::{OptionalExtension as _, params};
use serde::Serialize;

use super::{NewReport, STATUS_REPORTED, crypto};
use crate::storage::{StorageError, Store};

/// Who wrote an event the researcher sent.
pub const RESEARCHER: &str = "researcher";

/// A report as stored, with what the team needs (the proof of concept still encrypted).
#[derive(Debug, Clone)]
pub struct StoredReport {
    /// The report's id.
    pub id: i64,
    /// The researcher's fields.
    pub view: ReportView,
    /// The proof of concept, age-encrypted to the team key.
    pub poc_age: Option<Vec<u8>>,
}

/// What the researcher sees of their report (never the proof of concept).
#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    /// The report's id.
    pub id: i64,
    /// Where it stands (`reported` at first).
    pub status: String,
    /// The title.
    pub title: String,
    /// The claimed severity.
    pub severity: String,
    /// The claimed impact id.
    pub impact: String,
    /// The affected contracts.
    pub contracts: Vec<String>,
    /// The description.
    pub description: String,
    /// The contact.
    pub contact: String,
    /// The payout address, if given.
    pub payout_address: Option<String>,
    /// When it was submitted (Unix milliseconds).
    pub submitted_at: i64,
    /// The name the researcher agreed to be credited by, if any.
    pub credit_as: Option<String>,
    /// What the triage decided so far.
    #[serde(flatten)]
    pub triage: Triage,
    /// The public thread, oldest first.
    pub thread: Vec<ThreadEntry>,
}

/// What the team's triage recorded on a report (each empty until its step happens).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Triage {
    /// The severity the team confirmed.
    pub confirmed_severity: Option<String>,
    /// The impact the team confirmed.
    pub confirmed_impact: Option<String>,
    /// The earlier report this one duplicates.
    pub duplicate_of: Option<i64>,
    /// Why it was closed.
    pub close_reason: Option<String>,
    /// What shows the close reason.
    pub close_evidence: Option<String>,
    /// The reward paid, in US dollars.
    pub reward_usd: Option<i64>,
    /// The payment's transaction.
    pub paid_tx: Option<String>,
    /// When the team first answered (Unix milliseconds).
    pub acknowledged_at: Option<i64>,
    /// When it was confirmed.
    pub confirmed_at: Option<i64>,
    /// When it was marked fixed.
    pub fixed_at: Option<i64>,
    /// When it was paid.
    pub paid_at: Option<i64>,
    /// The incident its confirmation opened or joined (the team's, not shown to the researcher).
    #[serde(skip)]
    pub incident_id: Option<i64>,
}

/// One public event of a report's thread.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadEntry {
    /// `status` (a transition) or `message`.
    pub kind: String,
    /// `researcher` or the team member.
    pub author: String,
    /// The new status, for a transition.
    pub status: Option<String>,
    /// The text, for a message.
    pub message: Option<String>,
    /// When (Unix milliseconds).
    pub at: i64,
}

impl Store {
    /// Stores a new report and its first event in one transaction; returns its id.
    pub fn insert_bounty_report(
        &self,
        report: &NewReport,
        poc_age: Option<&[u8]>,
        token_sha256: &str,
        now: i64,
    ) -> Result<i64, StorageError> {
        self.insert_bounty_report_telling(report, poc_age, token_sha256, now, None)
    }

    /// [`Store::insert_bounty_report`], with the team's notice of it queued for `contacts` in
    /// the same transaction (see [`super::notice`]).
    pub fn insert_bounty_report_telling(
        &self,
        report: &NewReport,
        poc_age: Option<&[u8]>,
        token_sha256: &str,
        now: i64,
        tell: Option<(&crate::notify::Contacts, &crate::config::BountySettings)>,
    ) -> Result<i64, StorageError> {
        let contracts = serde_json::to_string(&report.contracts).unwrap_or_else(|_| "[]".into());
        self.write(|tx| {
            tx.execute(
                "INSERT INTO bounty_reports (title, severity, impact, contracts, description, poc_age,
                     contact, payout_address, token_sha256, status, submitted_at, updated_at, credit_as)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12)",
                params![
                    report.title,
                    report.severity.as_str(),
                    report.impact,
                    contracts,
                    report.description,
                    poc_age,
                    report.contact,
                    report.payout_address.map(|a| a.to_checksum(None)),
                    token_sha256,
                    STATUS_REPORTED,
                    now,
                    report.credit_as,
                ],
            )?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO bounty_events (report_id, kind, from_status, to_status, author, public, at)
                 VALUES (?1, 'status', NULL, ?2, ?3, 1, ?4)",
                params![id, STATUS_REPORTED, RESEARCHER, now],
            )?;
            if let Some((contacts, settings)) = tell {
                super::notice::enqueue_new_report(tx, contacts, id, report, settings, now)?;
            }
            Ok(id)
        })
    }

    /// The report `id` if `token` is its follow-up token; `None` for an unknown id and for a
    /// wrong token alike.
    pub fn bounty_report_for_token(
        &self,
        id: i64,
        token: &str,
    ) -> Result<Option<StoredReport>, StorageError> {
        let Some(report) = self.bounty_report(id)? else {
            return Ok(None);
        };
        let stored: String = self.with(|c| {
            c.query_row(
                "SELECT token_sha256 FROM bounty_reports WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
        })?;
        Ok(crypto::same_hash(&stored, &crypto::token_hash(token)).then_some(report))
    }

    /// The report `id`, with its public thread.
    pub fn bounty_report(&self, id: i64) -> Result<Option<StoredReport>, StorageError> {
        self.with(|c| {
            let Some((view, poc_age)) = c
                .query_row(
                    "SELECT id, status, title, severity, impact, contracts, description, contact,
                            payout_address, submitted_at, poc_age, credit_as,
                            confirmed_severity, confirmed_impact, duplicate_of, close_reason,
                            close_evidence, reward_usd, paid_tx, acknowledged_at, confirmed_at,
                            fixed_at, paid_at, incident_id
                     FROM bounty_reports WHERE id = ?1",
                    params![id],
                    |r| {
                        let contracts: String = r.get(5)?;
                        Ok((
                            ReportView {
                                id: r.get(0)?,
                                status: r.get(1)?,
                                title: r.get(2)?,
                                severity: r.get(3)?,
                                impact: r.get(4)?,
                                contracts: serde_json::from_str(&contracts).unwrap_or_default(),
                                description: r.get(6)?,
                                contact: r.get(7)?,
                                payout_address: r.get(8)?,
                                submitted_at: r.get(9)?,
                                credit_as: r.get(11)?,
                                triage: Triage {
                                    confirmed_severity: r.get(12)?,
                                    confirmed_impact: r.get(13)?,
                                    duplicate_of: r.get(14)?,
                                    close_reason: r.get(15)?,
                                    close_evidence: r.get(16)?,
                                    reward_usd: r.get(17)?,
                                    paid_tx: r.get(18)?,
                                    acknowledged_at: r.get(19)?,
                                    confirmed_at: r.get(20)?,
                                    fixed_at: r.get(21)?,
                                    paid_at: r.get(22)?,
                                    incident_id: r.get(23)?,
                                },
                                thread: Vec::new(),
                            },
                            r.get::<_, Option<Vec<u8>>>(10)?,
                        ))
                    },
                )
                .optional()?
            else {
                return Ok(None);
            };
            let mut stmt = c.prepare(
                "SELECT kind, author, to_status, message, at FROM bounty_events
                 WHERE report_id = ?1 AND public = 1 ORDER BY id",
            )?;
            let thread = stmt
                .query_map(params![id], |r| {
                    Ok(ThreadEntry {
                        kind: r.get(0)?,
                        author: r.get(1)?,
                        status: r.get(2)?,
                        message: r.get(3)?,
                        at: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some(StoredReport {
                id,
                view: ReportView { thread, ..view },
                poc_age,
            }))
        })
    }

    /// Adds a public message to report `id`'s thread.
    pub fn add_bounty_message(
        &self,
        id: i64,
        author: &str,
        message: &str,
        now: i64,
    ) -> Result<(), StorageError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO bounty_events (report_id, kind, author, message, public, at)
                 VALUES (?1, 'message', ?2, ?3, 1, ?4)",
                params![id, author, message, now],
            )?;
            tx.execute(
                "UPDATE bounty_reports SET updated_at = ?2 WHERE id = ?1",
                params![id, now],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounty::Severity;

    #[test]
    fn a_report_is_found_only_with_its_token() {
        let store = Store::in_memory().expect("store");
        let report = NewReport {
            title: "t".into(),
            severity: Severity::Low,
            impact: "fails-to-deliver-promised-returns",
            contracts: vec!["escrow".into()],
            description: "d".into(),
            proof_of_concept: None,
            contact: "c".into(),
            payout_address: None,
            credit_as: None,
        };
        let token = crypto::new_token().expect("token");
        let id = store
            .insert_bounty_report(&report, None, &crypto::token_hash(&token), 1)
            .expect("insert");
        let found = store
            .bounty_report_for_token(id, &token)
            .expect("query")
            .expect("found");
        assert_eq!(found.view.status, "reported");
        assert_eq!(found.view.thread.len(), 1);
        assert!(
            store
                .bounty_report_for_token(id, "wrong")
                .expect("q")
                .is_none()
        );
        assert!(
            store
                .bounty_report_for_token(id + 1, &token)
                .expect("q")
                .is_none()
        );
        store
            .add_bounty_message(id, RESEARCHER, "hello", 2)
            .expect("reply");
        let found = store.bounty_report(id).expect("q").expect("found");
        assert_eq!(found.view.thread[1].message.as_deref(), Some("hello"));
    }
}
