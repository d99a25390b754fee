//! `guardian bounty assess ID`: a report's reward from the funds its contracts held on chain.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::{
    bounty::{
        Severity,
        assess::{Assessment, assess_report},
    },
    chain::signer::process_env,
    config::manifest_path,
    deployment::Deployment,
    incident::report::utc,
    output::{Table, emit, terminal_line},
};

/// Assess a report's reward: for critical and high, [bounty] share_percent of the funds its
/// fund-holding contracts held at the report's submission (read on chain, priced by [bounty]
/// native_usd and [bounty.token_usd]), at least [bounty] min_usd, at most the tier's cap; for
/// medium and low, [bounty] medium_usd / low_usd. The severity is the confirmed one, else the
/// claimed one.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The report's id.
    id: i64,
    /// Assess at this severity instead (critical, high, medium, low).
    #[arg(long, value_parser = parse_severity)]
    severity: Option<Severity>,
    /// Print the assessment as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

impl Args {
    /// Reads the balances and prints the assessment.
    pub async fn run(self, ctx: &crate::cli::Context) -> anyhow::Result<ExitCode> {
        let path = manifest_path(ctx.config.clone());
        let deployment = Deployment::open(&path, None, &process_env).await?;
        let assessment = assess_report(&deployment, self.id, self.severity)
            .await
            .with_context(|| format!("cannot assess report #{}", self.id))?;
        Ok(emit(&assessment, self.json, true, print_human))
    }
}

fn usd(v: f64) -> String {
    format!("${v:.2}")
}

fn print_human(a: &Assessment) {
    println!(
        "report #{}: {} ({})",
        a.report_id, a.severity, a.severity_source
    );
    if !a.assets.is_empty() {
        let mut t = Table::new(["CHAIN", "CONTRACT", "AMOUNT", "USD", "PRICE"]);
        for line in &a.assets {
            let price = match (line.price_usd, &line.price_from) {
                (Some(p), Some(from)) => format!("${p} ({from})"),
                _ => "-".to_string(),
            };
            t.row(vec![
                line.chain.clone(),
                line.contract.clone(),
                line.amount.clone(),
                line.usd.map_or_else(|| "no price".to_string(), usd),
                price,
            ]);
        }
        print!("{t}");
    }
    if let Some(at_risk) = a.at_risk_usd {
        println!("at risk:  {}", usd(at_risk));
        println!(
            "share:    {}% of it, at least {} ([bounty] min_usd)",
            a.share_percent,
            usd(a.min_usd as f64)
        );
    }
    println!("cap:      {} ({})", usd(a.cap_usd as f64), a.severity);
    println!("reward:   {} (set by: {})", usd(a.reward_usd), a.rule);
    for (chain, at) in &a.read_at {
        println!(
            "read at:  {chain} block {} ({}, {})",
            at.block,
            at.at,
            utc(i64::try_from(at.timestamp).unwrap_or(i64::MAX / 1000) * 1000)
        );
    }
    // A note or warning may quote a contract name from the report.
    for note in &a.notes {
        println!("note:     {}", terminal_line(note));
    }
    for warning in &a.warnings {
        println!("warning:  {}", terminal_line(warning));
    }
}
