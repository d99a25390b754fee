//! `cargo run --release -p bench -- scale` (and `soak`): detection as chains, contracts and
//! events grow, and over a long run. Each cell runs the real `guardian monitor` binary as its own
//! process against anvil chains mining one block a second, with the suite's events sent by this
//! process, and measures the alert stored after its block exists, how far the monitor falls
//! behind, and the CPU time and memory of the monitor, of this process (the load and the probes)
//! and of the anvils, so a cell the machine cannot generate says so.

mod load;
mod probe;
mod setup;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::providers::{Provider, ProviderBuilder};
use anyhow::Context as _;
use tokio::sync::watch;

use crate::{bench::replace_section, monitor::percentile};

/// The heading of the scale section in docs/performance.md.
pub const SECTION: &str = "## Monitor: detection at scale";
/// The heading of the soak section.
pub const SOAK_SECTION: &str = "## Monitor: soak";

/// The target: an alert stored within this after its block exists (p99), at 3 chains × 1,000
/// events per block.
const TARGET_MS: f64 = 100.0;

/// One cell: chains × watched contracts per chain × suite events per block per chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// Chains, each its own anvil.
    pub chains: u32,
    /// Watched contracts on each chain.
    pub contracts: usize,
    /// Suite events per block on each chain.
    pub events: u64,
}

impl FromStr for Cell {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a cell: write CHAINSxCONTRACTSxEVENTS, e.g. 3x100x500");
        let parts: Vec<&str> = s.split('x').collect();
        let [c, k, e] = parts[..] else {
            return Err(bad());
        };
        let cell = Cell {
            chains: c.parse().map_err(|_| bad())?,
            contracts: k.parse().map_err(|_| bad())?,
            events: e.parse().map_err(|_| bad())?,
        };
        if cell.chains == 0 || cell.contracts == 0 {
            return Err(bad());
        }
        Ok(cell)
    }
}

/// The grid of the issue (1, 3, 10 chains × 10, 100, 1,000 contracts × 10, 500, 5,000 events)
/// and the target's cell (3 chains × 1,000 events).
fn default_cells() -> Vec<Cell> {
    let mut cells = Vec::new();
    for chains in [1, 3, 10] {
        for contracts in [10, 100, 1_000] {
            for events in [10, 500, 5_000] {
                cells.push(Cell {
                    chains,
                    contracts,
                    events,
                });
            }
        }
    }
    cells.push(Cell {
        chains: 3,
        contracts: 100,
        events: 1_000,
    });
    cells
}

/// `cargo run --release -p bench -- scale`.
#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    /// Cells to run, CHAINSxCONTRACTSxEVENTS, comma-separated (default: the 27-cell grid and the
    /// target's cell 3x100x1000).
    #[arg(long, value_delimiter = ',')]
    cells: Vec<Cell>,
    /// Seconds measured in each cell, once the monitor follows every chain.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// The anvil binary (default: GUARDIAN_ANVIL, the npm package under contracts/, then PATH).
    #[arg(long, value_name = "PATH")]
    anvil: Option<PathBuf>,
    /// The report whose section is replaced; `-` prints the table only.
    #[arg(long, default_value = "docs/performance.md")]
    out: PathBuf,
}

/// `cargo run --release -p bench -- soak`.
#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// The cell held.
    #[arg(long, default_value = "3x100x500")]
    cell: Cell,
    /// Minutes it runs.
    #[arg(long, default_value_t = 30)]
    minutes: u64,
    /// The anvil binary (default: GUARDIAN_ANVIL, the npm package under contracts/, then PATH).
    #[arg(long, value_name = "PATH")]
    anvil: Option<PathBuf>,
    /// The report whose section is replaced; `-` prints the table only.
    #[arg(long, default_value = "docs/performance.md")]
    out: PathBuf,
}

/// CPU (in cores: 1.0 is one core busy all the time) and the most resident memory seen.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    cores: f64,
    rss_mib: f64,
}

impl Usage {
    fn show(&self) -> String {
        format!("{:.0}% / {:.0} MiB", self.cores * 100.0, self.rss_mib)
    }
}

/// One minute of the soak.
#[derive(Debug, Clone, Copy)]
struct SoakSample {
    minute: u64,
    rss_mib: f64,
    fds: usize,
    db_mib: f64,
    outbox: i64,
    behind: f64,
}

