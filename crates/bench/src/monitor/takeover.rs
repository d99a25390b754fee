//! `cargo run --release -p bench -- takeover`: several `guardian monitor` instances (`[ha]`) on
//! one PostgreSQL database; the chain's holder is killed with SIGKILL again and again, and the
//! time from the kill to the surviving instance's first processed block is measured.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::{Child, Command, ExitCode, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use guardian::{
    chain::signer::process_env,
    devnet::{Devnet, DevnetOptions},
    storage::{Lease, Store},
};

use super::{percentile, pg};

/// The heading of this benchmark's section in docs/performance.md.
pub const SECTION: &str = "## Several instances: takeover time";

/// What `guardian monitor` prints once it follows the chains whose lease it holds (or waits
/// for one): the instance is up.
const READY: &str = "following the chains whose lease it holds";

/// `cargo run --release -p bench -- takeover`.
#[derive(Debug, clap::Args)]
pub struct TakeoverArgs {
    /// How many times the holder is killed (one takeover measured each).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    kills: u64,
    /// The manifest's `[ha] lease_ms`.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(300..=600_000))]
    lease_ms: u64,
    /// The anvil binary (default: GUARDIAN_ANVIL, the npm package under contracts/, then PATH).
    #[arg(long, value_name = "PATH")]
    anvil: Option<PathBuf>,
    /// The report whose takeover section is replaced; `-` prints the table only.
    #[arg(long, default_value = "docs/performance.md")]
    out: PathBuf,
}

/// One kill: from `kill -9` returning to the survivor's lease, and to its first block.
struct Takeover {
    lease: Duration,
    block: Duration,
}

/// A running `guardian monitor`; killed (and reaped) when dropped.
struct Instance {
    child: Child,
    log: PathBuf,
}

impl Instance {
    fn start(guardian: &Path, dir: &Path, n: usize) -> anyhow::Result<Self> {
        let log = dir.join(format!("instance-{n}.log"));
        let out = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(guardian)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PG_PASSWORD", pg::PASSWORD)
            .env("RUST_LOG", "warn")
            .current_dir(dir)
            .arg("monitor")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {}", guardian.display()))?;
        Ok(Self { child, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Up and waiting for (or holding) the chain's lease; an error if it exited.
    fn ready(&mut self) -> anyhow::Result<bool> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "guardian monitor (pid {}) exited ({status}): {}",
                self.pid(),
                crate::bench::shorten(&self.output(), 2000)
            );
        }
        Ok(self.output().contains(READY))
    }

    fn holds(&self, lease: &Lease) -> bool {
        lease.holder.ends_with(&format!(":{}", self.pid()))
    }

    /// `kill -KILL PID`: no clean stop, no lease released.
    fn kill_9(&self) -> anyhow::Result<()> {
        let ok = Command::new("kill")
            .args(["-KILL", &self.pid().to_string()])
            .status()
            .context("kill")?
            .success();
        if !ok {
            bail!("kill -KILL {} failed", self.pid());
        }
        Ok(())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The chain's live lease (expiring after the database's now), if any.
fn live_lease(store: &Store, chain_id: u64) -> anyhow::Result<Option<Lease>> {
    let (leases, now) = store.leases()?;
    Ok(leases
        .into_iter()
        .find(|l| l.chain_id == chain_id && l.expires_at > now))
}

fn cursor(store: &Store, chain_id: u64) -> anyhow::Result<Option<u64>> {
    Ok(store.cursor(chain_id)?.map(|c| c.number))
}

/// Calls `f` every `every` until it gives a value; an error naming `what` after `limit`.
async fn until<T>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut f: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f()? {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {} s waiting for {what}", limit.as_secs());
        }
        tokio::time::sleep(every).await;
    }
}

