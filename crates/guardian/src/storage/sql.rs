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

use postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// A value as both backends store it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer (booleans are 0 and 1).
    Int(i64),
    /// A double.
    Real(f64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

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

/// What a query parameter becomes.
pub trait ToValue {
    /// The value to bind.
    fn to_value(&self) -> Value;
}

macro_rules! int_to_value {
    ($($t:ty),*) => {$(
        impl ToValue for $t {
            fn to_value(&self) -> Value {
                Value::Int(*self as i64)
            }
        }
    )*};
}
int_to_value!(i64, i32, u32, u16, u8);

impl ToValue for u64 {
    /// Stored as the same 64 bits (values beyond `i64::MAX` read back unchanged as `u64`).
    fn to_value(&self) -> Value {
        Value::Int(*self as i64)
    }
}
impl ToValue for usize {
    fn to_value(&self) -> Value {
        Value::Int(*self as i64)
    }
}
impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}
impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}
impl<T: ToValue + ?Sized> ToValue for Box<T> {
    fn to_value(&self) -> Value {
        (**self).to_value()
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

/// What a column is read as.
pub trait FromValue: Sized {
    /// The typed value, or why it is not one.
    fn from_value(v: &Value) -> Result<Self, String>;
}

fn int_of(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(format!("expected an integer, found {}", kind(other))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Int(_) => "an integer",
        Value::Real(_) => "a real",
        Value::Text(_) => "text",
        Value::Blob(_) => "a blob",
    }
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn from_value(v: &Value) -> Result<Self, String> {
                let i = int_of(v)?;
                <$t>::try_from(i).map_err(|_| format!("{i} is out of range for {}", stringify!($t)))
            }
        }
    )*};
}
int_from_value!(i64, i32, u32, u16, u8, usize);

impl FromValue for u64 {
    fn from_value(v: &Value) -> Result<Self, String> {
        int_of(v).map(|i| i as u64)
    }
}
impl FromValue for bool {
    fn from_value(v: &Value) -> Result<Self, String> {
        int_of(v).map(|i| i != 0)
    }
}
impl FromValue for f64 {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Real(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            other => Err(format!("expected a number, found {}", kind(other))),
        }
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            other => Err(format!("expected text, found {}", kind(other))),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Blob(b) => Ok(b.clone()),
            other => Err(format!("expected a blob, found {}", kind(other))),
        }
    }
}
impl FromValue for Value {
    fn from_value(v: &Value) -> Result<Self, String> {
        Ok(v.clone())
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

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

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl ToSql for Value {
    /// Binds to whatever type PostgreSQL inferred for the parameter: an integer to any integer
    /// type (range-checked), a boolean or a double; text to any text type.
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => i.to_string().to_sql(ty, out),
                _ => Err(format!("an integer cannot be bound to a {ty} parameter").into()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => Err(format!("a real cannot be bound to a {ty} parameter").into()),
            },
            // Text and bytes go only where PostgreSQL expects them: their raw bytes bound to a
            // number would be read as one.
            Value::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    s.as_str().to_sql(ty, out)
                }
                _ => Err(format!("text cannot be bound to a {ty} parameter").into()),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => b.as_slice().to_sql(ty, out),
                _ => Err(format!("bytes cannot be bound to a {ty} parameter").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A PostgreSQL row as [`Value`]s.
fn pg_row(row: &postgres::Row) -> SqlResult<Row> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let v = match *column.type_() {
            Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(v.into())),
            Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Value::Real),
            Type::FLOAT4 => row
                .try_get::<_, Option<f32>>(i)?
                .map(|v| Value::Real(v.into())),
            Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                row.try_get::<_, Option<String>>(i)?.map(Value::Text)
            }
            ref other => {
                return Err(SqlError::Conversion {
                    column: i,
                    message: format!(
                        "PostgreSQL type {other} is not read by guardian (cast the column to BIGINT or TEXT)"
                    ),
                });
            }
        };
        values.push(v.unwrap_or(Value::Null));
    }
    Ok(Row { values })
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
