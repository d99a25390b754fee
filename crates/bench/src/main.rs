//! `cargo run -p bench --release -- pause` (or `monitor`, `backfill`, `preempt`, `congestion`): the
//! measurements behind docs/performance.md; `gas` prints the gas table of docs/contracts.md and
//! `mempool` the simulation and pending-arrival latencies. Not part of the product: `guardian
//! --help` lists operator commands only.

mod backfill;
mod bench;
mod congestion;
mod gas;
mod mempool;
mod monitor;
mod pause;
mod preempt;
mod scale;
mod warroom;

use std::{path::Path, process::ExitCode, time::SystemTime};

use anyhow::Context as _;
use guardian::{
    config::Manifest,
    devnet::{Devnet, DevnetOptions},
    secret::RpcUrl,
};
use pause::PauseArgs;

/// Measure how fast `guardian pause` stops N contracts on 1 and 3 chains, beside a
/// send-one-wait-for-receipt script, with and without a dead first RPC endpoint.
#[derive(Debug, clap::Parser)]
#[command(name = "bench", about)]
struct Args {
    /// What to measure.
    #[command(subcommand)]
    what: What,
}

/// The benchmarks.
#[derive(Debug, clap::Subcommand)]
enum What {
    /// Pause N contracts per chain on interval-mined anvil chains and write the table.
    Pause(PauseArgs),
    /// Detection latency of `guardian monitor` (alert stored, webhook delivered), WebSocket and
    /// polling; prints the table.
    Monitor(monitor::MonitorArgs),
    /// Backfill throughput of `guardian monitor --once --from-block` over a long history of
    /// registrations, beside the block-by-block path; writes its section of the report.
    Backfill(backfill::BackfillArgs),
    /// The pre-emptive pause against the drill's exploit, many trials with 1 s blocks: share
    /// with nothing lost, pending-seen to pause broadcast; writes its section of the report.
    Preempt(preempt::PreemptArgs),
    /// The emergency pause through full blocks (urgent fees beside the node's suggested fees) and
    /// against a bot that answers a pause it sees in the pool; writes its section of the report.
    Congestion(congestion::CongestionArgs),
    /// The gas table of docs/contracts.md from real receipts on anvil; prints it as markdown.
    Gas(gas::GasArgs),
    /// Simulation latency of a pending transaction per simulator, and send-to-seen latency per
    /// mempool source, on anvil with mining held; prints one line each.
    Mempool(mempool::MempoolArgs),
    /// Detection at scale: 1, 3, 10 chains × 10, 100, 1,000 contracts × 10, 500, 5,000 events per
    /// block, the real monitor binary against 1 s blocks; writes its section of the report.
    Scale(scale::ScaleArgs),
    /// One scale cell held for 30 minutes, sampled each minute (memory, descriptors, database,
    /// outbox); writes its section of the report.
    Soak(scale::SoakArgs),
    /// Takeover time of `[ha]` instances on PostgreSQL after `kill -9` of the chain's holder.
    Takeover(monitor::takeover::TakeoverArgs),
    /// The war room's page times with 10,000 alerts and 500 timeline entries, and the time from
    /// an alert's commit to its event on 50 open streams; writes its section of the report.
    Warroom(warroom::WarroomArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = <Args as clap::Parser>::parse();
    guardian::tls::install_provider();
    guardian::cli::init_logging(0);
    let result = match args.what {
        What::Pause(args) => args.run().await,
        What::Monitor(args) => args.run().await,
        What::Backfill(args) => args.run().await,
        What::Preempt(args) => args.run().await,
        What::Congestion(args) => args.run().await,
        What::Gas(args) => args.run().await,
        What::Mempool(args) => args.run().await,
        What::Takeover(args) => args.run().await,
        What::Scale(args) => args.run().await,
        What::Soak(args) => args.run().await,
        What::Warroom(args) => args.run().await,
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the devnet, trying again if deploying fails: the benchmark measures pausing, and a
/// deployment that went wrong says nothing about that.
pub(crate) async fn start_devnet(opts: &DevnetOptions) -> anyhow::Result<Devnet> {
    const ATTEMPTS: u32 = 3;
    let mut attempt = 1;
    loop {
        match Devnet::start(opts, None).await {
            Ok(devnet) => return Ok(devnet),
            Err(e) if attempt < ATTEMPTS => {
                eprintln!("deploying failed (attempt {attempt} of {ATTEMPTS}), starting over: {e}");
                attempt += 1;
            }
            Err(e) => return Err(e).context("cannot start the devnet"),
        }
    }
}

pub(crate) fn chain_url(manifest: &Manifest, chain: &str) -> anyhow::Result<RpcUrl> {
    manifest
        .chains
        .get(chain)
        .and_then(|c| c.rpc_urls.first().cloned())
        .with_context(|| format!("chain `{chain}` has no endpoint"))
}

/// The command as typed, run through cargo.
pub(crate) fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo run --release -p bench -- {}", args.join(" "))
}

pub(crate) fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    bench::utc_datetime(secs)
}

pub(crate) fn anvil_version(anvil: &Path) -> String {
    std::process::Command::new(anvil)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "anvil (version unknown)".into())
}

pub(crate) fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
}
