//! The team's list of reports (`guardian bounty list`, `GET /api/bounty/reports`): newest first,
//! one page at a time (`limit`, `before`), read in one query: no thread, no proof of concept.

use super::{
    Status,
    store::{REPORT_COLUMNS, ReportView, view_of},
};
use crate::storage::{
    StorageError, Store,
    sql::{ToValue, Value},
};

/// How many reports a page of the team API holds unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 50;

/// The most reports one page of the team API may hold.
pub const MAX_LIMIT: usize = 200;

/// One page of the team's list.
#[derive(Debug, Clone)]
pub struct ReportPage {
    /// The reports, newest first (their threads empty).
    pub reports: Vec<ReportView>,
    /// When more reports remain: the `before` that reads the next page (the number of the
    /// last report of this one).
    pub next_before: Option<i64>,
}

impl Store {
    /// The reports (in `status`, if given) numbered below `before` (if given), newest first, at
    /// most `limit` of them (`None`: all), in one query. Their threads are not read: the lists
    /// show none.
    pub fn bounty_reports_page(
        &self,
        status: Option<Status>,
        before: Option<i64>,
        limit: Option<usize>,
    ) -> Result<ReportPage, StorageError> {
        let mut conditions = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        if let Some(status) = status {
            values.push(Value::Text(status.as_str().into()));
            conditions.push(format!("status = ?{}", values.len()));
        }
        if let Some(before) = before {
            values.push(Value::Int(before));
            conditions.push(format!("id < ?{}", values.len()));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        // One more than asked tells whether another page follows (no limit: the largest,
        // since PostgreSQL has no `LIMIT -1`).
        let fetch = limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX - 1) + 1);
        values.push(Value::Int(fetch));
        let sql = format!(
            "SELECT {REPORT_COLUMNS} FROM bounty_reports {filter} ORDER BY id DESC LIMIT ?{}",
            values.len()
        );
        let mut reports = self.with(|c| {
            c.query_map(
                &sql,
                &values.iter().map(|v| v as &dyn ToValue).collect::<Vec<_>>(),
                view_of,
            )
        })?;
        let next_before = match limit {
            Some(limit) if reports.len() > limit => {
                reports.truncate(limit);
                reports.last().map(|r| r.id)
            }
            _ => None,
        };
        Ok(ReportPage {
            reports,
            next_before,
        })
    }

    /// Every report, newest first, as the team lists them (no thread, never the proof of
    /// concept), in one query.
    pub fn bounty_reports(&self) -> Result<Vec<ReportView>, StorageError> {
        Ok(self.bounty_reports_page(None, None, None)?.reports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        bounty::{NewReport, Severity},
        storage::sql::params,
    };

    fn ids(page: &ReportPage) -> Vec<i64> {
        page.reports.iter().map(|r| r.id).collect()
    }

    #[test]
    fn pages_follow_each_other_newest_first_and_say_when_more_remain() {
        for store in Store::each_backend() {
            let report = NewReport {
                title: "t".into(),
                severity: Severity::Medium,
                impact: "griefing",
                contracts: vec!["escrow".into()],
                description: "d".into(),
                proof_of_concept: None,
                contact: "c".into(),
                payout_address: None,
                credit_as: None,
            };
            for n in 1..=5 {
                let id = store
                    .insert_bounty_report(&report, Some(b"sealed"), &format!("h{n}"), n)
                    .expect("insert");
                store
                    .add_bounty_message(id, "researcher", "hello", n)
                    .expect("message");
            }
            store
                .with(|c| {
                    c.execute(
                        "UPDATE bounty_reports SET status = 'acknowledged' WHERE id IN (2, 4)",
                        params![],
                    )
                })
                .expect("ack");

            let all = store.bounty_reports_page(None, None, None).expect("all");
            assert_eq!((ids(&all), all.next_before), (vec![5, 4, 3, 2, 1], None));
            assert!(
                all.reports.iter().all(|r| r.thread.is_empty()),
                "no threads"
            );
            assert_eq!(all.reports[0].public_id.len(), 32);
            assert_eq!(
                store.bounty_reports().expect("all").len(),
                5,
                "the CLI's default: all"
            );

            let first = store.bounty_reports_page(None, None, Some(2)).expect("p1");
            assert_eq!((ids(&first), first.next_before), (vec![5, 4], Some(4)));
            let second = store
                .bounty_reports_page(None, first.next_before, Some(2))
                .expect("p2");
            assert_eq!((ids(&second), second.next_before), (vec![3, 2], Some(2)));
            let last = store
                .bounty_reports_page(None, second.next_before, Some(2))
                .expect("p3");
            assert_eq!((ids(&last), last.next_before), (vec![1], None));
            // A page exactly as long as what remains says nothing remains.
            let exact = store
                .bounty_reports_page(None, Some(3), Some(2))
                .expect("p");
            assert_eq!((ids(&exact), exact.next_before), (vec![2, 1], None));

            let acked = Some(Status::Acknowledged);
            let page = store.bounty_reports_page(acked, None, Some(1)).expect("a");
            assert_eq!((ids(&page), page.next_before), (vec![4], Some(4)));
            let page = store
                .bounty_reports_page(acked, Some(4), Some(1))
                .expect("a");
            assert_eq!((ids(&page), page.next_before), (vec![2], None));
            let reported = Some(Status::Reported);
            let page = store
                .bounty_reports_page(reported, Some(5), None)
                .expect("r");
            assert_eq!((ids(&page), page.next_before), (vec![3, 1], None));
        }
    }
}
