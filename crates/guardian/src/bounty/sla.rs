//! The acknowledgement clock of a bounty report (critical within `[bounty] ack_hours_critical`,
//! the rest within `ack_hours_other`, counted from submission), its one-line rendering for
//! `bounty list`, and the reports whose clock ran out without a `bounty-sla` alert yet.
//!
//! The clock is pure (the caller passes `now`), so tests set the time instead of waiting.

use serde::Serialize;

use super::{Severity, Status};
use crate::{
    alert::{Alert, AlertStatus, NewAlert},
    config::BountySettings,
    storage::{StorageError, Store, sql::params},
};

/// The alert rule (and kind) an overdue report raises.
pub const RULE: &str = crate::alert::BOUNTY_SLA_RULE;

/// The dedup-key prefix of every `bounty-sla` alert: `bounty-sla:report:<id>` (one per report).
pub const KEY_PREFIX: &str = crate::alert::OVERDUE_REPORT_KEY_PREFIX;

const HOUR_MS: i64 = 3_600_000;
const MINUTE_MS: i64 = 60_000;

/// Where a report's acknowledgement clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Clock {
    /// When the acknowledgement is due (Unix milliseconds).
    pub due_at: i64,
    /// When the team acknowledged it, if it did (Unix milliseconds).
    pub acknowledged_at: Option<i64>,
    /// Whether it still awaits acknowledgement past `due_at`.
    pub overdue: bool,
    /// Milliseconds from `now` to `due_at` (negative once past it).
    pub remaining_ms: i64,
}

/// The clock of a report of claimed `severity`, in `status`, submitted at `submitted_at`, at
/// `now` (all Unix milliseconds). The claimed severity sets the deadline; only a report still
/// awaiting acknowledgement (`reported`) can be overdue.
pub fn clock(
    severity: Severity,
    status: Status,
    submitted_at: i64,
    acknowledged_at: Option<i64>,
    settings: &BountySettings,
    now: i64,
) -> Clock {
    let hours = match severity {
        Severity::Critical => settings.ack_hours_critical,
        Severity::High | Severity::Medium | Severity::Low => settings.ack_hours_other,
    };
    let due_at = submitted_at.saturating_add(i64::from(hours).saturating_mul(HOUR_MS));
    Clock {
        due_at,
        acknowledged_at,
        overdue: status.awaits_acknowledgement() && now > due_at,
        remaining_ms: due_at.saturating_sub(now),
    }
}

impl Clock {
    /// One line for people: `due in 3h 12m`, `OVERDUE by 2h`, `acknowledged in 5h` (with
    /// `(2h late)` when it came after the deadline), or `clock stopped` for a report that left
    /// `reported` with no acknowledgement time recorded. `submitted_at` is the report's.
    pub fn human(&self, submitted_at: i64) -> String {
        match self.acknowledged_at {
            Some(at) => {
                let late = at.saturating_sub(self.due_at);
                let took = span(at.saturating_sub(submitted_at));
                if late > 0 {
                    format!("acknowledged in {took} ({} late)", span(late))
                } else {
                    format!("acknowledged in {took}")
                }
            }
            None if self.overdue => format!("OVERDUE by {}", span(-self.remaining_ms)),
            None if self.remaining_ms >= 0 => format!("due in {}", span(self.remaining_ms)),
            None => "clock stopped".to_string(),
        }
    }
}

/// `3h 12m`, `2h`, `45m`, `<1m`: hours and minutes, since the deadlines are in hours.
fn span(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < MINUTE_MS {
        return "<1m".to_string();
    }
    let (hours, minutes) = (ms / HOUR_MS, (ms % HOUR_MS) / MINUTE_MS);
    match (hours, minutes) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

/// A report whose clock ran out and that has raised no `bounty-sla` alert yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverdueReport {
    /// The report's id.
    pub id: i64,
    /// Its title (the researcher's text: escape it wherever markup is rendered).
    pub title: String,
    /// The claimed severity.
    pub severity: Severity,
    /// The affected contracts' manifest names.
    pub contracts: Vec<String>,
    /// When it was submitted (Unix milliseconds).
    pub submitted_at: i64,
    /// Its clock at the time of the query.
    pub clock: Clock,
}

