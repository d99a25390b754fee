//! The pause benchmark behind `guardian bench pause` and docs/performance.md: one timed
//! `guardian pause`, the send-one-wait-for-its-receipt script it replaces, dead endpoints to put
//! in front of a chain, and the report.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io,
    net::TcpListener,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use alloy::{
    network::EthereumWallet,
    primitives::Address,
    providers::{PendingTransactionError, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use bindings::DocumentRegistry;

use crate::{
    chain::{ChainClient, ChainError},
    deployment::{Deployment, DeploymentError},
    response::pause::{self, Outcome, PauseRequest},
    secret::RpcUrl,
};

/// Why a benchmark step could not be carried out (as opposed to a measured run that failed,
/// which becomes a [`Sample`] with a failure).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The deployment under test could not be opened.
    #[error(transparent)]
    Deployment(#[from] DeploymentError),
    /// A chain did not answer a setup call.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A local socket could not be opened.
    #[error("cannot open a local endpoint: {0}")]
    Io(#[from] io::Error),
    /// A chain kept mining faster than its interval.
    #[error("anvil did not settle into interval mining within {1:?}: {0}")]
    Unsteady(String, Duration),
    /// The chain stopped producing blocks.
    #[error("chain `{0}` mined no block within {1:?}: is interval mining on?")]
    NoBlocks(String, Duration),
}

/// How the contracts were paused in a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    /// `guardian pause NAME...`: one transaction per contract, all sent at once.
    Guardian,
    /// `guardian pause --all`: one `pauseAll` per brake.
    GuardianBrake,
    /// The hand-written script: send one, wait for its receipt, next.
    Script,
    /// `guardian pause NAME...` with a first endpoint that refuses connections.
    GuardianRefused,
    /// `guardian pause NAME...` with a first endpoint that accepts and never answers.
    GuardianHanging,
}

impl Method {
    /// The label in the table.
    pub fn label(self) -> &'static str {
        match self {
            Self::Guardian => "guardian pause NAME…",
            Self::GuardianBrake => "guardian pause --all (brake)",
            Self::Script => "script: send, wait receipt, next",
            Self::GuardianRefused => "guardian, 1st RPC refuses",
            Self::GuardianHanging => "guardian, 1st RPC hangs",
        }
    }

    /// Whether the target (one block, at most 1.5 block times) applies to this method.
    pub fn has_target(self) -> bool {
        self != Self::Script
    }
}

/// One timed run.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// From the command's start to every target confirmed paused.
    pub wall: Duration,
    /// From the start to the moment guardian began sending (reads and role checks done).
    pub sending_at: Option<Duration>,
    /// Transactions sent.
    pub transactions: usize,
    /// Blocks from the first to the last transaction of the run, on the chain where that is most.
    pub spanned: Option<u64>,
    /// The first block with a transaction of the run, counted from the head at the start (1: the
    /// very next block), on the chain where that is latest.
    pub offset: Option<u64>,
    /// Per chain, the head block when the run started.
    pub heads: BTreeMap<String, u64>,
    /// Per chain, the first and last block with a transaction of the run.
    pub blocks: BTreeMap<String, (u64, u64)>,
    /// Targets that were already in the wanted state, so nothing was sent for them.
    pub already: usize,
    /// Why the run did not leave every target in the wanted state.
    pub failure: Option<String>,
    /// The machine right after the run, to tell a slow run from a busy machine.
    pub machine: Option<MachineLoad>,
}

/// How busy the machine was: anything else competing for the CPUs shows up here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineLoad {
    /// The one-minute load average.
    pub load: f64,
    /// Running `anvil` processes (the benchmark's own are one per chain).
    pub anvils: usize,
}

impl MachineLoad {
    /// Reads `/proc` (Linux); `None` elsewhere.
    pub fn now() -> Option<Self> {
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        let anvils = std::fs::read_dir("/proc")
            .ok()?
            .filter_map(Result::ok)
            .filter(|e| {
                std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "anvil")
            })
            .count();
        Some(Self { load, anvils })
    }
}

