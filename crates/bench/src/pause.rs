//! `cargo run --release -p bench -- pause`: how fast `guardian pause` stops N contracts on 1 and
//! 3 chains, beside a send-one-wait-for-receipt script, with and without a dead first endpoint.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use crate::bench::{
    Environment, HangingEndpoint, MachineLoad, Method, Row, Sample, ScriptChain, align_to_block,
    guardian_run, heads, script_run, set_interval_mining, too_many_blocks, wait_steady,
};
use crate::{
    anvil_version, bench, chain_url, command_line, cpu_model, monitor, start_devnet, utc_now,
};
use guardian::{
    anvil::find_anvil,
    chain::{ChainClient, Signer, signer::process_env},
    config::{Manifest, RpcSettings},
    devnet::{Devnet, DevnetOptions, accounts},
    response::pause::{PauseRequest, Selection},
    secret::RpcUrl,
};

/// `cargo run --release -p bench -- pause`.
#[derive(Debug, clap::Args)]
pub(crate) struct PauseArgs {
    /// Contracts paused per chain (N), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,10,50,200")]
    sizes: Vec<usize>,
    /// Chain counts, comma separated; one devnet is started for each.
    #[arg(long, value_delimiter = ',', default_value = "1,3")]
    chains: Vec<u32>,
    /// Seconds between blocks.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    block_time: u64,
    /// Timed runs per guardian row at evenly spread moments of the block interval; one more
    /// starts --margin-ms before a block (the worst case).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
    /// How long before a block the worst-case run starts, in milliseconds.
    #[arg(long, default_value_t = 50)]
    margin_ms: u64,
    /// Skip the script baseline when N per chain is above this (it takes about N × chains blocks).
    #[arg(long, value_name = "N")]
    skip_baseline_above: Option<usize>,
    /// Per-request timeout of the dead-endpoint runs, in milliseconds.
    #[arg(long, default_value_t = 500)]
    dead_timeout_ms: u64,
    /// Where to write the report (the whole file is replaced); `-` prints it only.
    #[arg(long, default_value = "docs/performance.md")]
    out: PathBuf,
    /// The anvil binary (default: GUARDIAN_ANVIL, the npm package under contracts/, then PATH).
    #[arg(long, value_name = "PATH")]
    anvil: Option<PathBuf>,
}

