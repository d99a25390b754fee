//! `guardian history`: the journal of every action and transaction, newest first.

use std::process::ExitCode;

use crate::{
    chain::fees::gwei,
    output::{Table, print_json},
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
        let store = ctx.existing_store("nothing has been done with this manifest yet")?;
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
                "FEES (GWEI)",
                "ERROR",
            ]);
            for tx in &txs {
                let fees = match (tx.max_priority_fee_per_gas, tx.max_fee_per_gas) {
                    (Some(tip), Some(max)) if tip == max => gwei(max).replace(" gwei", ""),
                    (Some(tip), Some(max)) => format!(
                        "{} / {}",
                        gwei(tip).replace(" gwei", ""),
                        gwei(max).replace(" gwei", "")
                    ),
                    _ => "-".into(),
                };
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
                    fees,
                    tx.error.clone().unwrap_or_default(),
                ]);
            }
            println!("{t}");
            // Why each signature paid what it paid, and who was given it.
            for tx in &txs {
                let sent: Vec<String> = store
                    .broadcasts(tx.tx_hash)?
                    .into_iter()
                    .map(|b| format!("{}: {}", b.endpoint, b.answer))
                    .collect();
                if tx.fee_reason.is_none() && sent.is_empty() {
                    continue;
                }
                println!(
                    "{} (nonce {}): {}{}",
                    tx.tx_hash,
                    tx.nonce,
                    tx.fee_reason.as_deref().unwrap_or("fees not recorded"),
                    if sent.is_empty() {
                        String::new()
                    } else {
                        format!(" — sent to {}", sent.join(", "))
                    }
                );
            }
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
