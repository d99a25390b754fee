//! What one cell measured (alert latencies, lag, CPU and memory per process, the monitor's stage
//! means, the soak's samples), its verdict, and its row in the report.

use std::{collections::BTreeMap, path::Path};

use anyhow::Context as _;

use super::Cell;
use crate::{bench::replace_section, monitor::percentile};

/// CPU (in cores: 1.0 is one core busy all the time) and the most resident memory seen.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Usage {
    pub(super) cores: f64,
    pub(super) rss_mib: f64,
}

impl Usage {
    pub(super) fn show(&self) -> String {
        format!("{:.0}% / {:.0} MiB", self.cores * 100.0, self.rss_mib)
    }
}

/// One minute of the soak.
#[derive(Debug, Clone, Copy)]
pub(super) struct SoakSample {
    pub(super) minute: u64,
    pub(super) rss_mib: f64,
    pub(super) fds: usize,
    pub(super) db_mib: f64,
    pub(super) outbox: i64,
    pub(super) behind: f64,
}

/// What one cell measured.
pub(super) struct Measured {
    pub(super) cell: Cell,
    /// Alert stored after its block exists, ms, one per toggle seen.
    pub(super) stored: Vec<f64>,
    /// Blocks in the window (over all chains) whose alert was never seen.
    pub(super) missing: usize,
    /// Blocks in the window, over all chains.
    pub(super) blocks: usize,
    /// The most blocks any chain was behind, sampled each second.
    pub(super) behind: f64,
    /// Share of the window's blocks carrying every load transaction.
    pub(super) full: f64,
    /// Seconds per block the window's blocks took to come (1.0: the anvils kept the pace).
    pub(super) block_secs: f64,
    pub(super) monitor: Usage,
    pub(super) generator: Usage,
    pub(super) anvils: Usage,
    /// Per stage: mean ms per observation in the window.
    pub(super) stages: BTreeMap<String, f64>,
    pub(super) samples: Vec<SoakSample>,
}

impl Measured {
    pub(super) fn sorted(&self) -> Vec<f64> {
        let mut s = self.stored.clone();
        s.sort_by(f64::total_cmp);
        s
    }

    /// Whether the load reached the chains as asked: 90% of blocks full, at about 1 s each.
    pub(super) fn generable(&self) -> bool {
        self.full >= 0.9 && self.block_secs < 1.25
    }

    /// The stage a block spends the longest in (mean), with its time.
    pub(super) fn slowest(&self) -> String {
        self.stages
            .iter()
            .filter(|(s, _)| s.as_str() != "notify")
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or("-".into(), |(s, ms)| format!("{s} {ms:.1} ms"))
    }

    /// Each stage's mean, in the order a block goes through them.
    pub(super) fn stage_means(&self) -> String {
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

    pub(super) fn verdict(&self) -> String {
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

pub(super) fn row(m: &Measured) -> String {
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

pub(super) const HEADER: &str = "| chains | contracts per chain | events per block per chain | alerts stored | stored p50 | p99 | blocks behind (max) | monitor CPU / RSS | bench (load, probes) CPU / RSS | anvils CPU / RSS | blocks full | stage means, ms: fetch_logs / read_holdings / rules / store / notify | verdict |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";

pub(super) fn environment() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    format!(
        "{} ({cpus} CPUs), {}; finished {}",
        crate::cpu_model().unwrap_or_else(|| "unknown CPU".into()),
        std::env::consts::OS,
        crate::utc_now()
    )
}

pub(super) fn write_section(out: &Path, heading: &str, section: &str) -> anyhow::Result<()> {
    if out == Path::new("-") {
        return Ok(());
    }
    let old = std::fs::read_to_string(out).unwrap_or_default();
    std::fs::write(out, replace_section(&old, heading, section))
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