impl PauseArgs {
    pub(crate) async fn run(mut self) -> anyhow::Result<ExitCode> {
        self.sizes.sort_unstable();
        self.sizes.dedup();
        self.chains.sort_unstable();
        self.chains.dedup();
        if self.sizes.contains(&0) || self.chains.contains(&0) {
            bail!("--sizes and --chains must be at least 1");
        }
        let Some(max_n) = self.sizes.last().copied() else {
            bail!("--sizes is empty");
        };
        let anvil = find_anvil(self.anvil.as_deref(), &process_env)?;
        let anvil_version = anvil_version(&anvil);
        let started = Instant::now();
        let work = std::env::temp_dir().join(format!("guardian-bench-{}", std::process::id()));
        std::fs::create_dir_all(&work)
            .with_context(|| format!("cannot create {}", work.display()))?;

        let mut rows = Vec::new();
        let mut outcome = Ok(());
        for chains in self.chains.clone() {
            let copies = max_n.div_ceil(4) as u32;
            eprintln!(
                "[{chains} chain(s)] starting anvil and deploying {copies} suite(s) per chain (automine) ..."
            );
            let devnet = match start_devnet(&DevnetOptions {
                anvil: anvil.clone(),
                port: 0,
                block_time: None,
                chains,
                copies,
            })
            .await
            {
                Ok(d) => d,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            };
            let dir = work.join(format!("{chains}-chains"));
            let result = self.measure_devnet(&devnet, chains, &dir, &mut rows).await;
            devnet.stop().await;
            if let Err(e) = result {
                outcome = Err(e);
                break;
            }
        }
        let _ = std::fs::remove_dir_all(&work);
        let total = started.elapsed();
        if rows.is_empty() {
            outcome?;
            bail!("nothing was measured");
        }

        let env = Environment {
            command: command_line(),
            date: utc_now(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            arch: std::env::consts::ARCH.to_string(),
            cpu_model: cpu_model(),
            anvil: anvil_version,
            block_time: Duration::from_secs(self.block_time),
            runs: self.runs as usize,
            margin: Duration::from_millis(self.margin_ms),
            dead_timeout: Duration::from_millis(self.dead_timeout_ms),
            total,
        };
        let mut report = bench::render_report(&env, &rows);
        if let Err(e) = &outcome {
            report.push_str(&format!(
                "\n**Incomplete:** the benchmark stopped early: {e:#}\n"
            ));
        }
        println!("{report}");
        if self.out != Path::new("-") {
            // The monitor's section is written by `bench -- monitor`: keep it.
            if let Ok(old) = std::fs::read_to_string(&self.out)
                && let Some(at) = old.find(monitor::SECTION)
            {
                report.push('\n');
                report.push_str(&old[at..]);
            }
            std::fs::write(&self.out, &report)
                .with_context(|| format!("cannot write {}", self.out.display()))?;
            eprintln!("wrote {}", self.out.display());
        }
        eprintln!("benchmark took {:.1} min", total.as_secs_f64() / 60.0);
        // A measurement that broke off still leaves the rows before it in the report.
        outcome?;
        let missed = rows
            .iter()
            .any(|r| r.meets_target(env.block_time) == Some(false));
        Ok(if missed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    }

    /// Every row for one devnet: per N the named pause, the script and the dead endpoints, then
    /// the brake.
    async fn measure_devnet(
        &self,
        devnet: &Devnet,
        chains: u32,
        dir: &Path,
        rows: &mut Vec<Row>,
    ) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let healthy = dir.join("guardian.toml");
        devnet.manifest.write(&healthy, true)?;
        let refused = dir.join("refused.toml");
        let refused_url = bench::refused_endpoint()?;
        with_dead_first(&devnet.manifest, &refused_url, self.dead_timeout_ms)
            .write(&refused, true)?;
        let hanging_endpoint = HangingEndpoint::start()?;
        let hanging = dir.join("hanging.toml");
        with_dead_first(
            &devnet.manifest,
            &hanging_endpoint.url,
            self.dead_timeout_ms,
        )
        .write(&hanging, true)?;

        let settings = RpcSettings::default();
        let clients =
            futures::future::try_join_all(devnet.manifest.chains.iter().map(|(name, cfg)| {
                ChainClient::connect(name, &cfg.rpc_urls, Some(cfg.chain_id), &settings)
            }))
            .await?;
        futures::future::try_join_all(
            clients
                .iter()
                .map(|c| set_interval_mining(c, self.block_time)),
        )
        .await?;
        let block_time = Duration::from_secs(self.block_time);
        let first = clients.first().context("the devnet has no chain")?;
        eprintln!("[{chains} chain(s)] waiting until every chain mines one block per interval ...");
        wait_steady(&clients, block_time, SETTLE_LIMIT).await?;
        eprintln!(
            "[{chains} chain(s)] interval mining every {} s",
            self.block_time
        );

        // Pausable contracts per chain, in deployment order.
        let pausable: Vec<(String, Vec<(String, alloy::primitives::Address)>)> = devnet
            .manifest
            .chains
            .keys()
            .map(|chain| {
                let list = devnet
                    .manifest
                    .contracts
                    .iter()
                    .filter(|c| c.chain() == chain && c.kind.is_pausable())
                    .map(|c| (c.name().to_string(), c.address))
                    .collect();
                (chain.clone(), list)
            })
            .collect();
        let pauser = Signer::dev_account("pauser", accounts::PAUSER)?;
        let ctx = Ctx {
            clients: &clients,
            first,
            block_time,
            healthy: &healthy,
            chains,
            phases: bench::phases(
                self.runs as usize,
                block_time,
                Duration::from_millis(self.margin_ms),
            ),
        };
        // Untimed: creates the journal and proves everything starts unpaused.
        ctx.unpause_all().await?;

        for &n in &self.sizes {
            let mut names = Vec::new();
            for (chain, list) in &pausable {
                if list.len() < n {
                    bail!("chain `{chain}` has only {} pausable contracts", list.len());
                }
                names.extend(list.iter().take(n).map(|(name, _)| name.clone()));
            }
            let selection = Selection::Named(names);
            rows.push(
                ctx.guardian_row(Method::Guardian, n, &healthy, &selection)
                    .await?,
            );

            let skip = self.skip_baseline_above.filter(|cap| n > *cap);
            if let Some(cap) = skip {
                eprintln!(
                    "[{chains} chain(s)] N={n}: script skipped (--skip-baseline-above {cap})"
                );
                rows.push(Row {
                    chains,
                    per_chain: n,
                    method: Method::Script,
                    samples: Vec::new(),
                    skipped: Some(format!("--skip-baseline-above {cap}")),
                    discarded: 0,
                });
            } else {
                let script: Vec<ScriptChain> = pausable
                    .iter()
                    .map(|(chain, list)| {
                        Ok(ScriptChain {
                            name: chain.clone(),
                            url: chain_url(&devnet.manifest, chain)?,
                            targets: list.iter().take(n).map(|(_, a)| *a).collect(),
                        })
                    })
                    .collect::<anyhow::Result<_>>()?;
                eprintln!(
                    "[{chains} chain(s)] N={n}: script, one by one (about {} s) ...",
                    n as u64 * u64::from(chains) * self.block_time
                );
                align_to_block(first, Duration::ZERO, block_time).await?;
                let at = heads(&clients).await?;
                let mut sample = script_run(&script, pauser.key(), &at).await;
                sample.machine = MachineLoad::now();
                let after = heads(&clients).await?;
                if let Some(why) = too_many_blocks(&at, &after, sample.wall, block_time) {
                    sample
                        .failure
                        .get_or_insert(format!("anvil did not keep its interval: {why}"));
                }
                eprintln!("[{chains} chain(s)] N={n}: script {}", describe(&sample));
                ctx.unpause_all().await?;
                rows.push(Row {
                    chains,
                    per_chain: n,
                    method: Method::Script,
                    samples: vec![sample],
                    skipped: None,
                    discarded: 0,
                });
            }

            for (method, manifest) in [
                (Method::GuardianRefused, &refused),
                (Method::GuardianHanging, &hanging),
            ] {
                rows.push(ctx.guardian_row(method, n, manifest, &selection).await?);
            }
        }

        let all = 4 * devnet.suites.values().map(Vec::len).min().unwrap_or(0);
        rows.push(
            ctx.guardian_row(Method::GuardianBrake, all, &healthy, &Selection::All)
                .await?,
        );
        drop(hanging_endpoint);
        Ok(())
    }
}

/// How long a chain may take to settle into interval mining after the deployment.
const SETTLE_LIMIT: Duration = Duration::from_secs(300);

/// What every timed run of one devnet needs.
struct Ctx<'a> {
    clients: &'a [ChainClient],
    first: &'a ChainClient,
    block_time: Duration,
    healthy: &'a Path,
    chains: u32,
    phases: Vec<Duration>,
}

