//! `guardian alerts`: the monitor's alerts, newest first, and `alerts ack` to acknowledge one.

use std::process::ExitCode;

use super::history::utc;
use crate::{
    alert::{Alert, Severity},
    chain::signer::process_env,
    operator::identified,
    output::{Table, print_json},
    storage::{AlertFilter, now_ms},
};

/// List the monitor's alerts, newest first, with their status (open, final, retracted) and who
/// acknowledged them. Reads guardian.db beside the manifest.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// Acknowledge an alert.
    #[command(subcommand)]
    action: Option<Action>,
    /// Only alerts at least this severe: info, warning, high or critical.
    #[arg(long, value_name = "S")]
    severity: Option<Severity>,
    /// Only alerts of this rule (`privileged`, `insolvent`, `monitor-health`, `bounty-sla`, or a
    /// [[rules]] name).
    #[arg(long, value_name = "R")]
    rule: Option<String>,
    /// Only alerts detected since T: an RFC 3339 time (2026-11-27T16:00:00Z) or a duration
    /// back from now (90s, 30m, 2h, 1d, 1w).
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// What to do with an alert.
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Acknowledge an alert: records who (--as, else GUARDIAN_OPERATOR, else the OS user) and when.
    Ack(AckArgs),
}

/// `guardian alerts ack ID`.
#[derive(Debug, clap::Args)]
struct AckArgs {
    /// The alert's id (the ID column of `guardian alerts`).
    id: i64,
    /// Why, or what was done about it.
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    /// Who is acknowledging (default: GUARDIAN_OPERATOR, else the OS user).
    #[arg(long = "as", value_name = "NAME")]
    operator: Option<String>,
    /// Print the acknowledged alert as JSON.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// Lists alerts, or acknowledges one.
    pub async fn run(self, ctx: &super::Context) -> anyhow::Result<ExitCode> {
        let store = ctx.existing_store("run `guardian monitor` first")?;
        if let Some(Action::Ack(ack)) = self.action {
            let by = identified(ack.operator.as_deref(), &process_env)?;
            let Some(alert) = store.acknowledge(ack.id, &by, ack.note.as_deref())? else {
                anyhow::bail!("no alert {}: `guardian alerts` lists their ids", ack.id);
            };
            if ack.json {
                print_json(&alert);
            } else {
                println!(
                    "alert {} acknowledged by {by} at {} UTC: {}",
                    alert.id,
                    utc(alert.acknowledged.as_ref().map_or(0, |a| a.at)),
                    alert.found.summary
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        let since_ms = self
            .since
            .as_deref()
            .map(|t| parse_since(t, now_ms()))
            .transpose()
            .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
        let alerts = store.alerts(&AlertFilter {
            min_severity: self.severity,
            rule: self.rule,
            since_ms,
            chain_id: None,
            contract: None,
        })?;
        if self.json {
            print_json(&alerts);
        } else if alerts.is_empty() {
            println!("no alerts");
        } else {
            println!("{}", table(&alerts));
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn table(alerts: &[Alert]) -> Table {
    let mut t = Table::new([
        "ID",
        "DETECTED (UTC)",
        "SEVERITY",
        "STATUS",
        "RULE",
        "CHAIN",
        "CONTRACT",
        "BLOCK",
        "ACK",
        "SUMMARY",
    ]);
    for a in alerts {
        t.row(vec![
            a.id.to_string(),
            utc(a.detected_at),
            a.found.severity.to_string(),
            a.status.as_str().to_string(),
            a.found.rule.clone(),
            a.found.chain.clone(),
            a.found.contract.clone().unwrap_or_else(|| "-".into()),
            a.found.block_number.to_string(),
            a.acknowledged
                .as_ref()
                .map_or_else(|| "-".into(), |k| k.by.clone()),
            a.found.summary.clone(),
        ]);
    }
    t
}

/// `T` of `--since` as Unix milliseconds: an RFC 3339 time, or a duration (`90s`, `30m`, `2h`,
/// `1d`, `1w`) back from `now_ms`.
fn parse_since(text: &str, now_ms: i64) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    match duration_ms(text) {
        Some(ms) => Ok(now_ms - ms),
        None => Err(format!(
            "`{text}` is neither an RFC 3339 time (2026-11-27T16:00:00Z) nor a duration such as 90s, 30m, 2h, 1d or 1w"
        )),
    }
}

/// A duration such as `90s`, `30m`, `2h`, `1d` or `1w`, in milliseconds.
pub(super) fn duration_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let seconds: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    let n = digits.parse::<i64>().ok()?;
    Some(n.saturating_mul(seconds).saturating_mul(1_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_rfc3339_times_and_durations() {
        let now = 1_795_795_200_000;
        assert_eq!(parse_since("2h", now), Ok(now - 7_200_000));
        assert_eq!(parse_since("30m", now), Ok(now - 1_800_000));
        assert_eq!(parse_since("1d", now), Ok(now - 86_400_000));
        assert_eq!(
            parse_since("2026-11-27T16:00:00Z", 0),
            Ok(1_795_795_200_000)
        );
        assert_eq!(
            parse_since("2026-11-27T17:00:00+01:00", 0),
            Ok(1_795_795_200_000)
        );
        for bad in ["2", "h", "2y", "yesterday", ""] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
    }
}
