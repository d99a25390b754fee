//! The pause benchmark behind `cargo run --release -p bench -- pause` and docs/performance.md: what a run
//! measured, and the rows it adds up to. The timed runs are in `runs`, the dead endpoints put in
//! front of a chain in `endpoints`, the written report in `report`.

mod endpoints;
mod report;
mod runs;

pub use endpoints::*;
pub use report::*;
pub use runs::*;

use std::{collections::BTreeMap, io, time::Duration};

use guardian::{chain::ChainError, deployment::DeploymentError};

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

#[cfg(test)]
mod tests {
    use super::{report::range, *};

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
