//! Notifications against real local servers run by the test (an HTTP sink for webhook,
//! Discord, Slack, Telegram and PagerDuty, an SMTP sink for e-mail): what each channel receives,
//! the webhook's signature, routing by severity, retraction, retries with backoff, the outbox
//! surviving a restart, and no secret in any error or log line.

use std::{
    collections::BTreeMap,
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::primitives::{Address, B256, TxHash};
use guardian::{
    alert::{Alert, AlertStatus, NewAlert, Severity},
    config::Manifest,
    notify::{self, AlertEvent, Contacts, DeliveryState, Outbox},
    secret,
    storage::Store,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::support::{
    http_sink::{HttpSink, Request},
    smtp_sink::SmtpSink,
};

pub(crate) const HMAC_KEY: &str = "hmac-key-5e1f0a9c";
const DISCORD_TOKEN: &str = "discordtoken-aa81c3e7f2b94d10";
const SLACK_TOKEN: &str = "slacktoken-0b7de2c5a4f96e31";
const BOT_TOKEN: &str = "123456:bottoken-c94e1a7b3d";
const ROUTING_KEY: &str = "routingkey-f03b8a2d6c1e";
const SMTP_PASSWORD: &str = "smtp-pw-7d2c9e4a";
const HOOK_PATH_SECRET: &str = "hookpath-31d8b6e2a9f04c57";

/// A manifest with one chain (never contacted) and `contacts`, its variables from `vars`.
fn manifest(contacts: &str, vars: &BTreeMap<&'static str, String>) -> Manifest {
    let text = format!(
        r#"
[chains.local]
chain_id = 31337
rpc_urls = ["http://127.0.0.1:1"]
explorer_url = "https://explorer.example/"

[notify]
backoff_ms = 100
max_backoff_ms = 400
timeout_ms = 5000

{contacts}
"#
    );
    let vars = vars.clone();
    Manifest::parse_with_env(&text, Path::new("guardian.toml"), &move |name: &str| {
        vars.get(name).cloned()
    })
    .expect("valid manifest")
}

/// The variables every contact of [`every_channel`] reads.
fn env(sink: &HttpSink, smtp: &SmtpSink) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("HOOK_KEY", HMAC_KEY.to_string()),
        (
            "DISCORD_URL",
            format!("{}/discord/api/webhooks/1/{DISCORD_TOKEN}", sink.url),
        ),
        (
            "SLACK_URL",
            format!("{}/slack/services/T1/B1/{SLACK_TOKEN}", sink.url),
        ),
        ("BOT_TOKEN", BOT_TOKEN.to_string()),
        ("PD_KEY", ROUTING_KEY.to_string()),
        (
            "SMTP_URL",
            format!("smtp://guardian:{SMTP_PASSWORD}@127.0.0.1:{}", smtp.port),
        ),
        ("HOOK_URL", format!("{}/hook/{HOOK_PATH_SECRET}", sink.url)),
    ])
}

/// One contact per channel, each pointed at the sinks.
fn every_channel(sink: &HttpSink) -> String {
    format!(
        r#"
[[contacts]]
name = "ops-hook"
channel = "webhook"
url = "{0}/hook"
secret_env = "HOOK_KEY"

[[contacts]]
name = "discord"
channel = "discord"
webhook_url_env = "DISCORD_URL"

[[contacts]]
name = "slack"
channel = "slack"
webhook_url_env = "SLACK_URL"
min_severity = "warning"

[[contacts]]
name = "telegram"
channel = "telegram"
bot_token_env = "BOT_TOKEN"
chat_id = -100123
base_url = "{0}/telegram"

[[contacts]]
name = "pager"
channel = "pagerduty"
routing_key_env = "PD_KEY"
base_url = "{0}/pd"
min_severity = "high"

[[contacts]]
name = "security-team"
channel = "email"
to = ["security@integra.example", "Oncall <oncall@integra.example>"]
from = "guardian@integra.example"
smtp_url_env = "SMTP_URL"
min_severity = "warning"
"#,
        sink.url
    )
}

