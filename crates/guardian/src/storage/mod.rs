//! The tool's own records in SQLite: the database, its versioned migrations and its errors. The
//! journal of actions and transactions is in `journal`, alerts and the monitor's cursor in
//! `alerts`, a backfill's progress in `backfill`, the notification outbox in `notify::outbox`.

mod alerts;
mod backfill;
mod contracts;
mod copy;
mod journal;
mod leases;
mod migrations;
mod offline;
mod postgres_db;
mod proposals;
mod retention;
mod schema;
pub mod sql;

pub use alerts::{AlertFilter, BlockRecord, Cursor, KEPT_BLOCKS};
pub(crate) use alerts::{insert_alerts, select_alerts};
pub use backfill::BackfillCursor;
pub use contracts::{BlockNotes, ContractState};
pub use copy::{Copied, CopyError};
pub use journal::{ActionId, ActionRecord, BroadcastRecord, MinedTx, NewTx, Status, TxRecord};
pub use leases::{Fence, Lease, Taken, acting_under};
pub use offline::Absorbed;
pub use proposals::{ConfirmationRecord, NewProposal, ProposalRecord, ProposalStatus};
pub use retention::{KeptBy, PRUNE_BATCH, Prune};

use std::{
    path::Path,
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

#[cfg(test)]
use migrations::MIGRATIONS;
pub use migrations::SCHEMA_VERSION;
use migrations::migrate;
use rusqlite::Connection;
use sql::{Conn, SqlError, SqlResult};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database refused an operation, or could not be reached.
    #[error("{0}")]
    Sql(#[from] SqlError),
    /// The database file could not be opened.
    #[error("cannot open database {path}: {source} (check the directory exists and is writable)")]
    Open {
        /// The database path.
        path: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The PostgreSQL server could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL at {target}: {message}")]
    Connect {
        /// Host, port and database (never the password).
        target: String,
        /// Why.
        message: String,
    },
    /// Another instance took the chain's lease: this one no longer writes for it.
    #[error(
        "this instance's lease of chain {chain_id} (epoch {epoch}) was taken by another instance: it no longer follows that chain"
    )]
    Fenced {
        /// The chain.
        chain_id: u64,
        /// The epoch it held.
        epoch: i64,
    },
    /// An action that must happen once was already recorded under this key.
    #[error("already done: an action was recorded for `{0}`")]
    AlreadyDone(String),
    /// The file was written by a newer Guardian, with a schema this build does not know.
    #[error(
        "the database has schema version {found}, newer than the {supported} this guardian knows: upgrade guardian (or point it at another database); the file was not changed"
    )]
    TooNew {
        /// The file's version.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
}

impl StorageError {
    /// Whether the database could not be reached (a refused or lost connection), as opposed
    /// to a refusal by a database that answered.
    pub fn is_unreachable(&self) -> bool {
        match self {
            StorageError::Connect { .. } => true,
            StorageError::Sql(SqlError::Postgres(e)) => {
                e.is_closed()
                    || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
            }
            _ => false,
        }
    }
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        StorageError::Sql(SqlError::Sqlite(e))
    }
}

impl From<postgres::Error> for StorageError {
    fn from(e: postgres::Error) -> Self {
        StorageError::Sql(SqlError::Postgres(e))
    }
}

/// The tool's database: the embedded SQLite file, or a PostgreSQL server shared by several
/// instances.
pub struct Store {
    db: Db,
}

enum Db {
    Sqlite(Mutex<Connection>),
    Postgres(Box<Mutex<postgres_db::Client>>),
}

