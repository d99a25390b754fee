//! What a guardian kept in a local SQLite file while its PostgreSQL database was unreachable —
//! the emergency pause's journal, and the alerts a monitor raised (and answered) meanwhile —
//! written into the database once it is back.
//!
//! Rows get new ids in the database and references follow them. A row the database already
//! has (an alert's dedup key, an action's once-key, a transaction's hash) is not written twice:
//! an action found there takes the rows that refer to it along. The local file remembers what
//! was absorbed (table `absorbed`), so a file still in use can be absorbed again later and only
//! its new rows are written.

use std::collections::BTreeMap;

use super::{
    StorageError, Store,
    copy::allow_idle,
    sql::{OptionalExt as _, SqlError, ToValue, Value, params},
};

/// What one absorption wrote into the database.
#[derive(Debug, Default)]
pub struct Absorbed {
    /// Actions new to the database.
    pub actions: usize,
    /// Alerts new to the database (their ids there), not dispatched: their contacts are still
    /// to be told, and their responses run (they find done what the local file's run did).
    pub alerts: Vec<i64>,
}

/// One table absorbed, in this order.
struct Table {
    name: &'static str,
    /// The column that holds an id of an earlier table, and that table.
    refers: Option<(&'static str, &'static str)>,
    /// A unique column: a row whose value the database has already is that row.
    unique: Option<&'static str>,
    /// Columns written as NULL (an alert's `dispatched_at`: what the local run did is not
    /// what the database's contacts were told).
    cleared: &'static [&'static str],
    /// A key column made the file's own: an action's once-key names an alert by its id in
    /// the file, which is another alert's id in the database.
    rekeyed: Option<&'static str>,
}

const TABLES: &[Table] = &[
    Table {
        name: "alerts",
        refers: None,
        unique: None,
        cleared: &["dispatched_at"],
        rekeyed: None,
    },
    Table {
        name: "actions",
        refers: None,
        unique: Some("once_key"),
        cleared: &[],
        rekeyed: Some("once_key"),
    },
    Table {
        name: "transactions",
        refers: Some(("action_id", "actions")),
        unique: Some("tx_hash"),
        cleared: &[],
        rekeyed: None,
    },
    Table {
        name: "broadcasts",
        refers: None,
        unique: None,
        cleared: &[],
        rekeyed: None,
    },
];

/// The local file's record of what was absorbed: `remote_id` is the row's id in the database
/// (NULL when the database had it already under a key nothing refers to).
const MARKS: &str = "CREATE TABLE IF NOT EXISTS absorbed (
    tbl       TEXT    NOT NULL,
    local_id  INTEGER NOT NULL,
    remote_id INTEGER,
    PRIMARY KEY (tbl, local_id)
);
CREATE TABLE IF NOT EXISTS offline_file (tag TEXT NOT NULL)";

/// A local table's rows not absorbed yet: `(local id, values of `columns`)`.
type Rows = Vec<(i64, Vec<Value>)>;