/// What one cell measured.
struct Measured {
    cell: Cell,
    /// Alert stored after its block exists, ms, one per toggle seen.
    stored: Vec<f64>,
    /// Blocks in the window (over all chains) whose alert was never seen.
    missing: usize,
    /// Blocks in the window, over all chains.
    blocks: usize,
    /// The most blocks any chain was behind, sampled each second.
    behind: f64,
    /// Share of the window's blocks carrying every load transaction.
    full: f64,
    /// Seconds per block the window's blocks took to come (1.0: the anvils kept the pace).
    block_secs: f64,
    monitor: Usage,
    generator: Usage,
    anvils: Usage,
    /// Per stage: mean ms per observation in the window.
    stages: BTreeMap<String, f64>,
    samples: Vec<SoakSample>,
}

impl Measured {
    fn sorted(&self) -> Vec<f64> {
        let mut s = self.stored.clone();
        s.sort_by(f64::total_cmp);
        s
    }

    /// Whether the load reached the chains as asked: 90% of blocks full, at about 1 s each.
    fn generable(&self) -> bool {
        self.full >= 0.9 && self.block_secs < 1.25
    }

    /// The stage a block spends the longest in (mean), with its time.
    fn slowest(&self) -> String {
        self.stages
            .iter()
            .filter(|(s, _)| s.as_str() != "notify")
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or("-".into(), |(s, ms)| format!("{s} {ms:.1} ms"))
    }

    /// Each stage's mean, in the order a block goes through them.
    fn stage_means(&self) -> String {
        ["fetch_logs", "read_holdings", "rules", "store", "notify"]
            .iter()
            .map(|s| {
                self.stages
                    .get(*s)
                    .map_or("-".into(), |ms| format!("{ms:.1}"))
            })
            .collect::<Vec<_>>()
            .join(" / ")
    }

    fn verdict(&self) -> String {
        if !self.generable() {
            return format!(
                "not generable here ({:.0}% of blocks full, {:.2} s a block)",
                self.full * 100.0,
                self.block_secs
            );
        }
        if self.behind > 1.0 || self.missing > 0 {
            return format!(
                "behind: {}; slowest stage {}",
                if self.missing > 0 {
                    format!("{} alerts not stored by the end", self.missing)
                } else {
                    format!("{:.0} blocks", self.behind)
                },
                self.slowest()
            );
        }
        "keeps up".into()
    }
}

/// What every cell shares: the binaries and the webhook sink.
struct Context {
    anvil: PathBuf,
    guardian: PathBuf,
    hook: String,
}

impl Context {
    async fn new(anvil: Option<&Path>) -> anyhow::Result<Self> {
        let guardian = std::env::current_exe()?.with_file_name("guardian");
        anyhow::ensure!(
            guardian.is_file(),
            "{} is missing: this bench runs the real binary; build it first with `cargo build --release -p guardian`",
            guardian.display()
        );
        let anvil = guardian::anvil::find_anvil(anvil, &|n| std::env::var(n).ok())?;
        let (hook, _) = crate::monitor::webhook_sink().await?;
        Ok(Self {
            anvil,
            guardian,
            hook,
        })
    }

    /// Runs `cell` for `window` once the monitor follows every chain; with `every`, samples the
    /// monitor's memory, descriptors, database and outbox that often.
    async fn run(
        &self,
        cell: Cell,
        window: Duration,
        every: Option<Duration>,
    ) -> anyhow::Result<Measured> {
        eprintln!(
            "cell {}x{}x{}: deploying ...",
            cell.chains, cell.contracts, cell.events
        );
        let prepared = setup::prepare(&self.anvil, &self.guardian, cell, &self.hook).await?;
        let measured = self.measure(&prepared, cell, window, every).await;
        prepared.stop().await;
        measured
    }

