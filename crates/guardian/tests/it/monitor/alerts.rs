//! `guardian alerts`: listing by filter and acknowledging, through the library and the binary.

use guardian::{alert::Severity, deployment::Deployment, storage::AlertFilter};

use super::{grant_pauser, pause_registry};
use crate::support::testnet;

fn guardian(dir: &std::path::Path) -> std::process::Command {
    crate::support::bin::command(dir)
}

#[tokio::test]
async fn alerts_are_filtered_and_acknowledged_by_the_library_and_the_binary() {
    let net = testnet().await;
    let dir = tempfile::tempdir().expect("tmp");
    net.devnet
        .manifest
        .write(&dir.path().join("guardian.toml"), true)
        .expect("write");
    let start = net.block_number().await + 1;
    pause_registry(&net, true).await;
    grant_pauser(&net, net.outsider.address()).await;

    let o = guardian(dir.path())
        .args(["monitor", "--once", "--from-block", &start.to_string()])
        .output()
        .expect("run");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("ALERT 2 [critical → level 3] privileged"),
        "{out}"
    );

    let list = |args: &[&str]| -> serde_json::Value {
        let o = guardian(dir.path())
            .args(["alerts", "--json"])
            .args(args)
            .output()
            .expect("run");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).expect("json")
    };
    let everything = list(&[]);
    let ids: Vec<i64> = everything
        .as_array()
        .expect("list")
        .iter()
        .map(|a| a["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, [2, 1], "newest first");
    let critical = list(&["--severity", "critical"]);
    assert_eq!(critical.as_array().map(Vec::len), Some(1));
    assert_eq!(critical[0]["severity"], "critical");
    assert_eq!(critical[0]["status"], "open");
    assert_eq!(
        list(&["--rule", "insolvent"]).as_array().map(Vec::len),
        Some(0)
    );
    assert_eq!(list(&["--since", "1h"]).as_array().map(Vec::len), Some(2));
    assert_eq!(
        list(&["--since", "2999-01-01T00:00:00Z"])
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    let o = guardian(dir.path())
        .args(["alerts", "--since", "yesterday"])
        .output()
        .expect("run");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("RFC 3339"));

    let o = guardian(dir.path())
        .env("GUARDIAN_OPERATOR", "oncall")
        .args(["alerts", "ack", "2", "--note", "not ours: revoking"])
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("acknowledged by oncall"));
    let o = guardian(dir.path())
        .env("USER", "alice")
        .args(["alerts", "ack", "1", "--as", "bob"])
        .output()
        .expect("run");
    assert!(o.status.success());
    let o = guardian(dir.path())
        .args(["alerts", "ack", "99"])
        .output()
        .expect("run");
    assert!(!o.status.success(), "no such alert");
    let human = guardian(dir.path()).args(["alerts"]).output().expect("run");
    let table = String::from_utf8_lossy(&human.stdout);
    assert!(table.starts_with("ID  DETECTED (UTC)"), "{table}");

    // The library sees what the binary wrote.
    let d = Deployment::open(&dir.path().join("guardian.toml"), None, &|_| None)
        .await
        .expect("open");
    let acked = d
        .store
        .alerts(&AlertFilter {
            min_severity: Some(Severity::Critical),
            ..AlertFilter::default()
        })
        .expect("alerts");
    let ack = acked[0].acknowledged.clone().expect("acknowledged");
    assert_eq!(
        (ack.by.as_str(), ack.note.as_deref()),
        ("oncall", Some("not ours: revoking"))
    );
    let by_bob = d.store.alert(1).expect("q").expect("exists");
    assert_eq!(by_bob.acknowledged.map(|a| a.by), Some("bob".to_string()));
    net.devnet.stop().await;
}
