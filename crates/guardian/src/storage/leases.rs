//! Chain leases: which instance follows and answers each chain when several share one
//! PostgreSQL database. A lease has a holder, an epoch that grows at every takeover, and an
//! expiry renewed by its holder; any instance takes a lease that expired. Time is the
//! database's clock, so instances whose clocks disagree still agree on who holds what. A
//! holder's writes for its chain carry its [`Fence`]: the database refuses them once another
//! instance took the chain.

use super::{
    StorageError, Store,
    sql::{Backend, Conn, OptionalExt as _, SqlResult, params},
};

/// Migration 15: the leases.
pub(super) const MIGRATION: &str = "
CREATE TABLE chain_leases (
    chain_id   INTEGER PRIMARY KEY,
    holder     TEXT    NOT NULL,
    epoch      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    taken_at   INTEGER NOT NULL,
    renewed_at INTEGER NOT NULL
);
";

/// A chain's lease as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lease {
    /// The chain.
    pub chain_id: u64,
    /// The instance holding it.
    pub holder: String,
    /// Grows by one at every takeover.
    pub epoch: i64,
    /// When it lapses unless renewed (Unix ms, the database's clock).
    pub expires_at: i64,
    /// When this holder took it.
    pub taken_at: i64,
    /// When it was last renewed.
    pub renewed_at: i64,
}

/// What a holder's write for a chain proves: the lease it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The chain.
    pub chain_id: u64,
    /// The holder.
    pub holder: String,
    /// Its epoch.
    pub epoch: i64,
}

/// A lease just taken, with the one it replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// The lease now held.
    pub lease: Lease,
    /// The lease it replaced (lapsed or released), if the chain had one.
    pub previous: Option<Lease>,
}

impl Taken {
    /// How long the chain had no live lease before this one, in milliseconds (0 the first time).
    pub fn unwatched_ms(&self) -> i64 {
        self.previous
            .as_ref()
            .map_or(0, |p| (self.lease.taken_at - p.expires_at).max(0))
    }
}

impl Lease {
    /// The fence of this lease.
    pub fn fence(&self) -> Fence {
        Fence {
            chain_id: self.chain_id,
            holder: self.holder.clone(),
            epoch: self.epoch,
        }
    }
}

/// The database's clock in Unix milliseconds (the local clock for SQLite, which is one file on
/// one machine).
pub(crate) fn db_now(conn: &Conn<'_>) -> SqlResult<i64> {
    match conn.backend() {
        Backend::Sqlite => Ok(super::now_ms()),
        Backend::Postgres => conn.query_row(
            "SELECT CAST(floor(extract(epoch FROM clock_timestamp()) * 1000) AS BIGINT)",
            params![],
            |r| r.get(0),
        ),
    }
}

tokio::task_local! {
    /// The lease the current task acts under (`[ha]`): an action it starts carries it.
    static ACTING_UNDER: Fence;
}

/// Runs `f` with every action it starts carrying `fence` (none: as it is): the action's
/// transactions are then journalled, and so broadcast, only while `fence`'s lease is held.
pub async fn acting_under<F: std::future::Future>(fence: Option<Fence>, f: F) -> F::Output {
    match fence {
        Some(fence) => ACTING_UNDER.scope(fence, f).await,
        None => f.await,
    }
}

/// The lease the current task acts under, if any.
pub(super) fn current_fence() -> Option<Fence> {
    ACTING_UNDER.try_with(Clone::clone).ok()
}

/// Whether `fence` still holds its chain, read inside the caller's write transaction (writes
/// are serialized, so the answer stands until it commits).
pub(crate) fn holds(conn: &Conn<'_>, fence: &Fence) -> SqlResult<bool> {
    let now = db_now(conn)?;
    Ok(conn
        .query_row(
            "SELECT 1 FROM chain_leases WHERE chain_id = ?1 AND holder = ?2 AND epoch = ?3 AND expires_at > ?4",
            params![fence.chain_id as i64, fence.holder, fence.epoch, now],
            |r| r.get::<i64>(0),
        )
        .optional()?
        .is_some())
}