/// `text` cut to at most `max` characters, with an ellipsis when cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The runs of one (chains, contracts per chain, method) cell.
#[derive(Debug, Clone)]
pub struct Row {
    /// Number of chains.
    pub chains: u32,
    /// Contracts paused on each chain.
    pub per_chain: usize,
    /// How.
    pub method: Method,
    /// The runs (empty when skipped).
    pub samples: Vec<Sample>,
    /// Why the row was not measured.
    pub skipped: Option<String>,
    /// Runs thrown away and measured again because anvil mined faster than its interval.
    pub discarded: usize,
}

impl Row {
    fn ok_samples(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter().filter(|s| s.failure.is_none())
    }

    /// The median wall time of the successful runs.
    pub fn median_wall(&self) -> Option<Duration> {
        median(self.ok_samples().map(|s| s.wall).collect())
    }

    /// The longest wall time of the successful runs.
    pub fn max_wall(&self) -> Option<Duration> {
        self.ok_samples().map(|s| s.wall).max()
    }

    /// `Some(true)` if every run paused everything within one block and 1.5 block times,
    /// `None` where no target applies or nothing was measured.
    pub fn meets_target(&self, block_time: Duration) -> Option<bool> {
        if !self.method.has_target() || self.samples.is_empty() {
            return None;
        }
        Some(self.samples.iter().all(|s| {
            s.failure.is_none() && s.spanned == Some(1) && s.wall <= block_time.mul_f64(1.5)
        }))
    }

    /// Why the target is missed, in words, for the table.
    fn verdict(&self, block_time: Duration) -> String {
        if let Some(why) = &self.skipped {
            return format!("skipped ({why})");
        }
        let Some(met) = self.meets_target(block_time) else {
            return "n/a (baseline)".into();
        };
        if met {
            return "yes".into();
        }
        let mut why = Vec::new();
        let failed = self.samples.iter().filter(|s| s.failure.is_some()).count();
        if failed > 0 {
            why.push(format!("{failed} run(s) failed"));
        }
        let limit = block_time.mul_f64(1.5);
        let slow = self.ok_samples().filter(|s| s.wall > limit).count();
        if slow > 0 {
            why.push(format!(
                "{slow}/{} run(s) over {}",
                self.samples.len(),
                secs(limit)
            ));
        }
        let spread = self
            .ok_samples()
            .filter(|s| s.spanned.is_some_and(|b| b > 1))
            .count();
        if spread > 0 {
            why.push(format!("{spread} run(s) over >1 block"));
        }
        format!("**no**: {}", why.join(", "))
    }
}

/// The middle value (the mean of the two middle ones for an even count).
pub fn median(mut values: Vec<Duration>) -> Option<Duration> {
    values.sort();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2),
    }
}

/// How long after a block each timed run starts: `runs` moments evenly spread over the
/// interval, then one `margin` before the next block, where a command that is not ready in
/// time waits a whole extra block (the worst case).
pub fn phases(runs: usize, block_time: Duration, margin: Duration) -> Vec<Duration> {
    let mut out: Vec<Duration> = (0..runs)
        .map(|k| block_time.mul_f64(k as f64 / runs as f64))
        .collect();
    out.push(block_time.saturating_sub(margin));
    out
}

/// Seconds with two decimals.
pub fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

/// `a` or `a–b` for the smallest and largest of some numbers; `-` for none.
fn range(values: impl Iterator<Item = u64>) -> String {
    let values: Vec<u64> = values.collect();
    match (values.iter().min(), values.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
        (Some(lo), Some(hi)) => format!("{lo}–{hi}"),
        _ => "-".into(),
    }
}

