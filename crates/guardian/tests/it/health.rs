//! The monitor as a service: Prometheus metrics after a run, the `monitor-health` rule on a lag
//! above `[monitor] max_lag_blocks` (one alert per episode), and the heartbeat through the real
//! binary (its URL, a secret, never in the output).

use std::{path::Path, sync::Arc, time::Duration};

use guardian::{
    alert::{Alert, Severity},
    config::Manifest,
    monitor::{
        self, MonitorEvent, MonitorOptions,
        health::{self, HealthBoard},
        metrics::Metrics,
    },
    notify::{Contacts, Outbox},
    service::dispatch::Dispatcher,
    storage::{AlertFilter, Store},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::mpsc,
};

use crate::{
    notify::HMAC_KEY,
    response::{open, rpc},
    support::{http_sink::HttpSink, testnet},
};

/// `GET path` on `addr`, answered as (status line, body).
async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    let (head, body) = out.split_once("\r\n\r\n").expect("a response");
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// The value of the sample `name` (with its labels, as exposed), if exposed.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn health_alerts(store: &Store) -> Vec<Alert> {
    store
        .alerts(&AlertFilter {
            rule: Some(health::RULE.into()),
            ..AlertFilter::default()
        })
        .expect("alerts")
}

#[tokio::test]
async fn metrics_expose_blocks_lag_alerts_notifications_and_detection_latency() {
    let net = testnet().await;
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let start = net.block_number().await + 1;
    // A pause by the pauser: one privileged alert (info).
    let registry = bindings::DocumentRegistry::new(
        net.addr(guardian::config::ContractKind::DocumentRegistry),
        net.as_signer(&net.pauser),
    );
    crate::send_ok!(registry.pause());
    let head = net.block_number().await;

    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let results = monitor::run(
        &d,
        MonitorOptions {
            from_block: Some(start),
            once: true,
            events: Some(tx),
            metrics: Some(metrics.clone()),
            ..MonitorOptions::default()
        },
    )
    .await;
    let summary = results[0].1.as_ref().expect("monitor --once").clone();
    let mut raised = Vec::new();
    while let Ok(MonitorEvent::Raised(a)) = rx.try_recv() {
        raised.push(a);
    }
    assert_eq!(raised.len(), 1, "{raised:?}");

    // The alert goes to a webhook contact through an outbox counting its results.
    let sink = HttpSink::start().await;
    let text = format!(
        "{}\n[[contacts]]\nname = \"ops-hook\"\nchannel = \"webhook\"\nurl = \"{}/hook\"\nsecret_env = \"HOOK_KEY\"\nmin_severity = \"info\"\n\n[notify]\nbackoff_ms = 10\nmax_backoff_ms = 20\n",
        net.devnet.manifest.to_toml(),
        sink.url
    );
    let m = Manifest::parse(&text, Path::new("guardian.toml")).expect("manifest");
    let contacts = Arc::new(Contacts::load(&m, &|n: &str| {
        (n == "HOOK_KEY").then(|| HMAC_KEY.to_string())
    }));
    let store = Arc::new(Store::in_memory().expect("db"));
    let outbox = Outbox::new(store.clone(), contacts.clone())
        .expect("outbox")
        .with_metrics(metrics.clone());
    // Queued by the service's dispatcher, which times it (the `notify` stage).
    let dispatched = Dispatcher::new(&d, store.clone(), contacts.clone(), None)
        .with_metrics(metrics.clone())
        .dispatch(&MonitorEvent::Raised(raised[0].clone()))
        .await;
    assert_eq!(dispatched.notified, 1, "{dispatched:?}");
    sink.fail_next("/hook", &[503]);
    assert_eq!(outbox.deliver_due().await.retrying, 1);
    // Retried once its (short) backoff is over.
    tokio::time::timeout(Duration::from_secs(20), async {
        while outbox.deliver_due().await.delivered == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("delivered on retry");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let serving = tokio::spawn(metrics.clone().serve(listener, async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));
    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let blocks = (head - start + 1) as f64;
    assert_eq!(summary.blocks as f64, blocks);
    let expect = [
        (
            r#"guardian_monitor_blocks_processed_total{chain="local"}"#,
            blocks,
        ),
        (r#"guardian_monitor_head_lag_blocks{chain="local"}"#, 0.0),
        (
            r#"guardian_monitor_alerts_raised_total{rule="privileged",severity="info"}"#,
            1.0,
        ),
        (
            r#"guardian_notifications_total{channel="webhook",contact="ops-hook",result="failed"}"#,
            1.0,
        ),
        (
            r#"guardian_notifications_total{channel="webhook",contact="ops-hook",result="delivered"}"#,
            1.0,
        ),
        (
            r#"guardian_monitor_detection_latency_seconds_count{chain="local"}"#,
            1.0,
        ),
    ];
    for (name, value) in expect {
        assert_eq!(sample(&text, name), Some(value), "{name} in\n{text}");
    }
    assert!(
        text.contains("# TYPE guardian_monitor_detection_latency_seconds histogram"),
        "{text}"
    );
    // Each block went through every stage once; its one alert through `notify`.
    for stage in ["fetch_logs", "read_holdings", "rules", "store"] {
        let name =
            format!(r#"guardian_monitor_stage_seconds_count{{chain="local",stage="{stage}"}}"#);
        assert_eq!(sample(&text, &name), Some(blocks), "{name} in\n{text}");
    }
    let notify = r#"guardian_monitor_stage_seconds_count{chain="local",stage="notify"}"#;
    assert_eq!(sample(&text, notify), Some(1.0), "{text}");
    assert_eq!(
        sample(&text, r#"guardian_monitor_rpc_errors_total{chain="local"}"#),
        None,
        "no RPC error happened"
    );
    let (status, _) = get(addr, "/other").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    stop_tx.send(true).expect("stop");
    serving.await.expect("the server stops");
    net.devnet.stop().await;
}

#[tokio::test]
async fn a_lag_above_max_lag_blocks_raises_one_monitor_health_alert_per_episode() {
    let net = testnet().await;
    let (d, _dir) = open(&net.devnet.manifest, |m| {
        m.monitor.max_lag_blocks = 5;
        m.monitor.poll_interval_ms = 20;
    })
    .await;
    let board = Arc::new(HealthBoard::default());
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let following = monitor::run(
        &d,
        MonitorOptions {
            events: Some(events_tx),
            stop: Some(stop_rx),
            health: Some(board.clone()),
            mempool: Vec::new(),
            metrics: Some(metrics.clone()),
            ..MonitorOptions::default()
        },
    );
    let driver = async {
        let caught_up = |target: u64| {
            let store = &d.store;
            let board = board.clone();
            async move {
                tokio::time::timeout(Duration::from_secs(60), async {
                    while store
                        .cursor(31337)
                        .expect("cursor")
                        .is_none_or(|c| c.number < target)
                        || !board.healthy()
                    {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
                .await
                .expect("the monitor catches up and recovers");
            }
        };
        caught_up(net.block_number().await).await;
        assert!(health_alerts(&d.store).is_empty(), "no lag yet");
        let mut raised = Vec::new();
        for episode in 1..=2 {
            // 40 blocks at once: far more than 5 behind at the next poll, for several blocks.
            rpc(&net, "anvil_mine", serde_json::json!([40])).await;
            let head = net.block_number().await;
            caught_up(head).await;
            // One more poll sees the chain caught up: the episode is over.
            rpc(&net, "anvil_mine", serde_json::json!([1])).await;
            caught_up(head + 1).await;
            while let Ok(e) = events.try_recv() {
                if let MonitorEvent::Raised(a) = e
                    && a.found.rule == health::RULE
                {
                    raised.push(a);
                }
            }
            assert_eq!(raised.len(), episode, "{raised:#?}");
        }
        stop_tx.send(true).expect("stop");
        raised
    };
    let (results, raised) = tokio::join!(following, driver);
    results[0].1.as_ref().expect("stopped cleanly");
    let stored = health_alerts(&d.store);
    assert_eq!(stored.len(), 2, "one alert per episode: {stored:#?}");
    for a in &stored {
        assert_eq!(a.found.severity, Severity::Warning);
        assert_eq!(a.found.chain, "local");
        assert!(a.found.evidence["lag"].as_u64().expect("lag") > 5, "{a:?}");
    }
    assert_ne!(stored[0].found.dedup_key, stored[1].found.dedup_key);
    let mut ids: Vec<i64> = raised.iter().map(|a| a.id).collect();
    ids.sort();
    let mut stored_ids: Vec<i64> = stored.iter().map(|a| a.id).collect();
    stored_ids.sort();
    assert_eq!(ids, stored_ids, "every stored health alert was handed on");
    assert!(metrics.render().contains(
        r#"guardian_monitor_alerts_raised_total{rule="monitor-health",severity="warning"} 2"#
    ));
    net.devnet.stop().await;
}

#[tokio::test]
async fn the_heartbeat_calls_its_url_while_following_and_never_shows_it() {
    let net = testnet().await;
    let sink = HttpSink::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let manifest = dir.path().join("guardian.toml");
    net.devnet.manifest.write(&manifest, true).expect("write");
    let mut text = std::fs::read_to_string(&manifest).expect("read");
    text.push_str("\n[monitor]\nheartbeat_url_env = \"HB_URL\"\nheartbeat_secs = 1\n");
    std::fs::write(&manifest, text).expect("write monitor");
    let token = "hb-token-8d1c7e2f";
    // The first call is refused: a failing heartbeat is logged (without its URL), never fatal.
    sink.fail_next("/ping/", &[500]);
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HB_URL", format!("{}/ping/{token}", sink.url))
        .env("RUST_LOG", "debug")
        .current_dir(dir.path())
        .args(["-v", "monitor"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("guardian runs");
    let pings = sink.wait_for("/ping/", 3).await;
    assert!(pings.iter().all(|p| p.method == "GET"), "{pings:?}");
    assert_eq!(pings[0].status, 500);
    assert!(
        pings[1].at - pings[0].at >= Duration::from_millis(900),
        "every heartbeat_secs"
    );
    let pid = child.id().expect("running").to_string();
    let term = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(term.success());
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("SIGTERM stops the monitor")
        .expect("output");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("heartbeat refused: HTTP 500"), "{stderr}");
    assert!(
        !stdout.contains(token) && !stderr.contains(token),
        "the heartbeat URL leaked:\n{stdout}\n{stderr}"
    );
    net.devnet.stop().await;
}

#[tokio::test]
async fn monitor_once_beats_once_after_a_run_that_succeeded() {
    let net = testnet().await;
    let sink = HttpSink::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let manifest = dir.path().join("guardian.toml");
    net.devnet.manifest.write(&manifest, true).expect("write");
    let mut text = std::fs::read_to_string(&manifest).expect("read");
    text.push_str("\n[monitor]\nheartbeat_url_env = \"HB_URL\"\n");
    std::fs::write(&manifest, text).expect("write monitor");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HB_URL", format!("{}/ping/hb-once-3f9a", sink.url))
        .current_dir(dir.path())
        .args(["monitor", "--once"])
        .output()
        .await
        .expect("guardian runs");
    assert!(out.status.success(), "{out:?}");
    let pings = sink.requests_to("/ping/");
    assert_eq!(pings.len(), 1, "{pings:?}");
    assert_eq!(pings[0].method, "GET");
    net.devnet.stop().await;
}

#[tokio::test]
async fn endpoints_failing_poll_after_poll_raise_one_monitor_health_alert() {
    let net = testnet().await;
    let (d, _dir) = open(&net.devnet.manifest, |m| m.monitor.poll_interval_ms = 20).await;
    let board = Arc::new(HealthBoard::default());
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let following = monitor::run(
        &d,
        MonitorOptions {
            events: Some(events_tx),
            stop: Some(stop_rx),
            health: Some(board.clone()),
            mempool: Vec::new(),
            metrics: Some(metrics.clone()),
            ..MonitorOptions::default()
        },
    );
    let driver = async {
        tokio::time::timeout(Duration::from_secs(60), async {
            while d.store.cursor(31337).expect("cursor").is_none() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the first pass finishes");
        assert!(board.healthy());
        // The chain's only endpoint goes away.
        net.devnet.stop().await;
        let alert = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                if let Some(MonitorEvent::Raised(a)) = events.recv().await
                    && a.found.rule == health::RULE
                {
                    break a;
                }
            }
        })
        .await
        .expect("a monitor-health alert");
        assert!(!board.healthy(), "the heartbeat is withheld");
        // More failed polls: still the same episode.
        tokio::time::timeout(Duration::from_secs(60), async {
            while sample(
                &metrics.render(),
                r#"guardian_monitor_rpc_errors_total{chain="local"}"#,
            )
            .unwrap_or(0.0)
                < (health::FAILED_POLLS * 3) as f64
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the monitor keeps polling");
        stop_tx.send(true).expect("stop");
        alert
    };
    let (results, alert) = tokio::join!(following, driver);
    results[0]
        .1
        .as_ref()
        .expect("a following monitor outlives its endpoints");
    assert_eq!(alert.found.severity, Severity::Warning);
    assert!(alert.found.summary.contains("failed"), "{alert:?}");
    assert_eq!(health_alerts(&d.store).len(), 1, "one alert per episode");
}