impl Store {
    /// The reports still `reported` whose clock ran out at `now` and that have raised no
    /// `bounty-sla` alert yet (`sla_alerted_at` empty), oldest first.
    pub fn overdue_bounty_reports(
        &self,
        settings: &BountySettings,
        now: i64,
    ) -> Result<Vec<OverdueReport>, StorageError> {
        let rows: Vec<(i64, String, String, String, i64, Option<i64>)> = self.with(|c| {
            c.query_map(
                "SELECT id, title, severity, contracts, submitted_at, acknowledged_at
                 FROM bounty_reports
                 WHERE status = ?1 AND sla_alerted_at IS NULL ORDER BY id",
                params![Status::Reported.as_str()],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, title, severity, contracts, submitted_at, acked)| {
                // A severity this version does not know is given the longer clock.
                let severity = severity.parse().unwrap_or(Severity::Low);
                let clock = clock(
                    severity,
                    Status::Reported,
                    submitted_at,
                    acked,
                    settings,
                    now,
                );
                clock.overdue.then(|| OverdueReport {
                    id,
                    title,
                    severity,
                    contracts: serde_json::from_str(&contracts).unwrap_or_default(),
                    submitted_at,
                    clock,
                })
            })
            .collect())
    }

    /// Stores `alert` (a `bounty-sla` alert about report `report_id`) and marks the report
    /// alerted at `now`, in one transaction, so that a restart never raises it twice. `None`
    /// (and nothing written) when the report was already alerted or the alert's dedup key is
    /// taken.
    pub fn raise_bounty_sla(
        &self,
        report_id: i64,
        alert: &NewAlert,
        now: i64,
    ) -> Result<Option<Alert>, StorageError> {
        self.write(|tx| {
            let marked = tx.execute(
                "UPDATE bounty_reports SET sla_alerted_at = ?2
                 WHERE id = ?1 AND sla_alerted_at IS NULL",
                params![report_id, now],
            )?;
            if marked == 0 {
                return Ok(None);
            }
            let ids = crate::storage::insert_alerts(
                tx,
                std::slice::from_ref(alert),
                AlertStatus::Open,
                now,
            )?;
            if ids.is_empty() {
                // The alert exists already (raised by a file restored from before the mark):
                // the report stays marked, nothing is raised twice.
                return Ok(None);
            }
            Ok(crate::storage::select_alerts(tx, &ids)?.into_iter().next())
        })
    }
}

