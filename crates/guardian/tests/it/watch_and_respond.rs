//! The monitor's whole loop through the real binary, as an operator runs it: traffic on a
//! devnet raises alerts, every alert reaches a local webhook signed, and an outflow rule with
//! `respond = "pause-all"` pauses every contract without anyone typing a command.

use alloy::primitives::{Address, U256};
use bindings::{DocumentRegistry, PaymentEscrow};
use guardian::{config::ContractKind, roles::Role};

use crate::{
    notify::{HMAC_KEY, assert_signed},
    response::is_paused,
    send_ok,
    support::{TestNet, doc, http_sink::HttpSink, testnet},
};

/// A temp dir holding the devnet's manifest with `extra` TOML (rules, contacts) appended.
fn manifest_dir(net: &TestNet, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let manifest = dir.path().join("guardian.toml");
    net.devnet.manifest.write(&manifest, true).expect("write");
    let mut text = std::fs::read_to_string(&manifest).expect("read");
    text.push_str(extra);
    std::fs::write(&manifest, text).expect("write extra");
    dir
}

/// Runs `guardian monitor --once` without blocking the test's runtime (the local webhook server
/// runs on it and must answer while guardian delivers).
async fn monitor_once(dir: &std::path::Path, database: &[(&str, &str)]) -> (bool, String, String) {
    let mut vars = vec![("HOOK_KEY", HMAC_KEY)];
    vars.extend_from_slice(database);
    crate::support::bin::run(dir, &vars, &["monitor", "--once"]).await
}

#[tokio::test]
async fn burst_stranger_role_and_drain_reach_the_webhook_and_the_drain_pauses_everything() {
    burst_stranger_role_and_drain(&[]).await;
}

/// The same, with the records in PostgreSQL.
#[tokio::test]
async fn on_postgres_burst_stranger_role_and_drain_reach_the_webhook_and_the_drain_pauses_everything()
 {
    let url = crate::support::postgres::cluster().fresh_database();
    burst_stranger_role_and_drain(&[("GUARDIAN_DATABASE_URL", &url)]).await;
}

