//! Several `guardian monitor` instances on one PostgreSQL database, through the real binary:
//! one holds the chain and the others wait; a holder frozen by the OS past its lease is replaced
//! and, woken, writes nothing more; a holder killed with SIGKILL is replaced from the stored
//! cursor. Asserted by count and order, never by timing: every alert raised once, each alert's
//! webhook deliveries under one delivery id, one pause, no block skipped.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    time::{Duration, Instant},
};

use alloy::primitives::{Address, U256};
use bindings::{DocumentRegistry, PaymentEscrow};
use guardian::{
    alert::{Alert, Severity},
    config::ContractKind,
    roles::Role,
    storage::{AlertFilter, Lease, Store},
};

use crate::{
    notify::HMAC_KEY,
    response::is_paused,
    send_ok,
    support::{TestNet, doc, http_sink::HttpSink, postgres, testnet},
};

/// The devnet's manifest with the records in `database`, `[ha]`, a drain rule that pauses
/// everything, and a webhook.
fn manifest_dir(net: &TestNet, port: u16, database: &str, sink: &HttpSink) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let manifest = dir.path().join("guardian.toml");
    net.devnet.manifest.write(&manifest, true).expect("write");
    let mut text = std::fs::read_to_string(&manifest).expect("read");
    text.push_str(&format!(
        r#"
[storage]
url = "postgres://guardian:${{PG_PASSWORD}}@127.0.0.1:{port}/{database}"

[ha]
lease_ms = 2000

[monitor]
poll_interval_ms = 100

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
url = "{url}/hook"
secret_env = "HOOK_KEY"
"#,
        url = sink.url,
    ));
    std::fs::write(&manifest, text).expect("write extra");
    dir
}

/// A running `guardian monitor`, killed when dropped; its output goes to a file in `dir`.
struct Instance {
    child: tokio::process::Child,
    log: std::path::PathBuf,
}

