//! A backfill's progress (`guardian monitor --from-block N`): its alerts and how far it got,
//! committed together so an interrupted backfill resumes without a gap or a duplicate.
//! The progress has its own table (migration 6), apart from the follower's cursor.

use super::{
    StorageError, Store,
    alerts::{insert_alerts, select_alerts},
    now_ms,
    sql::{OptionalExt as _, params},
};
use crate::alert::{Alert, AlertStatus, NewAlert};

/// How far a backfill of one chain got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackfillCursor {
    /// The block it started at (`--from-block`).
    pub from: u64,
    /// The last block it fully processed.
    pub through: u64,
}

/// Migration 6: each chain's backfill progress.
pub(super) const MIGRATION: &str = "
CREATE TABLE monitor_backfills (
    chain_id      INTEGER PRIMARY KEY,
    chain         TEXT    NOT NULL,
    from_block    INTEGER NOT NULL,
    through_block INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
";

impl Store {
    /// Where the last backfill of chain `chain_id` got, if one ran.
    pub fn backfill_cursor(&self, chain_id: u64) -> Result<Option<BackfillCursor>, StorageError> {
        let row: Option<(i64, i64)> = self.with(|c| {
            c.query_row(
                "SELECT from_block, through_block FROM monitor_backfills WHERE chain_id = ?1",
                params![chain_id as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })?;
        Ok(row.map(|(from, through)| BackfillCursor {
            from: from as u64,
            through: through as u64,
        }))
    }

    /// Stores a stretch of backfilled blocks' alerts and moves the backfill's cursor to
    /// `cursor.through`, in one transaction. Alerts whose dedup key is taken are skipped (a rerun
    /// raises nothing twice); alerts at or below `final_through` are stored `final` at once,
    /// the others `open` (the follower finalises them as the chain grows). Returns the alerts
    /// stored, in order.
    pub fn commit_backfill(
        &self,
        chain: &str,
        chain_id: u64,
        cursor: BackfillCursor,
        alerts: &[NewAlert],
        final_through: Option<u64>,
    ) -> Result<Vec<Alert>, StorageError> {
        self.write(|tx| {
            let now = now_ms();
            let (deep, recent): (Vec<NewAlert>, Vec<NewAlert>) = alerts
                .iter()
                .cloned()
                .partition(|a| final_through.is_some_and(|f| a.block_number <= f));
            let mut ids = insert_alerts(tx, &deep, AlertStatus::Final, now)?;
            ids.extend(insert_alerts(tx, &recent, AlertStatus::Open, now)?);
            ids.sort_unstable();
            tx.execute(
                "INSERT INTO monitor_backfills (chain_id, chain, from_block, through_block, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(chain_id) DO UPDATE SET chain = ?2, from_block = ?3, through_block = ?4, updated_at = ?5",
                params![
                    chain_id as i64,
                    chain,
                    cursor.from as i64,
                    cursor.through as i64,
                    now
                ],
            )?;
            select_alerts(tx, &ids)
        })
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, B256};

    use super::*;
    use crate::alert::Severity;

    fn alert(block: u64, key: &str) -> NewAlert {
        NewAlert {
            rule: "burst".into(),
            kind: "rate".into(),
            severity: Severity::Warning,
            chain: "local".into(),
            chain_id: 31337,
            contract: Some("registry".into()),
            address: Some(Address::repeat_byte(1)),
            block_number: block,
            block_hash: B256::repeat_byte(block as u8),
            tx_hashes: Vec::new(),
            summary: format!("burst at {block}"),
            evidence: serde_json::json!({}),
            dedup_key: key.into(),
        }
    }

    #[test]
    fn progress_is_kept_apart_from_the_follower_and_alerts_are_not_stored_twice() {
        for store in Store::each_backend() {
            assert_eq!(store.backfill_cursor(31337).expect("q"), None);
            let cursor = BackfillCursor {
                from: 5,
                through: 100,
            };
            let stored = store
                .commit_backfill(
                    "local",
                    31337,
                    cursor,
                    &[alert(50, "a"), alert(99, "b")],
                    Some(98),
                )
                .expect("commit");
            let statuses: Vec<AlertStatus> = stored.iter().map(|a| a.status).collect();
            assert_eq!(statuses, [AlertStatus::Final, AlertStatus::Open]);
            assert_eq!(store.backfill_cursor(31337).expect("q"), Some(cursor));
            assert_eq!(
                store.cursor(31337).expect("q"),
                None,
                "the follower's cursor"
            );
            let again = store
                .commit_backfill("local", 31337, cursor, &[alert(50, "a")], Some(98))
                .expect("commit");
            assert!(again.is_empty());
        }
    }
}
