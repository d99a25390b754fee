//! One SQL interface over both backends. The features write their queries once, in the subset
//! SQLite and PostgreSQL share (`?N` placeholders, `ON CONFLICT`, `RETURNING`, `COALESCE`), and
//! run them on a [`Conn`]: SQLite's connection, or a PostgreSQL transaction. Values cross as
//! [`Value`], SQLite's five storage classes; a PostgreSQL column of another type is converted
//! to the nearest of them (`BOOLEAN` to an integer, `INTEGER` and `SMALLINT` to 64 bits).
//!
//! PostgreSQL's client is synchronous (`postgres`, over tokio-postgres) and drives its own
//! runtime, which cannot run inside tokio's: called from a task, each round trip runs on a
//! scoped thread of its own ([`off_runtime`]).

use std::{cell::RefCell, fmt};

use postgres::types::ToSql;

mod value;

use value::pg_row;
pub use value::{FromValue, ToValue, Value};

/// A query failure, from either backend or from reading a column.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// SQLite refused an operation.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL refused an operation, or could not be reached.
    #[error("database error: {}", pg_message(.0))]
    Postgres(#[from] postgres::Error),
    /// A stored value is not what the reader expected.
    #[error("database error: column {column}: {message}")]
    Conversion {
        /// The column's index in the row.
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// A query that must return a row returned none.
    #[error("database error: query returned no rows")]
    NoRows,
}

/// PostgreSQL's message with its detail, without the driver's prefix.
fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        },
        None => {
            // The driver's own message is terse ("error performing TLS handshake"): the causes
            // say why (an unknown certificate issuer, a refused connection).
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                text.push_str(": ");
                text.push_str(&c.to_string());
                cause = c.source();
            }
            text
        }
    }
}

impl SqlError {
    /// A column whose value could not be read as the type wanted.
    pub fn conversion(column: usize, e: impl fmt::Display) -> Self {
        SqlError::Conversion {
            column,
            message: e.to_string(),
        }
    }

    /// True when a unique index or primary key refused the write.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            SqlError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::ConstraintViolation
            }
            SqlError::Postgres(e) => e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
            _ => false,
        }
    }

    /// True when the connection itself failed (the server is gone or unreachable), as opposed
    /// to the database refusing a statement.
    pub fn is_connection(&self) -> bool {
        match self {
            SqlError::Postgres(e) => {
                e.is_closed() || e.as_db_error().is_none() && e.code().is_none()
            }
            _ => false,
        }
    }
}

/// A query's result.
pub type SqlResult<T> = Result<T, SqlError>;

/// Turns "no row" into `None`.
pub trait OptionalExt<T> {
    /// `Ok(None)` where the query returned no row.
    fn optional(self) -> SqlResult<Option<T>>;
}

impl<T> OptionalExt<T> for SqlResult<T> {
    fn optional(self) -> SqlResult<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(SqlError::NoRows) | Err(SqlError::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Query parameters: `params![a, b]`.
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::storage::sql::ToValue]
    };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::storage::sql::ToValue),+] as &[&dyn $crate::storage::sql::ToValue]
    };
}
pub(crate) use params;

/// One row of a result, read whole.
#[derive(Debug)]
pub struct Row {
    values: Vec<Value>,
}

impl Row {
    /// Column `i` as `T`.
    pub fn get<T: FromValue>(&self, i: usize) -> SqlResult<T> {
        let v = self.values.get(i).ok_or_else(|| SqlError::Conversion {
            column: i,
            message: format!("the row has {} columns", self.values.len()),
        })?;
        T::from_value(v).map_err(|message| SqlError::Conversion { column: i, message })
    }
}

