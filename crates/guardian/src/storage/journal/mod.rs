//! The journal: every action taken and every transaction it sent. A transaction is recorded
//! before it is broadcast, so an interrupted run can be finished without sending duplicates;
//! these rows are the raw material of an incident's timeline.

use alloy::primitives::{Address, TxHash};
use serde::Serialize;

use super::{
    StorageError, Store, now_ms,
    sql::{OptionalExt as _, SqlError, ToValue, params},
};

/// Each signature's fees and why they were chosen; what each endpoint answered to each broadcast.
pub(super) const MIGRATION_FEES: &str = "
ALTER TABLE transactions ADD COLUMN max_fee_per_gas INTEGER;
ALTER TABLE transactions ADD COLUMN max_priority_fee_per_gas INTEGER;
ALTER TABLE transactions ADD COLUMN fee_reason TEXT;
CREATE TABLE broadcasts (
    id        INTEGER PRIMARY KEY,
    tx_hash   TEXT    NOT NULL,
    endpoint  TEXT    NOT NULL,
    answer    TEXT    NOT NULL,
    at        INTEGER NOT NULL
);
CREATE INDEX broadcasts_by_tx ON broadcasts(tx_hash);
";

/// Migration 17: the lease an action was started under (`[ha]`: an automatic response of the
/// chain's holder). Its transactions are journalled only while that lease is held.
pub(super) const MIGRATION_FENCE: &str = "
ALTER TABLE actions ADD COLUMN fence_chain INTEGER;
ALTER TABLE actions ADD COLUMN fence_holder TEXT;
ALTER TABLE actions ADD COLUMN fence_epoch INTEGER;
";

/// Identifies one action (a deploy, a pause, a withdrawal) in the journal.
pub type ActionId = i64;

/// How an action or a transaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Started, not finished (or interrupted).
    Running,
    /// Broadcast, no receipt yet.
    Sent,
    /// Mined with success.
    Mined,
    /// Mined, but reverted.
    Reverted,
    /// Superseded by a replacement with a higher fee (same nonce) that was mined instead.
    Replaced,
    /// Gone from the node without being mined.
    Dropped,
    /// Finished, fully successful.
    Succeeded,
    /// Finished, not fully successful.
    Failed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Sent => "sent",
            Self::Mined => "mined",
            Self::Reverted => "reverted",
            Self::Replaced => "replaced",
            Self::Dropped => "dropped",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "sent" => Self::Sent,
            "mined" => Self::Mined,
            "reverted" => Self::Reverted,
            "replaced" => Self::Replaced,
            "dropped" => Self::Dropped,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            _ => Self::Running,
        }
    }
}

/// One recorded action.
#[derive(Debug, Clone, Serialize)]
pub struct ActionRecord {
    /// Row id.
    pub id: ActionId,
    /// What was done: `deploy`, `pause`, `unpause`, `withdraw`, `upgrade`, `revoke`, ….
    pub kind: String,
    /// Who did it (signer name and address).
    pub actor: String,
    /// Why, as the operator said.
    pub reason: Option<String>,
    /// The parameters, as JSON.
    pub params: serde_json::Value,
    /// How it ended.
    pub status: Status,
    /// Unix milliseconds.
    pub started_at: i64,
    /// Unix milliseconds.
    pub finished_at: Option<i64>,
    /// One-line outcome.
    pub summary: Option<String>,
}

/// One recorded transaction.
#[derive(Debug, Clone, Serialize)]
pub struct TxRecord {
    /// The action that sent it.
    pub action_id: ActionId,
    /// Chain id.
    pub chain_id: u64,
    /// Sender address.
    pub sender: Address,
    /// Nonce used.
    pub nonce: u64,
    /// What it does, e.g. `pause registry`.
    pub label: String,
    /// The called contract; `None` for a deployment.
    pub target: Option<Address>,
    /// Transaction hash.
    pub tx_hash: TxHash,
    /// Sent, mined or reverted.
    pub status: Status,
    /// Block it was mined in.
    pub block_number: Option<u64>,
    /// Gas used.
    pub gas_used: Option<u64>,
    /// Decoded failure, if any.
    pub error: Option<String>,
    /// Unix milliseconds.
    pub sent_at: i64,
    /// Unix milliseconds.
    pub mined_at: Option<i64>,
    /// Max fee per gas offered (the gas price, for a legacy transaction), when recorded.
    pub max_fee_per_gas: Option<u128>,
    /// Priority fee per gas offered, when recorded.
    pub max_priority_fee_per_gas: Option<u128>,
    /// Why those fees (the pricing's own words).
    pub fee_reason: Option<String>,
}

