//! `cargo run --release -p bench -- warroom`: the war room's page times and live-feed latency.
//! The records hold 10,000 alerts and an incident with 500 timeline entries; the real server
//! (`serve::start_with`, as `guardian serve` starts it) answers the overview, the incident page
//! and the overview's JSON, each asked for again and again by a signed-in client on loopback.
//! Then 50 event streams are open while another connection to the database (as a monitor in
//! another process) stores alerts one at a time: the time from an alert's commit to its event on
//! each stream is measured.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use guardian::{
    alert::{NewAlert, Severity},
    bounty::tokens::Role,
    config::Manifest,
    incident::NewIncident,
    storage::Store,
};

use crate::{bench::replace_section, monitor::percentile};

/// The heading of this benchmark's section in docs/performance.md.
pub const SECTION: &str = "## War room: page times and live-feed latency";

/// `cargo run --release -p bench -- warroom`.
#[derive(Debug, clap::Args)]
pub struct WarroomArgs {
    /// Alerts in the records.
    #[arg(long, default_value_t = 10_000)]
    alerts: usize,
    /// Timeline entries of the incident.
    #[arg(long, default_value_t = 500)]
    entries: usize,
    /// Timed requests per page.
    #[arg(long, default_value_t = 300)]
    requests: usize,
    /// Open event streams.
    #[arg(long, default_value_t = 50)]
    streams: usize,
    /// Alerts stored while the streams are open (one every 200 ms).
    #[arg(long, default_value_t = 40)]
    events: usize,
    /// The report whose section is replaced; `-` prints the table only.
    #[arg(long, default_value = "docs/performance.md")]
    out: PathBuf,
}

fn alert(n: usize) -> NewAlert {
    NewAlert {
        rule: "privileged".into(),
        kind: "privileged".into(),
        severity: if n.is_multiple_of(10) {
            Severity::Critical
        } else {
            Severity::Info
        },
        chain: "local".into(),
        chain_id: 31337,
        contract: Some("registry".into()),
        address: None,
        block_number: n as u64,
        block_hash: alloy::primitives::B256::from(alloy::primitives::U256::from(n)),
        tx_hashes: Vec::new(),
        summary: format!("role event {n} on registry"),
        evidence: serde_json::json!({"n": n}),
        dedup_key: format!("bench-warroom:{n}"),
    }
}

/// Milliseconds at p50, p99 and the most.
fn spread(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    (
        percentile(&ms, 50.0),
        percentile(&ms, 99.0),
        ms.last().copied().unwrap_or(f64::NAN),
    )
}