impl Store {
    /// Absorbs what `local` (an SQLite file kept while this database was unreachable) holds and
    /// this database does not, in one transaction of this database; then marks it absorbed in
    /// `local`.
    pub fn absorb_offline(&self, local: &Store) -> Result<Absorbed, StorageError> {
        local.with(|c| c.execute_batch(MARKS))?;
        // The file's own tag, made once: its keys in the database are `offline:<tag>:<key>`.
        let tag: String = local.write(|c| {
            c.execute(
                "INSERT INTO offline_file (tag) SELECT ?1 WHERE NOT EXISTS (SELECT 1 FROM offline_file)",
                params![format!("{}-{}", super::now_ms(), std::process::id())],
            )?;
            c.query_row("SELECT tag FROM offline_file", params![], |r| r.get(0))
        })?;
        let tables = local.sqlite_tables()?;
        let mut known: BTreeMap<(String, i64), Option<i64>> = local
            .with(|c| {
                c.query_map(
                    "SELECT tbl, local_id, remote_id FROM absorbed",
                    params![],
                    |r| Ok(((r.get::<String>(0)?, r.get::<i64>(1)?), r.get(2)?)),
                )
            })?
            .into_iter()
            .collect();
        // Everything is read before the database's transaction starts.
        let mut pending: Vec<(&Table, Vec<String>, Rows)> = Vec::new();
        for table in TABLES {
            let Some((_, columns)) = tables.iter().find(|(t, _)| t == table.name) else {
                continue;
            };
            let kept: Vec<String> = columns.iter().filter(|c| *c != "id").cloned().collect();
            let rows: Rows = local.with(|c| {
                c.query_map(
                    &format!(
                        "SELECT id, {} FROM {} WHERE id NOT IN (SELECT local_id FROM absorbed WHERE tbl = ?1) ORDER BY id",
                        kept.join(", "),
                        table.name
                    ),
                    params![table.name],
                    |r| {
                        let values = (1..=kept.len())
                            .map(|i| r.get::<Value>(i))
                            .collect::<Result<_, _>>()?;
                        Ok((r.get(0)?, values))
                    },
                )
            })?;
            pending.push((table, kept, rows));
        }
        let mut absorbed = Absorbed::default();
        let mut marks: Vec<(&str, i64, Option<i64>)> = Vec::new();
        self.write(|out| {
            allow_idle(out)?;
            for (table, kept, rows) in &pending {
                let list = kept.join(", ");
                let marks_sql = (1..=kept.len())
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let insert = format!(
                    "INSERT INTO {} ({list}) VALUES ({marks_sql}) ON CONFLICT DO NOTHING RETURNING id",
                    table.name
                );
                let at = |column: &str| kept.iter().position(|c| c == column);
                for (id, values) in rows {
                    let mut values = values.clone();
                    for column in table.cleared {
                        if let Some(i) = at(column) {
                            values[i] = Value::Null;
                        }
                    }
                    if let Some(i) = table.rekeyed.and_then(at)
                        && let Value::Text(key) = &values[i]
                    {
                        values[i] = Value::Text(format!("offline:{tag}:{key}"));
                    }
                    if let Some((column, parent)) = table.refers {
                        let i = at(column).ok_or_else(|| {
                            SqlError::conversion(0, format!("{} has no {column}", table.name))
                        })?;
                        let new = match values[i] {
                            Value::Int(old) => known.get(&(parent.to_string(), old)).copied(),
                            _ => None,
                        };
                        match new {
                            Some(Some(new)) => values[i] = Value::Int(new),
                            // Its parent is not in the database: neither is it.
                            _ => {
                                marks.push((table.name, *id, None));
                                continue;
                            }
                        }
                    }
                    let params: Vec<&dyn ToValue> =
                        values.iter().map(|v| v as &dyn ToValue).collect();
                    let mut remote: Option<i64> =
                        out.query_row(&insert, &params, |r| r.get(0)).optional()?;
                    if remote.is_some() {
                        match table.name {
                            "actions" => absorbed.actions += 1,
                            "alerts" => absorbed.alerts.push(remote.unwrap_or_default()),
                            _ => {}
                        }
                    } else if let Some(column) = table.unique
                        && let Some(i) = at(column)
                        && values[i] != Value::Null
                    {
                        remote = out
                            .query_row(
                                &format!("SELECT id FROM {} WHERE {column} = ?1", table.name),
                                params![values[i].clone()],
                                |r| r.get(0),
                            )
                            .optional()?;
                    }
                    known.insert((table.name.to_string(), *id), remote);
                    marks.push((table.name, *id, remote));
                }
            }
            Ok(())
        })?;
        local.write(|c| {
            for (table, id, remote) in &marks {
                c.execute(
                    "INSERT OR REPLACE INTO absorbed (tbl, local_id, remote_id) VALUES (?1, ?2, ?3)",
                    params![*table, *id, *remote],
                )?;
            }
            Ok(())
        })?;
        Ok(absorbed)
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, B256, TxHash};