fn alert(id: i64, severity: Severity) -> Alert {
    Alert {
        id,
        status: AlertStatus::Open,
        detected_at: 1_764_259_200_000,
        acknowledged: None,
        found: NewAlert {
            rule: "escrow-drain".into(),
            kind: "outflow".into(),
            severity,
            chain: "local".into(),
            chain_id: 31337,
            contract: Some("escrow".into()),
            address: Some(
                "0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e0"
                    .parse::<Address>()
                    .expect("address"),
            ),
            block_number: 42,
            block_hash: B256::repeat_byte(0x42),
            tx_hashes: vec![TxHash::repeat_byte(0x7a)],
            summary: "3 ETH left escrow in 5 blocks (60% of its balance)".into(),
            evidence: serde_json::json!({"share": 0.6}),
            dedup_key: format!("escrow-drain:escrow:{id}"),
        },
    }
}

/// Checks the webhook headers and that the signature is HMAC-SHA256(key, "<ts>.<body>").
pub(crate) fn assert_signed(r: &Request) {
    let timestamp = r.header("x-guardian-timestamp").expect("timestamp header");
    let ts: u64 = timestamp.parse().expect("unix seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(
        ts <= now && now - ts < 120,
        "timestamp {ts} is this attempt's"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(HMAC_KEY.as_bytes()).expect("key");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&r.body);
    let expected = format!("sha256={}", alloy::hex::encode(mac.finalize().into_bytes()));
    assert_eq!(r.header("x-guardian-signature"), Some(expected.as_str()));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.method, "POST");
}

