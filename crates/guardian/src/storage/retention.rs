//! Deleting old rows in bounded batches (retention). The caller names the table, the column its
//! age is read from and the other tables whose references keep a row; storage names no feature.

use super::{StorageError, Store, sql::params};

/// Rows deleted per transaction: a prune never holds the write lock for long.
pub const PRUNE_BATCH: usize = 1_000;

/// A column of another table holding ids of the pruned table: a row it names is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeptBy {
    /// The referring table.
    pub table: &'static str,
    /// Its column holding the pruned table's `id`.
    pub column: &'static str,
}

/// Which rows a prune may delete: those of `table` whose `age_column` (milliseconds since the
/// epoch) is before the cutoff and that no `kept_by` column names. A row whose `age_column` is
/// NULL is never deleted.
#[derive(Debug, Clone, Copy)]
pub struct Prune<'a> {
    /// The table pruned (its key is `id`).
    pub table: &'static str,
    /// The column the age of a row is read from.
    pub age_column: &'static str,
    /// References that keep a row however old it is.
    pub kept_by: &'a [KeptBy],
}

impl Prune<'_> {
    /// One batch's statement. The names are `'static` (written in the code, never read from
    /// input); `NOT EXISTS` rather than `NOT IN` so that a NULL reference keeps nothing.
    fn statement(&self) -> String {
        let Prune {
            table, age_column, ..
        } = self;
        let mut sql = format!(
            "DELETE FROM {table} WHERE id IN (SELECT p.id FROM {table} p WHERE p.{age_column} < ?1"
        );
        for k in self.kept_by {
            sql.push_str(&format!(
                " AND NOT EXISTS (SELECT 1 FROM {} k WHERE k.{} = p.id)",
                k.table, k.column
            ));
        }
        sql.push_str(&format!(" ORDER BY p.id LIMIT {PRUNE_BATCH})"));
        sql
    }
}

impl Store {
    /// Deletes the rows `what` describes that are older than `older_than_ms`, at most
    /// [`PRUNE_BATCH`] per transaction, until none is left; returns how many were deleted.
    pub fn prune(&self, what: &Prune<'_>, older_than_ms: i64) -> Result<u64, StorageError> {
        let sql = what.statement();
        let mut total = 0u64;
        loop {
            let deleted = self.write(|c| c.execute(&sql, params![older_than_ms]))?;
            total += deleted as u64;
            if deleted < PRUNE_BATCH {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_rows_go_in_batches_and_referenced_rows_stay() {
        for store in Store::each_backend() {
            store
                .write(|c| {
                    c.execute_batch(
                        "CREATE TABLE things (id INTEGER PRIMARY KEY, at INTEGER);
                         CREATE TABLE refs (thing INTEGER);",
                    )?;
                    c.execute_batch(&format!(
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {})
                         INSERT INTO things (id, at) SELECT i, i FROM n;
                         INSERT INTO things (id, at) VALUES (9000, NULL);
                         INSERT INTO refs (thing) VALUES (3), (NULL);",
                        PRUNE_BATCH + 5
                    ))?;
                    Ok(())
                })
                .expect("seed");
            let what = Prune {
                table: "things",
                age_column: "at",
                kept_by: &[KeptBy {
                    table: "refs",
                    column: "thing",
                }],
            };
            // Everything before 1,004 but row 3: more than one batch.
            let deleted = store.prune(&what, 1_004).expect("prune");
            assert_eq!(deleted, 1_002);
            let left: Vec<i64> = store
                .with(|c| c.query_map("SELECT id FROM things ORDER BY id", params![], |r| r.get(0)))
                .expect("read");
            assert_eq!(left, vec![3, 1_004, 1_005, 9_000]);
            assert_eq!(store.prune(&what, 1_004).expect("again"), 0);
        }
    }
}
