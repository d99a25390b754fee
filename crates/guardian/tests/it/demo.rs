//! `guardian demo --json` end to end, as a user runs it: the drill on local chains, judged by
//! outcomes and their order (never by how many milliseconds anything took).

use alloy::primitives::U256;
use serde_json::Value;

#[tokio::test]
async fn the_drill_pauses_before_the_attackers_next_transaction_and_rescues_more_than_is_lost() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GUARDIAN_OPERATOR", "drill-lead")
        .current_dir(dir.path())
        .args(["demo", "--json", "--dir", "drill"])
        .output()
        .await
        .expect("guardian runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let r: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    assert!(out.status.success() && r["ok"] == true, "{r:#}\n{stderr}");
    assert!(
        stderr.trim().is_empty() || !stderr.contains('✓'),
        "--json shows no progress: {stderr}"
    );

    // Detected from the exploit's own block, paused in the very next one.
    let exploit = r["exploit_block"].as_u64().expect("exploit_block");
    assert_eq!(r["alert_block"].as_u64(), Some(exploit));
    assert_eq!(r["paused_block"].as_u64(), Some(exploit + 1));

    // The first attacker transaction worked; every later one reverted on the pause, in order.
    let txs = r["attacker_txs"].as_array().expect("attacker_txs");
    assert!(txs.len() >= 2, "{txs:?}");
    assert_eq!(txs[0]["reverted"], false);
    for (i, tx) in txs.iter().enumerate().skip(1) {
        assert_eq!(tx["reverted"], true, "attacker tx {i}: {tx}");
        assert_eq!(tx["error"], "EnforcedPause()", "attacker tx {i}: {tx}");
        assert!(
            tx["block"].as_u64() > txs[i - 1]["block"].as_u64(),
            "one per block, in order"
        );
    }
    assert!(txs[1]["block"].as_u64() >= Some(exploit + 1));

    // Less lost than rescued; what was returned covers what the escrow owes.
    let wei = |k: &str| -> U256 {
        r[k].as_str()
            .unwrap_or_else(|| panic!("{k}"))
            .parse()
            .expect("decimal")
    };
    assert!(
        wei("lost_wei") > U256::ZERO,
        "the first block's theft is counted"
    );
    assert!(wei("lost_wei") < wei("rescued_wei"), "{r:#}");
    assert!(wei("returned_wei") >= wei("rescued_wei"));

    // The incident is closed with its post-mortem written; every notification was signed.
    assert_eq!(r["closed"], true);
    let report = std::fs::read_to_string(r["report"].as_str().expect("report path"))
        .expect("report written");
    assert!(report.contains(&r["incident"].to_string()), "{report}");
    let html = std::fs::read_to_string(r["report_html"].as_str().expect("html path"))
        .expect("html written");
    assert!(html.contains("<svg"));
    assert_eq!(r["notifications_signed"], true);
    assert!(r["incident_messages"].as_u64() >= Some(1));

    // The second run, from the mempool: the pause mined in the exploit's own block, ahead of it;
    // the exploit reverted and nothing was lost.
    let p = &r["preempt"];
    assert_eq!(p["exploit_reverted"], true, "{p:#}");
    assert_eq!(p["exploit_error"], "EnforcedPause()");
    assert_eq!(p["lost_wei"], "0");
    assert_eq!(p["paused_block"], p["exploit_block"]);
    assert_eq!(p["pause_first"], true);

    // The record: the timeline is intact and names the drill's operator.
    let show = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path().join("drill"))
        .args(["incident", "show", "1", "--json"])
        .output()
        .await
        .expect("guardian runs");
    let show: Value = serde_json::from_slice(&show.stdout).unwrap_or_default();
    assert_eq!(show["integrity"]["state"], "intact", "{show:#}");
    assert_eq!(show["status"], "closed");
    let kinds: Vec<&str> = show["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    let first = |k: &str| {
        kinds
            .iter()
            .position(|x| *x == k)
            .unwrap_or_else(|| panic!("no {k}: {kinds:?}"))
    };
    assert!(first("opened") < first("pause"));
    assert!(first("pause") < first("withdraw"));
    assert!(first("withdraw") < first("upgrade"));
    assert!(first("upgrade") < first("fix-verified"));
    assert!(first("fix-verified") < first("unpause"));
}
