//! `guardian demo`: the whole incident drill on local chains, with a live display and a summary.

use std::{path::PathBuf, process::ExitCode};

use alloy::primitives::U256;

use crate::{
    anvil::find_anvil,
    chain::signer::process_env,
    demo::{self, DemoOptions, DemoReport, Progress},
    operator::operator,
    output::print_json,
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
}

impl Args {
    /// Runs the drill.
    pub async fn run(self, _ctx: &super::Context) -> anyhow::Result<ExitCode> {
        let opts = DemoOptions {
            dir: self.dir.clone(),
            anvil: find_anvil(self.anvil.as_deref(), &process_env)?,
            operator: operator(self.operator.as_deref(), &process_env),
            quiet: self.json,
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
    let blocks = |b: Option<u64>| b.map_or_else(|| "-".to_string(), |b| b.to_string());
    println!();
    println!("Drill summary ({} chain {}):", r.chain, r.chain_id);
    println!("  exploit's first transaction   block {}", r.exploit_block);
    println!(
        "  time to detect                {} ms (alert from block {})",
        r.detect_ms.map_or_else(|| "-".into(), |m| m.to_string()),
        blocks(r.alert_block)
    );
    println!(
        "  time to pause                 {} block(s), {} ms (everything paused in block {})",
        r.paused_block.map_or_else(
            || "-".into(),
            |p| p.saturating_sub(r.exploit_block).to_string()
        ),
        r.pause_ms.map_or_else(|| "-".into(), |m| m.to_string()),
        blocks(r.paused_block)
    );
    let later: Vec<String> = r
        .attacker_txs
        .iter()
        .skip(1)
        .map(|t| {
            format!(
                "block {} {}",
                t.block,
                if t.reverted {
                    t.error.clone().unwrap_or_else(|| "reverted".into())
                } else {
                    "SUCCEEDED".into()
                }
            )
        })
        .collect();
    println!("  attacker's later transactions {}", later.join(", "));
    println!("  funds at risk                 {}", eth(&r.at_risk_wei));
    println!("  lost                          {}", eth(&r.lost_wei));
    println!("  rescued                       {}", eth(&r.rescued_wei));
    println!("  returned with replenish       {}", eth(&r.returned_wei));
    println!(
        "  notifications                 {} signed webhook deliveries ({} alerts, {} incident messages)",
        r.notifications, r.alert_messages, r.incident_messages
    );
    if let Some(id) = r.incident {
        println!(
            "  incident                      {id} ({})",
            if r.closed { "closed" } else { "NOT closed" }
        );
    }
    if let Some(p) = &r.report {
        println!("  post-mortem                   {}", p.display());
    }
    if let Some(p) = &r.report_html {
        println!("                                {}", p.display());
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