async fn burst_stranger_role_and_drain(database: &[(&str, &str)]) {
    let net = testnet().await;
    let sink = HttpSink::start().await;
    let dir = manifest_dir(
        &net,
        &format!(
            r#"
[[rules]]
name = "registration-burst"
kind = "rate"
contracts = ["registry"]
event = "DocumentRegistered"
window_blocks = 10
threshold = 3
severity = "warning"

[[rules]]
name = "escrow-drain"
kind = "outflow"
contracts = ["PaymentEscrow"]
window_blocks = 3
max_share = 0.2
severity = "critical"
respond = "pause-all"

[[contacts]]
name = "ops-hook"
channel = "webhook"
url = "{}/hook"
secret_env = "HOOK_KEY"
"#,
            sink.url
        ),
    );

    // The escrow holds two payments before the monitor starts watching.
    let user = net.account(6);
    let p = net.as_signer(&user);
    let registry = DocumentRegistry::new(net.addr(ContractKind::DocumentRegistry), p.clone());
    let fee = registry.registrationFee().call().await.expect("fee");
    send_ok!(
        registry
            .registerDocument(doc(1), doc(1), Address::ZERO)
            .value(fee)
    );
    let escrow = PaymentEscrow::new(net.addr(ContractKind::PaymentEscrow), p.clone());
    let five = U256::from(5_000_000_000_000_000_000u128);
    for _ in 0..2 {
        send_ok!(
            escrow
                .deposit(doc(1), Address::ZERO, five, net.account(7).address())
                .value(five)
        );
    }
    let (ok, out, err) = monitor_once(dir.path(), database).await;
    assert!(ok, "{out}\n{err}");
    assert_eq!(
        dir.path().join("guardian.db").exists(),
        database.is_empty(),
        "the records are where the database settings say"
    );

    // A burst of registrations, a role granted to a stranger, then a release of half the escrow.
    for n in 2..7 {
        send_ok!(
            registry
                .registerDocument(doc(n), doc(n), Address::ZERO)
                .value(fee)
        );
    }
    let admin = DocumentRegistry::new(
        net.addr(ContractKind::DocumentRegistry),
        net.as_signer(&net.admin),
    );
    send_ok!(admin.grantRole(Role::Pauser.id(), net.account(8).address()));
    send_ok!(escrow.release(U256::from(1)));

    let (ok, out, err) = monitor_once(dir.path(), database).await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("automatic response"), "{out}\n{err}");
    assert!(
        !err.contains("not delivered"),
        "every alert delivered: {err}"
    );

    let hooks = sink.wait_for("/hook", 3).await;
    let rules: Vec<(String, String)> = hooks
        .iter()
        .map(|r| {
            assert_signed(r);
            let a = r.json()["alert"].clone();
            (
                a["rule"].as_str().unwrap_or_default().to_string(),
                a["severity"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for (rule, severity) in [
        ("registration-burst", "warning"),
        ("privileged", "critical"),
        ("escrow-drain", "critical"),
    ] {
        assert!(
            rules.iter().any(|(r, s)| r == rule && s == severity),
            "{rule} ({severity}) not delivered: {rules:?}"
        );
    }

    for kind in [
        ContractKind::DocumentRegistry,
        ContractKind::OwnershipTokenizer,
        ContractKind::PaymentEscrow,
        ContractKind::AuditResolver,
    ] {
        assert!(
            is_paused(&net, kind).await,
            "{kind:?} paused by the response"
        );
    }
}

#[tokio::test]
async fn monitor_check_sends_each_contact_a_test_message_and_names_what_is_missing() {
    let net = testnet().await;
    let sink = HttpSink::start().await;
    let dir = manifest_dir(
        &net,
        &format!(
            r#"
[[contacts]]
name = "ops-hook"
channel = "webhook"
url = "{}/hook"
secret_env = "HOOK_KEY"

[[contacts]]
name = "chat"
channel = "slack"
webhook_url_env = "SLACK_HOOK_URL"
"#,
            sink.url
        ),
    );
    let check = || {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOOK_KEY", HMAC_KEY)
            .current_dir(dir.path())
            .args(["monitor", "--check"]);
        cmd
    };

    // SLACK_HOOK_URL is not set: the webhook still gets its test, the slack contact is named.
    let o = check().output().await.expect("runs");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(!o.status.success(), "a contact cannot be reached: {out}");
    assert!(
        out.contains("ops-hook") && out.contains("delivered"),
        "{out}"
    );
    assert!(
        out.contains("SLACK_HOOK_URL"),
        "names the missing variable: {out}"
    );
    let tests = sink.wait_for("/hook", 1).await;
    assert_signed(&tests[0]);
    assert!(
        tests[0].json().get("test").is_some(),
        "{:?}",
        tests[0].json()
    );
    assert!(!out.contains(HMAC_KEY));

    let o = check()
        .env(
            "SLACK_HOOK_URL",
            format!("{}/slack/T000/B000/XXXX", sink.url),
        )
        .output()
        .await
        .expect("runs");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{out}");
    assert_eq!(sink.requests_to("/slack").len(), 1);
    assert!(!out.contains("XXXX"), "the slack URL is a secret: {out}");
}

#[tokio::test]
async fn a_following_monitor_delivers_while_it_runs() {
    let net = testnet().await;
    let sink = HttpSink::start().await;
    let dir = manifest_dir(
        &net,
        &format!(
            "\n[[contacts]]\nname = \"ops-hook\"\nchannel = \"webhook\"\nurl = \"{}/hook\"\nsecret_env = \"HOOK_KEY\"\n",
            sink.url
        ),
    );
    let mut monitor = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOOK_KEY", HMAC_KEY)
        .current_dir(dir.path())
        // From the next block on, so the pause below is watched however fast the monitor starts.
        .args([
            "monitor",
            "--from-block",
            &(net.block_number().await + 1).to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("monitor starts");
    // The alert must arrive while the monitor is still running, not when it stops.
    let registry = DocumentRegistry::new(
        net.addr(ContractKind::DocumentRegistry),
        net.as_signer(&net.pauser),
    );
    send_ok!(registry.pause());
    let hooks = sink.wait_for("/hook", 1).await;
    assert!(
        monitor.try_wait().expect("status").is_none(),
        "delivered while the monitor runs"
    );
    assert_signed(&hooks[0]);
    monitor.kill().await.expect("stop");
}
