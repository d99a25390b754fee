//! `guardian history`: the journal of every action and transaction, newest first.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::{
    config::manifest_path,
    deployment::db_path,
    output::{Table, print_json},
    storage::Store,
};

/// Show what guardian did: every action (who, what, why, how it ended) and, with --action, its
/// transactions (hash, nonce, block, gas, status). Reads guardian.db beside the manifest.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show the transactions of this action.
    #[arg(long, value_name = "ID")]
    action: Option<i64>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// Prints the journal.
    pub async fn run(self, ctx: &super::Context) -> anyhow::Result<ExitCode> {
        let path = db_path(&manifest_path(ctx.config.clone()));
        if !path.exists() {
            anyhow::bail!(
                "no journal at {}: nothing has been done with this manifest yet",
                path.display()
            );
        }
        let store =
            Store::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        if let Some(id) = self.action {
            let txs = store.transactions(id)?;
            if self.json {
                print_json(&txs);
                return Ok(ExitCode::SUCCESS);
            }
            let mut t = Table::new([
                "LABEL",
                "CHAIN ID",
                "NONCE",
                "TX",
                "STATUS",
                "BLOCK",
                "SENT (UTC)",
                "GAS",
                "ERROR",
            ]);
            for tx in &txs {
                t.row(vec![
                    tx.label.clone(),
                    tx.chain_id.to_string(),
                    tx.nonce.to_string(),
                    tx.tx_hash.to_string(),
                    format!("{:?}", tx.status).to_lowercase(),
                    tx.block_number
                        .map(|b| b.to_string())
                        .unwrap_or_else(|| "-".into()),
                    utc(tx.sent_at),
                    tx.gas_used
                        .map(|g| g.to_string())
                        .unwrap_or_else(|| "-".into()),
                    tx.error.clone().unwrap_or_default(),
                ]);
            }
            println!("{t}");
            return Ok(ExitCode::SUCCESS);
        }
        let actions = store.actions()?;
        if self.json {
            print_json(&actions);
            return Ok(ExitCode::SUCCESS);
        }
        let mut t = Table::new([
            "ID",
            "STARTED (UTC)",
            "ACTION",
            "BY",
            "REASON",
            "STATUS",
            "MS",
            "SUMMARY",
        ]);
        for a in &actions {
            t.row(vec![
                a.id.to_string(),
                utc(a.started_at),
                a.kind.clone(),
                a.actor.clone(),
                a.reason.clone().unwrap_or_default(),
                format!("{:?}", a.status).to_lowercase(),
                a.finished_at
                    .map(|f| (f - a.started_at).to_string())
                    .unwrap_or_else(|| "-".into()),
                a.summary.clone().unwrap_or_default(),
            ]);
        }
        println!("{t}");
        Ok(ExitCode::SUCCESS)
    }
}

/// Unix milliseconds as a UTC date-time, to the second.
pub(super) fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn journal_times_show_as_utc_date_times() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc(1_795_795_200_123), "2026-11-27 16:00:00");
    }
}