/// A markdown table with padded columns (readable as plain text too).
pub fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// The full results table.
pub fn results_table(rows: &[Row], block_time: Duration) -> String {
    let header = [
        "chains",
        "N per chain",
        "targets",
        "method",
        "txs",
        "runs",
        "wall median (s)",
        "wall max (s)",
        "sending at (s)",
        "blocks spanned",
        "first block after start",
        "load avg (max)",
        "anvils running (max)",
        "target met",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let ok: Vec<&Sample> = r.ok_samples().collect();
            let opt = |d: Option<Duration>| d.map(secs).unwrap_or_else(|| "-".into());
            vec![
                r.chains.to_string(),
                r.per_chain.to_string(),
                (r.per_chain * r.chains as usize).to_string(),
                r.method.label().to_string(),
                range(r.samples.iter().map(|s| s.transactions as u64)),
                r.samples.len().to_string(),
                opt(r.median_wall()),
                opt(r.max_wall()),
                opt(median(ok.iter().filter_map(|s| s.sending_at).collect())),
                range(ok.iter().filter_map(|s| s.spanned)),
                range(ok.iter().filter_map(|s| s.offset)),
                r.samples
                    .iter()
                    .filter_map(|s| s.machine.map(|m| m.load))
                    .reduce(f64::max)
                    .map_or("-".into(), |l| format!("{l:.1}")),
                r.samples
                    .iter()
                    .filter_map(|s| s.machine.map(|m| m.anvils as u64))
                    .max()
                    .map_or("-".into(), |a| a.to_string()),
                r.verdict(block_time),
            ]
        })
        .collect();
    markdown_table(&header, &cells)
}

/// Guardian against the script, and what a dead first endpoint adds, per (chains, N).
pub fn summary_table(rows: &[Row]) -> String {
    let find = |chains: u32, n: usize, m: Method| {
        rows.iter()
            .find(|r| r.chains == chains && r.per_chain == n && r.method == m)
            .and_then(Row::median_wall)
    };
    let mut keys: Vec<(u32, usize)> = rows
        .iter()
        .filter(|r| r.method == Method::Guardian)
        .map(|r| (r.chains, r.per_chain))
        .collect();
    keys.sort();
    keys.dedup();
    let opt = |d: Option<Duration>| d.map(secs).unwrap_or_else(|| "-".into());
    let extra = |base: Option<Duration>, dead: Option<Duration>| match (base, dead) {
        (Some(b), Some(d)) => format!("{:+.2}", d.as_secs_f64() - b.as_secs_f64()),
        _ => "-".into(),
    };
    let cells: Vec<Vec<String>> = keys
        .into_iter()
        .map(|(c, n)| {
            let guardian = find(c, n, Method::Guardian);
            let script = find(c, n, Method::Script);
            vec![
                c.to_string(),
                n.to_string(),
                opt(guardian),
                opt(script),
                match (guardian, script) {
                    (Some(g), Some(s)) if !g.is_zero() => {
                        format!("{:.0}×", s.as_secs_f64() / g.as_secs_f64())
                    }
                    _ => "-".into(),
                },
                extra(guardian, find(c, n, Method::GuardianRefused)),
                extra(guardian, find(c, n, Method::GuardianHanging)),
            ]
        })
        .collect();
    markdown_table(
        &[
            "chains",
            "N per chain",
            "guardian (s, median)",
            "script (s)",
            "script / guardian",
            "1st RPC refuses (+s)",
            "1st RPC hangs (+s)",
        ],
        &cells,
    )
}

/// What the report says about where it was measured.
#[derive(Debug, Clone)]
pub struct Environment {
    /// The command that produced the report.
    pub command: String,
    /// When it ran (UTC).
    pub date: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// `uname -m`.
    pub arch: String,
    /// The CPU model, if known.
    pub cpu_model: Option<String>,
    /// `anvil --version`, first line.
    pub anvil: String,
    /// Seconds between blocks.
    pub block_time: Duration,
    /// Evenly spread runs per guardian row (one more runs just before a block).
    pub runs: usize,
    /// How long before a block the last run starts.
    pub margin: Duration,
    /// The request timeout in the dead-endpoint runs.
    pub dead_timeout: Duration,
    /// How long the whole benchmark took.
    pub total: Duration,
}