fn lease_of(r: &super::sql::Row) -> SqlResult<Lease> {
    Ok(Lease {
        chain_id: r.get::<i64>(0)? as u64,
        holder: r.get(1)?,
        epoch: r.get(2)?,
        expires_at: r.get(3)?,
        taken_at: r.get(4)?,
        renewed_at: r.get(5)?,
    })
}

impl Store {
    /// Takes chain `chain_id`'s lease for `holder` when nobody holds it or it expired (its epoch
    /// grows by one), for `lease_ms`; `None` while another holder's lease runs.
    pub fn take_lease(
        &self,
        chain_id: u64,
        holder: &str,
        lease_ms: u64,
    ) -> Result<Option<Taken>, StorageError> {
        self.write(|c| {
            let now = db_now(c)?;
            let previous = c
                .query_row(
                    "SELECT chain_id, holder, epoch, expires_at, taken_at, renewed_at FROM chain_leases WHERE chain_id = ?1",
                    params![chain_id as i64],
                    lease_of,
                )
                .optional()?;
            let lease = c.query_row(
                "INSERT INTO chain_leases (chain_id, holder, epoch, expires_at, taken_at, renewed_at)
                 VALUES (?1, ?2, 1, CAST(?3 AS BIGINT) + CAST(?4 AS BIGINT), ?3, ?3)
                 ON CONFLICT (chain_id) DO UPDATE SET holder = excluded.holder,
                     epoch = chain_leases.epoch + 1, expires_at = excluded.expires_at,
                     taken_at = excluded.taken_at, renewed_at = excluded.renewed_at
                 WHERE chain_leases.expires_at <= ?3
                 RETURNING chain_id, holder, epoch, expires_at, taken_at, renewed_at",
                params![chain_id as i64, holder, now, lease_ms as i64],
                lease_of,
            )
            .optional()?;
            Ok(lease.map(|lease| Taken { lease, previous }))
        })
    }

    /// Extends `lease` by `lease_ms` from now; the renewed lease, or `None` when it was lost
    /// (it expired and another instance took it, or it expired at all: a holder that missed
    /// its renewal must take the lease again, under a new epoch).
    pub fn renew_lease(&self, lease: &Lease, lease_ms: u64) -> Result<Option<Lease>, StorageError> {
        self.write(|c| {
            let now = db_now(c)?;
            c.query_row(
                "UPDATE chain_leases SET expires_at = CAST(?4 AS BIGINT) + CAST(?5 AS BIGINT), renewed_at = ?4
                 WHERE chain_id = ?1 AND holder = ?2 AND epoch = ?3 AND expires_at > ?4
                 RETURNING chain_id, holder, epoch, expires_at, taken_at, renewed_at",
                params![
                    lease.chain_id as i64,
                    lease.holder,
                    lease.epoch,
                    now,
                    lease_ms as i64
                ],
                lease_of,
            )
            .optional()
        })
    }

    /// Gives `lease` up (a clean stop), so another instance takes the chain at once.
    pub fn release_lease(&self, lease: &Lease) -> Result<(), StorageError> {
        self.write(|c| {
            let now = db_now(c)?;
            c.execute(
                "UPDATE chain_leases SET expires_at = ?4
                 WHERE chain_id = ?1 AND holder = ?2 AND epoch = ?3",
                params![lease.chain_id as i64, lease.holder, lease.epoch, now],
            )
        })?;
        Ok(())
    }

    /// Every chain's lease, with the database's time now.
    pub fn leases(&self) -> Result<(Vec<Lease>, i64), StorageError> {
        self.with(|c| {
            let now = db_now(c)?;
            let leases = c.query_map(
                "SELECT chain_id, holder, epoch, expires_at, taken_at, renewed_at FROM chain_leases ORDER BY chain_id",
                params![],
                lease_of,
            )?;
            Ok((leases, now))
        })
    }

