//! Safe proposals and their confirmations: the source of truth for what waits on which signers,
//! shared by every instance. The transaction itself is kept as the caller's JSON (storage knows
//! no Safe); its `safeTxHash` is unique.

use alloy::primitives::{Address, B256, Bytes};
use serde::Serialize;

use super::{
    StorageError, Store, now_ms,
    sql::{OptionalExt as _, Row, SqlResult, params},
};

/// Migration 18: Safe proposals and confirmations.
pub(super) const MIGRATION: &str = "
CREATE TABLE safe_proposals (
    id             INTEGER PRIMARY KEY,
    chain          TEXT    NOT NULL,
    chain_id       INTEGER NOT NULL,
    safe           TEXT    NOT NULL,
    nonce          INTEGER NOT NULL,
    title          TEXT    NOT NULL,
    safe_tx        TEXT    NOT NULL,
    calls          TEXT    NOT NULL,
    safe_tx_hash   TEXT    NOT NULL UNIQUE,
    status         TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    created_by     TEXT    NOT NULL,
    incident_id    INTEGER,
    executed_tx    TEXT,
    executed_block INTEGER,
    closed_at      INTEGER
);
CREATE INDEX safe_proposals_by_safe ON safe_proposals(chain_id, safe, nonce);
CREATE TABLE safe_confirmations (
    proposal_id INTEGER NOT NULL REFERENCES safe_proposals(id),
    owner       TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    signature   TEXT,
    via         TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (proposal_id, owner)
);
";

/// A proposal to record.
#[derive(Debug, Clone)]
pub struct NewProposal<'a> {
    /// The chain's name.
    pub chain: &'a str,
    /// Its id.
    pub chain_id: u64,
    /// The Safe.
    pub safe: Address,
    /// The Safe transaction's nonce.
    pub nonce: u64,
    /// What it does, in words.
    pub title: &'a str,
    /// Every field of the Safe transaction (JSON).
    pub safe_tx: serde_json::Value,
    /// The calls it makes, decoded (JSON).
    pub calls: serde_json::Value,
    /// Its hash.
    pub safe_tx_hash: B256,
    /// Who proposed it.
    pub created_by: &'a str,
    /// The incident it belongs to, if any.
    pub incident_id: Option<i64>,
}

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Waiting for confirmations or execution.
    Pending,
    /// Executed (by guardian or anyone else).
    Executed,
    /// Replaced by the no-op at its nonce.
    Cancelled,
    /// Another transaction was executed at its nonce.
    Superseded,
}

impl ProposalStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Executed => "executed",
            Self::Cancelled => "cancelled",
            Self::Superseded => "superseded",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "executed" => Self::Executed,
            "cancelled" => Self::Cancelled,
            "superseded" => Self::Superseded,
            _ => Self::Pending,
        }
    }
}

/// A recorded proposal.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProposalRecord {
    /// Its id.
    pub id: i64,
    /// The chain's name.
    pub chain: String,
    /// Its id.
    pub chain_id: u64,
    /// The Safe.
    #[schema(value_type = String)]
    pub safe: Address,
    /// The nonce.
    pub nonce: u64,
    /// What it does.
    pub title: String,
    /// The Safe transaction's fields.
    pub safe_tx: serde_json::Value,
    /// Its calls.
    pub calls: serde_json::Value,
    /// Its hash.
    #[schema(value_type = String)]
    pub safe_tx_hash: B256,
    /// Where it stands.
    pub status: ProposalStatus,
    /// When it was proposed (Unix ms).
    pub created_at: i64,
    /// Who proposed it.
    pub created_by: String,
    /// Its incident.
    pub incident_id: Option<i64>,
    /// The transaction that executed it (or whatever executed at its nonce).
    pub executed_tx: Option<String>,
    /// Its block.
    pub executed_block: Option<u64>,
}

/// An owner's confirmation as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConfirmationRecord {
    /// The owner.
    #[schema(value_type = String)]
    pub owner: Address,
    /// `signature` or `approved_hash`.
    pub kind: String,
    /// The signature, for `signature`.
    #[schema(value_type = Option<String>)]
    pub signature: Option<Bytes>,
    /// How it reached guardian (`signer:NAME`, `--signature`, `approveHash`).
    pub via: String,
    /// When (Unix ms).
    pub at: i64,
}

