//! The schema's versions: one ordered list of migrations, each in SQLite's dialect and (mapped
//! or written out) PostgreSQL's, and how an SQLite file is brought up to date. PostgreSQL's
//! migration runs in `postgres_db`.

use rusqlite::Connection;

use super::{StorageError, alerts, backfill, journal, leases, proposals, schema};

/// One step of the schema, in both dialects: PostgreSQL's is SQLite's with the types mapped
/// (`postgres_db::dialect`) unless it has text of its own.
pub(crate) struct Migration {
    pub(super) sqlite: &'static str,
    pub(super) postgres: Option<&'static str>,
    pub(super) postgres_extra: Option<&'static str>,
}

impl Migration {
    pub(super) const fn same(sqlite: &'static str) -> Self {
        Migration {
            sqlite,
            postgres: None,
            postgres_extra: None,
        }
    }

    pub(super) const fn with_extra(sqlite: &'static str, extra: &'static str) -> Self {
        Migration {
            sqlite,
            postgres: None,
            postgres_extra: Some(extra),
        }
    }

    pub(super) const fn own(sqlite: &'static str, postgres: &'static str) -> Self {
        Migration {
            sqlite,
            postgres: Some(postgres),
            postgres_extra: None,
        }
    }
}

/// The schema, one migration per version (`PRAGMA user_version` counts those applied on
/// SQLite, table `guardian_schema` on PostgreSQL). Append
/// new ones; never edit a released one. Version 1 uses `IF NOT EXISTS` so that files written
/// before versioning (user_version 0, same tables) are adopted as they are.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration::same(
        "
CREATE TABLE IF NOT EXISTS actions (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    reason      TEXT,
    params      TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    summary     TEXT
);
CREATE TABLE IF NOT EXISTS transactions (
    id           INTEGER PRIMARY KEY,
    action_id    INTEGER NOT NULL REFERENCES actions(id),
    chain_id     INTEGER NOT NULL,
    sender       TEXT    NOT NULL,
    nonce        INTEGER NOT NULL,
    label        TEXT    NOT NULL,
    target       TEXT,
    tx_hash      TEXT    NOT NULL UNIQUE,
    status       TEXT    NOT NULL,
    block_number INTEGER,
    gas_used     INTEGER,
    error        TEXT,
    sent_at      INTEGER NOT NULL,
    mined_at     INTEGER
);
CREATE INDEX IF NOT EXISTS transactions_by_action ON transactions(action_id);
",
    ),
    Migration::same(schema::OUTBOX),
    // An action may carry a key that makes it happen once (an automatic response per alert).
    Migration::same(
        "
ALTER TABLE actions ADD COLUMN once_key TEXT;
CREATE UNIQUE INDEX actions_by_once_key ON actions(once_key) WHERE once_key IS NOT NULL;
",
    ),
    Migration::same(alerts::MIGRATION),
    Migration::with_extra(schema::INCIDENTS, schema::INCIDENTS_POSTGRES),
    Migration::same(backfill::MIGRATION),
    Migration::same(schema::BOUNTY_REPORTS),
    Migration::same(schema::BOUNTY_TOKENS),
    Migration::same(schema::BOUNTY_TRIAGE),
    Migration::same(journal::MIGRATION_FEES),
    Migration::same(alerts::MIGRATION_ABOUT_BLOCK),
    Migration::same(schema::API_TOKEN_LIFE),
    Migration::own(schema::BOUNTY_PUBLIC_ID, schema::BOUNTY_PUBLIC_ID_POSTGRES),
    Migration::same(schema::BOUNTY_TRIGRAMS),
    Migration::same(leases::MIGRATION),
    Migration::same(alerts::MIGRATION_DISPATCHED),
    Migration::same(journal::MIGRATION_FENCE),
    Migration::same(proposals::MIGRATION),
    Migration::same(schema::TEAM_SESSIONS),
    Migration::same(super::contracts::MIGRATION),
    Migration::same(super::contracts::MIGRATION_HEADS),
    Migration::same(schema::TASK_OWNERS),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the file up to [`SCHEMA_VERSION`], each step in its own transaction; refuses a file
/// written by a newer Guardian rather than guess at its tables.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StorageError> {
    let found: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StorageError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(step.sqlite)?;
        tx.pragma_update(None, "user_version", i as u32 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