impl TakeoverArgs {
    /// Runs every kill, prints the table and writes the section.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let guardian = std::env::current_exe()?.with_file_name("guardian");
        if !guardian.is_file() {
            bail!(
                "{} is missing: the takeover bench runs the real binary; build it first with `cargo build --release -p guardian`",
                guardian.display()
            );
        }
        let anvil = guardian::anvil::find_anvil(self.anvil.as_deref(), &process_env)?;
        let started = Instant::now();
        eprintln!("starting a throwaway PostgreSQL server ...");
        let cluster = pg::cluster();
        let url = cluster.fresh_database();
        let database = url.rsplit('/').next().context("database name")?.to_string();
        eprintln!("starting anvil (1 s blocks) and deploying the suite ...");
        let devnet = Devnet::start(
            &DevnetOptions {
                anvil: anvil.clone(),
                port: 0,
                block_time: Some(1),
                chains: 1,
                copies: 1,
            },
            None,
        )
        .await
        .context("cannot start the devnet")?;
        let chain_id = devnet
            .manifest
            .chains
            .values()
            .next()
            .context("the devnet has no chain")?
            .chain_id;
        let dir = tempfile::Builder::new()
            .prefix("guardian-takeover-")
            .tempdir()?;
        let manifest = dir.path().join("guardian.toml");
        devnet.manifest.write(&manifest, true)?;
        std::fs::OpenOptions::new()
            .append(true)
            .open(&manifest)?
            .write_all(
                format!(
                    "\n[storage]\nurl = \"postgres://guardian:${{PG_PASSWORD}}@127.0.0.1:{port}/{database}\"\n\n[ha]\nlease_ms = {lease}\n\n[monitor]\npoll_interval_ms = 100\n",
                    port = cluster.port,
                    lease = self.lease_ms,
                )
                .as_bytes(),
            )?;
        let store = Store::connect(&url)?;
        let measured = self
            .kill_rounds(&guardian, dir.path(), &store, chain_id)
            .await;
        devnet.stop().await;
        let (takeovers, epochs) = measured?;