impl Ctx<'_> {
    /// One timed pause per phase, each started that long after a block and followed by an
    /// untimed unpause.
    async fn guardian_row(
        &self,
        method: Method,
        n: usize,
        manifest: &Path,
        selection: &Selection,
    ) -> anyhow::Result<Row> {
        let request = PauseRequest {
            pause: true,
            selection: selection.clone(),
            chain: None,
            signer: None,
            dry_run: false,
            reason: Some("benchmark".into()),
            strict: false,
            allow_insolvent: false,
            outbid: None,
        };
        let mut samples = Vec::new();
        let runs = self.phases.len();
        let mut discarded = 0;
        for (k, phase) in self.phases.iter().copied().enumerate() {
            let mut attempt = 0;
            let mut sample = loop {
                attempt += 1;
                align_to_block(self.first, phase, self.block_time).await?;
                let at = heads(self.clients).await?;
                let mut sample = guardian_run(manifest, &request, &at).await?;
                sample.machine = MachineLoad::now();
                let after = heads(self.clients).await?;
                let Some(why) = too_many_blocks(&at, &after, sample.wall, self.block_time) else {
                    break sample;
                };
                if attempt == 3 {
                    bail!("anvil keeps mining faster than its interval: {why}");
                }
                eprintln!(
                    "run discarded, anvil did not keep its interval ({why}); measuring again"
                );
                discarded += 1;
                self.unpause_all().await?;
                wait_steady(self.clients, self.block_time, SETTLE_LIMIT).await?;
            };
            if sample.already > 0 && sample.failure.is_none() {
                sample.failure = Some(format!(
                    "{} target(s) were already paused before the run",
                    sample.already
                ));
            }
            eprintln!(
                "[{} chain(s)] N={n}: {} run {}/{runs} at +{} s: {}",
                self.chains,
                method.label(),
                k + 1,
                bench::secs(phase),
                describe(&sample)
            );
            samples.push(sample);
            self.unpause_all().await?;
        }
        Ok(Row {
            chains: self.chains,
            per_chain: n,
            method,
            samples,
            skipped: None,
            discarded,
        })
    }

    /// Unpauses whatever is paused, through the healthy manifest; not timed.
    async fn unpause_all(&self) -> anyhow::Result<()> {
        let request = PauseRequest {
            pause: false,
            selection: Selection::All,
            chain: None,
            signer: None,
            dry_run: false,
            reason: Some("benchmark reset".into()),
            strict: false,
            allow_insolvent: false,
            outbid: None,
        };
        // Unpausing is not what is measured: a read that timed out is simply tried again.
        let mut attempt = 1;
        loop {
            let sample = guardian_run(self.healthy, &request, &Default::default()).await?;
            match sample.failure {
                None => return Ok(()),
                Some(why) if attempt == 3 => bail!("cannot unpause between runs: {why}"),
                Some(why) => eprintln!("unpausing between runs failed, trying again: {why}"),
            }
            attempt += 1;
        }
    }
}

