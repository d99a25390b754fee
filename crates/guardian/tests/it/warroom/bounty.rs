//! The bounty queue in the war room: a viewer reads the queue with each report's
//! acknowledgement clock (an overdue one marked), a triager opens a report and takes a decision
//! from its form (with the page's CSRF value, under their name), and only an admin is offered
//! the payment.

use guardian::bounty::tokens::Role;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use super::{Room, form, get, http, post_form, sign_in};

/// Submits a critical report titled `title` through the public desk.
async fn submit(room: &Room, title: &str) {
    let r = http()
        .post(format!("{}/bounty/reports", room.base))
        .json(&json!({
            "title": title,
            "severity": "critical",
            "impact": "direct-theft-of-funds",
            "contracts": ["escrow"],
            "description": format!("{title}: releasePayment can be re-entered."),
            "proof_of_concept": "forge test --match-test testReenter",
            "contact": "researcher@example.org",
        }))
        .send()
        .await
        .expect("submit");
    let status = r.status();
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

/// Moves report `id`'s submission `hours` into the past, so that its clock has run.
fn backdate(room: &Room, id: i64, hours: i64) {
    let db = rusqlite::Connection::open(room.dir.path().join("guardian.db")).expect("db");
    let changed = db
        .execute(
            "UPDATE bounty_reports SET submitted_at = submitted_at - ?2 WHERE id = ?1",
            rusqlite::params![id, hours * 3_600_000],
        )
        .expect("update");
    assert_eq!(changed, 1);
}

/// The table row of report `id` on the queue page.
fn row(page: &str, id: i64) -> &str {
    let start = page
        .find(&format!("<tr id=\"report-{id}\">"))
        .unwrap_or_else(|| panic!("no row for report {id}: {page}"));
    let rest = &page[start..];
    &rest[..rest.find("</tr>").expect("row end")]
}

/// Report `id` as the team API shows it to `token`.
async fn api_report(room: &Room, id: i64, token: &str) -> Value {
    http()
        .get(format!("{}/api/bounty/reports/{id}", room.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn the_bounty_queue_shows_the_clocks_and_a_triager_decides_from_the_report_page() {
    let room = Room::start().await;
    submit(&room, "Escrow pays twice").await;
    submit(&room, "Registry forgets a grant").await;
    // The first report's 48 hours ran out an hour ago.
    backdate(&room, 1, 49);

    // A viewer reads the queue, newest first, each clock as it stands.
    let (vic, vic_csrf) = sign_in(&room.base, &room.token("vic", Role::Viewer)).await;
    let (status, page) = get(&room.base, "/bounty/queue", &vic).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("href=\"/bounty/queue\">Bounty</a>"),
        "the nav links the queue"
    );
    let (newest, overdue) = (row(&page, 2), row(&page, 1));
    assert!(
        page.find("report-2") < page.find("report-1"),
        "newest first: {page}"
    );
    for seen in [
        "href=\"/bounty/queue/2\"",
        "Registry forgets a grant",
        "critical",
        "reported",
    ] {
        assert!(newest.contains(seen), "{seen}: {newest}");
    }
    assert!(
        newest.contains("class=\"clock\"") && newest.contains(">due in 4"),
        "{newest}"
    );
    assert!(
        overdue.contains("class=\"clock critical\"") && overdue.contains(">OVERDUE by 1h"),
        "{overdue}"
    );
    let public =
        api_report(&room, 1, &room.token("tom", Role::Triager)).await["report"]["public_id"]
            .as_str()
            .expect("public id")
            .to_string();
    assert!(overdue.contains(&public), "{overdue}");
    // The filter keeps one status.
    let (_, fixed) = get(&room.base, "/bounty/queue?status=fixed", &vic).await;
    assert!(
        !fixed.contains("report-1") && fixed.contains("No reports."),
        "{fixed}"
    );
    // A viewer neither opens a report nor decides.
    let (status, _) = get(&room.base, "/bounty/queue/1", &vic).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let refused = post_form(
        &room.base,
        "/bounty/queue/1/ack",
        &vic,
        &[("csrf", &vic_csrf)],
    )
    .await;
    assert_eq!(refused, StatusCode::FORBIDDEN);

    // A triager sees the decisions, not the payment.
    let triager = room.token("tina", Role::Triager);
    let (tina, csrf) = sign_in(&room.base, &triager).await;
    let (status, page) = get(&room.base, "/bounty/queue/1", &tina).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for seen in [
        "Escrow pays twice",
        "releasePayment can be re-entered",
        "OVERDUE by 1h",
        public.as_str(),
    ] {
        assert!(page.contains(seen), "{seen}: {page}");
    }
    for decision in ["ack", "ask", "confirm", "duplicate", "close", "fixed"] {
        assert!(
            page.contains(&format!("action=\"/bounty/queue/1/{decision}\"")),
            "{decision}: {page}"
        );
    }
    assert!(!page.contains("/bounty/queue/1/pay"), "{page}");
    assert!(
        page.contains("<label for=\"ask-message\">") && page.contains("id=\"ask-message\""),
        "a labelled input: {page}"
    );

    // Without the page's CSRF value nothing is decided; a missing field is named.
    let no_csrf = post_form(&room.base, "/bounty/queue/1/ack", &tina, &[]).await;
    assert_eq!(no_csrf, StatusCode::FORBIDDEN);
    let no_message = post_form(
        &room.base,
        "/bounty/queue/1/ask",
        &tina,
        &[("message", " "), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(no_message, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        api_report(&room, 1, &triager).await["report"]["status"],
        "reported"
    );
    // A triager may not record a payment, even by posting its form.
    let pay = post_form(
        &room.base,
        "/bounty/queue/1/pay",
        &tina,
        &[
            ("amount_usd", "1000"),
            ("tx", &format!("0x{}", "ab".repeat(32))),
            ("csrf", &csrf),
        ],
    )
    .await;
    assert_eq!(pay, StatusCode::FORBIDDEN);

    // With it, the report is acknowledged under the triager's name, and the page shown again.
    let acked = http()
        .post(format!("{}/bounty/queue/1/ack", room.base))
        .header(header::COOKIE, &tina)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("csrf", &csrf)]))
        .send()
        .await
        .expect("post");
    assert_eq!(acked.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        acked
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some("/bounty/queue/1")
    );
    let report = &api_report(&room, 1, &triager).await["report"];
    assert_eq!(report["status"], "acknowledged", "{report:#}");
    let entry = report["thread"]
        .as_array()
        .and_then(|t| t.iter().find(|e| e["status"] == "acknowledged"))
        .unwrap_or_else(|| panic!("no acknowledgement in the thread: {report:#}"));
    assert_eq!(entry["author"], "tina");
    let (_, page) = get(&room.base, "/bounty/queue/1", &tina).await;
    assert!(
        page.contains("acknowledged in 49h") && page.contains("late)"),
        "the clock stopped, late: {page}"
    );
    let (_, queue) = get(&room.base, "/bounty/queue", &vic).await;
    assert!(!row(&queue, 1).contains("clock critical"), "{queue}");

    // An admin is offered the payment.
    let (ada, _) = sign_in(&room.base, &room.token("ada", Role::Admin)).await;
    let (status, page) = get(&room.base, "/bounty/queue/1", &ada).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("action=\"/bounty/queue/1/pay\"") && page.contains("id=\"pay-tx\""),
        "{page}"
    );
}
