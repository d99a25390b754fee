//! The bounty desk's records: reports (the proof of concept only as age ciphertext, the
//! follow-up token only as its SHA-256) and their events (status transitions with operator and
//! time, and the thread of messages between the researcher and the team).

use serde::Serialize;

use super::{BountyError, NewReport, STATUS_REPORTED, crypto};
use crate::storage::{
    StorageError, Store,
    sql::{OptionalExt as _, Row, SqlResult, params},
};

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
    /// The report's number: the team's id (the researcher never sees it: see
    /// [`ReportView::for_researcher`]).
    pub id: i64,
    /// The report's public id: the only id its researcher sees.
    pub public_id: String,
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

impl ReportView {
    /// The report as its researcher reads it (`GET /bounty/reports/{public_id}`): `id` is the
    /// public id, and no number of the team's (the report's own, or the earlier report it
    /// duplicates) is in it, so it does not tell how many reports exist.
    pub fn for_researcher(&self) -> serde_json::Value {
        let mut view = serde_json::to_value(self).unwrap_or_default();
        if let Some(fields) = view.as_object_mut() {
            fields.remove("public_id");
            fields.remove("duplicate_of");
            fields.insert("id".into(), self.public_id.clone().into());
        }
        view
    }
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

/// A report just stored: its number (the team's id) and its public id (the researcher's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inserted {
    /// The row's number: the team's id (`guardian bounty show ID`, the team API).
    pub id: i64,
    /// The random id the researcher is given (`/bounty/reports/{public_id}`).
    pub public_id: String,
}

/// The columns [`view_of`] reads, in its order (never the proof of concept).
pub(super) const REPORT_COLUMNS: &str = "id, public_id, status, title, severity, impact, contracts,
    description, contact, payout_address, submitted_at, credit_as, confirmed_severity,
    confirmed_impact, duplicate_of, close_reason, close_evidence, reward_usd, paid_tx,
    acknowledged_at, confirmed_at, fixed_at, paid_at, incident_id";

/// How many columns [`REPORT_COLUMNS`] names (the index of a column selected after them).
const REPORT_COLUMN_COUNT: usize = 24;

/// A report's row, selected as [`REPORT_COLUMNS`], without its thread.
pub(super) fn view_of(r: &Row) -> SqlResult<ReportView> {
    let contracts: String = r.get(6)?;
    Ok(ReportView {
        id: r.get(0)?,
        public_id: r.get(1)?,
        status: r.get(2)?,
        title: r.get(3)?,
        severity: r.get(4)?,
        impact: r.get(5)?,
        contracts: serde_json::from_str(&contracts).unwrap_or_default(),
        description: r.get(7)?,
        contact: r.get(8)?,
        payout_address: r.get(9)?,
        submitted_at: r.get(10)?,
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
    })
}

impl Store {
    /// Stores a new report and its first event in one transaction; returns its number (the
    /// team's id).
    pub fn insert_bounty_report(
        &self,
        report: &NewReport,
        poc_age: Option<&[u8]>,
        token_sha256: &str,
        now: i64,
    ) -> Result<i64, BountyError> {
        Ok(self
            .insert_bounty_report_telling(report, poc_age, token_sha256, now, None)?
            .id)
    }