/// The backend a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A connection inside one of [`Store`](super::Store)'s calls: SQLite's, or a PostgreSQL
/// transaction (committed when the call succeeds).
pub enum Conn<'a> {
    /// SQLite.
    Sqlite(&'a rusqlite::Connection),
    /// PostgreSQL.
    Postgres(RefCell<postgres::Transaction<'a>>),
}

impl Conn<'_> {
    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: &[&dyn ToValue]) -> SqlResult<usize> {
        match self {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(values(params)))?)
            }
            Conn::Postgres(tx) => {
                let sql = placeholders(sql);
                let values = values(params);
                let mut tx = tx.borrow_mut();
                let tx = &mut *tx;
                let n = off_runtime(|| tx.execute(sql.as_str(), &refs(&values)))?;
                Ok(n as usize)
            }
        }
    }

    /// Runs several statements without parameters.
    pub fn execute_batch(&self, sql: &str) -> SqlResult<()> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(tx) => {
                let mut tx = tx.borrow_mut();
                let tx = &mut *tx;
                Ok(off_runtime(|| tx.batch_execute(sql))?)
            }
        }
    }

    /// Every row of a query, each read by `f`.
    pub fn query_map<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        mut f: impl FnMut(&Row) -> SqlResult<T>,
    ) -> SqlResult<Vec<T>> {
        self.rows(sql, params)?.iter().map(&mut f).collect()
    }

    /// The first row of a query, read by `f`; [`SqlError::NoRows`] when there is none (see
    /// [`OptionalExt::optional`]).
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        f: impl FnOnce(&Row) -> SqlResult<T>,
    ) -> SqlResult<T> {
        match self.rows(sql, params)?.first() {
            Some(row) => f(row),
            None => Err(SqlError::NoRows),
        }
    }

    fn rows(&self, sql: &str, params: &[&dyn ToValue]) -> SqlResult<Vec<Row>> {
        match self {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let width = stmt.column_count();
                let mut rows = stmt.query(rusqlite::params_from_iter(values(params)))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let mut values = Vec::with_capacity(width);
                    for i in 0..width {
                        values.push(match r.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => Value::Null,
                            rusqlite::types::ValueRef::Integer(i) => Value::Int(i),
                            rusqlite::types::ValueRef::Real(f) => Value::Real(f),
                            rusqlite::types::ValueRef::Text(t) => {
                                Value::Text(String::from_utf8_lossy(t).into_owned())
                            }
                            rusqlite::types::ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                        });
                    }
                    out.push(Row { values });
                }
                Ok(out)
            }
            Conn::Postgres(tx) => {
                let sql = placeholders(sql);
                let values = values(params);
                let mut tx = tx.borrow_mut();
                let tx = &mut *tx;
                let rows = off_runtime(|| tx.query(sql.as_str(), &refs(&values)))?;
                rows.iter().map(pg_row).collect()
            }
        }
    }
}

fn values(params: &[&dyn ToValue]) -> Vec<Value> {
    params.iter().map(|p| p.to_value()).collect()
}

fn refs(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// SQLite's `?N` and `?` placeholders as PostgreSQL's `$N` (a bare `?` takes the number after
/// the largest so far, as SQLite numbers it); text in quotes is left alone.
pub fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quoted = false;
    let mut largest = 0u32;
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
            out.push(c);
            continue;
        }
        if c != '?' || quoted {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        let n = if digits.is_empty() {
            largest + 1
        } else {
            digits.parse().unwrap_or(largest + 1)
        };
        largest = largest.max(n);
        out.push('$');
        out.push_str(&n.to_string());
    }
    out
}

/// Runs `f` where PostgreSQL's synchronous client may block: on this thread outside tokio, on
/// a scoped thread of its own inside a task (the client's runtime cannot nest in tokio's).
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered_outside_quotes() {
        assert_eq!(
            placeholders("SELECT a FROM t WHERE b = ?1 AND c = ?2 OR d = ?1"),
            "SELECT a FROM t WHERE b = $1 AND c = $2 OR d = $1"
        );
        assert_eq!(placeholders("VALUES (?, ?, ?)"), "VALUES ($1, $2, $3)");
        assert_eq!(placeholders("VALUES (?3, ?)"), "VALUES ($3, $4)");
        assert_eq!(
            placeholders("SELECT '?' || ?1, 'it''s?' WHERE x = ?"),
            "SELECT '?' || $1, 'it''s?' WHERE x = $2"
        );
    }

    #[test]
    fn values_read_back_as_the_types_asked() {
        let c = rusqlite::Connection::open_in_memory().expect("db");
        let conn = Conn::Sqlite(&c);
        conn.execute_batch("CREATE TABLE t (i INTEGER, s TEXT, b BLOB, f REAL)")
            .expect("table");
        conn.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3, ?4)",
            params![u64::MAX, "x", vec![1u8, 2], 1.5f64],
        )
        .expect("insert");
        conn.execute("INSERT INTO t VALUES (NULL, NULL, NULL, NULL)", params![])
            .expect("nulls");
        let rows = conn
            .query_map("SELECT i, s, b, f FROM t ORDER BY rowid", params![], |r| {
                Ok((
                    r.get::<Option<u64>>(0)?,
                    r.get::<Option<String>>(1)?,
                    r.get::<Option<Vec<u8>>>(2)?,
                    r.get::<Option<f64>>(3)?,
                ))
            })
            .expect("rows");
        assert_eq!(
            rows,
            vec![
                (
                    Some(u64::MAX),
                    Some("x".into()),
                    Some(vec![1, 2]),
                    Some(1.5)
                ),
                (None, None, None, None),
            ]
        );
        let err = conn
            .query_row("SELECT s FROM t LIMIT 1", params![], |r| r.get::<i64>(0))
            .expect_err("text is not an integer");
        assert!(err.to_string().contains("expected an integer"), "{err}");
        let none = conn
            .query_row("SELECT s FROM t WHERE 0", params![], |r| r.get::<String>(0))
            .optional()
            .expect("no row is not an error");
        assert_eq!(none, None);
    }
}