/// Makes the database file readable by its owner only (0600), creating it empty so when it is
/// missing; SQLite gives its `-wal` and `-shm` files the same mode. A file that already exists is
/// tightened as well (with its `-wal` and `-shm`), or a warning says why it could not be.
fn owner_only(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        let mut files = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            files.push(name.into());
        }
        for file in files {
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0
                && let Err(e) =
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
            {
                tracing::warn!(
                    file = %file.display(),
                    error = %e,
                    "the database is readable by others and could not be made owner-only"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        owner_only(path);
        let conn = Connection::open(path).map_err(|source| StorageError::Open {
            path: path.display().to_string(),
            source,
        })?;
        Self::init(conn)
    }

    /// A private in-memory database (tests, dry runs).
    pub fn in_memory() -> Result<Self, StorageError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self, StorageError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")?;
        migrate(&mut conn)?;
        Ok(Self {
            db: Db::Sqlite(Mutex::new(conn)),
        })
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`)
    /// and brings its schema up to date; the error names the server, never the password.
    pub fn connect(url: &str) -> Result<Self, StorageError> {
        Self::connect_within(url, None)
    }

    /// As [`Store::connect`], giving up on reaching the server after `timeout` (default: the
    /// URL's `connect_timeout`, else 5 s).
    pub fn connect_within(
        url: &str,
        timeout: Option<std::time::Duration>,
    ) -> Result<Self, StorageError> {
        let mut client = postgres_db::Client::connect(url, timeout)?;
        postgres_db::migrate(client.get()?)?;
        Ok(Self {
            db: Db::Postgres(Box::new(Mutex::new(client))),
        })
    }

    /// Opens the database a deployment names: PostgreSQL where a URL is given, else the file.
    pub fn open_at(location: &Location) -> Result<Self, StorageError> {
        match location {
            Location::File(path) => Self::open(path),
            Location::Url(url) => Self::connect(url.expose()),
        }
    }

    /// Which backend this is.
    pub fn backend(&self) -> sql::Backend {
        match self.db {
            Db::Sqlite(_) => sql::Backend::Sqlite,
            Db::Postgres(_) => sql::Backend::Postgres,
        }
    }

    /// Runs `f` in one write transaction, committed when `f` succeeds. Writers are serialized:
    /// on SQLite the transaction takes the write lock at once (`BEGIN IMMEDIATE`: a deferred one
    /// that reads first and writes later fails at once when another connection wrote in
    /// between); on PostgreSQL it takes one advisory lock shared by every instance.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> SqlResult<T>,
    ) -> Result<T, StorageError> {
        self.run(true, f)
    }

    /// Runs `f` on the connection (reads, and single statements that need no lock): SQLite's
    /// connection as it is, a PostgreSQL transaction of its own.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> SqlResult<T>,
    ) -> Result<T, StorageError> {
        self.run(false, f)
    }

    fn run<T>(
        &self,
        write: bool,
        f: impl FnOnce(&Conn<'_>) -> SqlResult<T>,
    ) -> Result<T, StorageError> {
        match &self.db {
            Db::Sqlite(conn) => {
                let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if !write {
                    return Ok(f(&Conn::Sqlite(&conn))?);
                }
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let out = f(&Conn::Sqlite(&tx))?;
                tx.commit()?;
                Ok(out)
            }
            Db::Postgres(client) => {
                let mut client = client
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let client = client.get()?;
                let tx = sql::off_runtime(|| -> Result<_, postgres::Error> {
                    let mut tx = client.transaction()?;
                    if write {
                        tx.execute(
                            "SELECT pg_advisory_xact_lock($1)",
                            &[&postgres_db::WRITE_LOCK],
                        )?;
                    }
                    Ok(tx)
                })?;
                let conn = Conn::Postgres(std::cell::RefCell::new(tx));
                // A panic in `f` must not unwind through the transaction's drop, which blocks on
                // the driver's runtime (a panic inside a panic: the process would abort).
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&conn)));
                let Conn::Postgres(tx) = conn else {
                    unreachable!("made above")
                };
                // Ended here, off the runtime: the driver's own drop would block on it.
                let tx = tx.into_inner();
                let out = match out {
                    Ok(out) => out,
                    Err(panic) => {
                        let _ = sql::off_runtime(move || tx.rollback());
                        std::panic::resume_unwind(panic);
                    }
                };
                match out {
                    Ok(v) => {
                        sql::off_runtime(move || tx.commit())?;
                        Ok(v)
                    }
                    Err(e) => {
                        let _ = sql::off_runtime(move || tx.rollback());
                        Err(e.into())
                    }
                }
            }
        }
    }
}

/// Where a deployment's records are kept.
#[derive(Debug, Clone)]
pub enum Location {
    /// The embedded SQLite file.
    File(std::path::PathBuf),
    /// A PostgreSQL server (the URL may hold a password).
    Url(crate::secret::Secret),
}

impl Location {
    /// False only for a file that does not exist yet (a server is assumed to be there).
    pub fn exists(&self) -> bool {
        match self {
            Location::File(path) => path.exists(),
            Location::Url(_) => true,
        }
    }
}

impl std::fmt::Display for Location {
    /// The file's path, or the server's host, port and database (never the password).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(path) => write!(f, "{}", path.display()),
            Location::Url(url) => match url::Url::parse(url.expose()) {
                Ok(u) => write!(
                    f,
                    "PostgreSQL at {}:{}{}",
                    u.host_str().unwrap_or("localhost"),
                    u.port().unwrap_or(5432),
                    u.path()
                ),
                Err(_) => f.write_str("PostgreSQL (an unreadable URL)"),
            },
        }
    }
}

/// The tests' PostgreSQL server (the integration tests' own support file).
#[cfg(test)]
#[path = "../../tests/it/support/postgres.rs"]
pub(crate) mod test_cluster;

#[cfg(test)]
impl Store {
    /// An empty store of each backend: in-memory SQLite, and a fresh database on the tests'
    /// PostgreSQL server. Tests of records run their checks on both.
    pub(crate) fn each_backend() -> Vec<Store> {
        vec![
            Store::in_memory().expect("sqlite"),
            Store::connect(&test_cluster::cluster().fresh_database()).expect("postgres"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::sql::params;

    #[cfg(unix)]
    #[test]
    fn the_database_and_its_wal_are_readable_by_the_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tmp");
        let mode = |name: &str| {
            std::fs::metadata(dir.path().join(name))
                .expect("exists")
                .permissions()
                .mode()
                & 0o777
        };
        let path = dir.path().join("guardian.db");
        let store = Store::open(&path).expect("open");
        store
            .write(|tx| tx.execute("INSERT INTO monitor_cursors (chain_id, chain, number, hash, updated_at) VALUES (1, 'x', 1, 'h', 1)", params![]))
            .expect("write");
        for name in ["guardian.db", "guardian.db-wal", "guardian.db-shm"] {
            assert_eq!(mode(name), 0o600, "{name}");
        }
        drop(store);
        // A file an earlier build left world-readable is tightened when opened.
        let old = dir.path().join("old.db");
        std::fs::write(&old, b"").expect("create");
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        Store::open(&old).expect("open");
        assert_eq!(mode("old.db"), 0o600);
    }

    #[test]
    fn an_older_file_is_migrated_and_a_newer_one_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("guardian.db");
        // A file from before versioning: the same tables, user_version 0, one action in it.
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(MIGRATIONS[0].sqlite)
                .expect("old schema");
            conn.execute(
                "INSERT INTO actions (kind, actor, params, status, started_at) VALUES ('pause', 'x', '{}', 'succeeded', 1)",
                [],
            )
            .expect("row");
        }
        let store = Store::open(&path).expect("migrates");
        assert_eq!(store.actions().expect("actions").len(), 1, "kept its rows");
        drop(store);
        let version: u32 = Connection::open(&path)
            .expect("open")
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);

        Connection::open(&path)
            .expect("open")
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("bump");
        let err = Store::open(&path).err().expect("newer file refused");
        assert!(
            matches!(err, StorageError::TooNew { found, .. } if found == SCHEMA_VERSION + 1),
            "{err}"
        );
        assert!(err.to_string().contains("upgrade guardian"), "{err}");
    }

    /// A file as the build before migration `version + 1` wrote it.
    fn file_at_version(path: &Path, version: usize) -> Connection {
        let mut conn = Connection::open(path).expect("open");
        for (i, step) in MIGRATIONS[..version].iter().enumerate() {
            let tx = conn.transaction().expect("tx");
            tx.execute_batch(step.sqlite).expect("step");
            tx.pragma_update(None, "user_version", i as u32 + 1)
                .expect("v");
            tx.commit().expect("commit");
        }
        conn
    }

    #[test]
    fn bounty_reports_written_before_migration_13_get_distinct_random_public_ids() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("guardian.db");
        {
            let conn = file_at_version(&path, 12);
            for n in 0..3 {
                conn.execute(
                    "INSERT INTO bounty_reports (title, severity, impact, contracts, description, contact, token_sha256, status, submitted_at, updated_at)
                     VALUES ('t', 'low', 'griefing', '[\"escrow\"]', 'd', 'c', ?1, 'reported', 1, 1)",
                    [format!("hash-{n}")],
                )
                .expect("report");
            }
        }
        let store = Store::open(&path).expect("migrates");
        let ids: Vec<(i64, String)> = store
            .with(|c| {
                c.query_map(
                    "SELECT id, public_id FROM bounty_reports ORDER BY id",
                    params![],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
            })
            .expect("rows");
        assert_eq!(ids.len(), 3, "kept its rows");
        for (n, (id, public)) in ids.iter().enumerate() {
            assert_eq!(*id, n as i64 + 1);
            assert_eq!(public.len(), 32, "{public}");
            assert!(
                public
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
                "{public}"
            );
            assert!(ids[n + 1..].iter().all(|(_, other)| other != public));
        }
        // The index refuses a second report with the same public id; a row inserted without one
        // gets one.
        let same = store.with(|c| {
            c.execute(
                "UPDATE bounty_reports SET public_id = ?1 WHERE id = 2",
                params![ids[0].1],
            )
        });
        assert!(same.is_err(), "public ids are unique");
        let added: String = store
            .with(|c| {
                c.execute(
                    "INSERT INTO bounty_reports (title, severity, impact, contracts, description, contact, token_sha256, status, submitted_at, updated_at)
                     VALUES ('t', 'low', 'griefing', '[]', 'd', 'c', 'hash-x', 'reported', 1, 1)",
                    params![],
                )?;
                c.query_row("SELECT public_id FROM bounty_reports WHERE id = 4", params![], |r| r.get(0))
            })
            .expect("inserted by hand");
        assert_eq!(added.len(), 32, "{added}");
    }

    #[test]
    fn bounty_reports_written_before_migration_14_are_indexed_by_the_first_duplicate_scan() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("guardian.db");
        {
            let conn = file_at_version(&path, 13);
            for (n, title) in [
                "Escrow withdraw is re-entrant: an attacker drains every deposit",
                "Reentrancy in the escrow's withdraw drains every deposit",
            ]
            .into_iter()
            .enumerate()
            {
                conn.execute(
                    "INSERT INTO bounty_reports (title, severity, impact, contracts, description, contact, token_sha256, status, submitted_at, updated_at)
                     VALUES (?1, 'critical', 'direct-theft-of-funds', '[\"escrow\"]', 'withdraw pays before it zeroes the balance', 'c', ?2, 'reported', 1, 1)",
                    rusqlite::params![title, format!("hash-{n}")],
                )
                .expect("report");
            }
        }
        let store = Store::open(&path).expect("migrates");
        let indexed = |store: &Store| -> i64 {
            store
                .with(|c| {
                    c.query_row("SELECT COUNT(*) FROM bounty_trigram_sets", params![], |r| {
                        r.get(0)
                    })
                })
                .expect("count")
        };
        assert_eq!(indexed(&store), 0, "indexed when first needed, not at open");
        let found = store.possible_duplicates(2).expect("scan");
        assert_eq!(found.iter().map(|d| d.id).collect::<Vec<_>>(), [1]);
        assert_eq!(indexed(&store), 2);
    }

    #[test]
    fn alerts_written_before_migration_11_learn_which_are_about_their_block() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("guardian.db");
        // A file as the build before this migration wrote it: version 10, three alerts.
        {
            let mut conn = Connection::open(&path).expect("open");
            for (i, step) in MIGRATIONS[..10].iter().enumerate() {
                let tx = conn.transaction().expect("tx");
                tx.execute_batch(step.sqlite).expect("step");
                tx.pragma_update(None, "user_version", i as u32 + 1)
                    .expect("v");
                tx.commit().expect("commit");
            }
            for key in [
                "rate:escrow:10",
                "monitor-health:contact:ops:17",
                "bounty-sla:report:3",
            ] {
                conn.execute(
                    "INSERT INTO alerts (rule, kind, severity, severity_rank, status, chain, chain_id, block_number, block_hash, tx_hashes, summary, evidence, dedup_key, detected_at)
                     VALUES ('r', 'k', 'high', 2, 'raised', 'local', 1, 5, '0x00', '[]', 's', '{}', ?1, 1)",
                    [key],
                )
                .expect("alert");
            }
        }
        drop(Store::open(&path).expect("migrates"));
        let conn = Connection::open(&path).expect("open");
        let mut stmt = conn
            .prepare("SELECT dedup_key, about_block FROM alerts ORDER BY id")
            .expect("q");
        let rows: Vec<(String, bool)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            rows,
            vec![
                ("rate:escrow:10".to_string(), true),
                ("monitor-health:contact:ops:17".to_string(), false),
                ("bounty-sla:report:3".to_string(), false),
            ]
        );
    }
}