impl Instance {
    fn start(dir: &Path, n: usize) -> Self {
        let log = dir.join(format!("instance-{n}.log"));
        let out = std::fs::File::create(&log).expect("log");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOOK_KEY", HMAC_KEY)
            .env("PG_PASSWORD", postgres::PASSWORD)
            .env("RUST_LOG", "guardian=info")
            .current_dir(dir)
            .args(["monitor"])
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .expect("guardian monitor");
        Instance { child, log }
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    fn signal(&self, name: &str) {
        let ok = std::process::Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{name}");
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Polls `f` every 100 ms until it gives a value; panics with `what` after `limit`.
async fn until<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The live lease of the test chain.
fn holder(store: &Store) -> Option<Lease> {
    let (leases, now) = store.leases().expect("leases");
    leases.into_iter().find(|l| l.expires_at > now)
}

fn which(instances: &[Instance], lease: &Lease) -> usize {
    instances
        .iter()
        .position(|i| lease.holder.ends_with(&format!(":{}", i.pid())))
        .unwrap_or_else(|| panic!("holder {} is none of ours", lease.holder))
}

fn alerts(store: &Store) -> Vec<Alert> {
    store.alerts(&AlertFilter::default()).expect("alerts")
}

/// The critical `privileged` alerts: one per stranger granted a role.
fn strangers(store: &Store) -> Vec<String> {
    alerts(store)
        .into_iter()
        .filter(|a| a.found.rule == "privileged" && a.found.severity == Severity::Critical)
        .map(|a| a.found.summary)
        .collect()
}

async fn grant_pauser(net: &TestNet, to: Address) {
    let admin = DocumentRegistry::new(
        net.addr(ContractKind::DocumentRegistry),
        net.as_signer(&net.admin),
    );
    send_ok!(admin.grantRole(Role::Pauser.id(), to));
}

/// The escrow holding two payments of 5 ETH (the first is released to drain it).
async fn escrow_with_two_payments(
    net: &TestNet,
) -> PaymentEscrow::PaymentEscrowInstance<impl alloy::providers::Provider + Clone> {
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
    escrow
}

/// Waits until every pausable contract of the suite is paused.
async fn all_paused(net: &TestNet, wait: Duration) {
    for kind in [
        ContractKind::DocumentRegistry,
        ContractKind::OwnershipTokenizer,
        ContractKind::PaymentEscrow,
        ContractKind::AuditResolver,
    ] {
        let deadline = Instant::now() + wait;
        while !is_paused(net, kind).await {
            assert!(Instant::now() < deadline, "{kind:?} was never paused");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Each alert's webhook deliveries, by alert id: the delivery ids seen.
fn deliveries(sink: &HttpSink) -> BTreeMap<i64, BTreeSet<String>> {
    let mut ids: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for r in sink.requests_to("/hook") {
        if let Some(alert) = r.json()["alert"]["id"].as_i64() {
            ids.entry(alert).or_default().insert(
                r.header("x-guardian-delivery")
                    .unwrap_or_default()
                    .to_string(),
            );
        }
    }
    ids
}

/// Waits until each of `alerts` reached the webhook, and checks every delivery of one alert
/// carries one delivery id; each alert's delivery ids.
async fn every_one_delivered(
    sink: &HttpSink,
    alerts: &[i64],
    wait: Duration,
) -> BTreeMap<i64, BTreeSet<String>> {
    let ids = until("every critical alert delivered", wait, || {
        let ids = deliveries(sink);
        alerts.iter().all(|id| ids.contains_key(id)).then_some(ids)
    })
    .await;
    for (alert, deliveries) in &ids {
        assert_eq!(deliveries.len(), 1, "alert {alert}: {deliveries:?}");
    }
    ids
}

#[tokio::test]
async fn a_frozen_holder_and_a_killed_holder_are_replaced_without_a_gap_a_duplicate_or_a_second_pause()
 {
    let net = testnet().await;
    let sink = HttpSink::start().await;
    let url = postgres::cluster().fresh_database();
    let database = url.rsplit('/').next().expect("name").to_string();
    let dir = manifest_dir(&net, postgres::cluster().port, &database, &sink);
    let store = Store::connect(&url).expect("connect");
    let wait = Duration::from_secs(60);

    let escrow = escrow_with_two_payments(&net).await;

    let instances = vec![
        Instance::start(dir.path(), 0),
        Instance::start(dir.path(), 1),
    ];
    let first = until("a holder", wait, || holder(&store)).await;
    assert_eq!(first.epoch, 1, "{first:?}");
    // The first holder starts at the head: what is mined from now on is followed.
    until("the first block followed", wait, || {
        store.cursor(31337).expect("cursor")
    })
    .await;
    let first = holder(&store).expect("still held");
    let frozen = which(&instances, &first);

    // Strangers granted a role, one block each: each raises one critical alert.
    let stranger = |n: u64| Address::with_last_byte(0x40 + n as u8);
    for n in 0..3 {
        grant_pauser(&net, stranger(n)).await;
    }
    until("3 stranger alerts", wait, || {
        (strangers(&store).len() == 3).then_some(())
    })
    .await;

    // The holder is frozen by the OS past its lease: the other takes the chain; the blocks
    // mined meanwhile are followed from the stored cursor.
    instances[frozen].signal("STOP");
    for n in 3..5 {
        grant_pauser(&net, stranger(n)).await;
    }
    let second = until("a takeover", wait, || {
        holder(&store).filter(|l| l.epoch > first.epoch)
    })
    .await;
    assert_ne!(which(&instances, &second), frozen, "{second:?}");
    until("5 stranger alerts", wait, || {
        (strangers(&store).len() == 5).then_some(())
    })
    .await;

    // Woken, the old holder finds its lease gone and writes nothing more.
    instances[frozen].signal("CONT");
    until("the woken holder to stand down", wait, || {
        let out = instances[frozen].output();
        (out.contains("no renewal for a whole lease")
            || out.contains("lease was lost")
            || out.contains("stopping this term")
            || out.contains("another instance holds the chain now"))
        .then_some(())
    })
    .await;
    for n in 5..7 {
        grant_pauser(&net, stranger(n)).await;
    }
    until("7 stranger alerts", wait, || {
        (strangers(&store).len() == 7).then_some(())
    })
    .await;
    assert_eq!(
        holder(&store).map(|l| l.epoch),
        Some(second.epoch),
        "the woken holder did not take the chain back"
    );

    // The new holder is killed outright; the woken one takes over from the cursor, sees the
    // drain and pauses everything.
    let killed = which(&instances, &second);
    instances[killed].signal("KILL");
    for n in 7..9 {
        grant_pauser(&net, stranger(n)).await;
    }
    send_ok!(escrow.release(U256::from(1)));
    let third = until("a second takeover", wait, || {
        holder(&store).filter(|l| l.epoch > second.epoch)
    })
    .await;
    assert_ne!(which(&instances, &third), killed);
    all_paused(&net, wait).await;
    until("9 stranger alerts", wait, || {
        (strangers(&store).len() == 9).then_some(())
    })
    .await;

    // Every stranger raised exactly one alert: no block skipped, none processed twice.
    let raised = strangers(&store);
    let unique: BTreeSet<&String> = raised.iter().collect();
    assert_eq!((raised.len(), unique.len()), (9, 9), "{raised:#?}");
    let all = alerts(&store);
    let keys: BTreeSet<&str> = all.iter().map(|a| a.found.dedup_key.as_str()).collect();
    assert_eq!(keys.len(), all.len(), "every alert once");
    // Each takeover (two, or more if a holder too slow to renew lost the chain) is told as a
    // monitor-health alert.
    let takeovers = all
        .iter()
        .filter(|a| a.found.rule == "monitor-health" && a.found.summary.contains("took over"))
        .count();
    assert_eq!(takeovers as i64, third.epoch - 1, "one per new epoch");
    // One pause: the drain's response, once.
    let pauses: Vec<_> = store
        .actions()
        .expect("actions")
        .into_iter()
        .filter(|a| a.kind.starts_with("pause"))
        .collect();
    assert_eq!(pauses.len(), 1, "{pauses:#?}");

    // Each alert reached the webhook, and every delivery of one alert carries one id.
    let critical: Vec<i64> = all
        .iter()
        .filter(|a| a.found.severity == Severity::Critical)
        .map(|a| a.id)
        .collect();
    every_one_delivered(&sink, &critical, wait).await;
    // `status` names the chain's holder and epoch.
    let (_, out, err) = crate::support::bin::run(
        dir.path(),
        &[("PG_PASSWORD", postgres::PASSWORD)],
        &["status", "--json"],
    )
    .await;
    let status: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let now = holder(&store).expect("held");
    assert_eq!(status["monitors"][0]["chain"], "local", "{status}");
    assert_eq!(
        status["monitors"][0]["holder"],
        now.holder.as_str(),
        "{status}"
    );
    assert_eq!(status["monitors"][0]["epoch"], now.epoch, "{status}");

    if std::env::var_os("HA_TEST_LOGS").is_some() {
        for (n, i) in instances.iter().enumerate() {
            eprintln!("--- instance {n}\n{}", i.output());
        }
    }
    drop(instances);
}

#[tokio::test]
async fn ha_on_sqlite_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("guardian.toml"),
        "[ha]\n\n[chains.local]\nchain_id = 31337\nrpc_urls = [\"http://127.0.0.1:1\"]\n",
    )
    .expect("manifest");
    let (ok, _, err) = crate::support::bin::run(dir.path(), &[], &["monitor"]).await;
    assert!(!ok);
    assert!(
        err.contains("[ha] needs the records in PostgreSQL") && err.contains("[storage] url"),
        "{err}"
    );
}

#[tokio::test]
async fn with_the_database_stopped_the_instances_keep_watching_pause_the_drain_and_write_it_all_in_when_it_is_back()
 {
    let net = testnet().await;
    let sink = HttpSink::start().await;
    // A server of this test's own: it is stopped mid-stream.
    let server = postgres::own();
    let url = server.fresh_database();
    let database = url.rsplit('/').next().expect("name").to_string();
    let dir = manifest_dir(&net, server.port, &database, &sink);
    let store = Store::connect(&url).expect("connect");
    let wait = Duration::from_secs(60);
    let escrow = escrow_with_two_payments(&net).await;

    let instances = vec![
        Instance::start(dir.path(), 0),
        Instance::start(dir.path(), 1),
    ];
    until("a holder", wait, || holder(&store)).await;
    until("the first block followed", wait, || {
        store.cursor(31337).expect("cursor")
    })
    .await;
    let stranger = |n: u64| Address::with_last_byte(0x40 + n as u8);
    grant_pauser(&net, stranger(0)).await;
    until("the first stranger alert", wait, || {
        (strangers(&store).len() == 1).then_some(())
    })
    .await;
    assert!(!is_paused(&net, ContractKind::PaymentEscrow).await);

    // The database stops: a stranger and a drain while nothing can be written there. Every
    // contract is paused all the same.
    server.stop().expect("stop the server");
    grant_pauser(&net, stranger(1)).await;
    send_ok!(escrow.release(U256::from(1)));
    all_paused(&net, wait).await;
    // Every instance follows on its local file (the holder once its next renewal fails).
    for i in &instances {
        until("each instance to follow on its local file", wait, || {
            i.output()
                .contains("the database is unreachable")
                .then_some(())
        })
        .await;
    }
    // Nobody was told yet: the messages go out from the database.
    let before = deliveries(&sink).len();

    // Back: what the instances kept is written in, each alert once, and told once.
    server.restart().expect("restart the server");
    until("both stranger alerts in the database", wait, || {
        store
            .alerts(&AlertFilter::default())
            .ok()
            .filter(|_| strangers(&store).len() == 2)
    })
    .await;
    let drain = until("the drain's alert in the database", wait, || {
        alerts(&store)
            .into_iter()
            .find(|a| a.found.rule == "escrow-drain")
    })
    .await;
    let all = alerts(&store);
    let keys: BTreeSet<&str> = all.iter().map(|a| a.found.dedup_key.as_str()).collect();
    assert_eq!(keys.len(), all.len(), "every alert once: {all:#?}");
    let critical: Vec<i64> = all
        .iter()
        .filter(|a| a.found.severity == Severity::Critical)
        .map(|a| a.id)
        .collect();
    assert!(critical.contains(&drain.id));
    let ids = every_one_delivered(&sink, &critical, wait).await;
    assert!(ids.len() > before, "told after the database was back");
    // The pause sent while the database was down is in its journal, with its transactions,
    // mined (the response run from the database once it was back found everything paused and
    // sent nothing).
    until("the offline pause journalled, mined", wait, || {
        let pauses = store.actions().ok()?;
        pauses
            .iter()
            .filter(|a| a.kind.starts_with("pause"))
            .any(|a| {
                store.transactions(a.id).is_ok_and(|txs| {
                    txs.iter()
                        .any(|t| t.status == guardian::storage::Status::Mined)
                })
            })
            .then_some(())
    })
    .await;
    if std::env::var_os("HA_TEST_LOGS").is_some() {
        for (n, i) in instances.iter().enumerate() {
            eprintln!("--- instance {n}\n{}", i.output());
        }
    }
    drop(instances);
}