/// The clock of stored report `r` now (`None` for a report whose severity or status is not
/// one this version knows).
pub fn report_clock(r: &super::ReportView, settings: &BountySettings, now: i64) -> Option<Clock> {
    Some(clock(
        r.severity.parse::<Severity>().ok()?,
        Status::parse(&r.status)?,
        r.submitted_at,
        r.triage.acknowledged_at,
        settings,
        now,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn at(hours: i64, minutes: i64) -> i64 {
        T0 + hours * HOUR_MS + minutes * MINUTE_MS
    }

    fn defaults() -> BountySettings {
        BountySettings::default()
    }

    #[test]
    fn a_critical_report_is_due_in_48_hours() {
        let s = defaults();
        let before = clock(
            Severity::Critical,
            Status::Reported,
            T0,
            None,
            &s,
            at(47, 59),
        );
        assert!(!before.overdue);
        assert_eq!(before.due_at, at(48, 0));
        assert_eq!(before.remaining_ms, MINUTE_MS);
        assert_eq!(before.human(T0), "due in 1m");
        let after = clock(
            Severity::Critical,
            Status::Reported,
            T0,
            None,
            &s,
            at(48, 1),
        );
        assert!(after.overdue);
        assert_eq!(after.remaining_ms, -MINUTE_MS);
        assert_eq!(after.human(T0), "OVERDUE by 1m");
        let exactly = clock(
            Severity::Critical,
            Status::Reported,
            T0,
            None,
            &s,
            at(48, 0),
        );
        assert!(!exactly.overdue, "due at 48h means late only after it");
    }

    #[test]
    fn other_reports_are_due_in_96_hours() {
        let s = defaults();
        for severity in [Severity::High, Severity::Medium, Severity::Low] {
            let c = clock(severity, Status::Reported, T0, None, &s, at(95, 0));
            assert!(!c.overdue, "{severity}");
            assert_eq!(c.human(T0), "due in 1h");
            let c = clock(severity, Status::Reported, T0, None, &s, at(97, 0));
            assert!(c.overdue, "{severity}");
            assert_eq!(c.human(T0), "OVERDUE by 1h");
        }
    }

    #[test]
    fn the_manifest_sets_the_hours() {
        let s = BountySettings {
            ack_hours_critical: 4,
            ack_hours_other: 10,
            ..defaults()
        };
        let c = clock(
            Severity::Critical,
            Status::Reported,
            T0,
            None,
            &s,
            at(3, 48),
        );
        assert_eq!(c.human(T0), "due in 12m");
        let c = clock(
            Severity::Critical,
            Status::Reported,
            T0,
            None,
            &s,
            at(6, 30),
        );
        assert_eq!(c.human(T0), "OVERDUE by 2h 30m");
        let c = clock(Severity::Medium, Status::Reported, T0, None, &s, at(9, 0));
        assert!(!c.overdue);
        let c = clock(Severity::Medium, Status::Reported, T0, None, &s, at(10, 1));
        assert!(c.overdue);
    }

    #[test]
    fn an_acknowledged_report_is_never_overdue() {
        let s = defaults();
        let c = clock(
            Severity::Critical,
            Status::Acknowledged,
            T0,
            Some(at(5, 0)),
            &s,
            at(500, 0),
        );
        assert!(!c.overdue);
        assert_eq!(c.human(T0), "acknowledged in 5h");
        let late = clock(
            Severity::Critical,
            Status::Acknowledged,
            T0,
            Some(at(50, 0)),
            &s,
            at(60, 0),
        );
        assert!(!late.overdue);
        assert_eq!(late.human(T0), "acknowledged in 50h (2h late)");
        for status in Status::ALL
            .into_iter()
            .filter(|s| !s.awaits_acknowledgement())
        {
            let c = clock(Severity::Critical, status, T0, None, &s, at(500, 0));
            assert!(!c.overdue, "{status}");
            assert_eq!(c.human(T0), "clock stopped", "{status}");
        }
    }

    fn report(store: &Store, severity: Severity, submitted_at: i64) -> i64 {
        let report = crate::bounty::NewReport {
            title: format!("{severity} finding"),
            severity,
            impact: severity.impacts().next().expect("an impact").id,
            contracts: vec!["escrow".into()],
            description: "d".into(),
            proof_of_concept: None,
            contact: "c".into(),
            payout_address: None,
            credit_as: None,
        };
        let token = crate::bounty::crypto::new_token().expect("token");
        store
            .insert_bounty_report(
                &report,
                None,
                &crate::bounty::crypto::token_hash(&token),
                submitted_at,
            )
            .expect("insert")
    }

    fn sla_alert(id: i64) -> NewAlert {
        NewAlert {
            rule: RULE.into(),
            kind: RULE.into(),
            severity: crate::alert::Severity::Critical,
            chain: "local".into(),
            chain_id: 31337,
            contract: None,
            address: None,
            block_number: 3,
            block_hash: alloy::primitives::B256::repeat_byte(3),
            tx_hashes: Vec::new(),
            summary: format!("report {id} overdue"),
            evidence: serde_json::json!({"report": id}),
            dedup_key: format!("{KEY_PREFIX}{id}"),
        }
    }

    #[test]
    fn an_overdue_report_is_listed_until_its_alert_is_raised_once() {
        for store in Store::each_backend() {
            let now = at(100, 0);
            let critical = report(&store, Severity::Critical, at(100 - 49, 0));
            report(&store, Severity::Critical, at(100 - 47, 0));
            let medium = report(&store, Severity::Medium, at(100 - 97, 0));
            report(&store, Severity::Medium, at(100 - 50, 0));
            let acked = report(&store, Severity::Critical, T0 - 500 * HOUR_MS);
            store
            .with(|c| {
                c.execute(
                    "UPDATE bounty_reports SET status = 'acknowledged', acknowledged_at = ?2 WHERE id = ?1",
                    params![acked, T0],
                )
            })
            .expect("ack");
            let overdue = store.overdue_bounty_reports(&defaults(), now).expect("q");
            assert_eq!(
                overdue.iter().map(|r| r.id).collect::<Vec<_>>(),
                [critical, medium]
            );
            assert_eq!(overdue[0].contracts, ["escrow"]);
            assert_eq!(
                overdue[0].clock.human(overdue[0].submitted_at),
                "OVERDUE by 1h"
            );

            let raised = store
                .raise_bounty_sla(critical, &sla_alert(critical), now)
                .expect("raise")
                .expect("raised");
            assert_eq!(raised.found.rule, RULE);
            assert!(
                store
                    .raise_bounty_sla(critical, &sla_alert(critical), now)
                    .expect("raise")
                    .is_none(),
                "never twice"
            );
            let left = store.overdue_bounty_reports(&defaults(), now).expect("q");
            assert_eq!(left.iter().map(|r| r.id).collect::<Vec<_>>(), [medium]);

            // A reorganisation of the block it was filed at does not retract it.
            let ancestor = crate::storage::Cursor {
                number: 1,
                hash: alloy::primitives::B256::repeat_byte(1),
            };
            assert!(store.rewind(31337, ancestor).expect("rewind").is_empty());
            let alert = store.alert(raised.id).expect("q").expect("kept");
            assert_eq!(alert.status, AlertStatus::Open);
        }
    }

    #[test]
    fn spans_read_in_hours_and_minutes() {
        assert_eq!(span(0), "<1m");
        assert_eq!(span(59_999), "<1m");
        assert_eq!(span(3 * HOUR_MS + 12 * MINUTE_MS + 5_000), "3h 12m");
        assert_eq!(span(2 * HOUR_MS), "2h");
        assert_eq!(span(45 * MINUTE_MS), "45m");
        assert_eq!(span(-5), "<1m");
    }
}