const COLUMNS: &str = "id, chain, chain_id, safe, nonce, title, safe_tx, calls, safe_tx_hash, status, created_at, created_by, incident_id, executed_tx, executed_block";

fn proposal(r: &Row) -> SqlResult<ProposalRecord> {
    fn parse<T: std::str::FromStr<Err: std::fmt::Display>>(i: usize, s: String) -> SqlResult<T> {
        s.parse()
            .map_err(|e| super::sql::SqlError::conversion(i, format!("{e}")))
    }
    let json = |i: usize, s: String| {
        serde_json::from_str(&s).map_err(|e| super::sql::SqlError::conversion(i, e))
    };
    Ok(ProposalRecord {
        id: r.get(0)?,
        chain: r.get(1)?,
        chain_id: r.get::<i64>(2)? as u64,
        safe: parse(3, r.get(3)?)?,
        nonce: r.get::<i64>(4)? as u64,
        title: r.get(5)?,
        safe_tx: json(6, r.get(6)?)?,
        calls: json(7, r.get(7)?)?,
        safe_tx_hash: parse(8, r.get(8)?)?,
        status: ProposalStatus::parse(&r.get::<String>(9)?),
        created_at: r.get(10)?,
        created_by: r.get(11)?,
        incident_id: r.get(12)?,
        executed_tx: r.get(13)?,
        executed_block: r.get::<Option<i64>>(14)?.map(|b| b as u64),
    })
}

impl Store {
    /// Records a proposal (pending); its id. A transaction with the same hash is refused.
    pub fn propose(&self, p: &NewProposal<'_>) -> Result<i64, StorageError> {
        self.write(|c| {
            c.query_row(
                "INSERT INTO safe_proposals (chain, chain_id, safe, nonce, title, safe_tx, calls, safe_tx_hash, status, created_at, created_by, incident_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?10, ?11) RETURNING id",
                params![
                    p.chain,
                    p.chain_id as i64,
                    p.safe.to_string(),
                    p.nonce as i64,
                    p.title,
                    p.safe_tx.to_string(),
                    p.calls.to_string(),
                    p.safe_tx_hash.to_string(),
                    now_ms(),
                    p.created_by,
                    p.incident_id
                ],
                |r| r.get(0),
            )
        })
    }