    /// Whether `fence` still holds its chain now.
    pub fn still_holds(&self, fence: &Fence) -> Result<bool, StorageError> {
        self.with(|c| holds(c, fence))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_started_under_a_lease_journals_nothing_once_the_lease_is_lost() {
        use alloy::primitives::{Address, TxHash};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        for store in Store::each_backend() {
            let a = store
                .take_lease(7, "a", 60_000)
                .expect("take")
                .expect("free");
            let (under, free) = runtime.block_on(async {
                let under = acting_under(Some(a.lease.fence()), async {
                    store.begin_action("pause", "guardian", None, &serde_json::json!({}))
                })
                .await
                .expect("begin");
                let free = store
                    .begin_action("pause", "oncall", None, &serde_json::json!({}))
                    .expect("begin");
                (under, free)
            });
            let tx = |n: u8| crate::storage::NewTx {
                chain_id: 7,
                sender: Address::repeat_byte(1),
                nonce: n as u64,
                label: "pause registry",
                target: None,
                tx_hash: TxHash::repeat_byte(n),
                fees: None,
            };
            store.record_sent(under, &tx(1)).expect("held: journalled");

            // b takes the chain over: a's action journals nothing more; a person's still does.
            let short = store.renew_lease(&a.lease, 1).expect("renew").expect("a's");
            std::thread::sleep(std::time::Duration::from_millis(20));
            store
                .take_lease(7, "b", 60_000)
                .expect("take")
                .expect("lapsed");
            let refused = store.record_sent(under, &tx(2));
            assert!(
                matches!(refused, Err(StorageError::Fenced { chain_id: 7, epoch }) if epoch == short.epoch),
                "{refused:?}"
            );
            assert_eq!(store.transactions(under).expect("txs").len(), 1);
            store
                .record_sent(free, &tx(3))
                .expect("no lease: journalled");
        }
    }

    #[test]
    fn a_lease_is_held_renewed_lost_when_it_lapses_and_taken_under_a_new_epoch() {
        for store in Store::each_backend() {
            let a = store
                .take_lease(7, "a", 60_000)
                .expect("take")
                .expect("free");
            assert_eq!((a.previous.clone(), a.unwatched_ms()), (None, 0));
            let a = a.lease;
            assert_eq!((a.holder.as_str(), a.epoch), ("a", 1));
            assert!(
                store.take_lease(7, "b", 60_000).expect("take").is_none(),
                "held by a: b waits"
            );
            let a = store
                .renew_lease(&a, 60_000)
                .expect("renew")
                .expect("still a's");
            assert!(store.still_holds(&a.fence()).expect("read"));

            // a stops renewing; its lease lapses and b takes the chain under epoch 2.
            let short = store.renew_lease(&a, 1).expect("renew").expect("a's");
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(!store.still_holds(&short.fence()).expect("read"), "lapsed");
            let b = store
                .take_lease(7, "b", 60_000)
                .expect("take")
                .expect("lapsed");
            assert_eq!(b.previous.as_ref().map(|p| p.holder.as_str()), Some("a"));
            assert!(b.unwatched_ms() > 0, "{b:?}");
            let b = b.lease;
            assert_eq!((b.holder.as_str(), b.epoch), ("b", 2));
            assert!(
                store.renew_lease(&short, 60_000).expect("renew").is_none(),
                "a, waking up, finds its lease gone"
            );
            assert!(!store.still_holds(&a.fence()).expect("read"));
            assert!(store.still_holds(&b.fence()).expect("read"));

            // A clean stop hands the chain over at once.
            store.release_lease(&b).expect("release");
            let c = store
                .take_lease(7, "c", 60_000)
                .expect("take")
                .expect("released")
                .lease;
            assert_eq!(c.epoch, 3);
            let (all, _) = store.leases().expect("list");
            assert_eq!(all.len(), 1);
            assert_eq!(all[0].holder, "c");
        }
    }
}
