//! A failing notification channel raises `monitor-health`, through the real binary and a real
//! local HTTP server: one warning per episode, told to the other contacts and never to the
//! failing one, its secret URL nowhere; the contact's next delivery ends the episode.

use std::time::Duration;

use bindings::DocumentRegistry;
use guardian::{
    alert::Severity,
    config::ContractKind,
    monitor::health,
    storage::{AlertFilter, Store},
};

use crate::{
    notify::{HMAC_KEY, assert_signed},
    send_ok,
    support::{http_sink::HttpSink, testnet},
};

/// The failing webhook's secret path segment (its URL is read from the environment).
const PATH_SECRET: &str = "chanhealth-path-7c1d9e3b5a42";

/// The rules of the alerts a sink's `prefix` received, in arrival order.
fn rules(sink: &HttpSink, prefix: &str) -> Vec<String> {
    sink.requests_to(prefix)
        .iter()
        .map(|r| {
            r.json()["alert"]["rule"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// Waits (up to 60 s) until `prefix` has received `n` monitor-health alerts.
async fn wait_for_health(sink: &HttpSink, prefix: &str, n: usize) {
    tokio::time::timeout(Duration::from_secs(60), async {
        while rules(sink, prefix)
            .iter()
            .filter(|r| *r == health::RULE)
            .count()
            < n
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{n} monitor-health alert(s) never reached {prefix}"));
}

#[tokio::test]
async fn a_failing_contact_raises_monitor_health_to_the_others_once_per_episode() {
    let net = testnet().await;
    let sink = HttpSink::start().await;
    // Error answers quote the request's path, secret included, as some servers do.
    sink.echo_path_in_errors();
    let dir = tempfile::tempdir().expect("tmp");
    let manifest = dir.path().join("guardian.toml");
    net.devnet.manifest.write(&manifest, true).expect("write");
    let mut text = std::fs::read_to_string(&manifest).expect("read");
    text.push_str(&format!(
        r#"
[notify]
backoff_ms = 20
max_backoff_ms = 50

[[contacts]]
name = "ops-hook"
channel = "webhook"
url_env = "BAD_HOOK_URL"
secret_env = "HOOK_KEY"

[[contacts]]
name = "good-hook"
channel = "webhook"
url = "{}/good"
secret_env = "HOOK_KEY"
"#,
        sink.url
    ));
    std::fs::write(&manifest, text).expect("write contacts");

    sink.fail_next("/bad/", &[500, 500, 500]);
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOOK_KEY", HMAC_KEY)
        .env("BAD_HOOK_URL", format!("{}/bad/{PATH_SECRET}", sink.url))
        .env("RUST_LOG", "debug")
        .current_dir(dir.path())
        .args([
            "-v",
            "monitor",
            "--from-block",
            &(net.block_number().await + 1).to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("guardian runs");
    let registry = DocumentRegistry::new(
        net.addr(ContractKind::DocumentRegistry),
        net.as_signer(&net.pauser),
    );

    // Episode 1: a pause (a privileged alert) fails three times at ops-hook, then gets through.
    send_ok!(registry.pause());
    wait_for_health(&sink, "/good", 1).await;
    let bad = sink.wait_for("/bad/", 4).await;
    assert_eq!(
        bad.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 500, 500, 200],
        "retried until delivered"
    );
    let good = sink.wait_for("/good", 2).await;
    let mut first: Vec<String> = rules(&sink, "/good");
    first.sort();
    assert_eq!(first, ["monitor-health", "privileged"], "{good:?}");

    // Episode 2: ops-hook delivered, so its next run of failures is a new episode.
    sink.fail_next("/bad/", &[500, 500, 500]);
    send_ok!(registry.unpause());
    wait_for_health(&sink, "/good", 2).await;
    sink.wait_for("/bad/", 8).await;
    let good = sink.wait_for("/good", 4).await;

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

    // The working contact got both alerts and one health warning per episode, each naming the
    // failing contact and its error.
    let health_to_good: Vec<serde_json::Value> = good
        .iter()
        .map(|r| {
            assert_signed(r);
            r.json()["alert"].clone()
        })
        .filter(|a| a["rule"] == health::RULE)
        .collect();
    assert_eq!(health_to_good.len(), 2, "{good:?}");
    assert_eq!(
        rules(&sink, "/good")
            .iter()
            .filter(|r| *r == "privileged")
            .count(),
        2
    );
    for a in &health_to_good {
        let summary = a["summary"].as_str().expect("summary");
        assert!(
            summary.starts_with("contact ops-hook (webhook) failing:"),
            "{summary}"
        );
        assert!(summary.contains("HTTP 500"), "{summary}");
        assert_eq!(a["severity"], "warning");
        assert_eq!(a["chain"], "local");
        assert_eq!(a["chain_id"], 31337);
    }
    assert_ne!(health_to_good[0]["id"], health_to_good[1]["id"]);
    // The failing contact was never told of its own failure.
    assert!(
        rules(&sink, "/bad/").iter().all(|r| r == "privileged"),
        "{:?}",
        rules(&sink, "/bad/")
    );
    // Its secret path is in no payload, no output and no log line.
    for r in sink.requests() {
        assert!(
            !String::from_utf8_lossy(&r.body).contains(PATH_SECRET),
            "{r:?}"
        );
    }
    assert!(
        !stdout.contains(PATH_SECRET) && !stderr.contains(PATH_SECRET),
        "the webhook URL leaked:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("monitor-health") && stdout.contains("contact ops-hook (webhook) failing"),
        "the operator sees it: {stdout}"
    );

    // Stored once per episode, with distinct dedup keys, and queued to good-hook only.
    let store = Store::open(&dir.path().join("guardian.db")).expect("db");
    let stored = store
        .alerts(&AlertFilter {
            rule: Some(health::RULE.into()),
            ..AlertFilter::default()
        })
        .expect("alerts");
    assert_eq!(stored.len(), 2, "{stored:#?}");
    assert_ne!(stored[0].found.dedup_key, stored[1].found.dedup_key);
    for a in &stored {
        assert_eq!(a.found.severity, Severity::Warning);
        assert_eq!(a.found.evidence["contact"], "ops-hook");
        let told: Vec<String> = store
            .deliveries(Some(a.id))
            .expect("deliveries")
            .into_iter()
            .map(|d| d.contact)
            .collect();
        assert_eq!(told, ["good-hook"]);
    }
    net.devnet.stop().await;
}