impl WarroomArgs {
    /// Fills the records, serves them, measures, and writes the section.
    pub async fn run(self) -> anyhow::Result<std::process::ExitCode> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("guardian.toml");
        std::fs::write(
            &path,
            format!(
                "[chains.local]\nchain_id = 31337\nrpc_urls = [\"http://127.0.0.1:1\"]\n\n[[contracts]]\nname = \"registry\"\nchain = \"local\"\nkind = \"DocumentRegistry\"\naddress = \"0x5FbDB2315678afecb367f032d93F642f64180aa3\"\n\n[bounty]\nteam_public_key = \"{}\"\n\n[server]\nmax_connections_per_client = 256\n",
                guardian::bounty::crypto::generate().public
            ),
        )?;
        let db = dir.path().join("guardian.db");
        let store = Arc::new(Store::open(&db)?);
        eprintln!(
            "storing {} alerts and {} timeline entries",
            self.alerts, self.entries
        );
        for n in 0..self.alerts {
            store.store_alert(&alert(n))?;
        }
        let incident = store.open_incident(
            &NewIncident {
                level: 2,
                title: "escrow drain".into(),
                commander: None,
                contracts: vec!["registry".into()],
                from_alert: None,
                evidence: None,
            },
            &[],
            "bench",
        )?;
        for n in 1..self.entries {
            store.record(
                incident,
                "bench",
                Some(("note", serde_json::json!({"text": format!("note {n}")}))),
                &[],
            )?;
        }
        let token = store.create_api_token("bench", Role::Viewer, "bench", None)?;
        let server = guardian::serve::start_with(
            Manifest::load(&path)?,
            Some(path.clone()),
            store.clone(),
            "127.0.0.1:0".parse()?,
        )
        .await?;
        let base = format!("http://{}", server.addr);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let signed = http
            .post(format!("{base}/signin"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .await?;
        let cookie = signed
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .context("no session cookie")?
            .to_string();

        let mut rows = Vec::new();
        for (name, page) in [
            ("overview page", "/".to_string()),
            ("incident page", format!("/incidents/{incident}")),
            ("overview JSON", "/api/overview".to_string()),
        ] {
            let mut ms = Vec::with_capacity(self.requests);
            for i in 0..self.requests + 20 {
                let started = Instant::now();
                let r = http
                    .get(format!("{base}{page}"))
                    .header("cookie", &cookie)
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!("{page} answered {}", r.status());
                }
                let _ = r.bytes().await?;
                if i >= 20 {
                    ms.push(started.elapsed().as_secs_f64() * 1000.0);
                }
            }
            rows.push((name, spread(ms)));
        }

        let (latency, missed) = self.streams(&http, &base, &cookie, &db).await?;
        server.stop().await?;

        let mut table = String::from(
            "| measured | p50 (ms) | p99 (ms) | max (ms) | target |\n| --- | --- | --- | --- | --- |\n",
        );
        let mut met = true;
        for (name, (p50, p99, max)) in &rows {
            met &= *p99 < 50.0;
            table.push_str(&format!(
                "| {name} ({} alerts, {} timeline entries) | {p50:.1} | {p99:.1} | {max:.1} | p99 under 50 ms |\n",
                self.alerts, self.entries
            ));
        }
        let (p50, p99, max) = latency;
        met &= p99 < 100.0 && missed == 0;
        table.push_str(&format!(
            "| alert committed → its event on each of {} open streams ({} alerts, {} samples, {missed} missed) | {p50:.1} | {p99:.1} | {max:.1} | p99 under 100 ms |\n",
            self.streams,
            self.events,
            self.streams * self.events - missed,
        ));
        let verdict = if met {
            "Every row meets its target."
        } else {
            "**Not every row meets its target.**"
        };
        println!("{table}\n{verdict}");
        if self.out != std::path::Path::new("-") {
            let args: Vec<String> = std::env::args().skip(1).collect();
            let section = format!(
                "{SECTION}\n\nGenerated by `cargo run --release -p bench -- {}`; do not edit by hand.\n\n\
                 The records (SQLite) hold {} alerts and an incident with {} timeline entries. The \
                 real server (`guardian::serve::start_with`, as `guardian serve` starts it) answers \
                 a signed-in client on loopback with keep-alive, {} timed requests per page after 20 \
                 untimed ones; each time is the client's, from sending the request to the last \
                 byte of the answer, so it holds the server's time and loopback's. The pages read \
                 the records only. (All streams come from one address here, so the manifest raises \
                 `[server] max_connections_per_client` from its default of 16; people on their own \
                 machines each count apart.) Then {} event streams (`/api/events`) are open while another \
                 connection to the database, standing in for a monitor in another process, stores \
                 {} alerts 200 ms apart. Each sample is the time from `store_alert` returning (the \
                 alert committed) to its `alert` event read on one stream. This is what the feed \
                 adds above the monitor's own detection time: one reader of the records every \
                 50 ms for all streams.\n\n{table}\n{verdict}\n",
                args.join(" "),
                self.alerts,
                self.entries,
                self.requests,
                self.streams,
                self.events
            );
            let old = std::fs::read_to_string(&self.out).unwrap_or_default();
            std::fs::write(&self.out, replace_section(&old, SECTION, &section))
                .with_context(|| format!("cannot write {}", self.out.display()))?;
            eprintln!("wrote {}", self.out.display());
        }
        Ok(if met {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::FAILURE
        })
    }

    /// Opens the streams, stores alerts through a connection of its own, and returns the
    /// spread of commit-to-event times and how many events never arrived.
    async fn streams(
        &self,
        http: &reqwest::Client,
        base: &str,
        cookie: &str,
        db: &std::path::Path,
    ) -> anyhow::Result<((f64, f64, f64), usize)> {
        type Seen = Arc<Mutex<Vec<(i64, Instant)>>>;
        let mut seen: Vec<Seen> = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..self.streams {
            let mut r = http
                .get(format!("{base}/api/events"))
                .header("cookie", cookie)
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("/api/events answered {}", r.status());
            }
            let log: Seen = Arc::default();
            seen.push(log.clone());
            tasks.push(tokio::spawn(async move {
                let mut buffer = String::new();
                let mut kind = String::new();
                while let Ok(Some(chunk)) = r.chunk().await {
                    let at = Instant::now();
                    buffer.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(end) = buffer.find('\n') {
                        let line: String = buffer.drain(..=end).collect();
                        let line = line.trim_end();
                        if let Some(k) = line.strip_prefix("event:") {
                            kind = k.trim().to_string();
                        } else if let Some(data) = line.strip_prefix("data:")
                            && kind == "alert"
                            && let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim())
                            && let Some(id) = v["id"].as_i64()
                        {
                            log.lock().unwrap_or_else(|p| p.into_inner()).push((id, at));
                        }
                    }
                }
            }));
        }
        // Every stream connected (its `ready` event) before the first alert.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let writer = Store::open(db)?;
        let mut stored = Vec::new();
        for n in 0..self.events {
            let a = writer
                .store_alert(&alert(self.alerts + n))?
                .context("alert not stored")?;
            stored.push((a.id, Instant::now()));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        for t in &tasks {
            t.abort();
        }
        let mut ms = Vec::new();
        let mut missed = 0;
        for log in &seen {
            let log = log.lock().unwrap_or_else(|p| p.into_inner());
            for (id, at) in &stored {
                match log.iter().find(|(i, _)| i == id) {
                    Some((_, got)) => {
                        ms.push(got.saturating_duration_since(*at).as_secs_f64() * 1000.0)
                    }
                    None => missed += 1,
                }
            }
        }
        Ok((spread(ms), missed))
    }
}
