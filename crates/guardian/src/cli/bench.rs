//! `guardian bench`: measurements behind docs/performance.md.

use std::process::ExitCode;

/// Measure how fast `guardian pause` stops N contracts on 1 and 3 chains, beside a
/// send-one-wait-for-receipt script, with and without a dead first RPC endpoint.
#[derive(Debug, clap::Args)]
pub struct Args {}

impl Args {
    /// Runs the benchmark.
    pub async fn run(self, _ctx: &super::Context) -> anyhow::Result<ExitCode> {
        anyhow::bail!("not implemented yet")
    }
}