/// What one endpoint answered when a transaction was broadcast to it.
#[derive(Debug, Clone, Serialize)]
pub struct BroadcastRecord {
    /// The hash broadcast.
    pub tx_hash: TxHash,
    /// `public` (the chain's endpoints) or `private <url without secrets>`.
    pub endpoint: String,
    /// `accepted`, or the endpoint's refusal.
    pub answer: String,
    /// Unix milliseconds.
    pub at: i64,
}

/// A transaction about to be broadcast.
#[derive(Debug, Clone)]
pub struct NewTx<'a> {
    /// Chain id.
    pub chain_id: u64,
    /// Sender address.
    pub sender: Address,
    /// Nonce.
    pub nonce: u64,
    /// What it does.
    pub label: &'a str,
    /// Called contract, `None` for a deployment.
    pub target: Option<Address>,
    /// Its hash, known before broadcast.
    pub tx_hash: TxHash,
    /// Its max fee per gas (gas price, for legacy), priority fee per gas and why.
    pub fees: Option<(u128, u128, &'a str)>,
}

/// A mined transaction to record.
#[derive(Debug, Clone, Copy)]
pub struct MinedTx<'a> {
    /// The hash that was mined.
    pub tx_hash: TxHash,
    /// Its block.
    pub block: u64,
    /// Gas it used.
    pub gas_used: u64,
    /// The decoded revert, `None` when it succeeded.
    pub error: Option<&'a str>,
    /// Every signature sent for the same nonce; those not mined are marked replaced.
    pub replaced: &'a [TxHash],
}

impl Store {
    /// Records the start of an action.
    pub fn begin_action(
        &self,
        kind: &str,
        actor: &str,
        reason: Option<&str>,
        params: &serde_json::Value,
    ) -> Result<ActionId, StorageError> {
        self.begin_action_once(kind, actor, reason, params, None)
    }

    /// Records the start of an action that must happen once for `once_key`: a second action
    /// with the same key is refused ([`StorageError::AlreadyDone`]).
    pub fn begin_action_once(
        &self,
        kind: &str,
        actor: &str,
        reason: Option<&str>,
        params: &serde_json::Value,
        once_key: Option<&str>,
    ) -> Result<ActionId, StorageError> {
        // Started under a lease (`[ha]`): its transactions are journalled while it is held.
        let fence = super::leases::current_fence();
        let inserted = self.with(|c| {
            c.query_row(
                "INSERT INTO actions (kind, actor, reason, params, status, started_at, once_key, fence_chain, fence_holder, fence_epoch) VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7, ?8, ?9) RETURNING id",
                params![
                    kind,
                    actor,
                    reason,
                    params.to_string(),
                    now_ms(),
                    once_key,
                    fence.as_ref().map(|f| f.chain_id as i64),
                    fence.as_ref().map(|f| f.holder.clone()),
                    fence.as_ref().map(|f| f.epoch)
                ],
                |r| r.get(0),
            )
        });
        match (inserted, once_key) {
            (Err(StorageError::Sql(e)), Some(key)) if e.is_unique_violation() => {
                Err(StorageError::AlreadyDone(key.to_string()))
            }
            (other, _) => other,
        }
    }