/// Runs passes until nothing is due or pending, or fails after 20 s.
async fn deliver_all(outbox: &Outbox, store: &Store) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        outbox.deliver_due().await;
        let pending = store
            .deliveries(None)
            .expect("deliveries")
            .into_iter()
            .filter(|d| d.state == DeliveryState::Pending)
            .count();
        if pending == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} deliveries still pending"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_channel_receives_its_alert_and_its_retraction() {
    let sink = HttpSink::start().await;
    let smtp = SmtpSink::start().await;
    let m = manifest(&every_channel(&sink), &env(&sink, &smtp));
    let contacts = Arc::new(Contacts::load(&m, &|_| None));
    // Loaded with an empty environment: every contact but the inline webhook URL is missing a
    // variable, named in its problem.
    let problem = contacts
        .get("pager")
        .and_then(|c| c.problem())
        .expect("no routing key")
        .to_string();
    assert!(
        problem.contains("PD_KEY") && problem.contains("routing_key_env"),
        "{problem}"
    );

    let vars = env(&sink, &smtp);
    let contacts = Arc::new(Contacts::load(&m, &move |n: &str| vars.get(n).cloned()));
    let store = Arc::new(Store::in_memory().expect("db"));
    let outbox = Outbox::new(store.clone(), contacts.clone()).expect("outbox");

    let critical = alert(7, Severity::Critical);
    let written =
        notify::enqueue_alert(&store, &contacts, &critical, AlertEvent::Raised).expect("enqueue");
    assert_eq!(written, 6, "a critical alert reaches every contact");
    assert_eq!(
        notify::enqueue_alert(&store, &contacts, &critical, AlertEvent::Raised).expect("again"),
        0,
        "the same alert is not enqueued twice"
    );
    let stats = outbox.deliver_due().await;
    assert_eq!((stats.attempted, stats.delivered), (6, 6), "{stats:?}");

    // The signed webhook.
    let hook = sink.wait_for("/hook", 1).await;
    assert_signed(&hook[0]);
    let delivery = hook[0].header("x-guardian-delivery").expect("delivery id");
    let recorded = store.deliveries(Some(7)).expect("deliveries");
    let ops = recorded
        .iter()
        .find(|d| d.contact == "ops-hook")
        .expect("ops-hook row");
    assert_eq!(ops.delivery_id, delivery);
    assert_eq!(ops.state, DeliveryState::Delivered);
    let body = hook[0].json();
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
    let a = &body["alert"];
    assert_eq!(a["id"], 7);
    assert_eq!(a["chain_id"], 31337);
    assert_eq!(a["block_number"], 42);
    assert_eq!(a["chain"], "local");
    assert_eq!(a["contract"], "escrow");
    assert_eq!(a["address"], "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0");
    assert_eq!(
        a["tx_hashes"],
        serde_json::json!([format!("0x{}", "7a".repeat(32))])
    );
    assert_eq!(a["block_hash"], format!("0x{}", "42".repeat(32)));
    assert_eq!(a["status"], "open");
    assert_eq!(a["severity"], "critical");
    assert_eq!(a["kind"], "outflow");
    assert_eq!(a["rule"], "escrow-drain");
    assert_eq!(a["detected_at"], "2025-11-27T16:00:00.000Z");

    // Discord and Slack: their incoming-webhook formats, the title first.
    let discord = sink.wait_for("/discord/api/webhooks/1/", 1).await[0].json();
    let content = discord["content"].as_str().expect("content");
    assert!(
        content.starts_with("**[CRITICAL] escrow-drain (alert 7)"),
        "{content}"
    );
    assert!(content.contains("suggested incident level 3"), "{content}");
    assert!(content.contains("guardian pause --all"), "{content}");
    assert!(
        content.contains(&format!(
            "https://explorer.example/tx/0x{}",
            "7a".repeat(32)
        )),
        "{content}"
    );
    assert_eq!(discord["allowed_mentions"]["parse"], serde_json::json!([]));
    let slack = sink.wait_for("/slack/services/T1/B1/", 1).await[0].json();
    let text = slack["text"].as_str().expect("text");
    assert!(text.starts_with("*[CRITICAL] escrow-drain"), "{text}");
    assert!(text.contains("guardian alerts ack 7"), "{text}");

    // Telegram: sendMessage under the bot's token, to the chat.
    let telegram = sink.wait_for("/telegram/", 1).await;
    assert_eq!(
        telegram[0].path,
        format!("/telegram/bot{BOT_TOKEN}/sendMessage")
    );
    let t = telegram[0].json();
    assert_eq!(t["chat_id"], "-100123");
    assert!(
        t["text"].as_str().expect("text").starts_with("[CRITICAL]"),
        "{t}"
    );

    // PagerDuty: a trigger under the alert's dedup key.
    let pd = sink.wait_for("/pd/", 1).await;
    assert_eq!(pd[0].path, "/pd/v2/enqueue");
    let trigger = pd[0].json();
    assert_eq!(trigger["routing_key"], ROUTING_KEY);
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["source"], "local/escrow");
    assert!(
        trigger["payload"]["summary"]
            .as_str()
            .expect("summary")
            .contains("3 ETH left escrow"),
        "{trigger}"
    );
    let dedup = trigger["dedup_key"]
        .as_str()
        .expect("dedup key")
        .to_string();

    // E-mail: to both recipients, logged in with the URL's credentials.
    let mail = smtp.wait_for(1).await.remove(0);
    assert_eq!(mail.from, "guardian@integra.example");
    assert_eq!(
        mail.to,
        ["security@integra.example", "oncall@integra.example"]
    );
    assert_eq!(
        mail.auth.as_deref(),
        Some(&*format!("guardian\0{SMTP_PASSWORD}"))
    );
    assert!(
        mail.data
            .contains("Subject: [CRITICAL] escrow-drain (alert 7)"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("guardian pause --all"), "{}", mail.data);

    // The retraction reaches the same six contacts; PagerDuty resolves.
    let written = notify::enqueue_alert(&store, &contacts, &critical, AlertEvent::Retracted)
        .expect("retract");
    assert_eq!(written, 6);
    deliver_all(&outbox, &store).await;
    let pd = sink.wait_for("/pd/", 2).await;
    let resolve = pd[1].json();
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], dedup);
    assert_eq!(resolve["routing_key"], ROUTING_KEY);
    let hook = sink.wait_for("/hook", 2).await;
    assert_signed(&hook[1]);
    assert_eq!(hook[1].json()["alert"]["status"], "retracted");
    assert_ne!(
        hook[1].header("x-guardian-delivery"),
        hook[0].header("x-guardian-delivery"),
        "a new message, a new delivery id"
    );
    let mails = smtp.wait_for(2).await;
    assert!(mails[1].data.contains("[RETRACTED]"), "{}", mails[1].data);
    assert!(
        sink.wait_for("/telegram/", 2).await[1].json()["text"]
            .as_str()
            .expect("text")
            .starts_with("[RETRACTED]")
    );
}

