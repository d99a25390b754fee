//! The live feed (`/api/events`): whatever is written once a stream has said `ready` reaches it,
//! even when it is written at once (the feed's own reads are 50 ms apart).

use std::time::Duration;

use guardian::{
    alert::{NewAlert, Severity},
    bounty::tokens::Role,
};

use super::{Room, http};

impl Room {
    /// Stores a critical alert as a monitor would (any process writing the records); its id.
    pub(super) fn store_alert(&self, summary: &str, key: &str) -> i64 {
        self.store_alert_about("registry", summary, key)
    }

    /// The same about `contract`.
    pub(super) fn store_alert_about(&self, contract: &str, summary: &str, key: &str) -> i64 {
        self.store
            .store_alert(&NewAlert {
                rule: "privileged".into(),
                kind: "privileged".into(),
                severity: Severity::Critical,
                chain: "local".into(),
                chain_id: 31337,
                contract: Some(contract.into()),
                address: None,
                block_number: 7,
                block_hash: alloy::primitives::B256::repeat_byte(7),
                tx_hashes: Vec::new(),
                summary: summary.into(),
                evidence: serde_json::json!({}),
                dedup_key: key.into(),
            })
            .expect("store")
            .expect("stored")
            .id
    }
}

/// Reads `stream` until what it sent contains `wanted`; everything it sent.
async fn read_until(stream: &mut reqwest::Response, seen: &mut String, wanted: &str) {
    let wait = tokio::time::timeout(Duration::from_secs(20), async {
        while !seen.contains(wanted) {
            let chunk = stream.chunk().await.expect("read").expect("stream open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    });
    wait.await
        .unwrap_or_else(|_| panic!("{wanted:?} never came; the stream sent:\n{seen}"));
}

#[tokio::test]
async fn an_alert_written_right_after_ready_reaches_every_stream_once() {
    let room = Room::start().await;
    let token = room.token("vic", Role::Viewer);
    let open = || async {
        http()
            .get(format!("{}/api/events", room.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("events")
    };
    // The first stream is the only listener: it sets where the feed starts.
    let mut first = open().await;
    assert_eq!(first.status(), 200);
    let mut seen_first = String::new();
    read_until(&mut first, &mut seen_first, "event: ready").await;
    let one = room.store_alert("written right after ready", "feed-test:1");
    read_until(&mut first, &mut seen_first, &format!("\"id\":{one},")).await;
    // A second stream joins a feed already running.
    let mut second = open().await;
    let mut seen_second = String::new();
    read_until(&mut second, &mut seen_second, "event: ready").await;
    let two = room.store_alert("written right after the second ready", "feed-test:2");
    read_until(&mut second, &mut seen_second, &format!("\"id\":{two},")).await;
    read_until(&mut first, &mut seen_first, &format!("\"id\":{two},")).await;
    assert_eq!(
        seen_first.matches(&format!("\"id\":{one},")).count(),
        1,
        "{seen_first}"
    );
    assert!(
        !seen_second.contains(&format!("\"id\":{one},")),
        "{seen_second}"
    );
}

#[tokio::test]
async fn alerts_are_filtered_by_contract_and_time_on_the_page_and_in_the_api() {
    let room = Room::start().await;
    let token = room.token("vic", Role::Viewer);
    let registry = room.store_alert("about the registry", "filter-test:1");
    let escrow = room.store_alert_about("escrow", "about the escrow", "filter-test:2");
    let ids = |query: &'static str| {
        let (base, token) = (room.base.clone(), token.clone());
        async move {
            let list: serde_json::Value = http()
                .get(format!("{base}/api/alerts?{query}"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("alerts")
                .json()
                .await
                .expect("JSON");
            list.as_array()
                .expect("a list")
                .iter()
                .filter_map(|a| a["id"].as_i64())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids("contract=escrow").await, [escrow]);
    assert_eq!(ids("contract=registry&hours=1").await, [registry]);
    assert_eq!(
        ids("contract=&hours=").await,
        [escrow, registry],
        "empty is no filter"
    );
    assert!(ids("contract=vault").await.is_empty());
    let one: serde_json::Value = http()
        .get(format!("{}/api/alerts/{escrow}", room.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("alert")
        .json()
        .await
        .expect("JSON");
    assert_eq!(one["summary"], "about the escrow");
    let none = http()
        .get(format!("{}/api/alerts/999", room.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("alert");
    assert_eq!(none.status(), reqwest::StatusCode::NOT_FOUND);
}
