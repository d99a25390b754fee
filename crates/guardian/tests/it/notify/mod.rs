//! Notifications against real local servers run by the test (an HTTP sink for webhook,
//! Discord, Slack, Telegram and PagerDuty, an SMTP sink for e-mail): what each channel receives,
//! the webhook's signature, routing by severity, retraction, retries with backoff, the outbox
//! surviving a restart, and no secret in any error or log line.

mod retries;
mod secrets;

use std::{
    collections::BTreeMap,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::primitives::{Address, B256, TxHash};
use guardian::{
    alert::{Alert, AlertStatus, NewAlert, Severity},
    config::Manifest,
    notify::{self, AlertEvent, Contacts, DeliveryState, Outbox},
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