    /// The action recorded with `once_key`, if any.
    pub fn action_with_key(&self, once_key: &str) -> Result<Option<ActionId>, StorageError> {
        self.with(|c| {
            c.query_row(
                "SELECT id FROM actions WHERE once_key = ?1",
                params![once_key],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Records how an action ended.
    pub fn finish_action(&self, id: ActionId, ok: bool, summary: &str) -> Result<(), StorageError> {
        let status = if ok {
            Status::Succeeded
        } else {
            Status::Failed
        };
        self.with(|c| {
            c.execute(
                "UPDATE actions SET status = ?1, finished_at = ?2, summary = ?3 WHERE id = ?4",
                params![status.as_str(), now_ms(), summary, id],
            )
            .map(|_| ())
        })
    }

    /// Records a signed transaction just before it is broadcast.
    pub fn record_sent(&self, action: ActionId, tx: &NewTx<'_>) -> Result<(), StorageError> {
        self.record_sent_all(action, std::slice::from_ref(tx))
    }

    /// Records signed transactions just before they are broadcast, in one database transaction:
    /// all rows or none.
    /// An action started under a lease that is no longer held is refused ([`StorageError::Fenced`]):
    /// nothing is journalled, so nothing is broadcast; the lease's new holder adopts the action.
    pub fn record_sent_all(&self, action: ActionId, txs: &[NewTx<'_>]) -> Result<(), StorageError> {
        let fenced = self.write(|tx| {
            let fence = tx
                .query_row(
                    "SELECT fence_chain, fence_holder, fence_epoch FROM actions WHERE id = ?1 AND fence_chain IS NOT NULL",
                    params![action],
                    |r| {
                        Ok(super::Fence {
                            chain_id: r.get::<i64>(0)? as u64,
                            holder: r.get(1)?,
                            epoch: r.get(2)?,
                        })
                    },
                )
                .optional()?;
            if let Some(fence) = fence
                && !super::leases::holds(tx, &fence)?
            {
                return Ok(Some(fence));
            }
            let now = now_ms();
            for t in txs {
                tx.execute(
                    "INSERT INTO transactions (action_id, chain_id, sender, nonce, label, target, tx_hash, status, sent_at, max_fee_per_gas, max_priority_fee_per_gas, fee_reason)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'sent', ?8, ?9, ?10, ?11)",
                    params![
                        action,
                        t.chain_id as i64,
                        t.sender.to_string(),
                        t.nonce as i64,
                        t.label,
                        t.target.map(|a| a.to_string()),
                        t.tx_hash.to_string(),
                        now,
                        t.fees.map(|f| f.0 as i64),
                        t.fees.map(|f| f.1 as i64),
                        t.fees.map(|f| f.2),
                    ],
                )?;
            }
            Ok(None)
        })?;
        match fenced {
            None => Ok(()),
            Some(fence) => Err(StorageError::Fenced {
                chain_id: fence.chain_id,
                epoch: fence.epoch,
            }),
        }
    }

    /// Records what each endpoint answered to broadcasts, in one database transaction.
    pub fn record_broadcasts(&self, answers: &[(TxHash, &str, &str)]) -> Result<(), StorageError> {
        if answers.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            let now = now_ms();
            for (hash, endpoint, answer) in answers {
                tx.execute(
                    "INSERT INTO broadcasts (tx_hash, endpoint, answer, at) VALUES (?1, ?2, ?3, ?4)",
                    params![hash.to_string(), endpoint, answer, now],
                )?;
            }
            Ok(())
        })
    }

    /// What each endpoint answered to the broadcasts of `tx_hash`, in order.
    pub fn broadcasts(&self, tx_hash: TxHash) -> Result<Vec<BroadcastRecord>, StorageError> {
        self.with(|c| {
            c.query_map(
                "SELECT tx_hash, endpoint, answer, at FROM broadcasts WHERE tx_hash = ?1 ORDER BY id",
                params![tx_hash.to_string()],
                |r| {
                    Ok(BroadcastRecord {
                        tx_hash: r
                            .get::<String>(0)?
                            .parse()
                            .map_err(|e| SqlError::conversion(0, e))?,
                        endpoint: r.get(1)?,
                        answer: r.get(2)?,
                        at: r.get(3)?,
                    })
                },
            )
        })
    }

    /// Records a receipt: mined (`error` is `None`) or reverted.
    pub fn record_receipt(
        &self,
        tx_hash: TxHash,
        block: u64,
        gas_used: u64,
        error: Option<&str>,
    ) -> Result<(), StorageError> {
        self.record_receipts(&[MinedTx {
            tx_hash,
            block,
            gas_used,
            error,
            replaced: &[],
        }])
    }

    /// Records receipts, and marks the other signatures of their nonces as replaced, in one
    /// database transaction: a batch of hundreds costs one write to disk, not hundreds.
    pub fn record_receipts(&self, mined: &[MinedTx<'_>]) -> Result<(), StorageError> {
        self.write(|tx| {
            let now = now_ms();
            for m in mined {
                let status = if m.error.is_none() {
                    Status::Mined
                } else {
                    Status::Reverted
                };
                tx.execute(
                    "UPDATE transactions SET status = ?1, block_number = ?2, gas_used = ?3, error = ?4, mined_at = ?5 WHERE tx_hash = ?6",
                    params![
                        status.as_str(),
                        m.block as i64,
                        m.gas_used as i64,
                        m.error,
                        now,
                        m.tx_hash.to_string()
                    ],
                )?;
                for other in m.replaced.iter().filter(|h| **h != m.tx_hash) {
                    tx.execute(
                        "UPDATE transactions SET status = ?1 WHERE tx_hash = ?2 AND status = 'sent'",
                        params![Status::Replaced.as_str(), other.to_string()],
                    )?;
                }
            }
            Ok(())
        })
    }

    /// Marks a broadcast transaction as replaced or dropped.
    pub fn mark(&self, tx_hash: TxHash, status: Status) -> Result<(), StorageError> {
        self.with(|c| {
            c.execute(
                "UPDATE transactions SET status = ?1 WHERE tx_hash = ?2 AND status = 'sent'",
                params![status.as_str(), tx_hash.to_string()],
            )
            .map(|_| ())
        })
    }

    /// All actions, newest first.
    pub fn actions(&self) -> Result<Vec<ActionRecord>, StorageError> {
        self.query_actions("ORDER BY id DESC", params![])
    }

    /// Action `id`, if there is one.
    pub fn action(&self, id: ActionId) -> Result<Option<ActionRecord>, StorageError> {
        Ok(self.query_actions("WHERE id = ?1", params![id])?.pop())
    }

    fn query_actions(
        &self,
        tail: &str,
        args: &[&dyn crate::storage::sql::ToValue],
    ) -> Result<Vec<ActionRecord>, StorageError> {
        self.with(|c| {
            c.query_map(
                &format!(
                    "SELECT id, kind, actor, reason, params, status, started_at, finished_at, summary FROM actions {tail}"
                ),
                args,
                |r| {
                    Ok(ActionRecord {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        actor: r.get(2)?,
                        reason: r.get(3)?,
                        params: serde_json::from_str(&r.get::<String>(4)?).unwrap_or_default(),
                        status: Status::parse(&r.get::<String>(5)?),
                        started_at: r.get(6)?,
                        finished_at: r.get(7)?,
                        summary: r.get(8)?,
                    })
                },
            )
        })
    }

    /// Transactions of an action, in the order they were sent.
    pub fn transactions(&self, action: ActionId) -> Result<Vec<TxRecord>, StorageError> {
        self.query_txs("WHERE action_id = ?1 ORDER BY id", params![action])
    }

    /// Transactions broadcast but never seen mined, for one sender on one chain.
    pub fn unconfirmed(
        &self,
        chain_id: u64,
        sender: Address,
    ) -> Result<Vec<TxRecord>, StorageError> {
        self.query_txs(
            "WHERE chain_id = ?1 AND sender = ?2 AND status = 'sent' ORDER BY id",
            params![chain_id as i64, sender.to_string()],
        )
    }

    /// The transaction with this hash, if recorded.
    pub fn transaction(&self, tx_hash: TxHash) -> Result<Option<TxRecord>, StorageError> {
        Ok(self
            .query_txs("WHERE tx_hash = ?1", params![tx_hash.to_string()])?
            .into_iter()
            .next())
    }

    fn query_txs(
        &self,
        filter: &str,
        args: &[&dyn ToValue],
    ) -> Result<Vec<TxRecord>, StorageError> {
        let sql = format!(
            "SELECT action_id, chain_id, sender, nonce, label, target, tx_hash, status, block_number, gas_used, error, sent_at, mined_at, max_fee_per_gas, max_priority_fee_per_gas, fee_reason FROM transactions {filter}"
        );
        self.with(|c| {
            c.query_map(&sql, args, |r| {
                let parse_err =
                    |i: usize| move |e: alloy::hex::FromHexError| SqlError::conversion(i, e);
                Ok(TxRecord {
                    action_id: r.get(0)?,
                    chain_id: r.get::<i64>(1)? as u64,
                    sender: r.get::<String>(2)?.parse().map_err(parse_err(2))?,
                    nonce: r.get::<i64>(3)? as u64,
                    label: r.get(4)?,
                    target: r
                        .get::<Option<String>>(5)?
                        .map(|s| s.parse())
                        .transpose()
                        .map_err(parse_err(5))?,
                    tx_hash: r.get::<String>(6)?.parse().map_err(parse_err(6))?,
                    status: Status::parse(&r.get::<String>(7)?),
                    block_number: r.get::<Option<i64>>(8)?.map(|b| b as u64),
                    gas_used: r.get::<Option<i64>>(9)?.map(|g| g as u64),
                    error: r.get(10)?,
                    sent_at: r.get(11)?,
                    mined_at: r.get(12)?,
                    max_fee_per_gas: r.get::<Option<i64>>(13)?.map(|v| v as u128),
                    max_priority_fee_per_gas: r.get::<Option<i64>>(14)?.map(|v| v as u128),
                    fee_reason: r.get(15)?,
                })
            })
        })
    }

    /// The most recent action of `kind`, if any.
    pub fn last_action(&self, kind: &str) -> Result<Option<ActionId>, StorageError> {
        self.with(|c| {
            c.query_row(
                "SELECT id FROM actions WHERE kind = ?1 ORDER BY id DESC LIMIT 1",
                params![kind],
                |r| r.get(0),
            )
            .optional()
        })
    }
}

#[cfg(test)]
mod tests;