    async fn measure(
        &self,
        p: &setup::Prepared,
        cell: Cell,
        window: Duration,
        every: Option<Duration>,
    ) -> anyhow::Result<Measured> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let seen: probe::Seen = Arc::default();
        let watching = tokio::spawn(probe::watch_alerts(
            p.db(),
            Duration::from_millis(5),
            seen.clone(),
            stop_rx.clone(),
        ));
        let arrived: load::Arrived = Arc::default();
        let mut loads = Vec::new();
        let mut urls = Vec::new();
        for l in &p.loads {
            urls.push((l.chain_id, l.http.clone(), l.events.div_ceil(load::PER_TX)));
        }
        for l in p.loads.iter().cloned() {
            loads.push(tokio::spawn(l.run(arrived.clone(), stop_rx.clone())));
        }
        let http = reqwest::Client::new();
        let monitor_pid = p.monitor.id();
        // The monitor follows every chain once each has a processed block.
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let text = probe::scrape(&http, &p.metrics_addr)
                .await
                .unwrap_or_default();
            let following = probe::samples(&text, "guardian_monitor_blocks_processed_total")
                .iter()
                .filter(|(_, v)| *v > 0.0)
                .count();
            if following >= cell.chains as usize {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the monitor did not follow every chain within 180 s; its log is in {}",
                p.dir.path().join("monitor.log").display()
            );
            anyhow::ensure!(
                probe::read_proc(monitor_pid).is_some(),
                "the monitor exited; its log is in {}",
                p.dir.path().join("monitor.log").display()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;

        let me = std::process::id();
        let anvils = p.anvil_pids();
        let heads = |arrived: &load::Arrived| -> BTreeMap<u64, u64> {
            let mut out = BTreeMap::new();
            for (chain, n) in arrived
                .lock()
                .map(|m| m.keys().copied().collect::<Vec<_>>())
                .unwrap_or_default()
            {
                let e = out.entry(chain).or_insert(n);
                *e = (*e).max(n);
            }
            out
        };
        let first = heads(&arrived);
        let text0 = probe::scrape(&http, &p.metrics_addr)
            .await
            .unwrap_or_default();
        let started = Instant::now();
        let cpu0 = (
            probe::read_all(&[monitor_pid]),
            probe::read_all(&[me]),
            probe::read_all(&anvils),
        );
        let mut rss = (0f64, 0f64, 0f64);
        let mut behind = 0f64;
        let mut samples = Vec::new();
        let mut next_sample = every.map(|e| started + e);
        while started.elapsed() < window {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let text = probe::scrape(&http, &p.metrics_addr)
                .await
                .unwrap_or_default();
            let lag = probe::max_lag(&text).unwrap_or(0.0);
            behind = behind.max(lag);
            let m = probe::read_all(&[monitor_pid]);
            rss.0 = rss.0.max(m.rss_mib);
            rss.1 = rss.1.max(probe::read_all(&[me]).rss_mib);
            rss.2 = rss.2.max(probe::read_all(&anvils).rss_mib);
            if let (Some(at), Some(e)) = (next_sample, every)
                && Instant::now() >= at
            {
                let s = SoakSample {
                    minute: (started.elapsed().as_secs_f64() / 60.0).round() as u64,
                    rss_mib: m.rss_mib,
                    fds: probe::open_fds(monitor_pid).unwrap_or(0),
                    db_mib: probe::db_size_mib(&p.db()),
                    outbox: probe::outbox_depth(&p.db()).unwrap_or(-1),
                    behind: lag,
                };
                eprintln!("{s:?}");
                samples.push(s);
                next_sample = Some(at + e);
            }
        }
        let took = started.elapsed().as_secs_f64();
        let cpu1 = (
            probe::read_all(&[monitor_pid]),
            probe::read_all(&[me]),
            probe::read_all(&anvils),
        );
        let text1 = probe::scrape(&http, &p.metrics_addr)
            .await
            .unwrap_or_default();
        let last = heads(&arrived);
        let _ = stop_tx.send(true);
        for l in loads {
            if let Ok(Err(e)) = l.await {
                eprintln!("load: {e:#}");
            }
        }
        // The last blocks' alerts have a moment to be stored.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let _ = watching.await;

        let (seen, arrived) = (
            seen.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone(),
            arrived.lock().map_err(|_| anyhow::anyhow!("lock"))?.clone(),
        );
        let mut stored = Vec::new();
        let mut missing = 0;
        let mut blocks = 0;
        let mut full = 0;
        for (chain_id, url, load_txs) in &urls {
            let (Some(from), Some(to)) = (first.get(chain_id), last.get(chain_id)) else {
                continue;
            };
            let provider = ProviderBuilder::new().connect_http(url.expose().clone());
            // Blocks after the first seen: their toggles were sent once the window began.
            for n in from + 1..=*to {
                blocks += 1;
                match (arrived.get(&(*chain_id, n)), seen.get(&(*chain_id, n))) {
                    (Some(a), Some(s)) => {
                        stored.push(s.saturating_duration_since(*a).as_secs_f64() * 1e3)
                    }
                    _ => missing += 1,
                }
                let txs = provider
                    .get_block_by_number(n.into())
                    .await?
                    .map_or(0, |b| b.transactions.len() as u64);
                if txs > *load_txs {
                    full += 1;
                }
            }
        }
        let chain_blocks = last
            .iter()
            .map(|(c, n)| n.saturating_sub(*first.get(c).unwrap_or(n)))
            .sum::<u64>()
            .max(1) as f64
            / f64::from(cell.chains);
        let cores = |a: probe::ProcReading, b: probe::ProcReading| (b.cpu_secs - a.cpu_secs) / took;
        let totals0 = probe::stage_totals(&text0);
        let stages = probe::stage_totals(&text1)
            .into_iter()
            .map(|(stage, (sum, count))| {
                let (s0, c0) = totals0.get(&stage).copied().unwrap_or_default();
                let n = (count - c0).max(1.0);
                (stage, (sum - s0) / n * 1e3)
            })
            .collect();
        Ok(Measured {
            cell,
            stored,
            missing,
            blocks,
            behind,
            full: if blocks == 0 {
                0.0
            } else {
                f64::from(full) / blocks as f64
            },
            block_secs: took / chain_blocks,
            monitor: Usage {
                cores: cores(cpu0.0, cpu1.0),
                rss_mib: rss.0,
            },
            generator: Usage {
                cores: cores(cpu0.1, cpu1.1),
                rss_mib: rss.1,
            },
            anvils: Usage {
                cores: cores(cpu0.2, cpu1.2),
                rss_mib: rss.2,
            },
            stages,
            samples,
        })
    }
}