/// One line about a run, for the progress output.
fn describe(s: &Sample) -> String {
    let mut line = format!(
        "{} s, {} tx, blocks spanned {}, first block +{}",
        bench::secs(s.wall),
        s.transactions,
        s.spanned.map_or("-".into(), |b| b.to_string()),
        s.offset.map_or("-".into(), |b| b.to_string()),
    );
    if s.offset.is_some_and(|o| o > 3) {
        let chains: Vec<String> = s
            .blocks
            .iter()
            .map(|(c, (a, b))| {
                let head = s.heads.get(c).map_or("?".into(), |h| h.to_string());
                format!("{c}: head {head}, mined {a}-{b}")
            })
            .collect();
        line.push_str(&format!(" ({})", chains.join("; ")));
    }
    if let Some(m) = s.machine {
        line.push_str(&format!(", load {:.1}, {} anvil(s)", m.load, m.anvils));
    }
    if let Some(f) = &s.failure {
        line.push_str(&format!(" — FAILED: {}", bench::shorten(f, 300)));
    }
    line
}

/// The manifest with `dead` as every chain's first endpoint and a shorter request timeout.
fn with_dead_first(manifest: &Manifest, dead: &RpcUrl, timeout_ms: u64) -> Manifest {
    let mut m = manifest.clone();
    for chain in m.chains.values_mut() {
        chain.rpc_urls.insert(0, dead.clone());
    }
    m.rpc.request_timeout_ms = timeout_ms;
    m
}
