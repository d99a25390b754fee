//! The bounty desk's acknowledgement clocks through the real binary: a critical report left
//! unacknowledged past 48 h makes `guardian monitor --once` deliver one signed `bounty-sla`
//! alert to a real local webhook, naming the report and the command that acknowledges it; a
//! restarted monitor raises nothing more, and neither does an acknowledged report or a medium
//! one still within its 96 h; a following monitor raises it at start (high for a high report)
//! and stops cleanly on SIGTERM. The tests set the clock by backdating `submitted_at` in the
//! SQLite file.

use guardian::{
    bounty::{NewReport, Severity, crypto, sla},
    config::{ContractKind, Manifest},
    storage::Store,
};

use crate::{
    notify::{HMAC_KEY, assert_signed},
    support::{TestNet, http_sink::HttpSink, testnet},
};

const HOUR_MS: i64 = 3_600_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// Stores a report on `contract` and backdates it by `hours`, as if submitted then.
fn report(
    store: &Store,
    db: &rusqlite::Connection,
    contract: &str,
    severity: Severity,
    title: &str,
    hours: i64,
) -> i64 {
    let r = NewReport {
        title: title.into(),
        severity,
        impact: severity.impacts().next().expect("an impact").id,
        contracts: vec![contract.into()],
        description: "releasePayment can be re-entered before the balance is zeroed.".into(),
        proof_of_concept: None,
        contact: "researcher@example.org".into(),
        payout_address: None,
        credit_as: None,
    };
    let token = crypto::new_token().expect("token");
    let id = store
        .insert_bounty_report(&r, None, &crypto::token_hash(&token), now_ms())
        .expect("insert");
    db.execute(
        "UPDATE bounty_reports SET submitted_at = ?2 WHERE id = ?1",
        rusqlite::params![id, now_ms() - hours * HOUR_MS],
    )
    .expect("backdate");
    id
}

/// Runs the binary in `dir` (asynchronously: the webhook sink answers on this test's runtime).
async fn guardian(dir: &std::path::Path, args: &[&str]) -> (String, String) {
    let (ok, out, err) = crate::support::bin::run(dir, &[("HOOK_KEY", HMAC_KEY)], args).await;
    assert!(ok, "guardian {args:?}: {out}\n{err}");
    (out, err)
}

/// The `bounty-sla` alerts the webhook received.
fn sla_alerts(sink: &HttpSink) -> Vec<serde_json::Value> {
    sink.requests_to("/hook")
        .iter()
        .map(|r| {
            assert_signed(r);
            r.json()["alert"].clone()
        })
        .filter(|a| a["rule"] == sla::RULE)
        .collect()
}

/// A devnet, a webhook sink, and a directory with the devnet's manifest plus a webhook contact
/// to the sink; the name of the manifest's escrow.
async fn setup() -> (TestNet, HttpSink, tempfile::TempDir, String) {
    let net = testnet().await;
    let sink = HttpSink::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("guardian.toml");
    net.devnet.manifest.write(&path, true).expect("write");
    let mut text = std::fs::read_to_string(&path).expect("read");
    text.push_str(&format!(
        r#"
[[contacts]]
name = "ops-hook"
channel = "webhook"
url = "{}/hook"
secret_env = "HOOK_KEY"
"#,
        sink.url
    ));
    std::fs::write(&path, text).expect("write contacts");
    let manifest = Manifest::load(&path).expect("manifest");
    let escrow = manifest
        .contracts
        .iter()
        .find(|c| c.kind == ContractKind::PaymentEscrow)
        .expect("an escrow")
        .name()
        .to_string();
    (net, sink, dir, escrow)
}