#[tokio::test]
async fn alerts_are_routed_by_min_severity_and_audience() {
    let sink = HttpSink::start().await;
    let smtp = SmtpSink::start().await;
    let extra = r#"
[[contacts]]
name = "press"
channel = "discord"
webhook_url_env = "DISCORD_URL"
audiences = ["public"]
"#;
    let m = manifest(
        &format!("{}{extra}", every_channel(&sink)),
        &env(&sink, &smtp),
    );
    let vars = env(&sink, &smtp);
    let contacts = Contacts::load(&m, &move |n: &str| vars.get(n).cloned());
    let store = Store::in_memory().expect("db");
    let routed = |id: i64, severity: Severity| {
        notify::enqueue_alert(&store, &contacts, &alert(id, severity), AlertEvent::Raised)
            .expect("enqueue");
        let mut names: Vec<String> = store
            .deliveries(Some(id))
            .expect("deliveries")
            .into_iter()
            .map(|d| d.contact)
            .collect();
        names.sort();
        names
    };
    // min_severity: info (default) for ops-hook, discord, telegram; warning for slack and
    // e-mail; high for the pager. "press" is not in the team audience.
    assert_eq!(
        routed(1, Severity::Info),
        ["discord", "ops-hook", "telegram"]
    );
    assert_eq!(
        routed(2, Severity::Warning),
        ["discord", "ops-hook", "security-team", "slack", "telegram"]
    );
    assert_eq!(
        routed(3, Severity::High),
        [
            "discord",
            "ops-hook",
            "pager",
            "security-team",
            "slack",
            "telegram"
        ]
    );
    // A retraction goes to whoever was told, not to a re-routed list.
    let n = notify::enqueue_alert(
        &store,
        &contacts,
        &alert(1, Severity::Info),
        AlertEvent::Retracted,
    )
    .expect("retract");
    assert_eq!(n, 3);
}

#[tokio::test]
async fn a_failing_webhook_is_retried_with_backoff_and_the_others_are_unaffected() {
    let sink = HttpSink::start().await;
    let smtp = SmtpSink::start().await;
    sink.fail_next("/hook", &[500, 500]);
    let m = manifest(&every_channel(&sink), &env(&sink, &smtp));
    let vars = env(&sink, &smtp);
    let contacts = Arc::new(Contacts::load(&m, &move |n: &str| vars.get(n).cloned()));
    let store = Arc::new(Store::in_memory().expect("db"));
    let outbox = Outbox::new(store.clone(), contacts.clone())
        .expect("outbox")
        .with_poll_interval(Duration::from_millis(20));
    notify::enqueue_alert(
        &store,
        &contacts,
        &alert(9, Severity::Critical),
        AlertEvent::Raised,
    )
    .expect("enqueue");

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(outbox.clone().run(async {
        let _ = stopped.await;
    }));
    let hook = sink.wait_for("/hook", 3).await;
    deliver_all(&outbox, &store).await;
    let _ = stop.send(());
    running.await.expect("outbox loop ends");

    let hook_statuses: Vec<u16> = sink.requests_to("/hook").iter().map(|r| r.status).collect();
    assert_eq!(
        hook_statuses,
        [500, 500, 200],
        "delivered once, after two failures"
    );
    let ids: Vec<_> = hook
        .iter()
        .map(|r| r.header("x-guardian-delivery"))
        .collect();
    assert!(
        ids[0].is_some() && ids.iter().all(|i| *i == ids[0]),
        "{ids:?}"
    );
    for r in &hook {
        assert_signed(r);
    }
    // Backoff: at least half of 100 ms, then of 200 ms, between attempts.
    assert!(hook[1].at - hook[0].at >= Duration::from_millis(50));
    assert!(hook[2].at - hook[1].at >= Duration::from_millis(100));

    let rows = store.deliveries(Some(9)).expect("deliveries");
    for d in &rows {
        assert_eq!(d.state, DeliveryState::Delivered, "{d:?}");
        if d.contact == "ops-hook" {
            assert_eq!(d.attempts, 3);
            assert!(
                d.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("HTTP 500")),
                "{d:?}"
            );
        } else {
            assert_eq!(d.attempts, 1, "{} was not held back: {d:?}", d.contact);
        }
    }
    // The other channels were served before the webhook's retries were over.
    for prefix in ["/discord/", "/slack/", "/telegram/", "/pd/"] {
        let first = &sink.requests_to(prefix)[0];
        assert!(
            first.at < hook[2].at,
            "{prefix} waited for the failing webhook"
        );
    }
    assert_eq!(smtp.mails().len(), 1);
}

