//! The monitor's records: alerts (with their lifecycle and acknowledgement), each chain's cursor
//! and the recent block hashes that reorganisations are detected against.

use alloy::primitives::B256;

mod rows;

use self::rows::{COLUMNS, alert_from_row, conversion, severity_rank};
pub(crate) use self::rows::{insert_alerts, select_alerts};
use super::{
    BlockNotes, KeptBy, Prune, StorageError, Store, now_ms,
    sql::{OptionalExt as _, ToValue, Value, params},
};
use crate::alert::{Alert, AlertStatus, NewAlert, Severity};

/// Migration 4: alerts, cursors and recent block hashes.
pub(super) const MIGRATION: &str = "
CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY,
    rule          TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    severity      TEXT    NOT NULL,
    severity_rank INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    chain         TEXT    NOT NULL,
    chain_id      INTEGER NOT NULL,
    contract      TEXT,
    address       TEXT,
    block_number  INTEGER NOT NULL,
    block_hash    TEXT    NOT NULL,
    tx_hashes     TEXT    NOT NULL,
    summary       TEXT    NOT NULL,
    evidence      TEXT    NOT NULL,
    dedup_key     TEXT    NOT NULL UNIQUE,
    detected_at   INTEGER NOT NULL,
    acked_by      TEXT,
    acked_at      INTEGER,
    ack_note      TEXT
);
CREATE INDEX alerts_by_block ON alerts(chain_id, block_number);
CREATE INDEX alerts_by_time ON alerts(detected_at);
CREATE TABLE monitor_blocks (
    chain_id    INTEGER NOT NULL,
    number      INTEGER NOT NULL,
    hash        TEXT    NOT NULL,
    parent_hash TEXT    NOT NULL,
    PRIMARY KEY (chain_id, number)
);
CREATE TABLE monitor_cursors (
    chain_id   INTEGER PRIMARY KEY,
    chain      TEXT    NOT NULL,
    number     INTEGER NOT NULL,
    hash       TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
";

/// How many recent block hashes are kept per chain: a reorganisation deeper than this cannot be
/// walked back (no chain the suite runs on reorganises that deep).
pub const KEPT_BLOCKS: u64 = 128;

/// Where a chain's monitor stopped: the last block fully processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Its number.
    pub number: u64,
    /// Its hash.
    pub hash: B256,
}

/// A processed block, as committed with its alerts.
#[derive(Debug, Clone, Copy)]
pub struct BlockRecord<'a> {
    /// The chain's name.
    pub chain: &'a str,
    /// Its id.
    pub chain_id: u64,
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Parent hash.
    pub parent_hash: B256,
    /// The lease the writer holds on the chain (`[ha]`): the block is refused, whole, once
    /// another instance took the chain.
    pub fence: Option<&'a super::Fence>,
}

/// Which alerts to list.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only alerts at least this severe.
    pub min_severity: Option<Severity>,
    /// Only alerts of this rule.
    pub rule: Option<String>,
    /// Only alerts detected at or after this time (Unix milliseconds).
    pub since_ms: Option<i64>,
    /// Only alerts of this chain id.
    pub chain_id: Option<u64>,
    /// Only alerts about this contract (its manifest name).
    pub contract: Option<String>,
}

/// Migration 16: when each alert was dispatched (its messages queued, its response started);
/// alerts stored before are taken as dispatched.
pub(super) const MIGRATION_DISPATCHED: &str = "
ALTER TABLE alerts ADD COLUMN dispatched_at INTEGER;
UPDATE alerts SET dispatched_at = detected_at;
";

/// Migration 11: whether an alert is about the content of the block it was filed at, and so
/// undone when a reorganisation orphans that block. A failing contact's `monitor-health` and an
/// overdue report's `bounty-sla` are not (they are about the contact and the team); existing rows
/// are filled in from their dedup keys.
pub(super) const MIGRATION_ABOUT_BLOCK: &str = "
ALTER TABLE alerts ADD COLUMN about_block INTEGER NOT NULL DEFAULT 1;
UPDATE alerts SET about_block = 0
 WHERE substr(dedup_key, 1, 23) = 'monitor-health:contact:'
    OR substr(dedup_key, 1, 18) = 'bounty-sla:report:';
";