    /// [`Store::insert_bounty_report`], with the team's notice of it queued for `contacts` in
    /// the same transaction (see [`super::notice`]); returns both its ids.
    pub fn insert_bounty_report_telling(
        &self,
        report: &NewReport,
        poc_age: Option<&[u8]>,
        token_sha256: &str,
        now: i64,
        tell: Option<(&crate::notify::Contacts, &crate::config::BountySettings)>,
    ) -> Result<Inserted, BountyError> {
        let contracts = serde_json::to_string(&report.contracts).unwrap_or_else(|_| "[]".into());
        let public_id = crypto::new_public_id()?;
        let id = self.write(|tx| {
            let id: i64 = tx.query_row(
                "INSERT INTO bounty_reports (title, severity, impact, contracts, description, poc_age,
                     contact, payout_address, token_sha256, status, submitted_at, updated_at, credit_as,
                     public_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?13)
                 RETURNING id",
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
                    public_id,
                ],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO bounty_events (report_id, kind, from_status, to_status, author, public, at)
                 VALUES (?1, 'status', NULL, ?2, ?3, 1, ?4)",
                params![id, STATUS_REPORTED, RESEARCHER, now],
            )?;
            super::similar::index_report(tx, id, &report.title, &report.description)?;
            if let Some((contacts, settings)) = tell {
                super::notice::enqueue_new_report(tx, contacts, id, report, settings, now)?;
            }
            Ok(id)
        })?;
        Ok(Inserted { id, public_id })
    }

    /// The report whose public id is `public_id`, if `token` is its follow-up token; `None` for
    /// an unknown id, a report number or anything else that is not a public id, and a wrong
    /// token alike.
    pub fn bounty_report_for_token(
        &self,
        public_id: &str,
        token: &str,
    ) -> Result<Option<StoredReport>, StorageError> {
        let offered = crypto::token_hash(token);
        let Some(id) = self.bounty_report_number(public_id)? else {
            return Ok(None);
        };
        let stored: String = self.with(|c| {
            c.query_row(
                "SELECT token_sha256 FROM bounty_reports WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
        })?;
        if !crypto::same_hash(&stored, &offered) {
            return Ok(None);
        }
        self.bounty_report(id)
    }

    /// The number (the team's id) of the report whose public id is `public_id`; `None` when no
    /// report has it, or it is not the shape of a public id.
    pub fn bounty_report_number(&self, public_id: &str) -> Result<Option<i64>, StorageError> {
        if !crypto::is_public_id(public_id) {
            return Ok(None);
        }
        self.with(|c| {
            c.query_row(
                "SELECT id FROM bounty_reports WHERE public_id = ?1",
                params![public_id],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// The report `id`, with its public thread.
    pub fn bounty_report(&self, id: i64) -> Result<Option<StoredReport>, StorageError> {
        self.with(|c| {
            let Some((view, poc_age)) = c
                .query_row(
                    &format!("SELECT {REPORT_COLUMNS}, poc_age FROM bounty_reports WHERE id = ?1"),
                    params![id],
                    |r| Ok((view_of(r)?, r.get::<Option<Vec<u8>>>(REPORT_COLUMN_COUNT)?)),
                )
                .optional()?
            else {
                return Ok(None);
            };
            let thread = c.query_map(
                "SELECT kind, author, to_status, message, at FROM bounty_events
                 WHERE report_id = ?1 AND public = 1 ORDER BY id",
                params![id],
                |r| {
                    Ok(ThreadEntry {
                        kind: r.get(0)?,
                        author: r.get(1)?,
                        status: r.get(2)?,
                        message: r.get(3)?,
                        at: r.get(4)?,
                    })
                },
            )?;
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
        for store in Store::each_backend() {
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
            let first = store
                .insert_bounty_report_telling(&report, None, &crypto::token_hash(&token), 1, None)
                .expect("insert");
            let other = store
                .insert_bounty_report_telling(&report, None, "other-hash", 1, None)
                .expect("insert");
            let (id, public) = (first.id, first.public_id.as_str());
            assert!(crypto::is_public_id(public), "{public}");
            assert_ne!(public, other.public_id);
            let found = store
                .bounty_report_for_token(public, &token)
                .expect("query")
                .expect("found");
            assert_eq!((found.id, found.view.public_id.as_str()), (id, public));
            assert_eq!(found.view.status, "reported");
            assert_eq!(found.view.thread.len(), 1);
            assert_eq!(store.bounty_report_number(public).expect("q"), Some(id));
            // A wrong token, another report's public id, the report's number, and an unknown id:
            // all alike.
            for (asked, with) in [
                (public, "wrong"),
                (other.public_id.as_str(), token.as_str()),
                (&id.to_string(), token.as_str()),
                (&"0".repeat(32), token.as_str()),
            ] {
                assert!(
                    store
                        .bounty_report_for_token(asked, with)
                        .expect("q")
                        .is_none(),
                    "{asked}"
                );
            }
            // The researcher's view carries the public id only: no number of the team's.
            let mine = found.view.for_researcher();
            assert_eq!(mine["id"], public);
            assert!(mine.get("public_id").is_none() && mine.get("duplicate_of").is_none());
            assert!(!mine.to_string().contains("\"id\":1"), "{mine}");
            store
                .add_bounty_message(id, RESEARCHER, "hello", 2)
                .expect("reply");
            let found = store.bounty_report(id).expect("q").expect("found");
            assert_eq!(found.view.thread[1].message.as_deref(), Some("hello"));
        }
    }
}