#[tokio::test]
async fn a_slow_channel_holds_back_neither_the_others_nor_the_next_messages() {
    let sink = HttpSink::start().await;
    let smtp = SmtpSink::start().await;
    sink.slow("/discord/", Duration::from_millis(2500));
    let m = manifest(&every_channel(&sink), &env(&sink, &smtp));
    let vars = env(&sink, &smtp);
    let contacts = Arc::new(Contacts::load(&m, &move |n: &str| vars.get(n).cloned()));
    let store = Arc::new(Store::in_memory().expect("db"));
    let outbox = Outbox::new(store.clone(), contacts.clone())
        .expect("outbox")
        .with_poll_interval(Duration::from_millis(20));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(outbox.clone().run(async {
        let _ = stopped.await;
    }));
    let discord_pending = |id: i64| {
        store
            .deliveries(Some(id))
            .expect("rows")
            .iter()
            .any(|d| d.contact == "discord" && d.state == DeliveryState::Pending)
    };

    notify::enqueue_alert(
        &store,
        &contacts,
        &alert(1, Severity::Info),
        AlertEvent::Raised,
    )
    .expect("enqueue");
    outbox.wake();
    sink.wait_for("/hook", 1).await;
    sink.wait_for("/discord/", 1).await;
    // While Discord still sits on the first message, a second alert goes out to the webhook.
    notify::enqueue_alert(
        &store,
        &contacts,
        &alert(2, Severity::Info),
        AlertEvent::Raised,
    )
    .expect("enqueue");
    outbox.wake();
    sink.wait_for("/hook", 2).await;
    assert!(
        discord_pending(1),
        "Discord has not answered the first message yet"
    );

    deliver_all(&outbox, &store).await;
    let _ = stop.send(());
    running.await.expect("outbox loop ends");
    assert_eq!(sink.requests_to("/discord/").len(), 2, "each sent once");
}