impl Store {
    /// Where the monitor of chain `chain_id` stopped, if it ever ran.
    pub fn cursor(&self, chain_id: u64) -> Result<Option<Cursor>, StorageError> {
        let row: Option<(i64, String)> = self.with(|c| {
            c.query_row(
                "SELECT number, hash FROM monitor_cursors WHERE chain_id = ?1",
                params![chain_id as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })?;
        row.map(|(number, hash)| {
            Ok(Cursor {
                number: number as u64,
                hash: hash.parse().map_err(|e| conversion(1, e))?,
            })
        })
        .transpose()
        .map_err(StorageError::Sql)
    }

    /// The stored hash of block `number` of chain `chain_id`, if it is among the recent ones (or
    /// is the parent of the oldest one kept).
    pub fn block_hash(&self, chain_id: u64, number: u64) -> Result<Option<B256>, StorageError> {
        let hash: Option<String> = self.with(|c| {
            c.query_row(
                "SELECT hash FROM (
                     SELECT hash, 0 AS pick FROM monitor_blocks WHERE chain_id = ?1 AND number = ?2
                     UNION ALL
                     SELECT parent_hash, 1 FROM monitor_blocks WHERE chain_id = ?1 AND number = ?2 + 1
                 ) AS candidates ORDER BY pick LIMIT 1",
                params![chain_id as i64, number as i64],
                |r| r.get(0),
            )
            .optional()
        })?;
        hash.map(|h| h.parse().map_err(|e| conversion(0, e)))
            .transpose()
            .map_err(StorageError::Sql)
    }

    /// Stores a processed block with its alerts and moves the chain's cursor to it, in one
    /// transaction: after a crash either all of it is there or none, so a restart resumes with
    /// no gap and no duplicate. Alerts whose dedup key is taken are skipped; alerts
    /// `confirmations` blocks deep become final. Returns the alerts stored, in order.
    pub fn commit_block(
        &self,
        block: &BlockRecord<'_>,
        alerts: &[NewAlert],
        confirmations: u64,
    ) -> Result<Vec<Alert>, StorageError> {
        self.commit_block_noting(block, alerts, confirmations, &BlockNotes::default())
    }

    /// [`Store::commit_block`], with what the block changed of the contracts' pages (and the
    /// head read before it) written in the same transaction.
    pub fn commit_block_noting(
        &self,
        block: &BlockRecord<'_>,
        alerts: &[NewAlert],
        confirmations: u64,
        notes: &BlockNotes,
    ) -> Result<Vec<Alert>, StorageError> {
        let stored = self.write(|tx| {
            if let Some(fence) = block.fence
                && !super::leases::holds(tx, fence)?
            {
                return Ok(None);
            }
            let now = now_ms();
            let ids = insert_alerts(tx, alerts, AlertStatus::Open, now)?;
            {
                tx.execute(
                    "INSERT INTO monitor_blocks (chain_id, number, hash, parent_hash) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (chain_id, number) DO UPDATE SET hash = excluded.hash, parent_hash = excluded.parent_hash",
                    params![
                        block.chain_id as i64,
                        block.number as i64,
                        block.hash.to_string(),
                        block.parent_hash.to_string()
                    ],
                )?;
                tx.execute(
                    "DELETE FROM monitor_blocks WHERE chain_id = ?1 AND number <= ?2",
                    params![
                        block.chain_id as i64,
                        block.number.saturating_sub(KEPT_BLOCKS) as i64
                    ],
                )?;
                tx.execute(
                    "INSERT INTO monitor_cursors (chain_id, chain, number, hash, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(chain_id) DO UPDATE SET chain = ?2, number = ?3, hash = ?4, updated_at = ?5",
                    params![
                        block.chain_id as i64,
                        block.chain,
                        block.number as i64,
                        block.hash.to_string(),
                        now
                    ],
                )?;
                if let Some(deep) = block.number.checked_sub(confirmations) {
                    tx.execute(
                        "UPDATE alerts SET status = 'final' WHERE chain_id = ?1 AND status = 'open' AND block_number <= ?2",
                        params![block.chain_id as i64, deep as i64],
                    )?;
                }
                super::contracts::write_notes(tx, block.chain_id, block.number, notes)?;
            }
            select_alerts(tx, &ids).map(Some)
        })?;
        match (stored, block.fence) {
            (Some(stored), _) => Ok(stored),
            (None, Some(fence)) => Err(StorageError::Fenced {
                chain_id: fence.chain_id,
                epoch: fence.epoch,
            }),
            (None, None) => Ok(Vec::new()),
        }
    }

    /// Marks alert `id` as dispatched: its contacts' messages are queued and its response, if
    /// any, was started. An alert a holder stored but never dispatched (it died in between) is
    /// dispatched by the next holder of its chain.
    pub fn mark_dispatched(&self, id: i64) -> Result<(), StorageError> {
        self.with(|c| {
            c.execute(
                "UPDATE alerts SET dispatched_at = ?2 WHERE id = ?1 AND dispatched_at IS NULL",
                params![id, now_ms()],
            )
        })?;
        Ok(())
    }

    /// Whether alert `id` was dispatched.
    pub fn dispatched(&self, id: i64) -> Result<bool, StorageError> {
        self.with(|c| {
            c.query_row(
                "SELECT CASE WHEN dispatched_at IS NULL THEN 0 ELSE 1 END FROM alerts WHERE id = ?1",
                params![id],
                |r| Ok(r.get::<i64>(0)? == 1),
            )
            .optional()
        })
        .map(|d| d.unwrap_or(false))
    }

    /// Alerts raised by chain `chain_id`'s blocks and never dispatched, oldest first.
    pub fn undispatched(&self, chain_id: u64) -> Result<Vec<Alert>, StorageError> {
        self.with(|c| {
            c.query_map(
                &format!(
                    "SELECT {COLUMNS} FROM alerts WHERE chain_id = ?1 AND dispatched_at IS NULL
                       AND about_block = 1 AND status IN ('open', 'final') ORDER BY id"
                ),
                params![chain_id as i64],
                alert_from_row,
            )
        })
    }

    /// Stores one alert that no block raised (the monitor's own trouble, filed at a block it had
    /// processed) without touching any cursor or block hash. `None` when its dedup key is taken.
    pub fn store_alert(&self, alert: &NewAlert) -> Result<Option<Alert>, StorageError> {
        self.store_alert_as(alert, AlertStatus::Open)
    }

    /// Stores an alert about a pending transaction (status `pending`); `None` when its dedup key
    /// is taken.
    pub fn store_pending_alert(&self, alert: &NewAlert) -> Result<Option<Alert>, StorageError> {
        self.store_alert_as(alert, AlertStatus::Pending)
    }

    fn store_alert_as(
        &self,
        alert: &NewAlert,
        status: AlertStatus,
    ) -> Result<Option<Alert>, StorageError> {
        let stored = self.write(|tx| {
            let ids = insert_alerts(tx, std::slice::from_ref(alert), status, now_ms())?;
            select_alerts(tx, &ids)
        })?;
        Ok(stored.into_iter().next())
    }

    /// The newest alert whose dedup key starts with `prefix` (retracted ones included).
    pub fn last_alert_with_key_prefix(&self, prefix: &str) -> Result<Option<Alert>, StorageError> {
        self.with(|c| {
            c.query_row(
                &format!(
                    "SELECT {COLUMNS} FROM alerts WHERE substr(dedup_key, 1, length(?1)) = ?1 ORDER BY id DESC LIMIT 1"
                ),
                params![prefix],
                alert_from_row,
            )
            .optional()
        })
    }

    /// Undoes a chain's blocks after `ancestor` (orphaned by a reorganisation): their alerts are
    /// retracted (except a failing contact's `monitor-health` alert and an overdue report's
    /// `bounty-sla`, filed at a block but about no block's content) (their dedup keys freed, so the new canonical blocks may raise them again), their
    /// hashes forgotten and the cursor set back to `ancestor`, in one transaction. Returns the
    /// retracted alerts, oldest first.
    pub fn rewind(&self, chain_id: u64, ancestor: Cursor) -> Result<Vec<Alert>, StorageError> {
        self.rewind_under(chain_id, ancestor, None)
    }

    /// As [`Store::rewind`], under the lease `fence` holds (`[ha]`): refused whole, in the same
    /// transaction, once another instance took the chain.
    pub fn rewind_under(
        &self,
        chain_id: u64,
        ancestor: Cursor,
        fence: Option<&super::Fence>,
    ) -> Result<Vec<Alert>, StorageError> {
        let retracted = self.write(|tx| {
            if let Some(fence) = fence
                && !super::leases::holds(tx, fence)?
            {
                return Ok(None);
            }
            let retracted = tx.query_map(
                &format!(
                    "SELECT {COLUMNS} FROM alerts WHERE chain_id = ?1 AND block_number > ?2 AND status != 'retracted' AND status != 'pending' AND about_block = 1 ORDER BY id"
                ),
                params![chain_id as i64, ancestor.number as i64],
                alert_from_row,
            )?;
            tx.execute(
                "UPDATE alerts SET status = 'retracted', dedup_key = dedup_key || '#retracted-' || id
                 WHERE chain_id = ?1 AND block_number > ?2 AND status != 'retracted' AND status != 'pending'
                   AND about_block = 1",
                params![chain_id as i64, ancestor.number as i64],
            )?;
            tx.execute(
                "DELETE FROM monitor_blocks WHERE chain_id = ?1 AND number > ?2",
                params![chain_id as i64, ancestor.number as i64],
            )?;
            tx.execute(
                "UPDATE monitor_cursors SET number = ?2, hash = ?3, updated_at = ?4 WHERE chain_id = ?1",
                params![
                    chain_id as i64,
                    ancestor.number as i64,
                    ancestor.hash.to_string(),
                    now_ms()
                ],
            )?;
            Ok(Some(retracted))
        })?;
        let retracted = match (retracted, fence) {
            (Some(r), _) => r,
            (None, Some(fence)) => {
                return Err(StorageError::Fenced {
                    chain_id,
                    epoch: fence.epoch,
                });
            }
            (None, None) => Vec::new(),
        };
        Ok(retracted
            .into_iter()
            .map(|mut a| {
                a.status = AlertStatus::Retracted;
                a
            })
            .collect())
    }

    /// Alerts matching `filter`, newest first.
    pub fn alerts(&self, filter: &AlertFilter) -> Result<Vec<Alert>, StorageError> {
        self.alerts_limited(filter, None)
    }

    /// The newest `limit` alerts matching `filter`, newest first (a page's worth, read without
    /// reading the rest).
    pub fn latest_alerts(
        &self,
        filter: &AlertFilter,
        limit: usize,
    ) -> Result<Vec<Alert>, StorageError> {
        self.alerts_limited(filter, Some(limit))
    }

    fn alerts_limited(
        &self,
        filter: &AlertFilter,
        limit: Option<usize>,
    ) -> Result<Vec<Alert>, StorageError> {
        let mut clauses = vec!["1 = 1".to_string()];
        let mut args: Vec<Value> = Vec::new();
        if let Some(s) = filter.min_severity {
            args.push(Value::Int(severity_rank(s)));
            clauses.push(format!("severity_rank >= ?{}", args.len()));
        }
        if let Some(rule) = &filter.rule {
            args.push(Value::Text(rule.clone()));
            clauses.push(format!("rule = ?{}", args.len()));
        }
        if let Some(since) = filter.since_ms {
            args.push(Value::Int(since));
            clauses.push(format!("detected_at >= ?{}", args.len()));
        }
        if let Some(chain_id) = filter.chain_id {
            args.push(Value::Int(chain_id as i64));
            clauses.push(format!("chain_id = ?{}", args.len()));
        }
        if let Some(contract) = &filter.contract {
            args.push(Value::Text(contract.clone()));
            clauses.push(format!("contract = ?{}", args.len()));
        }
        let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
        let sql = format!(
            "SELECT {COLUMNS} FROM alerts WHERE {} ORDER BY detected_at DESC, id DESC{limit}",
            clauses.join(" AND ")
        );
        self.with(|c| {
            c.query_map(
                &sql,
                &args.iter().map(|v| v as &dyn ToValue).collect::<Vec<_>>(),
                alert_from_row,
            )
        })
    }

    /// Forgets where chain `chain_id` was followed (its cursor and recent block hashes): a
    /// follower started next begins where it is told, or at the head.
    pub fn forget_chain(&self, chain_id: u64) -> Result<(), StorageError> {
        self.write(|c| {
            c.execute(
                "DELETE FROM monitor_cursors WHERE chain_id = ?1",
                params![chain_id as i64],
            )?;
            c.execute(
                "DELETE FROM monitor_blocks WHERE chain_id = ?1",
                params![chain_id as i64],
            )?;
            Ok(())
        })
    }

    /// Deletes alerts detected before `older_than_ms` that no `kept_by` column names, in
    /// batches; returns how many were deleted.
    pub fn prune_alerts(
        &self,
        older_than_ms: i64,
        kept_by: &[KeptBy],
    ) -> Result<u64, StorageError> {
        let what = Prune {
            table: "alerts",
            age_column: "detected_at",
            kept_by,
        };
        self.prune(&what, older_than_ms)
    }

    /// The alert with this id.
    pub fn alert(&self, id: i64) -> Result<Option<Alert>, StorageError> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM alerts WHERE id = ?1"),
                params![id],
                alert_from_row,
            )
            .optional()
        })
    }

    /// Records that `by` acknowledged alert `id` now, with an optional note; `None` when there is
    /// no such alert. A second acknowledgement replaces the first.
    pub fn acknowledge(
        &self,
        id: i64,
        by: &str,
        note: Option<&str>,
    ) -> Result<Option<Alert>, StorageError> {
        let changed = self.with(|c| {
            c.execute(
                "UPDATE alerts SET acked_by = ?2, acked_at = ?3, ack_note = ?4 WHERE id = ?1",
                params![id, by, now_ms(), note],
            )
        })?;
        if changed == 0 {
            return Ok(None);
        }
        self.alert(id)
    }
}

#[cfg(test)]
mod tests;