/// The whole docs/performance.md.
pub fn render_report(env: &Environment, rows: &[Row]) -> String {
    let bt = env.block_time;
    let limit = bt.mul_f64(1.5);
    let mut doc = String::new();
    let _ = write!(
        doc,
        "# Performance: pausing many contracts at once\n\n\
         Generated by `guardian bench pause`; do not edit by hand, run the command again.\n\n\
         ```sh\ncargo build --release --bin guardian\n{}\n```\n\n\
         - Date: {} (UTC); whole benchmark: {:.1} min\n\
         - Machine: {} CPU(s), {}{}\n\
         - Chains: {}, {} s interval mining (switched on after deploying with automine)\n\
         - Target: every contract paused within **one block** and at most **1.5 × block time = {} s** after the command starts\n\n",
        env.command,
        env.date,
        env.total.as_secs_f64() / 60.0,
        env.cpus,
        env.arch,
        env.cpu_model
            .as_deref()
            .map(|m| format!(", {m}"))
            .unwrap_or_default(),
        env.anvil,
        bt.as_secs(),
        secs(limit),
    );
    let _ = write!(
        doc,
        "## How to read this\n\n\
         *N per chain* contracts are paused on each chain (on 3 chains, N = 200 is 600 contracts). \
         *Wall time* runs from the start of the command (before the manifest is read and the \
         endpoints are connected) until every target has been re-read as paused. Each guardian row \
         is {total} runs, started at moments spread over the block interval (right after a \
         block{phases}, and {margin} ms before the next block; on 3 chains the moments are taken on \
         the first chain, the others mine on their own clocks), because where in the interval a \
         command starts decides how long it waits for the next block. The last run is the worst \
         case: a command that is not ready within {margin} ms misses that block and waits a whole \
         interval more, so *wall max* is about one block time plus guardian's own preparation. \
         *Sending at* is when guardian had read every target and checked roles and began to sign \
         and send. *Blocks spanned* counts blocks from the first to the last transaction of the \
         run on one chain (the worst chain); 1 means everything landed in a single block. *First \
         block after start* is that block counted from the chain head when the command started: 1 \
         is the next block, 2 means guardian was not ready before the next block was mined and \
         waited for the one after. The script is the way a hand-written script pauses: for each \
         chain in turn, for each contract, send `pause()`, wait for its receipt, then the next; it \
         runs once, starting right after a block. In the dead-endpoint rows each chain's \
         `rpc_urls` is `[dead, real]` with `request_timeout_ms = {dead}`: *refuses* is a closed \
         port, *hangs* is a socket that accepts the connection and never answers. *Target met* \
         is *yes* only when every run of the row spanned one block and took at most {limit} s. \
         *Load avg* and *anvils running* are read after each run: the machine has {cpus} CPU(s), \
         and the benchmark's own anvils are one per chain, so a much higher load or more anvils \
         mean something else was competing for the machine during that row.\n\n",
        total = env.runs + 1,
        margin = env.margin.as_millis(),
        phases = phases_text(env.runs),
        dead = env.dead_timeout.as_millis(),
        limit = secs(limit),
        cpus = env.cpus,
    );
    doc.push_str("## Summary\n\n");
    doc.push_str(&summary_table(rows));
    doc.push_str("\n## All rows\n\n");
    doc.push_str(&results_table(rows, bt));
    doc.push_str("\n## Result against the target\n\n");
    let judged: Vec<&Row> = rows
        .iter()
        .filter(|r| r.meets_target(bt).is_some())
        .collect();
    let missed: Vec<&Row> = judged
        .iter()
        .copied()
        .filter(|r| r.meets_target(bt) == Some(false))
        .collect();
    if missed.is_empty() {
        let _ = writeln!(
            doc,
            "Every guardian row ({} rows) met the target: one block, at most {} s.",
            judged.len(),
            secs(limit)
        );
    } else {
        let _ = writeln!(
            doc,
            "{} of {} guardian rows missed the target:\n",
            missed.len(),
            judged.len()
        );
        for r in missed {
            let _ = writeln!(
                doc,
                "- {} chain(s), N = {}, {}: {} (wall median {} s, max {} s)",
                r.chains,
                r.per_chain,
                r.method.label(),
                r.verdict(bt).trim_start_matches("**no**: "),
                r.median_wall().map(secs).unwrap_or_else(|| "-".into()),
                r.max_wall().map(secs).unwrap_or_else(|| "-".into()),
            );
        }
    }
    let failures: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.samples.iter().filter_map(move |s| {
                s.failure.as_ref().map(|f| {
                    format!(
                        "- {} chain(s), N = {}, {}: {}",
                        r.chains,
                        r.per_chain,
                        r.method.label(),
                        shorten(f, 400)
                    )
                })
            })
        })
        .collect();
    if !failures.is_empty() {
        let _ = write!(doc, "\nFailed runs:\n\n{}\n", failures.join("\n"));
    }
    let discarded: usize = rows.iter().map(|r| r.discarded).sum();
    if discarded > 0 {
        let _ = write!(
            doc,
            "\n{discarded} run(s) were thrown away and measured again because a chain mined faster \
             than its interval during them (anvil working off blocks queued while it automined the \
             deployment).\n"
        );
    }
    doc
}

