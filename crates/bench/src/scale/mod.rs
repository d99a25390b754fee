//! `cargo run --release -p bench -- scale` (and `soak`): detection as chains, contracts and
//! events grow, and over a long run. Each cell runs the real `guardian monitor` binary as its own
//! process against anvil chains mining one block a second, with the suite's events sent by this
//! process, and measures the alert stored after its block exists, how far the monitor falls
//! behind, and the CPU time and memory of the monitor, of this process (the load and the probes)
//! and of the anvils, so a cell the machine cannot generate says so.

mod cell;
mod load;
mod measured;
mod probe;
mod setup;

use std::{path::PathBuf, str::FromStr, time::Duration};

use cell::Context;
use measured::{HEADER, environment, row, write_section};

use crate::monitor::percentile;

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
