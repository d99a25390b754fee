//! The PostgreSQL backend's connection: opened from a URL (whose password never appears in an
//! error or a log), reopened after the server went away, and brought to the schema version this
//! build writes by the same ordered list of migrations as SQLite, in PostgreSQL's dialect.

use std::{str::FromStr as _, time::Duration};

use super::{
    StorageError,
    migrations::{MIGRATIONS, Migration, SCHEMA_VERSION},
    sql::off_runtime,
};

/// Serializes every write transaction across all instances sharing the database, as SQLite's
/// `BEGIN IMMEDIATE` does within a file: the features' read-then-write logic stays correct
/// without retrying on serialization failures.
pub(super) const WRITE_LOCK: i64 = 0x6775_6172_6469_616e; // "guardian"
/// How long the server lets a session sit inside a transaction without a statement before it
/// ends the session. A process frozen by the OS (or cut off) while it holds [`WRITE_LOCK`] would
/// otherwise stop every instance's writes, the takeover of its chains included; our
/// transactions never wait on anything but the database between statements.
const IDLE_IN_TRANSACTION_MS: u64 = 1000;
/// How long a statement waits for a lock ([`WRITE_LOCK`] above all) before it fails: a caller
/// that retries (the monitor's next block, the outbox's next pass) is better than one stuck.
const LOCK_TIMEOUT_MS: u64 = 10_000;
/// How long one statement may run before the server cancels it.
const STATEMENT_TIMEOUT_MS: u64 = 30_000;
/// How long sent data may stay unacknowledged before the connection is dropped: a server that
/// vanished mid-statement (its host down, a network cut) fails the statement within seconds.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serializes migrations: two instances started at once migrate once.
const MIGRATE_LOCK: i64 = 0x6775_6172_646d_6967;

/// A connection to PostgreSQL, reopened on the next use when the server closed it.
pub(super) struct Client {
    config: postgres::Config,
    target: String,
    conn: Option<postgres::Client>,
}

impl Client {
    /// Parses `url` and connects; the error names the host, port and database, never the
    /// password.
    pub(super) fn connect(url: &str, timeout: Option<Duration>) -> Result<Self, StorageError> {
        // Certificates are always checked (as for the RPC endpoints): libpq's verify-ca and
        // verify-full are what `require` means here.
        let url = url
            .replace("sslmode=verify-full", "sslmode=require")
            .replace("sslmode=verify-ca", "sslmode=require");
        let url = url.as_str();
        let mut config = postgres::Config::from_str(url).map_err(|e| StorageError::Connect {
            target: "the URL given".into(),
            message: format!(
                "{} (expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE)",
                redact(&e.to_string(), url)
            ),
        })?;
        match timeout {
            Some(t) => {
                config.connect_timeout(t);
            }
            None if config.get_connect_timeout().is_none() => {
                config.connect_timeout(Duration::from_secs(5));
            }
            None => {}
        }
        // A connection whose server vanished (no reset) is noticed within seconds.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(5));
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
        let target = target_of(&config);
        let mut client = Client {
            config,
            target,
            conn: None,
        };
        client.get()?;
        Ok(client)
    }

    /// The open connection, reconnecting first if there is none or it was closed.
    pub(super) fn get(&mut self) -> Result<&mut postgres::Client, StorageError> {
        if self.conn.as_ref().is_none_or(|c| c.is_closed()) {
            if let Some(closed) = self.conn.take() {
                off_runtime(move || drop(closed));
            }
            let config = &self.config;
            // TLS as `sslmode` asks (default `prefer`: TLS where the server offers it, its
            // certificate checked against the same trust as the RPC endpoints).
            let (tls, problem) = crate::tls::client_config();
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
            let conn = off_runtime(|| config.connect(tls)).map_err(|e| {
                let mut message = super::sql::SqlError::Postgres(e)
                    .to_string()
                    .trim_start_matches("database error: ")
                    .to_string();
                crate::tls::advise(&mut message, problem.as_deref());
                StorageError::Connect {
                    target: self.target.clone(),
                    message,
                }
            })?;
            let mut conn = conn;
            let set = off_runtime(|| {
                conn.batch_execute(&format!(
                    "SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_MS};
                     SET lock_timeout = {LOCK_TIMEOUT_MS};
                     SET statement_timeout = {STATEMENT_TIMEOUT_MS}"
                ))
            });
            if let Err(e) = set {
                off_runtime(move || drop(conn));
                return Err(e.into());
            }
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }
}

impl Drop for Client {
    /// The driver closes its connection by blocking on its own runtime, which must not happen
    /// on one of tokio's threads.
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            off_runtime(move || drop(conn));
        }
    }
}