fn row(m: &Measured) -> String {
    let s = m.sorted();
    format!(
        "| {} | {} | {} | {} of {} | {:.0} ms | {:.0} ms | {:.0} | {} | {} | {} | {:.0}% | {} | {} |\n",
        m.cell.chains,
        m.cell.contracts,
        m.cell.events,
        s.len(),
        m.blocks,
        percentile(&s, 50.0),
        percentile(&s, 99.0),
        m.behind,
        m.monitor.show(),
        m.generator.show(),
        m.anvils.show(),
        m.full * 100.0,
        m.stage_means(),
        m.verdict(),
    )
}

const HEADER: &str = "| chains | contracts per chain | events per block per chain | alerts stored | stored p50 | p99 | blocks behind (max) | monitor CPU / RSS | bench (load, probes) CPU / RSS | anvils CPU / RSS | blocks full | stage means, ms: fetch_logs / read_holdings / rules / store / notify | verdict |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";

fn environment() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    format!(
        "{} ({cpus} CPUs), {}; finished {}",
        crate::cpu_model().unwrap_or_else(|| "unknown CPU".into()),
        std::env::consts::OS,
        crate::utc_now()
    )
}

fn write_section(out: &Path, heading: &str, section: &str) -> anyhow::Result<()> {
    if out == Path::new("-") {
        return Ok(());
    }
    let old = std::fs::read_to_string(out).unwrap_or_default();
    std::fs::write(out, replace_section(&old, heading, section))
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

impl ScaleArgs {
    /// Runs every cell and writes the table.
    pub async fn run(self) -> anyhow::Result<std::process::ExitCode> {
        let ctx = Context::new(self.anvil.as_deref()).await?;
        let cells = if self.cells.is_empty() {
            default_cells()
        } else {
            self.cells.clone()
        };
        let mut table = String::from(HEADER);
        let mut target = None;
        for cell in cells {
            let m = ctx
                .run(cell, Duration::from_secs(self.seconds), None)
                .await?;
            let line = row(&m);
            eprint!("{line}");
            table.push_str(&line);
            if cell.chains == 3 && cell.events == 1_000 {
                let s = m.sorted();
                target = Some((percentile(&s, 99.0), m.verdict()));
            }
        }
        let target = match target {
            Some((p99, _)) if p99 < TARGET_MS => {
                format!(
                    "The target cell (3 chains × 1,000 events) stored its alerts at {p99:.0} ms p99: under {TARGET_MS:.0} ms."
                )
            }
            Some((p99, verdict)) => format!(
                "The target cell (3 chains × 1,000 events) **misses**: {p99:.0} ms p99 against {TARGET_MS:.0} ms ({verdict})."
            ),
            None => "The target cell (3 chains × 1,000 events) was not run.".into(),
        };
        println!("{table}\n{target}");
        let section = format!(
            "{SECTION}\n\nGenerated by `{}`; do not edit by hand. {}.\n\n\
             Each cell starts its own anvil chains, deploys the suite with automine, makes the \
             watched contracts up to *contracts per chain* by giving copies of the suite's \
             contracts their code (`anvil_setCode`, with a proxy's implementation slot) so the \
             monitor reads their balances and debts like the originals', then mines one block a \
             second. The real `guardian monitor` binary follows every chain over WebSocket, with \
             its records in SQLite, the built-in rules and one rule of each kind (`rate`, \
             `outflow`, `actor-burst`, `failed-share`) on, and a webhook contact for every alert. \
             This process sends the load: at each new head, the next block's document updates \
             (`ResolverSet` events, in transactions of at most {}) and one pause or unpause of \
             the escrow by the pauser, whose `privileged` alert is the one timed, from the head \
             arriving over this process's own subscription to the alert seen in the database \
             (read every 5 ms). Measured over {} s once the monitor follows every chain. CPU is \
             in cores (100% is one of the machine's cores busy all the time); RSS is the most \
             resident memory seen. *Blocks full*: the blocks that carried every load \
             transaction; below 90%, or blocks slower than 1.25 s, the machine could not \
             generate the cell and the verdict says so instead of blaming the monitor. The \
             stage means come from the monitor's `guardian_monitor_stage_seconds` \
             (`--metrics-addr`), per block (notify: per alert); fetch_logs and read_holdings run \
             side by side, so a block waits for the slower of the two. Reads go over HTTP and \
             heads come over WebSocket (`rpc_urls = [http, ws]`).\n\n{table}\n{target}\n",
            crate::command_line(),
            environment(),
            load::PER_TX,
            self.seconds,
        );
        write_section(&self.out, SECTION, &section)?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}

impl SoakArgs {
    /// Holds the cell for the minutes asked, sampling each minute, and writes the table.
    pub async fn run(self) -> anyhow::Result<std::process::ExitCode> {
        let ctx = Context::new(self.anvil.as_deref()).await?;
        let m = ctx
            .run(
                self.cell,
                Duration::from_secs(self.minutes * 60),
                Some(Duration::from_secs(60)),
            )
            .await?;
        let mut table = String::from(
            "| minute | monitor RSS | open fds | SQLite (file + WAL) | outbox depth | blocks behind |\n|---|---|---|---|---|---|\n",
        );
        for s in &m.samples {
            table.push_str(&format!(
                "| {} | {:.1} MiB | {} | {:.1} MiB | {} | {:.0} |\n",
                s.minute, s.rss_mib, s.fds, s.db_mib, s.outbox, s.behind
            ));
        }
        let growth = match (m.samples.get(4), m.samples.last()) {
            (Some(a), Some(b)) if b.minute > a.minute => format!(
                "Resident memory from minute {} to minute {}: {:.1} → {:.1} MiB ({:+.1} MiB).",
                a.minute,
                b.minute,
                a.rss_mib,
                b.rss_mib,
                b.rss_mib - a.rss_mib
            ),
            _ => "Too short to tell a trend.".into(),
        };
        let summary = format!("{HEADER}{}", row(&m));
        println!("{table}\n{growth}\n\n{summary}");
        let section = format!(
            "{SOAK_SECTION}\n\nGenerated by `{}`; do not edit by hand. {}.\n\n\
             The scale benchmark's cell {}x{}x{} held for {} minutes (see above for how a cell \
             runs), sampled each minute: the monitor's resident memory and open file \
             descriptors, the SQLite database's size (file and write-ahead log) and the \
             messages not delivered yet. The database grows by design: every alert (here one a \
             block a chain, the toggles) and every delivered message is kept until \
             `[monitor] keep_alerts_days` / `keep_delivered_days` (unset here: kept); the \
             rules' windows and the blocks kept for reorganisations are bounded.\n\n{table}\n\
             {growth}\n\nThe whole run as one cell:\n\n{summary}",
            crate::command_line(),
            environment(),
            self.cell.chains,
            self.cell.contracts,
            self.cell.events,
            self.minutes,
        );
        write_section(&self.out, SOAK_SECTION, &section)?;
        Ok(std::process::ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_chains_by_contracts_by_events() {
        assert_eq!(
            "3x100x500".parse::<Cell>(),
            Ok(Cell {
                chains: 3,
                contracts: 100,
                events: 500
            })
        );
        for bad in ["3x100", "0x10x10", "ax1x1", "3x100x500x1"] {
            assert!(bad.parse::<Cell>().is_err(), "{bad}");
        }
        assert_eq!(default_cells().len(), 28);
    }
}
