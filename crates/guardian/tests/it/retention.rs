//! Retention (`[monitor] keep_alerts_days`, `keep_delivered_days`) on a real SQLite file and a
//! real PostgreSQL database: one pass deletes exactly the old alerts nothing holds and the old
//! delivered messages; an incident's alert, its timeline, recent rows and messages not yet
//! delivered stay.

use guardian::{
    alert::{NewAlert, Severity},
    config::MonitorConfig,
    incident::{Integrity, NewIncident},
    service::retention::{self, Pruned},
    storage::{Store, now_ms},
};

use crate::support::postgres;

const DAY: i64 = 86_400_000;

/// Stores an alert through the monitor's own path, then ages it by `age_days`.
fn alert(store: &Store, sql: &mut dyn FnMut(&str), key: &str, age_days: i64) -> i64 {
    let id = store
        .store_alert(&NewAlert {
            rule: "privileged".into(),
            kind: "privileged".into(),
            severity: Severity::Critical,
            chain: "local".into(),
            chain_id: 31337,
            contract: Some("escrow".into()),
            address: None,
            block_number: 7,
            block_hash: alloy::primitives::B256::repeat_byte(7),
            tx_hashes: Vec::new(),
            summary: format!("alert {key}"),
            evidence: serde_json::json!({}),
            dedup_key: key.into(),
        })
        .expect("store")
        .expect("stored")
        .id;
    sql(&format!(
        "UPDATE alerts SET detected_at = {} WHERE id = {id}",
        now_ms() - age_days * DAY
    ));
    id
}

/// An outbox row created `created_days` ago, delivered `delivered_days` ago (if at all), given
/// up on (if `gave_up`), naming `alert`.
fn message(
    sql: &mut dyn FnMut(&str),
    name: &str,
    alert: Option<i64>,
    created_days: i64,
    delivered_days: Option<i64>,
    gave_up: bool,
) {
    let now = now_ms();
    let created = now - created_days * DAY;
    let or_null = |v: Option<i64>| v.map_or("NULL".to_string(), |v| v.to_string());
    sql(&format!(
        "INSERT INTO outbox (delivery_id, contact, channel, topic, alert_id, message, attempts,
                             next_attempt_at, created_at, delivered_at, gave_up_at)
         VALUES ('{name}', 'ops', 'webhook', 'alert', {}, '{{}}', 1, {created}, {created}, {}, {})",
        or_null(alert),
        or_null(delivered_days.map(|d| now - d * DAY)),
        or_null(gave_up.then_some(created)),
    ));
}

fn alert_ids(store: &Store) -> Vec<i64> {
    let mut ids: Vec<i64> = store
        .alerts(&Default::default())
        .expect("alerts")
        .iter()
        .map(|a| a.id)
        .collect();
    ids.sort();
    ids
}

fn message_names(store: &Store) -> Vec<String> {
    let mut names: Vec<String> = store
        .deliveries(None)
        .expect("deliveries")
        .into_iter()
        .map(|d| d.delivery_id)
        .collect();
    names.sort();
    names
}

/// The scenario, on `store`, with `sql` running raw statements on the same database.
fn prunes_only_what_nothing_holds(store: &Store, sql: &mut dyn FnMut(&str)) {
    let old = alert(store, sql, "old", 40);
    let held = alert(store, sql, "held", 40);
    let recent = alert(store, sql, "recent", 1);
    let awaited = alert(store, sql, "awaited", 40);
    let told = alert(store, sql, "told", 40);
    let incident = store
        .open_incident(
            &NewIncident {
                level: 3,
                title: "escrow drained".into(),
                commander: None,
                contracts: vec!["escrow".into()],
                from_alert: Some(held),
                evidence: None,
            },
            &[],
            "guardian",
        )
        .expect("incident");
    let (timeline_before, _) = store.timeline(incident).expect("timeline");
    message(sql, "told-delivered-old", Some(told), 10, Some(10), false);
    message(sql, "delivered-recent", None, 1, Some(1), false);
    message(sql, "awaited-pending-old", Some(awaited), 40, None, false);
    message(sql, "gave-up-old", None, 40, None, true);

    let keep = MonitorConfig {
        keep_alerts_days: Some(30),
        keep_delivered_days: Some(7),
        ..MonitorConfig::default()
    };
    let pruned = retention::pass(store, &keep, now_ms()).expect("prune");
    assert_eq!(
        pruned,
        Pruned {
            alerts: 2,
            delivered: 1
        }
    );
    // The old alert nothing holds is gone, and so is the one whose only message just went; the
    // incident's, the recent one and the one a pending message names stay.
    assert_eq!(alert_ids(store), vec![held, recent, awaited]);
    assert!(!alert_ids(store).contains(&old) && !alert_ids(store).contains(&told));
    assert_eq!(
        message_names(store),
        vec!["awaited-pending-old", "delivered-recent", "gave-up-old"]
    );
    assert_eq!(store.incident_of_alert(held).expect("link"), Some(incident));
    let (timeline_after, integrity) = store.timeline(incident).expect("timeline");
    assert_eq!(timeline_after.len(), timeline_before.len());
    assert!(
        matches!(integrity, Integrity::Intact { .. }),
        "{integrity:?}"
    );

    // A second pass finds nothing more; keeping everything deletes nothing.
    assert_eq!(
        retention::pass(store, &keep, now_ms()).expect("again"),
        Pruned::default()
    );
    assert_eq!(
        retention::pass(store, &MonitorConfig::default(), now_ms() + 1_000 * DAY).expect("forever"),
        Pruned::default()
    );
}

#[test]
fn retention_on_sqlite() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("guardian.db");
    let store = Store::open(&path).expect("sqlite");
    let raw = rusqlite::Connection::open(&path).expect("raw");
    prunes_only_what_nothing_holds(&store, &mut |sql| {
        raw.execute_batch(sql).expect("sql");
    });
}

#[test]
fn retention_on_postgres() {
    let url = postgres::cluster().fresh_database();
    let store = Store::connect(&url).expect("postgres");
    let mut raw = ::postgres::Client::connect(&url, ::postgres::NoTls).expect("raw");
    prunes_only_what_nothing_holds(&store, &mut |sql| {
        raw.batch_execute(sql).expect("sql");
    });
}
