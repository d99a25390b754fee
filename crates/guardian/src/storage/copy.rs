//! Copying every record of one store into another, empty one (`guardian db migrate`: an SQLite
//! file into PostgreSQL). Tables go in the order the migrations created them, so a row's
//! references exist before it; rows in id order; all in one transaction of the target, so a
//! failed copy leaves it empty.

use super::{StorageError, Store, sql::Value};

/// What was copied: each table with its number of rows.
#[derive(Debug, Default)]
pub struct Copied {
    /// `(table, rows)` in the order copied.
    pub tables: Vec<(String, usize)>,
}

impl Copied {
    /// Rows copied in all.
    pub fn rows(&self) -> usize {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Why a copy was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The target holds records already.
    #[error(
        "the target database is not empty (table {table} has {rows} rows): migrate into a new, empty database"
    )]
    NotEmpty {
        /// The first table found with rows.
        table: String,
        /// How many.
        rows: i64,
    },
    /// The source is not an SQLite file.
    #[error("the source must be an SQLite file")]
    SourceNotSqlite,
    /// The target is not PostgreSQL.
    #[error("the target must be a PostgreSQL database")]
    TargetNotPostgres,
    /// Anything else.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A copy reads the source between the target's statements: the limit on a session idle
/// inside a transaction (which keeps a frozen instance from holding the write lock), and the one
/// on a statement's time, are lifted for this transaction only.
pub(super) fn allow_idle(out: &super::sql::Conn<'_>) -> super::sql::SqlResult<()> {
    if out.backend() == super::sql::Backend::Postgres {
        out.execute_batch(
            "SET LOCAL idle_in_transaction_session_timeout = 0; SET LOCAL statement_timeout = 0",
        )?;
    }
    Ok(())
}

impl Store {
    /// The tables of this SQLite store in the order they were created, each with its columns.
    pub(super) fn sqlite_tables(&self) -> Result<Vec<(String, Vec<String>)>, StorageError> {
        let names: Vec<String> = self.with(|c| {
            c.query_map(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
                super::sql::params![],
                |r| r.get(0),
            )
        })?;
        names
            .into_iter()
            .map(|name| {
                let columns = self.with(|c| {
                    c.query_map(
                        "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
                        super::sql::params![name],
                        |r| r.get(0),
                    )
                })?;
                Ok((name, columns))
            })
            .collect()
    }

    /// Copies every record of this SQLite store into `target`, a PostgreSQL database at the
    /// same schema version that holds no record yet; one transaction of the target.
    pub fn copy_into(&self, target: &Store) -> Result<Copied, CopyError> {
        if self.backend() != super::sql::Backend::Sqlite {
            return Err(CopyError::SourceNotSqlite);
        }
        if target.backend() != super::sql::Backend::Postgres {
            return Err(CopyError::TargetNotPostgres);
        }
        let tables = self.sqlite_tables()?;
        for (table, _) in &tables {
            let rows: i64 = target.with(|c| {
                c.query_row(
                    &format!("SELECT COUNT(*) FROM {table}"),
                    super::sql::params![],
                    |r| r.get(0),
                )
            })?;
            if rows > 0 {
                return Err(CopyError::NotEmpty {
                    table: table.clone(),
                    rows,
                });
            }
        }
        let mut copied = Copied::default();
        target.write(|out| {
            allow_idle(out)?;
            for (table, columns) in &tables {
                let list = columns.join(", ");
                let order = if columns.iter().any(|c| c == "id") {
                    " ORDER BY id"
                } else {
                    ""
                };
                let rows: Vec<Vec<Value>> = self
                    .with(|c| {
                        c.query_map(
                            &format!("SELECT {list} FROM {table}{order}"),
                            super::sql::params![],
                            |r| (0..columns.len()).map(|i| r.get::<Value>(i)).collect(),
                        )
                    })
                    .map_err(|e| match e {
                        StorageError::Sql(e) => e,
                        other => super::sql::SqlError::conversion(0, other),
                    })?;
                let marks = (1..=columns.len())
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let insert = format!("INSERT INTO {table} ({list}) VALUES ({marks})");
                for row in &rows {
                    let params: Vec<&dyn super::sql::ToValue> =
                        row.iter().map(|v| v as &dyn super::sql::ToValue).collect();
                    out.execute(&insert, &params)?;
                }
                if columns.iter().any(|c| c == "id") {
                    // Identity columns continue after the copied ids (a table whose `id` has no
                    // sequence gets NULL from pg_get_serial_sequence, and setval does nothing).
                    out.execute(
                        &format!(
                            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"
                        ),
                        super::sql::params![],
                    )
?;
                }
                copied.tables.push((table.clone(), rows.len()));
            }
            Ok(())
        })?;
        Ok(copied)
    }
}
