//! `guardian demo`: the whole incident drill on local chains, with a live display and a summary.

use std::{path::PathBuf, process::ExitCode};

use alloy::primitives::U256;

use crate::{
    anvil::find_anvil,
    chain::signer::process_env,
    demo::{self, DemoOptions, DemoReport, Progress},
    operator::operator,
    output::{Table, print_json},
};

/// Run the incident drill: two local chains with 1 s blocks and the suite, the monitor with a
/// drain rule that responds, ordinary traffic, then an escrow upgrade with a bug and an attacker
/// draining it one transaction per block. Watch guardian detect it, open a level 3 incident, pause
/// everything in the next block, rescue, fix, return the funds, resume, complete the checklist and
/// write the post-mortem. Exit code 0 only if the drill went as it must.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the drill's manifest, database, affected list and post-mortem go (an earlier
    /// drill's database there is replaced).
    #[arg(long, default_value = "guardian-demo")]
    dir: PathBuf,
    /// The anvil binary (default: GUARDIAN_ANVIL, the npm package under contracts/, then PATH).
    #[arg(long, value_name = "PATH")]
    anvil: Option<PathBuf>,
    /// Who runs the drill (default: GUARDIAN_OPERATOR, else the OS user).
    #[arg(long = "as", value_name = "NAME")]
    operator: Option<String>,
    /// Print one JSON object at the end, nothing while it runs.
    #[arg(long)]
    json: bool,
    /// Run the drill with a 2-of-3 Safe holding the admin, upgrade and rescue roles: the
    /// releases, the rescue (prepared by the playbook) and the fix are proposals two owners sign.
    #[arg(long)]
    safe: bool,
}

impl Args {
    /// Runs the drill.
    pub async fn run(self, _ctx: &super::Context) -> anyhow::Result<ExitCode> {
        let opts = DemoOptions {
            dir: self.dir.clone(),
            anvil: find_anvil(self.anvil.as_deref(), &process_env)?,
            operator: operator(self.operator.as_deref(), &process_env),
            quiet: self.json,
            safe: self.safe,
        };
        let progress = Progress::new(self.json);
        let report = demo::run(&opts, &progress).await?;
        if self.json {
            print_json(&report);
        } else {
            print_summary(&report);
        }
        Ok(if report.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

fn eth(wei: &str) -> String {
    crate::funds::show_amount(
        wei.parse::<U256>().unwrap_or_default(),
        18,
        crate::funds::NATIVE_SYMBOL,
    )
}

fn print_summary(r: &DemoReport) {
    let ms = |m: Option<i64>| m.map_or_else(|| "-".to_string(), |m| format!("{m} ms"));
    let later: Vec<String> = r
        .attacker_txs
        .iter()
        .skip(1)
        .map(|t| {
            if t.reverted {
                t.error.clone().unwrap_or_else(|| "reverted".into())
            } else {
                "SUCCEEDED".into()
            }
        })
        .collect();
    let mut t = Table::new(["", "REACTIVE (NEXT BLOCK)", "PRE-EMPTIVE (MEMPOOL)"]);
    let p = r.preempt.as_ref();
    let pre =
        |f: &dyn Fn(&demo::PreemptReport) -> String| p.map_or_else(|| "not run".to_string(), f);
    t.row(vec![
        "chain".into(),
        format!("{} ({})", r.chain, r.chain_id),
        pre(&|p| p.chain.clone()),
    ]);
    t.row(vec![
        "exploit's first transaction".into(),
        format!("block {}: succeeded", r.exploit_block),
        pre(&|p| {
            format!(
                "block {}: {}",
                p.exploit_block,
                if p.exploit_reverted {
                    format!("reverted {}", p.exploit_error.as_deref().unwrap_or(""))
                } else {
                    "SUCCEEDED".into()
                }
            )
        }),
    ]);
    t.row(vec![
        "detected".into(),
        format!(
            "{} after its block (alert from block {})",
            ms(r.detect_ms),
            r.alert_block.map_or_else(|| "-".into(), |b| b.to_string())
        ),
        pre(&|_| "while pending".to_string()),
    ]);
    t.row(vec![
        "everything paused".into(),
        format!(
            "block {} (+{}): broadcast {}, mined {} after the exploit's block",
            r.paused_block.map_or_else(|| "-".into(), |b| b.to_string()),
            r.paused_block.map_or_else(
                || "-".into(),
                |b| b.saturating_sub(r.exploit_block).to_string()
            ),
            ms(r.pause_sent_ms),
            ms(r.pause_ms)
        ),
        pre(&|p| {
            format!(
                "block {}{}; broadcast {} after the alert",
                p.paused_block.map_or_else(|| "-".into(), |b| b.to_string()),
                if p.pause_first {
                    ", ahead of the exploit"
                } else {
                    ""
                },
                ms(p.alert_to_broadcast_ms)
            )
        }),
    ]);
    t.row(vec![
        "attacker's later transactions".into(),
        later.join(", "),
        pre(&|_| "-".into()),
    ]);
    t.row(vec![
        "funds at risk (owed then)".into(),
        format!(
            "{} ({})",
            eth(&r.at_risk_wei),
            r.owed_wei.as_deref().map(eth).unwrap_or_else(|| "-".into())
        ),
        pre(&|_| "-".into()),
    ]);
    t.row(vec![
        "funds lost".into(),
        eth(&r.lost_wei),
        pre(&|p| eth(&p.lost_wei)),
    ]);
    t.row(vec![
        "funds rescued, returned".into(),
        format!("{}, {}", eth(&r.rescued_wei), eth(&r.returned_wei)),
        pre(&|_| "nothing to rescue".into()),
    ]);
    t.row(vec![
        "still short".into(),
        eth(&r.still_short_wei),
        pre(&|_| "-".into()),
    ]);
    t.row(vec![
        "incident".into(),
        r.incident.map_or_else(
            || "-".into(),
            |id| format!("{id} ({})", if r.closed { "closed" } else { "NOT closed" }),
        ),
        pre(&|p| {
            p.incident
                .map_or_else(|| "-".into(), |id| format!("{id} (pre-empted, paused)"))
        }),
    ]);
    println!();
    println!("{t}");
    println!(
        "funds, as the post-mortem defines them: {}",
        crate::incident::report::FUNDS_MEANING
    );
    if let Some(d) = &r.durations {
        println!(
            "the post-mortem's response times ({}):",
            crate::incident::report::CLOCKS
        );
        for (name, s) in d.named() {
            println!("  {name}: {}", crate::incident::report::show_span(s));
        }
    }
    println!(
        "notifications: {} signed webhook deliveries ({} alerts, {} incident messages)",
        r.notifications, r.alert_messages, r.incident_messages
    );
    if let Some(p) = &r.report {
        println!("post-mortem: {}", p.display());
    }
    if let Some(p) = &r.report_html {
        println!("             {}", p.display());
    }
    if r.ok {
        println!("\nthe drill went as it must.");
    } else {
        println!("\nthe drill did NOT go as it must:");
        for p in &r.problems {
            println!("  - {p}");
        }
    }
}
