//! `guardian demo --json` end to end, as a user runs it: the drill on local chains, judged by
//! outcomes and their order (never by how many milliseconds anything took).

use alloy::primitives::U256;
use serde_json::Value;

/// Runs `guardian demo --json` with `more` arguments in a new directory: the report (the drill
/// went as it must) and the directory.
async fn drill(more: &[&str]) -> (Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GUARDIAN_OPERATOR", "drill-lead")
        .current_dir(dir.path())
        .args(["demo", "--json", "--dir", "drill"])
        .args(more)
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
    (r, dir)
}

/// `guardian ARGS` in the drill's directory: its standard output.
async fn guardian(dir: &tempfile::TempDir, args: &[&str]) -> Vec<u8> {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GUARDIAN_OPERATOR", "reader")
        .current_dir(dir.path().join("drill"))
        .args(args)
        .output()
        .await
        .expect("guardian runs")
        .stdout
}

/// The first incident's record: intact, closed, and its timeline's entries as (kind, details).
async fn timeline(dir: &tempfile::TempDir) -> Vec<(String, Value)> {
    let show = guardian(dir, &["incident", "show", "1", "--json"]).await;
    let show: Value = serde_json::from_slice(&show).unwrap_or_default();
    assert_eq!(show["integrity"]["state"], "intact", "{show:#}");
    assert_eq!(show["status"], "closed");
    show["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_string(),
                e["details"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_drill_pauses_before_the_attackers_next_transaction_and_rescues_more_than_is_lost() {
    let (r, dir) = drill(&[]).await;

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

    // One set of numbers: the drill's summary, `incident show`, the report's JSON and the
    // published post-mortem give the same funds and durations.
    let show: Value =
        serde_json::from_slice(&guardian(&dir, &["incident", "show", "1", "--json"]).await)
            .expect("show --json");
    let pm: Value =
        serde_json::from_slice(&guardian(&dir, &["incident", "report", "1", "--json"]).await)
            .expect("report --json");
    let chain = r["chain"].as_str().expect("chain");
    let native = |totals: &Value| -> Value {
        totals
            .as_array()
            .expect("totals")
            .iter()
            .find(|f| f["chain"] == chain && f["token"].is_null())
            .cloned()
            .unwrap_or_else(|| panic!("no native total on {chain}: {totals:#}"))
    };
    let (in_show, in_report) = (
        native(&show["figures"]["funds_total"]),
        native(&pm["funds_total"]),
    );
    for (figure, key) in [
        ("at_risk", "at_risk_wei"),
        ("lost", "lost_wei"),
        ("rescued", "rescued_wei"),
        ("returned", "returned_wei"),
        ("still_short", "still_short_wei"),
    ] {
        assert_eq!(in_report[figure]["base"], r[key], "{figure}: {in_report:#}");
        assert_eq!(in_show[figure]["base"], r[key], "{figure} in incident show");
    }
    assert_eq!(in_report["owed"]["base"], r["owed_wei"]);
    assert_eq!(r["durations"], pm["durations"]);
    assert_eq!(r["durations"], show["figures"]["durations"]);
    for (name, d) in r["durations"].as_object().expect("durations") {
        assert!(d["ms"].as_i64().is_none_or(|ms| ms >= 0), "{name}: {d}");
    }
    // At risk was read in the block before the exploit's first transaction; nothing is short.
    assert!(
        pm["funds_basis"][0]
            .as_str()
            .is_some_and(|b| b.contains(&format!("block {}", exploit - 1))),
        "{:#}",
        pm["funds_basis"]
    );
    assert_eq!(r["still_short_wei"], "0");
    // The published post-mortem is the closed incident's: final, every item ticked, the same
    // total row, and what `incident report` prints of it.
    assert!(!report.contains("DRAFT"), "{report}");
    assert!(report.contains("closed"));
    assert!(!report.contains("- [ ]"), "{report}");
    let row = format!(
        "| **total** | {chain} | ETH | {} | {} | {} | {} | {} | {} |",
        in_report["at_risk"]["shown"].as_str().expect("shown"),
        in_report["owed"]["shown"].as_str().expect("shown"),
        in_report["lost"]["shown"].as_str().expect("shown"),
        in_report["rescued"]["shown"].as_str().expect("shown"),
        in_report["returned"]["shown"].as_str().expect("shown"),
        in_report["still_short"]["shown"].as_str().expect("shown"),
    );
    assert!(report.contains(&row), "{row}\n{report}");
    // Where the funds went, in the post-mortem: the drainer's take, the rescue, the attacker's
    // account funded at genesis, read from the node's traces.
    assert!(
        report.contains("## Funds movements and the attacker's addresses\n\nRead from traces"),
        "{report}"
    );
    assert!(report.contains("| with the attacker |") && report.contains("| rescued |"));
    assert!(
        report.contains("(sender, local): funded at genesis"),
        "{report}"
    );
    let printed = guardian(&dir, &["incident", "report", "1"]).await;
    assert_eq!(String::from_utf8_lossy(&printed), report);
    assert!(
        show["checklist"]
            .as_array()
            .expect("checklist")
            .iter()
            .all(|c| c["ticked_by"].is_string()),
        "{show:#}"
    );

    // The first message to SEAL 911 says what the report says, and names no endpoint or secret.
    let seal = String::from_utf8(
        guardian(&dir, &["incident", "export", "1", "--format", "seal911"]).await,
    )
    .expect("utf-8");
    let first_tx = txs[0]["hash"].as_str().expect("hash");
    assert!(
        seal.contains(&format!(
            "{first_tx} (block {exploit}): the exploit's first transaction"
        )),
        "{seal}"
    );
    assert!(seal.starts_with("SEAL 911: Integra incident 1"), "{seal}");
    assert!(
        seal.contains(&format!(
            "at risk {}",
            in_report["at_risk"]["shown"].as_str().expect("shown")
        )),
        "{seal}"
    );
    // Closed: every contract was resumed, and the message says so.
    assert!(seal.contains("- escrow on local at "), "{seal}");
    assert!(seal.contains(": resumed, not paused"), "{seal}");
    assert!(seal.contains("incident commander: drill-lead"), "{seal}");
    assert!(!seal.contains("http") && !seal.contains("secret"), "{seal}");

    // The second run, from the mempool: the pause mined in the exploit's own block, ahead of it;
    // the exploit reverted and nothing was lost.
    let p = &r["preempt"];
    assert_eq!(p["exploit_reverted"], true, "{p:#}");
    assert_eq!(p["exploit_error"], "EnforcedPause()");
    assert_eq!(p["lost_wei"], "0");
    assert_eq!(p["paused_block"], p["exploit_block"]);
    assert_eq!(p["pause_first"], true);

    // The record: the timeline is intact, in the protocol's order.
    let entries = timeline(&dir).await;
    let kinds: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
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

/// `guardian demo --safe`: a 2-of-3 Safe holds the admin, upgrade and rescue roles. The pause
/// key still pauses in the next block; the rescue the playbook prepared, and the fix, are
/// proposals two owners sign and the Safe executes; the incident closes with its checklist
/// proven from those executions.
#[tokio::test]
async fn the_drill_through_a_safe_rescues_and_fixes_by_proposals_two_owners_sign() {
    let (r, dir) = drill(&["--safe"]).await;
    assert!(r["safe"].as_str().is_some(), "{r:#}");
    let exploit = r["exploit_block"].as_u64().expect("exploit_block");
    assert_eq!(r["paused_block"].as_u64(), Some(exploit + 1));
    let wei = |k: &str| -> U256 { r[k].as_str().expect(k).parse().expect("decimal") };
    assert!(wei("lost_wei") < wei("rescued_wei"), "{r:#}");
    assert_eq!(r["closed"], true);

    let entries = timeline(&dir).await;
    let entries = &entries;
    let at = |what: &dyn Fn(&str, &Value) -> bool| {
        entries
            .iter()
            .position(|(k, d)| what(k, d))
            .unwrap_or_else(|| panic!("not found in {entries:#?}"))
    };
    let safe_event = |proposal_calls: &'static str, event: &'static str| {
        move |k: &str, d: &Value| {
            k == "safe" && d["event"] == event && {
                let id = &d["proposal"];
                entries.iter().any(|(k, p)| {
                    k == "safe"
                        && p["event"] == "proposed"
                        && &p["proposal"] == id
                        && p["calls"].as_array().is_some_and(|c| {
                            c.iter()
                                .any(|l| l.as_str().is_some_and(|l| l.starts_with(proposal_calls)))
                        })
                })
            }
        }
    };
    // Nothing was withdrawn by a key: the rescue was the Safe's.
    assert!(
        !entries.iter().any(|(k, _)| k == "withdraw"),
        "{entries:#?}"
    );
    let paused = at(&|k, _| k == "pause");
    let rescue_proposed = at(&safe_event("withdraw ", "proposed"));
    let rescue_confirmed = at(&safe_event("withdraw ", "confirmed"));
    let rescued = at(&safe_event("withdraw ", "executed"));
    let fixed = at(&safe_event("upgrade ", "executed"));
    let verified = at(&|k, _| k == "fix-verified");
    let resumed = at(&|k, _| k == "unpause");
    assert!(
        paused < rescue_proposed,
        "the pause never waits for the proposal"
    );
    assert!(rescue_proposed < rescue_confirmed && rescue_confirmed < rescued);
    assert!(rescued < fixed && fixed < verified && verified < resumed);
    let confirmations = entries
        .iter()
        .filter(|(k, d)| {
            k == "safe"
                && d["event"] == "confirmed"
                && d["proposal"] == entries[rescued].1["proposal"]
        })
        .count();
    assert_eq!(confirmations, 2, "two owners signed the rescue");
}