#[tokio::test]
async fn a_retraction_never_overtakes_its_alert() {
    let sink = HttpSink::start().await;
    let smtp = SmtpSink::start().await;
    sink.fail_next("/pd/", &[503]);
    let text = format!(
        r#"
[[contacts]]
name = "pager"
channel = "pagerduty"
routing_key_env = "PD_KEY"
base_url = "{}/pd"
"#,
        sink.url
    );
    let vars = env(&sink, &smtp);
    let m = manifest(&text, &vars);
    let contacts = Arc::new(Contacts::load(&m, &move |n: &str| vars.get(n).cloned()));
    let store = Arc::new(Store::in_memory().expect("db"));
    let outbox = Outbox::new(store.clone(), contacts.clone()).expect("outbox");
    let a = alert(4, Severity::Critical);
    notify::enqueue_alert(&store, &contacts, &a, AlertEvent::Raised).expect("raise");
    assert_eq!(
        outbox.deliver_due().await.retrying,
        1,
        "the trigger failed once"
    );
    // Retracted while the trigger waits for its retry: the resolve is due at once, but must
    // not reach PagerDuty first (it would resolve nothing, and the trigger would stay open).
    notify::enqueue_alert(&store, &contacts, &a, AlertEvent::Retracted).expect("retract");
    deliver_all(&outbox, &store).await;
    let sent: Vec<(String, u16)> = sink
        .requests_to("/pd/")
        .iter()
        .map(|r| {
            let action = r.json()["event_action"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (action, r.status)
        })
        .collect();
    assert_eq!(
        sent,
        [
            ("trigger".to_string(), 503),
            ("trigger".to_string(), 200),
            ("resolve".to_string(), 200)
        ]
    );
}

#[tokio::test]
async fn a_refusal_for_good_is_not_retried_and_max_attempts_is_respected() {
    let sink = HttpSink::start().await;
    sink.fail_next("/hook", &[404]);
    sink.fail_next("/discord/", &[503, 503, 503, 503]);
    let text = format!(
        r#"
[[contacts]]
name = "ops-hook"
channel = "webhook"
url = "{0}/hook"
secret_env = "HOOK_KEY"

[[contacts]]
name = "discord"
channel = "discord"
webhook_url_env = "DISCORD_URL"
"#,
        sink.url
    );
    let smtp = SmtpSink::start().await;
    let vars = env(&sink, &smtp);
    let mut m = manifest(&text, &vars);
    m.notify.max_attempts = 3;
    let contacts = Arc::new(Contacts::load(&m, &move |n: &str| vars.get(n).cloned()));
    let store = Arc::new(Store::in_memory().expect("db"));
    let outbox = Outbox::new(store.clone(), contacts.clone()).expect("outbox");
    notify::enqueue_alert(
        &store,
        &contacts,
        &alert(3, Severity::High),
        AlertEvent::Raised,
    )
    .expect("enqueue");
    deliver_all(&outbox, &store).await;
    let rows: BTreeMap<String, _> = store
        .deliveries(Some(3))
        .expect("rows")
        .into_iter()
        .map(|d| (d.contact.clone(), d))
        .collect();
    assert_eq!(rows["ops-hook"].state, DeliveryState::GaveUp);
    assert_eq!(rows["ops-hook"].attempts, 1, "404 is not retried");
    assert_eq!(rows["discord"].state, DeliveryState::GaveUp);
    assert_eq!(rows["discord"].attempts, 3, "max_attempts");
    assert_eq!(sink.requests_to("/discord/").len(), 3);
}

#[tokio::test]
async fn the_outbox_survives_a_restart() {
    let sink = HttpSink::start().await;
    let smtp = SmtpSink::start().await;
    sink.fail_next("/hook", &[503]);
    let text = format!(
        r#"
[[contacts]]
name = "ops-hook"
channel = "webhook"
url = "{0}/hook"
secret_env = "HOOK_KEY"
"#,
        sink.url
    );
    let vars = env(&sink, &smtp);
    let m = manifest(&text, &vars);
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("guardian.db");
    let load = || {
        let vars = vars.clone();
        Arc::new(Contacts::load(&m, &move |n: &str| vars.get(n).cloned()))
    };
    {
        // The first process writes two alerts' messages, tries one once (it fails) and stops.
        let store = Arc::new(Store::open(&path).expect("db"));
        let contacts = load();
        for id in [1, 2] {
            notify::enqueue_alert(
                &store,
                &contacts,
                &alert(id, Severity::Warning),
                AlertEvent::Raised,
            )
            .expect("enqueue");
        }
        let outbox = Outbox::new(store.clone(), contacts).expect("outbox");
        let stats = outbox.deliver_due().await;
        assert_eq!(stats.attempted, 2);
        assert_eq!(stats.delivered + stats.retrying, 2);
        assert_eq!(stats.retrying, 1, "{stats:?}");
    }
    // A new process delivers what is left, with the same delivery id.
    let store = Arc::new(Store::open(&path).expect("reopen"));
    let outbox = Outbox::new(store.clone(), load()).expect("outbox");
    deliver_all(&outbox, &store).await;
    let requests = sink.requests_to("/hook");
    assert_eq!(requests.len(), 3, "two deliveries, one of them retried");
    let failed = requests
        .iter()
        .find(|r| r.status == 503)
        .expect("the failure");
    let retried: Vec<_> = requests
        .iter()
        .filter(|r| r.header("x-guardian-delivery") == failed.header("x-guardian-delivery"))
        .map(|r| r.status)
        .collect();
    assert_eq!(retried, [503, 200]);
    let rows = store.deliveries(None).expect("rows");
    assert!(
        rows.iter().all(|d| d.state == DeliveryState::Delivered),
        "{rows:?}"
    );
}

/// A `tracing` writer into a buffer, redacted as the real log writer redacts.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_secret_of_a_contact_reaches_an_error_or_a_log_line() {
    let sink = HttpSink::start().await;
    sink.echo_path_in_errors();
    for prefix in ["/hook", "/discord/", "/slack/", "/telegram/", "/pd/"] {
        sink.fail_next(prefix, &[500]);
    }
    let smtp = SmtpSink::start().await;
    smtp.refuse_logins();
    let text = every_channel(&sink).replace(
        &format!("url = \"{}/hook\"", sink.url),
        "url_env = \"HOOK_URL\"",
    );
    let vars = env(&sink, &smtp);
    let m = manifest(&text, &vars);
    let contacts = Arc::new(Contacts::load(&m, &move |n: &str| vars.get(n).cloned()));
    let store = Arc::new(Store::in_memory().expect("db"));
    let outbox = Outbox::new(store.clone(), contacts.clone()).expect("outbox");

    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    notify::enqueue_alert(
        &store,
        &contacts,
        &alert(5, Severity::Critical),
        AlertEvent::Raised,
    )
    .expect("enqueue");
    let stats = outbox.deliver_due().await;
    assert_eq!(stats.retrying, 6, "{stats:?}");
    // Each endpoint quoted its secret back: redacted, not absent.
    let echoed = stats
        .failures
        .iter()
        .find(|f| f.contact == "telegram")
        .expect("telegram failed");
    assert!(echoed.error.contains("[redacted]"), "{}", echoed.error);

    let mut texts: Vec<String> = stats.failures.iter().map(|f| f.error.clone()).collect();
    texts.extend(
        store
            .deliveries(None)
            .expect("rows")
            .into_iter()
            .filter_map(|d| d.last_error),
    );
    // A contact whose variable is missing names the variable, never a value.
    let missing = Contacts::load(&m, &|_| None);
    let problem = notify::send_test(missing.get("security-team").expect("contact"))
        .await
        .expect_err("no SMTP URL")
        .to_string();
    assert!(problem.contains("SMTP_URL"), "{problem}");
    texts.push(problem);
    texts
        .push(secret::redact(&String::from_utf8_lossy(&logs.0.lock().expect("lock"))).into_owned());
    let all = texts.join("\n");
    assert!(
        all.contains("notification failed"),
        "the failures were logged: {all}"
    );
    for s in [
        HMAC_KEY,
        DISCORD_TOKEN,
        SLACK_TOKEN,
        BOT_TOKEN,
        ROUTING_KEY,
        SMTP_PASSWORD,
        HOOK_PATH_SECRET,
    ] {
        assert!(!all.contains(s), "{s} appears in:\n{all}");
    }
}

