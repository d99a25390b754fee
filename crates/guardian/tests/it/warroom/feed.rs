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
        self.store
            .store_alert(&NewAlert {
                rule: "privileged".into(),
                kind: "privileged".into(),
                severity: Severity::Critical,
                chain: "local".into(),
                chain_id: 31337,
                contract: Some("registry".into()),
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