/// `host:port/database` of a configuration.
fn target_of(config: &postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

/// `message` with the URL's password, if any, replaced.
fn redact(message: &str, url: &str) -> String {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
    {
        Some(p) if !p.is_empty() => message.replace(&p, "***"),
        _ => message.to_string(),
    }
}

/// Brings the database to [`SCHEMA_VERSION`] in one transaction (PostgreSQL's DDL is
/// transactional), under a lock that makes a second instance wait and then find it done.
pub(super) fn migrate(client: &mut postgres::Client) -> Result<(), StorageError> {
    off_runtime(|| -> Result<(), StorageError> {
        let mut tx = client.transaction()?;
        // Another instance's migration is waited for, however long it takes.
        tx.batch_execute("SET LOCAL lock_timeout = 0; SET LOCAL statement_timeout = 0")?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS guardian_schema (version BIGINT NOT NULL)")?;
        let found: Option<i64> = tx
            .query_opt("SELECT version FROM guardian_schema", &[])?
            .map(|r| r.get(0));
        let found = match found {
            Some(v) => v as u32,
            None => {
                tx.execute("INSERT INTO guardian_schema (version) VALUES (0)", &[])?;
                0
            }
        };
        if found > SCHEMA_VERSION {
            return Err(StorageError::TooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        for (i, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.batch_execute(&dialect(step))?;
            tx.execute(
                "UPDATE guardian_schema SET version = $1",
                &[&(i as i64 + 1)],
            )?;
        }
        tx.commit()?;
        Ok(())
    })
}

/// A migration in PostgreSQL's dialect: its own text where it has one, else SQLite's with the
/// types mapped (`INTEGER` → `BIGINT`, `BLOB` → `BYTEA`, an `id INTEGER PRIMARY KEY` → an
/// identity column), followed by what PostgreSQL needs besides (triggers).
pub(super) fn dialect(step: &Migration) -> String {
    if let Some(own) = step.postgres {
        return own.to_string();
    }
    let mut out = String::new();
    let mut in_trigger = false;
    for line in step.sqlite.lines() {
        let trimmed = line.trim_start();
        // SQLite's triggers are written again in PL/pgSQL (`postgres_extra`).
        if trimmed.starts_with("CREATE TRIGGER") {
            in_trigger = true;
        }
        if in_trigger {
            in_trigger = !trimmed.ends_with("END;");
            continue;
        }
        let mapped = if trimmed.starts_with("id ") && trimmed.contains("INTEGER PRIMARY KEY") {
            line.replacen(
                "INTEGER PRIMARY KEY",
                "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                1,
            )
        } else {
            line.replace(" INTEGER", " BIGINT")
                .replace(" BLOB", " BYTEA")
        };
        out.push_str(&mapped);
        out.push('\n');
    }
    if let Some(extra) = step.postgres_extra {
        out.push_str(extra);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_and_ids_become_identity_columns() {
        let step = Migration {
            sqlite: "CREATE TABLE t (\n    id   INTEGER PRIMARY KEY,\n    n    INTEGER NOT NULL,\n    b    BLOB\n);\nCREATE TRIGGER t_no_update BEFORE UPDATE ON t\nBEGIN SELECT RAISE(ABORT, 'no'); END;",
            postgres: None,
            postgres_extra: Some("CREATE INDEX t_n ON t(n);"),
        };
        assert_eq!(
            dialect(&step),
            "CREATE TABLE t (\n    id   BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n    n    BIGINT NOT NULL,\n    b    BYTEA\n);\nCREATE INDEX t_n ON t(n);"
        );
    }

    #[test]
    fn a_url_with_a_password_never_shows_it() {
        let err = Client::connect(
            "postgres://guardian:hunter2-secret@127.0.0.1:1/db?connect_timeout=1",
            None,
        )
        .err()
        .expect("nothing listens on port 1");
        let text = err.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("127.0.0.1:1/db"), "{text}");
        let err = Client::connect(
            "postgres://guardian:hunter2-secret@127.0.0.1:notaport/db",
            None,
        )
        .err()
        .expect("bad port");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