#[tokio::test]
async fn a_test_message_reaches_each_contact_directly() {
    let sink = HttpSink::start().await;
    let smtp = SmtpSink::start().await;
    let vars = env(&sink, &smtp);
    let m = manifest(&every_channel(&sink), &vars);
    let contacts = Contacts::load(&m, &move |n: &str| vars.get(n).cloned());
    for c in contacts.iter() {
        notify::send_test(c).await.expect("test message sent");
    }
    let hook = sink.wait_for("/hook", 1).await;
    assert_signed(&hook[0]);
    assert_eq!(hook[0].json()["test"]["contact"], "ops-hook");
    assert!(hook[0].json().get("alert").is_none());
    assert_eq!(
        sink.wait_for("/pd/", 1).await[0].json()["payload"]["severity"],
        "info"
    );
    assert!(smtp.wait_for(1).await[0].data.contains("[TEST]"));
}

#[tokio::test]
async fn monitor_check_through_the_binary_shows_no_contact_secret_at_trace_level() {
    let net = crate::support::testnet().await;
    let sink = HttpSink::start().await;
    sink.echo_path_in_errors();
    for prefix in ["/hook", "/discord/", "/slack/", "/telegram/", "/pd/"] {
        sink.fail_next(prefix, &[500]);
    }
    let smtp = SmtpSink::start().await;
    smtp.refuse_logins();
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("guardian.toml");
    net.devnet.manifest.write(&path, true).expect("write");
    let contacts = every_channel(&sink).replace(
        &format!("url = \"{}/hook\"", sink.url),
        "url_env = \"HOOK_URL\"",
    );
    let mut text = std::fs::read_to_string(&path).expect("read");
    text.push_str(&contacts);
    std::fs::write(&path, text).expect("write contacts");

    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "trace")
        .envs(env(&sink, &smtp))
        .current_dir(dir.path())
        .args(["-vv", "monitor", "--check"])
        .output()
        .await
        .expect("guardian runs");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!o.status.success(), "every contact fails: {all}");
    assert!(all.contains("FAILED"), "{all}");
    // The endpoints quoted their secret paths back: redacted, not absent.
    assert!(all.contains("[redacted]"), "{all}");
    for s in [
        HMAC_KEY,
        DISCORD_TOKEN,
        SLACK_TOKEN,
        BOT_TOKEN,
        ROUTING_KEY,
        SMTP_PASSWORD,
        HOOK_PATH_SECRET,
    ] {
        assert!(!all.contains(s), "{s} appears in the output");
    }
}