/// "¼, ½ and ¾ of the way through it" style text for `runs` evenly spread phases.
fn phases_text(runs: usize) -> String {
    let rest: Vec<String> = (1..runs.max(1)).map(|k| format!("{k}/{runs}")).collect();
    match rest.as_slice() {
        [] => String::new(),
        [one] => format!(", {one} of the way through it"),
        [init @ .., last] => format!(", {} and {last} of the way through it", init.join(", ")),
    }
}

/// A calendar date and time from seconds since the Unix epoch: `YYYY-MM-DD HH:MM`.
pub fn utc_datetime(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    // Days to civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// Switches a dev chain from mining per transaction to one block every `secs` seconds.
pub async fn set_interval_mining(client: &ChainClient, secs: u64) -> Result<(), ChainError> {
    client
        .provider()
        .raw_request::<_, serde_json::Value>("evm_setIntervalMining".into(), (secs,))
        .await
        .map_err(|e| client.rpc_err(e))?;
    Ok(())
}

/// The head block of every chain, read concurrently.
pub async fn heads(clients: &[ChainClient]) -> Result<BTreeMap<String, u64>, ChainError> {
    let numbers = futures::future::join_all(clients.iter().map(|c| async move {
        c.provider()
            .get_block_number()
            .await
            .map_err(|e| c.rpc_err(e))
    }))
    .await;
    clients
        .iter()
        .zip(numbers)
        .map(|(c, n)| Ok((c.name.clone(), n?)))
        .collect()
}

/// The chains that mined more blocks between `before` and `after` than `elapsed` allows at one
/// block per `block_time` (with two blocks of slack), in words; `None` when all kept the pace.
///
/// Anvil queues one block job per automine wake-up, and after a heavy automined deployment the
/// backlog can keep producing empty blocks for a while after interval mining is switched on; a run
/// measured during such a burst says nothing about one-second blocks.
pub fn too_many_blocks(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
    elapsed: Duration,
    block_time: Duration,
) -> Option<String> {
    let allowed = (elapsed.as_secs_f64() / block_time.as_secs_f64()).ceil() as u64 + 2;
    let fast: Vec<String> = after
        .iter()
        .filter_map(|(chain, a)| {
            let mined = a.saturating_sub(*before.get(chain)?);
            (mined > allowed)
                .then(|| format!("{chain} mined {mined} blocks in {} s", secs(elapsed)))
        })
        .collect();
    (!fast.is_empty()).then(|| fast.join(", "))
}

/// Waits until every chain mines at its interval (see [`too_many_blocks`]).
pub async fn wait_steady(
    clients: &[ChainClient],
    block_time: Duration,
    limit: Duration,
) -> Result<(), BenchError> {
    let deadline = Instant::now() + limit;
    let window = block_time * 2;
    loop {
        let before = heads(clients).await?;
        tokio::time::sleep(window).await;
        let after = heads(clients).await?;
        match too_many_blocks(&before, &after, window, block_time) {
            None => return Ok(()),
            Some(why) if Instant::now() > deadline => {
                return Err(BenchError::Unsteady(why, limit));
            }
            Some(why) => tracing::warn!("waiting for anvil to settle: {why}"),
        }
    }
}

/// Waits until `client` mines a new block, then `after` more.
pub async fn align_to_block(
    client: &ChainClient,
    after: Duration,
    block_time: Duration,
) -> Result<(), BenchError> {
    let provider = client.provider();
    let limit = block_time * 3 + Duration::from_secs(2);
    let start = provider
        .get_block_number()
        .await
        .map_err(|e| client.rpc_err(e))?;
    let deadline = Instant::now() + limit;
    loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let head = provider
            .get_block_number()
            .await
            .map_err(|e| client.rpc_err(e))?;
        if head > start {
            break;
        }
        if Instant::now() > deadline {
            return Err(BenchError::NoBlocks(client.name.clone(), limit));
        }
    }
    tokio::time::sleep(after).await;
    Ok(())
}