    /// Proposal `id`.
    pub fn proposal(&self, id: i64) -> Result<Option<ProposalRecord>, StorageError> {
        self.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM safe_proposals WHERE id = ?1"),
                params![id],
                proposal,
            )
            .optional()
        })
    }

    /// Every proposal, newest first; only those still pending with `pending_only`.
    pub fn proposals(&self, pending_only: bool) -> Result<Vec<ProposalRecord>, StorageError> {
        let filter = if pending_only {
            "WHERE status = 'pending'"
        } else {
            ""
        };
        self.with(|c| {
            c.query_map(
                &format!("SELECT {COLUMNS} FROM safe_proposals {filter} ORDER BY id DESC"),
                params![],
                proposal,
            )
        })
    }

    /// The `safeTxHash` of every proposal ever made.
    pub fn proposal_hashes(&self) -> Result<std::collections::BTreeSet<B256>, StorageError> {
        let hashes: Vec<String> = self.with(|c| {
            c.query_map("SELECT safe_tx_hash FROM safe_proposals", params![], |r| {
                r.get(0)
            })
        })?;
        Ok(hashes.iter().filter_map(|h| h.parse().ok()).collect())
    }

    /// Keeps `owner`'s confirmation of proposal `id` (a second one from the same owner replaces
    /// the first).
    pub fn confirm(
        &self,
        id: i64,
        owner: Address,
        signature: Option<&Bytes>,
        via: &str,
    ) -> Result<(), StorageError> {
        let kind = if signature.is_some() {
            "signature"
        } else {
            "approved_hash"
        };
        self.write(|c| {
            c.execute(
                "INSERT INTO safe_confirmations (proposal_id, owner, kind, signature, via, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (proposal_id, owner) DO UPDATE SET kind = ?3, signature = ?4, via = ?5, at = ?6",
                params![
                    id,
                    owner.to_string(),
                    kind,
                    signature.map(|s| s.to_string()),
                    via,
                    now_ms()
                ],
            )
        })?;
        Ok(())
    }

    /// The confirmations of proposal `id`, in the order they came.
    pub fn confirmations(&self, id: i64) -> Result<Vec<ConfirmationRecord>, StorageError> {
        self.with(|c| {
            c.query_map(
                "SELECT owner, kind, signature, via, at FROM safe_confirmations WHERE proposal_id = ?1 ORDER BY at, owner",
                params![id],
                |r| {
                    let owner: String = r.get(0)?;
                    let signature: Option<String> = r.get(2)?;
                    Ok(ConfirmationRecord {
                        owner: owner
                            .parse()
                            .map_err(|e| super::sql::SqlError::conversion(0, format!("{e}")))?,
                        kind: r.get(1)?,
                        signature: signature
                            .map(|s| s.parse())
                            .transpose()
                            .map_err(|e| super::sql::SqlError::conversion(2, format!("{e}")))?,
                        via: r.get(3)?,
                        at: r.get(4)?,
                    })
                },
            )
        })
    }

    /// Closes proposal `id` as `status`, with the transaction that executed it (or whatever
    /// executed at its nonce); only a pending one.
    pub fn close_proposal(
        &self,
        id: i64,
        status: ProposalStatus,
        tx: Option<&str>,
        block: Option<u64>,
    ) -> Result<bool, StorageError> {
        let n = self.write(|c| {
            c.execute(
                "UPDATE safe_proposals SET status = ?2, executed_tx = ?3, executed_block = ?4, closed_at = ?5 WHERE id = ?1 AND status = 'pending'",
                params![id, status.as_str(), tx, block.map(|b| b as i64), now_ms()],
            )
        })?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proposal_keeps_one_confirmation_per_owner_and_closes_once() {
        for store in Store::each_backend() {
            let hash = B256::repeat_byte(7);
            let p = NewProposal {
                chain: "local",
                chain_id: 31337,
                safe: Address::repeat_byte(1),
                nonce: 3,
                title: "unpause registry",
                safe_tx: serde_json::json!({"nonce": "3"}),
                calls: serde_json::json!([{"label": "unpause registry"}]),
                safe_tx_hash: hash,
                created_by: "oncall",
                incident_id: None,
            };
            let id = store.propose(&p).expect("propose");
            assert!(store.propose(&p).is_err(), "one proposal per hash");
            let owner = Address::repeat_byte(2);
            let sig = Bytes::from(vec![1u8; 65]);
            store
                .confirm(id, owner, Some(&sig), "signer:a")
                .expect("sign");
            store
                .confirm(id, owner, None, "approveHash")
                .expect("again");
            store
                .confirm(id, Address::repeat_byte(3), Some(&sig), "--signature")
                .expect("other");
            let kept = store.confirmations(id).expect("read");
            assert_eq!(kept.len(), 2);
            let first = kept.iter().find(|c| c.owner == owner).expect("owner");
            assert_eq!(
                (first.kind.as_str(), first.signature.as_ref()),
                ("approved_hash", None)
            );
            let read = store.proposal(id).expect("read").expect("there");
            assert_eq!(
                (read.safe_tx_hash, read.nonce, read.status),
                (hash, 3, ProposalStatus::Pending)
            );
            assert_eq!(store.proposals(true).expect("pending").len(), 1);
            assert!(
                store
                    .close_proposal(id, ProposalStatus::Executed, Some("0xab"), Some(9))
                    .expect("close")
            );
            assert!(
                !store
                    .close_proposal(id, ProposalStatus::Cancelled, None, None)
                    .expect("closed already")
            );
            assert!(store.proposals(true).expect("pending").is_empty());
            let read = store.proposal(id).expect("read").expect("there");
            assert_eq!(
                (read.status, read.executed_block),
                (ProposalStatus::Executed, Some(9))
            );
        }
    }
}