    use super::*;
    use crate::{alert::Severity, storage::NewTx};

    fn alert(key: &str, block: u64) -> crate::alert::NewAlert {
        crate::alert::NewAlert {
            rule: "escrow-drain".into(),
            kind: "outflow".into(),
            severity: Severity::Critical,
            chain: "local".into(),
            chain_id: 31337,
            contract: Some("escrow".into()),
            address: Some(Address::repeat_byte(1)),
            block_number: block,
            block_hash: B256::repeat_byte(block as u8),
            tx_hashes: vec![TxHash::repeat_byte(9)],
            summary: format!("drain at {block}"),
            evidence: serde_json::json!({}),
            dedup_key: key.into(),
        }
    }

    /// A local file: two alerts (one dispatched there) and a keyed pause with one transaction.
    fn local_file(dir: &std::path::Path) -> Store {
        let local = Store::open(&dir.join("offline.db")).expect("local");
        let a = local
            .store_alert(&alert("drain:1", 1))
            .expect("a")
            .expect("new");
        local.store_alert(&alert("drain:2", 2)).expect("b");
        local.mark_dispatched(a.id).expect("dispatched");
        let action = local
            .begin_action_once(
                "pause",
                "guardian",
                None,
                &serde_json::json!({}),
                Some(&format!("respond:alert:{}", a.id)),
            )
            .expect("action");
        let tx = NewTx {
            chain_id: 31337,
            sender: Address::repeat_byte(2),
            nonce: 0,
            label: "pause escrow",
            target: Some(Address::repeat_byte(3)),
            tx_hash: TxHash::repeat_byte(4),
            fees: None,
        };
        local.record_sent(action, &tx).expect("sent");
        local
    }

    #[test]
    fn a_local_file_is_written_in_once_with_new_ids_its_own_keys_and_nothing_dispatched() {
        for store in Store::each_backend() {
            let dir = tempfile::tempdir().expect("tmp");
            let local = local_file(dir.path());
            // The database has the second alert already (another instance kept it too), and an
            // action under the key the file's pause has: another alert's response.
            store.store_alert(&alert("drain:2", 2)).expect("there");
            let theirs = store
                .begin_action_once(
                    "pause",
                    "x",
                    None,
                    &serde_json::json!({}),
                    Some("respond:alert:1"),
                )
                .expect("theirs");

            let absorbed = store.absorb_offline(&local).expect("absorb");
            assert_eq!((absorbed.alerts.len(), absorbed.actions), (1, 1));
            let new = store
                .alert(absorbed.alerts[0])
                .expect("read")
                .expect("there");
            assert_eq!(new.found.dedup_key, "drain:1");
            // Not dispatched here: its contacts are told from the database.
            assert_eq!(store.undispatched(31337).expect("owed").len(), 2);
            // The file's pause is an action of its own, with its transaction.
            let actions = store.actions().expect("actions");
            let ours = actions.iter().find(|a| a.id != theirs).expect("ours");
            let txs = store.transactions(ours.id).expect("txs");
            assert_eq!(txs.len(), 1);
            assert_eq!(txs[0].tx_hash, TxHash::repeat_byte(4));
            assert!(store.transactions(theirs).expect("theirs").is_empty());

            // Again: nothing new. A row added to the file since is written in alone.
            let again = store.absorb_offline(&local).expect("again");
            assert_eq!((again.alerts.len(), again.actions), (0, 0));
            local.store_alert(&alert("drain:3", 3)).expect("c");
            let later = store.absorb_offline(&local).expect("later");
            assert_eq!((later.alerts.len(), later.actions), (1, 0));
            assert_eq!(store.actions().expect("actions").len(), 2);
        }
    }
}
