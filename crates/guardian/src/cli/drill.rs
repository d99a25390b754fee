//! `guardian drill --fork`: the level-3 response rehearsed on a fork of each real chain.

use std::{path::PathBuf, process::ExitCode};

use crate::{
    anvil::find_anvil,
    chain::signer::process_env,
    drill::{self, DrillOptions, DrillReport},
    operator::operator,
    output::{print_json, terminal_line},
};

/// Rehearse the level-3 response on a fork of each chain of the manifest: pause everything
/// (checked in one block), rescue funds to the safe recipient, give them back, unpause, acting as
/// the real role holders (accounts impersonated, Safes through their owners' approvals). Nothing
/// is sent to the real chains: anvil forks them through a local proxy that refuses every send.
/// The result is recorded in the journal as the last drill. Exit code 0 only if every step
/// worked.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Drill on a fork of the real chains (the only kind of drill for now).
    #[arg(long, required = true)]
    fork: bool,
    /// Only this chain (its name in the manifest).
    #[arg(long, value_name = "NAME")]
    chain: Option<String>,
    /// The anvil binary (default: GUARDIAN_ANVIL, the npm package under contracts/, then PATH).
    #[arg(long, value_name = "PATH")]
    anvil: Option<PathBuf>,
    /// Who runs the drill, for the journal (default: GUARDIAN_OPERATOR, else the OS user).
    #[arg(long = "as", value_name = "NAME")]
    operator: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// Runs the drill and prints its report.
    pub async fn run(self, ctx: &super::Context) -> anyhow::Result<ExitCode> {
        debug_assert!(self.fork);
        let deployment = ctx.deployment(self.chain.as_deref()).await?;
        let options = DrillOptions {
            anvil: find_anvil(self.anvil.as_deref(), &process_env)?,
            chain: self.chain.clone(),
        };
        let who = operator(self.operator.as_deref(), &process_env);
        if !self.json {
            eprintln!("forking and drilling… (nothing is sent to the real chains)");
        }
        let report = drill::run(&deployment.manifest, &deployment.store, &who, &options).await?;
        if self.json {
            print_json(&report);
        } else {
            print_human(&report);
        }
        Ok(if report.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

fn print_human(report: &DrillReport) {
    for chain in &report.chains {
        let at = chain.fork_block.map_or_else(
            || "not forked".to_string(),
            |b| format!("forked at block {b}"),
        );
        println!("{} ({at})", chain.chain);
        for step in &chain.steps {
            let mark = if step.ok { "ok  " } else { "FAIL" };
            let block = step
                .block
                .map_or_else(String::new, |b| format!(", block {b}"));
            println!("  {mark} {} ({} ms{block})", step.name, step.ms);
            if let Some(e) = &step.error {
                println!("       {}", terminal_line(e));
            }
            for o in &step.outcomes {
                let mark = if o.ok { "✓" } else { "✗" };
                println!(
                    "       {mark} {}: {}",
                    terminal_line(&o.contract),
                    terminal_line(&o.detail)
                );
            }
        }
        if chain.refused_sends > 0 {
            println!(
                "  the send guard refused {} send(s) meant for the real chain",
                chain.refused_sends
            );
        }
    }
    println!();
    println!("{}", report.summary);
    println!("recorded as action {} (guardian history)", report.action_id);
}