#[tokio::test]
async fn an_overdue_report_raises_one_signed_bounty_sla_alert() {
    let (net, sink, dir, escrow) = setup().await;

    let db_path = dir.path().join("guardian.db");
    let (late, acked, medium) = {
        let store = Store::open(&db_path).expect("db");
        let db = rusqlite::Connection::open(&db_path).expect("sqlite");
        let late = report(
            &store,
            &db,
            &escrow,
            Severity::Critical,
            "Escrow pays twice",
            49,
        );
        let acked = report(
            &store,
            &db,
            &escrow,
            Severity::Critical,
            "Escrow rounding",
            60,
        );
        db.execute(
            "UPDATE bounty_reports SET status = 'acknowledged', acknowledged_at = ?2 WHERE id = ?1",
            rusqlite::params![acked, now_ms() - 55 * HOUR_MS],
        )
        .expect("acknowledge");
        let medium = report(
            &store,
            &db,
            &escrow,
            Severity::Medium,
            "Escrow griefing",
            50,
        );
        (late, acked, medium)
    };

    let (out, err) = guardian(dir.path(), &["monitor", "--once"]).await;
    assert!(out.contains(sla::RULE), "the operator sees it: {out}");
    let alerts = sla_alerts(&sink);
    assert_eq!(
        alerts.len(),
        1,
        "one alert, for report {late} only (not {acked}, not {medium}): {alerts:?}\n{out}\n{err}\n{:?}",
        sink.requests()
    );
    let a = &alerts[0];
    assert_eq!(a["severity"], "critical");
    let summary = a["summary"].as_str().expect("summary");
    for needle in [
        format!("bounty report {late} \"Escrow pays twice\" (critical)"),
        "OVERDUE by 1h".to_string(),
        format!("guardian bounty ack {late}"),
    ] {
        assert!(summary.contains(&needle), "{needle} in {summary}");
    }

    // `guardian alerts --rule bounty-sla` lists it, about that report.
    let (listed, _) = guardian(dir.path(), &["alerts", "--rule", sla::RULE, "--json"]).await;
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("json");
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], a["id"]);
    assert_eq!(listed[0]["evidence"]["report"], late);

    // A restarted monitor raises nothing new.
    let (again, _) = guardian(dir.path(), &["monitor", "--once"]).await;
    assert!(!again.contains(sla::RULE), "{again}");
    assert_eq!(sla_alerts(&sink).len(), 1, "never twice");
    let db = rusqlite::Connection::open(&db_path).expect("sqlite");
    let alerted: Vec<(i64, Option<i64>)> = db
        .prepare("SELECT id, sla_alerted_at FROM bounty_reports ORDER BY id")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(
        alerted[0] == (late, alerted[0].1) && alerted[0].1.is_some(),
        "{alerted:?}"
    );
    assert_eq!(&alerted[1..], [(acked, None), (medium, None)]);
    let (listed, _) = guardian(dir.path(), &["alerts", "--rule", sla::RULE, "--json"]).await;
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(1));

    net.devnet.stop().await;
}

#[tokio::test]
async fn a_following_monitor_raises_it_at_start_and_stops_cleanly() {
    let (net, sink, dir, escrow) = setup().await;
    let db_path = dir.path().join("guardian.db");
    let high = {
        let store = Store::open(&db_path).expect("db");
        let db = rusqlite::Connection::open(&db_path).expect("sqlite");
        report(&store, &db, &escrow, Severity::High, "Yield frozen", 100)
    };
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOOK_KEY", HMAC_KEY)
        .current_dir(dir.path())
        .arg("monitor")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("guardian runs");
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while sla_alerts(&sink).is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the overdue report's alert arrives while the monitor follows the chain");
    let pid = child.id().expect("running").to_string();
    let term = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(term.success());
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("SIGTERM stops the monitor")
        .expect("output");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alerts = sla_alerts(&sink);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0]["severity"], "high",
        "a high report's alert is high"
    );
    let summary = alerts[0]["summary"].as_str().expect("summary");
    assert!(
        summary.contains(&format!("bounty report {high} \"Yield frozen\" (high)"))
            && summary.contains("OVERDUE by 4h")
            && summary.contains("(due within 96h of submission)"),
        "{summary}"
    );
    net.devnet.stop().await;
}
