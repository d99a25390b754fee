//! Delivery under trouble: retries with backoff, a slow channel, a retraction kept behind its
//! alert, a refusal for good, and the outbox surviving a restart.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use guardian::{
    alert::Severity,
    notify::{self, AlertEvent, Contacts, DeliveryState, Outbox},
    storage::Store,
};

use super::{alert, assert_signed, deliver_all, env, every_channel, manifest};
use crate::support::{http_sink::HttpSink, smtp_sink::SmtpSink};

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