        let target = Duration::from_millis(2 * self.lease_ms);
        let ms = |d: &Duration| d.as_secs_f64() * 1e3;
        let mut block: Vec<f64> = takeovers.iter().map(|t| ms(&t.block)).collect();
        let mut lease: Vec<f64> = takeovers.iter().map(|t| ms(&t.lease)).collect();
        block.sort_by(f64::total_cmp);
        lease.sort_by(f64::total_cmp);
        let p99 = percentile(&block, 99.0);
        let met = p99 < ms(&target);
        let table = format!(
            "| kills | lease_ms | takeover p50 | p99 | max | target (2 × lease_ms) | met | lease taken p50 / p99 / max |\n\
             |---|---|---|---|---|---|---|---|\n\
             | {} | {} | {:.0} ms | {:.0} ms | {:.0} ms | < {} ms | {} | {:.0} / {:.0} / {:.0} ms |\n",
            block.len(),
            self.lease_ms,
            percentile(&block, 50.0),
            p99,
            block.last().copied().unwrap_or(f64::NAN),
            target.as_millis(),
            if met { "yes" } else { "no" },
            percentile(&lease, 50.0),
            percentile(&lease, 99.0),
            lease.last().copied().unwrap_or(f64::NAN),
        );
        println!("{table}");
        let load =
            crate::bench::MachineLoad::now().map_or("unknown".into(), |m| format!("{:.1}", m.load));
        let section = format!(
            "{SECTION}\n\nGenerated by `{}`; do not edit by hand.\n\n\
             {} on {} ({} CPUs{}), {}; the run took {:.1} min; one-minute load average at the end {load}.\n\n\
             One anvil chain with 1 s interval blocks and the suite; one PostgreSQL database (a\n\
             throwaway local server with the tests' settings, `fsync` off: commits are not what is\n\
             measured here); a manifest with `[ha] lease_ms = {lease_ms}` and\n\
             `[monitor] poll_interval_ms = 100`. Two `guardian monitor` instances (the release binary,\n\
             long-running) share the chain. Each round waits until one holds the lease and the stored\n\
             cursor moves, then sends `kill -KILL` to the holder at a moment spread over the block\n\
             interval (round i waits i × 1000 / kills ms after a cursor move). Takeover is from `kill`\n\
             returning to the cursor row past the block it held when the holder died, with the live\n\
             lease held by the other instance (the bench polls both every 10 ms); *lease taken* stops\n\
             at the lease alone. A fresh instance then replaces the killed one. The epochs went from {} to {}\n\
             ({} takeovers, one per kill). Percentiles are nearest-rank{}.\n\n\
             {table}\n\
             What the takeover includes: what was left of the dead holder's lease (renewed every\n\
             lease_ms / 3, so between 2/3 of lease_ms and all of it), the survivor's wait for its next\n\
             attempt to take the lease (it tries every lease_ms / 3), then reading and committing the\n\
             blocks mined meanwhile from the stored cursor, up to the first; the target is 2 × lease_ms\n\
             at p99.\n",
            crate::command_line(),
            crate::utc_now(),
            std::env::consts::ARCH,
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            crate::cpu_model().map_or(String::new(), |m| format!(", {m}")),
            crate::anvil_version(&anvil),
            started.elapsed().as_secs_f64() / 60.0,
            epochs.0,
            epochs.1,
            epochs.1 - epochs.0,
            if block.len() <= 50 {
                format!("; with {} kills p99 is the maximum", block.len())
            } else {
                String::new()
            },
            lease_ms = self.lease_ms,
        );
        if self.out != Path::new("-") {
            let old = std::fs::read_to_string(&self.out).unwrap_or_default();
            std::fs::write(
                &self.out,
                crate::bench::replace_section(&old, SECTION, &section),
            )
            .with_context(|| format!("cannot write {}", self.out.display()))?;
            eprintln!("wrote {}", self.out.display());
        }
        Ok(if met {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }

    /// Two instances; `kills` times the holder is killed and replaced. The takeovers, and the
    /// lease's epoch before the first kill and after the last.
    async fn kill_rounds(
        &self,
        guardian: &Path,
        dir: &Path,
        store: &Store,
        chain_id: u64,
    ) -> anyhow::Result<(Vec<Takeover>, (i64, i64))> {
        let mut instances = vec![
            Instance::start(guardian, dir, 0)?,
            Instance::start(guardian, dir, 1)?,
        ];
        let lease_len = Duration::from_millis(self.lease_ms);
        let settle = Duration::from_secs(60) + 3 * lease_len;
        let every = Duration::from_millis(10);
        let mut takeovers = Vec::new();
        let mut first_epoch = None;
        let mut last_epoch = 0;
        for round in 0..self.kills {
            until("both instances to start", settle, every, || {
                let mut all = true;
                for i in instances.iter_mut() {
                    all &= i.ready()?;
                }
                Ok(all.then_some(()))
            })
            .await?;
            let held = until("one instance to hold the chain", settle, every, || {
                Ok(live_lease(store, chain_id)?.filter(|l| instances.iter().any(|i| i.holds(l))))
            })
            .await?;
            first_epoch.get_or_insert(held.epoch);
            // The cursor moving: the holder is following, not just holding.
            let before =
                until("a stored cursor", settle, every, || cursor(store, chain_id)).await?;
            until("the cursor to move", settle, every, || {
                Ok(cursor(store, chain_id)?.filter(|n| *n > before))
            })
            .await?;
            tokio::time::sleep(Duration::from_millis(round * 1000 / self.kills)).await;

            let lease = live_lease(store, chain_id)?.context("the lease lapsed before the kill")?;
            let victim = instances
                .iter()
                .position(|i| i.holds(&lease))
                .with_context(|| format!("holder {} is none of ours", lease.holder))?;
            let survivor = 1 - victim;
            instances[victim].kill_9()?;
            let t0 = Instant::now();
            // Read after the kill: the dead holder commits nothing more.
            let held_block = cursor(store, chain_id)?.unwrap_or(0);
            let mut lease_at = None;
            let taken = until(
                "the other instance to take over and process a block",
                lease_len * 10 + Duration::from_secs(30),
                every,
                || {
                    let live = live_lease(store, chain_id)?;
                    let theirs = live.filter(|l| instances[survivor].holds(l));
                    if theirs.is_some() && lease_at.is_none() {
                        lease_at = Some(t0.elapsed());
                    }
                    let moved = cursor(store, chain_id)?.is_some_and(|n| n > held_block);
                    Ok(theirs.filter(|_| moved).map(|l| (t0.elapsed(), l)))
                },
            )
            .await
            .with_context(|| {
                format!(
                    "round {}: survivor's output: {}",
                    round + 1,
                    crate::bench::shorten(&instances[survivor].output(), 2000)
                )
            })?;
            let (block, new_lease) = taken;
            let lease_took = lease_at.unwrap_or(block);
            last_epoch = new_lease.epoch;
            eprintln!(
                "kill {}/{}: holder pid {} at block {held_block}; epoch {} -> {}: lease taken after {} ms, first block after {} ms",
                round + 1,
                self.kills,
                instances[victim].pid(),
                lease.epoch,
                new_lease.epoch,
                lease_took.as_millis(),
                block.as_millis(),
            );
            takeovers.push(Takeover {
                lease: lease_took,
                block,
            });
            // A fresh instance in place of the dead one (dropping the old one reaps it).
            instances[victim] = Instance::start(guardian, dir, round as usize + 2)?;
        }
        drop(instances);
        Ok((takeovers, (first_epoch.unwrap_or(0), last_epoch)))
    }
}
