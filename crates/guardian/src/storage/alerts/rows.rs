//! The `alerts` table's rows: the columns read back, an alert decoded from a row, and new
//! alerts written in.

use alloy::primitives::{Address, B256, TxHash};

use crate::{
    alert::{Acknowledgement, Alert, AlertStatus, NewAlert, Severity},
    storage::sql::{Conn, OptionalExt as _, Row, SqlError, SqlResult, params},
};

pub(super) const COLUMNS: &str = "id, rule, kind, severity, status, chain, chain_id, contract, address, block_number, block_hash, tx_hashes, summary, evidence, dedup_key, detected_at, acked_by, acked_at, ack_note";

pub(super) fn conversion(i: usize, e: impl std::fmt::Display) -> SqlError {
    SqlError::conversion(i, e)
}

pub(super) fn text_err(i: usize, message: String) -> SqlError {
    conversion(i, message)
}

pub(super) fn alert_from_row(r: &Row) -> SqlResult<Alert> {
    let severity: Severity = r
        .get::<String>(3)?
        .parse()
        .map_err(|e: String| text_err(3, e))?;
    let status: AlertStatus = r
        .get::<String>(4)?
        .parse()
        .map_err(|e: String| text_err(4, e))?;
    let address: Option<Address> = r
        .get::<Option<String>>(8)?
        .map(|s| s.parse())
        .transpose()
        .map_err(|e| conversion(8, e))?;
    let block_hash: B256 = r
        .get::<String>(10)?
        .parse()
        .map_err(|e| conversion(10, e))?;
    let tx_hashes: Vec<TxHash> =
        serde_json::from_str(&r.get::<String>(11)?).map_err(|e| conversion(11, e))?;
    let evidence: serde_json::Value =
        serde_json::from_str(&r.get::<String>(13)?).map_err(|e| conversion(13, e))?;
    let acknowledged = match (r.get::<Option<String>>(16)?, r.get::<Option<i64>>(17)?) {
        (Some(by), Some(at)) => Some(Acknowledgement {
            by,
            at,
            note: r.get(18)?,
        }),
        _ => None,
    };
    Ok(Alert {
        id: r.get(0)?,
        status,
        detected_at: r.get(15)?,
        acknowledged,
        found: NewAlert {
            rule: r.get(1)?,
            kind: r.get(2)?,
            severity,
            chain: r.get(5)?,
            chain_id: r.get::<i64>(6)? as u64,
            contract: r.get(7)?,
            address,
            block_number: r.get::<i64>(9)? as u64,
            block_hash,
            tx_hashes,
            summary: r.get(12)?,
            evidence,
            dedup_key: r.get(14)?,
        },
    })
}

pub(super) fn severity_rank(s: Severity) -> i64 {
    i64::from(s as u8)
}

/// Inserts `alerts` with `status`, skipping those whose dedup key is taken; returns the new ids.
pub(crate) fn insert_alerts(
    tx: &Conn<'_>,
    alerts: &[NewAlert],
    status: AlertStatus,
    now: i64,
) -> SqlResult<Vec<i64>> {
    let mut ids = Vec::new();
    for a in alerts {
        let tx_hashes = serde_json::to_string(&a.tx_hashes).unwrap_or_else(|_| "[]".into());
        let inserted: Option<i64> = tx
            .query_row(
                "INSERT INTO alerts (rule, kind, severity, severity_rank, status, chain, chain_id, contract, address, block_number, block_hash, tx_hashes, summary, evidence, dedup_key, detected_at, about_block)
                 VALUES (?1, ?2, ?3, ?4, ?16, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?17)
                 ON CONFLICT DO NOTHING RETURNING id",
                params![
                    a.rule,
                    a.kind,
                    a.severity.as_str(),
                    severity_rank(a.severity),
                    a.chain,
                    a.chain_id as i64,
                    a.contract,
                    a.address.map(|x| x.to_checksum(None)),
                    a.block_number as i64,
                    a.block_hash.to_string(),
                    tx_hashes,
                    a.summary,
                    a.evidence.to_string(),
                    a.dedup_key,
                    now,
                    status.as_str(),
                    a.about_block()
                ],
                |r| r.get(0),
            )
            .optional()?;
        ids.extend(inserted);
    }
    Ok(ids)
}

/// The alerts with these ids, in that order.
pub(crate) fn select_alerts(tx: &Conn<'_>, ids: &[i64]) -> SqlResult<Vec<Alert>> {
    let select = format!("SELECT {COLUMNS} FROM alerts WHERE id = ?1");
    ids.iter()
        .map(|id| tx.query_row(&select, params![id], alert_from_row))
        .collect()
}