/// No environment: the benchmark's signers are dev accounts, and `GUARDIAN_*` settings of the
/// shell it runs in must not change what is measured.
fn no_env(_: &str) -> Option<String> {
    None
}

/// Times one `guardian pause` (or `unpause`) as the CLI runs it, from opening the manifest to
/// every target re-read; `heads` are the chain heads just before.
pub async fn guardian_run(
    manifest: &Path,
    request: &PauseRequest,
    heads: &BTreeMap<String, u64>,
) -> Result<Sample, BenchError> {
    let sending: Mutex<Option<Duration>> = Mutex::new(None);
    let started = Instant::now();
    let deployment = Deployment::open(manifest, None, &no_env).await?;
    // pause::run reports progress in words; its "sending ..." line marks the end of the reads.
    let progress = |line: &str| {
        if line.starts_with("sending")
            && let Ok(mut at) = sending.lock()
        {
            at.get_or_insert(started.elapsed());
        }
    };
    let result = pause::run(&deployment, request, started, &progress).await;
    let wall = started.elapsed();
    let sending_at = sending.lock().ok().and_then(|s| *s);
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            return Ok(Sample {
                wall,
                sending_at,
                failure: Some(e.to_string()),
                ..Sample::default()
            });
        }
    };
    let not_done: Vec<String> = report
        .targets
        .iter()
        .filter(|t| !matches!(t.outcome, Outcome::Changed | Outcome::AlreadyDone))
        .map(|t| {
            format!(
                "{} ({}): {:?}{}",
                t.name,
                t.chain,
                t.outcome,
                t.error
                    .as_deref()
                    .map(|e| format!(", {e}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    let spanned = report.blocks.values().map(|(a, b)| b - a + 1).max();
    let offset = report
        .blocks
        .iter()
        .filter_map(|(chain, (first, _))| heads.get(chain).map(|h| first.saturating_sub(*h)))
        .max();
    Ok(Sample {
        wall,
        sending_at,
        transactions: report.transactions,
        spanned,
        offset,
        heads: heads.clone(),
        blocks: report.blocks.clone(),
        already: report
            .targets
            .iter()
            .filter(|t| t.outcome == Outcome::AlreadyDone)
            .count(),
        failure: (!not_done.is_empty()).then(|| {
            format!(
                "{} of {} target(s) not in the wanted state after the run, first: {}",
                not_done.len(),
                report.targets.len(),
                not_done[0]
            )
        }),
        machine: None,
    })
}

/// One chain's part of the script: its endpoint and the contracts to pause, in order.
#[derive(Debug, Clone)]
pub struct ScriptChain {
    /// Chain name.
    pub name: String,
    /// The endpoint.
    pub url: RpcUrl,
    /// The contracts.
    pub targets: Vec<Address>,
}

/// Times the hand-written way: for each chain in turn, for each contract, send `pause()` and wait
/// for its receipt before the next.
pub async fn script_run(
    chains: &[ScriptChain],
    key: &PrivateKeySigner,
    heads: &BTreeMap<String, u64>,
) -> Sample {
    let started = Instant::now();
    let mut blocks: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut sent = 0;
    let mut failure = None;
    'chains: for chain in chains {
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(key.clone()))
            .connect_http(chain.url.expose().clone());
        for address in &chain.targets {
            match pause_and_wait(&provider, *address).await {
                Ok(block) => {
                    sent += 1;
                    let e = blocks.entry(&chain.name).or_insert((block, block));
                    e.0 = e.0.min(block);
                    e.1 = e.1.max(block);
                }
                Err(e) => {
                    failure = Some(format!("pause {address} on `{}`: {e}", chain.name));
                    break 'chains;
                }
            }
        }
    }
    Sample {
        wall: started.elapsed(),
        sending_at: None,
        transactions: sent,
        spanned: blocks.values().map(|(a, b)| b - a + 1).max(),
        // Later chains start only when the earlier ones are done: only the first one's start counts.
        offset: chains.first().and_then(|c| {
            let (first, _) = blocks.get(c.name.as_str())?;
            Some(first.saturating_sub(*heads.get(&c.name)?))
        }),
        heads: heads.clone(),
        blocks: blocks
            .into_iter()
            .map(|(c, b)| (c.to_string(), b))
            .collect(),
        already: 0,
        failure,
        machine: None,
    }
}

/// Why one step of the script failed.
#[derive(Debug, thiserror::Error)]
enum ScriptError {
    #[error(transparent)]
    Send(#[from] alloy::contract::Error),
    #[error(transparent)]
    Receipt(#[from] PendingTransactionError),
    #[error("reverted in block {0}")]
    Reverted(u64),
}

async fn pause_and_wait(provider: &impl Provider, address: Address) -> Result<u64, ScriptError> {
    let receipt = DocumentRegistry::new(address, provider)
        .pause()
        .send()
        .await?
        .with_timeout(Some(Duration::from_secs(60)))
        .get_receipt()
        .await?;
    let block = receipt.block_number.unwrap_or_default();
    if receipt.status() {
        Ok(block)
    } else {
        Err(ScriptError::Reverted(block))
    }
}

/// A local endpoint that refuses connections: a port that was free a moment ago.
pub fn refused_endpoint() -> Result<RpcUrl, BenchError> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    local_url(port)
}

fn local_url(port: u16) -> Result<RpcUrl, BenchError> {
    format!("http://127.0.0.1:{port}")
        .parse()
        .map_err(|e: String| BenchError::Io(io::Error::other(e)))
}

/// A local endpoint that accepts every connection and never answers, until dropped.
pub struct HangingEndpoint {
    /// Its URL.
    pub url: RpcUrl,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HangingEndpoint {
    /// Starts listening on a free port.
    pub fn start() -> Result<Self, BenchError> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = local_url(listener.local_addr()?.port())?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            // Held open and never read: the client sees a connected socket that stays silent.
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((socket, _)) => held.push(socket),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(Self {
            url,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for HangingEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: u64, spanned: u64) -> Sample {
        Sample {
            wall: Duration::from_millis(ms),
            transactions: 10,
            spanned: Some(spanned),
            offset: Some(1),
            ..Sample::default()
        }
    }

    fn row(method: Method, samples: Vec<Sample>) -> Row {
        Row {
            chains: 3,
            per_chain: 10,
            method,
            samples,
            skipped: None,
            discarded: 0,
        }
    }

    #[test]
    fn target_needs_every_run_in_one_block_and_under_one_and_a_half_blocks() {
        let bt = Duration::from_secs(1);
        assert_eq!(
            row(Method::Guardian, vec![sample(900, 1), sample(1500, 1)]).meets_target(bt),
            Some(true)
        );
        let slow = row(Method::Guardian, vec![sample(900, 1), sample(1501, 1)]);
        assert_eq!(slow.meets_target(bt), Some(false));
        assert!(slow.verdict(bt).contains("1/2 run(s) over 1.50"));
        let spread = row(Method::Guardian, vec![sample(900, 2)]);
        assert!(spread.verdict(bt).contains("over >1 block"));
        let mut failed = sample(900, 1);
        failed.failure = Some("boom".into());
        assert_eq!(
            row(Method::Guardian, vec![failed]).meets_target(bt),
            Some(false)
        );
        assert_eq!(
            row(Method::Script, vec![sample(30_000, 10)]).meets_target(bt),
            None
        );
    }

    #[test]
    fn table_columns_line_up_and_ranges_collapse() {
        let r = row(Method::Guardian, vec![sample(1200, 1), sample(800, 1)]);
        let table = results_table(&[r], Duration::from_secs(1));
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        let width = |l: &str| l.chars().count();
        assert!(lines.iter().all(|l| width(l) == width(lines[0])));
        assert!(lines[1].starts_with("| ---"));
        // 3 chains × 10, median of two is their mean, max the higher, one block, target met.
        for cell in ["| 30 ", "| 1.00 ", "| 1.20 ", "| 1 ", "| yes "] {
            assert!(lines[2].contains(cell), "{cell} in {}", lines[2]);
        }
        assert_eq!(range([2u64, 1, 3].into_iter()), "1–3");
        assert_eq!(range(std::iter::empty()), "-");
    }

    #[test]
    fn summary_compares_with_the_script_and_the_dead_endpoints() {
        let rows = vec![
            row(Method::Guardian, vec![sample(1000, 1)]),
            row(Method::Script, vec![sample(30_000, 10)]),
            row(Method::GuardianHanging, vec![sample(1600, 1)]),
        ];
        let s = summary_table(&rows);
        assert!(s.contains("| 30× "), "{s}");
        assert!(s.contains("| +0.60 "), "{s}");
    }

    #[test]
    fn runs_spread_over_the_interval_and_end_just_before_a_block() {
        let ms = Duration::from_millis;
        assert_eq!(
            phases(4, ms(1000), ms(50)),
            vec![ms(0), ms(250), ms(500), ms(750), ms(950)]
        );
        assert_eq!(median(vec![ms(3), ms(1), ms(2)]), Some(ms(2)));
        assert_eq!(
            median(vec![ms(4), ms(1)]),
            Some(ms(2) + Duration::from_micros(500))
        );
        assert_eq!(median(Vec::new()), None);
    }

    #[test]
    fn a_chain_mining_faster_than_its_interval_is_named() {
        let at =
            |a: u64, b: u64| BTreeMap::from([("local".to_string(), a), ("local2".to_string(), b)]);
        let s = Duration::from_secs;
        assert_eq!(too_many_blocks(&at(10, 10), &at(14, 13), s(2), s(1)), None);
        let why = too_many_blocks(&at(10, 10), &at(70, 12), s(2), s(1)).expect("burst");
        assert!(
            why.contains("local mined 60 blocks") && !why.contains("local2"),
            "{why}"
        );
    }

    #[test]
    fn long_failures_are_cut_with_an_ellipsis() {
        assert_eq!(shorten("short", 10), "short");
        assert_eq!(shorten("abcdefghij", 5), "abcd…");
        assert_eq!(shorten("ééééé", 5), "ééééé");
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(utc_datetime(0), "1970-01-01 00:00");
        assert_eq!(utc_datetime(19_782 * 86_400 + 3_660), "2024-02-29 01:01");
        assert_eq!(utc_datetime(11_017 * 86_400), "2000-03-01 00:00");
    }
}
