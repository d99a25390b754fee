//! The incident page on a deployment whose rescue and resume roles a 2-of-3 Safe holds: where
//! each contract stands and what was at stake, the rescue proposed from the page (typed
//! confirmation, once), the resume refused before the fix, and the pages read from the chain on
//! request (affected addresses, the report).

use alloy::primitives::U256;
use guardian::{bounty::tokens::Role, config::ContractKind};
use reqwest::StatusCode;

use super::{Room, get, post_form, sign_in};
use crate::{response::is_paused, support::testnet};

#[tokio::test]
async fn a_responder_proposes_the_rescue_from_the_page_and_an_admin_cannot_resume_before_the_fix() {
    let net = testnet().await;
    let five = U256::from(5_000_000_000_000_000_000u128);
    let (_safe, dir) = crate::safe::incident::escrow_under_a_safe(&net, five).await;
    let room = Room::serve(net, dir).await;
    room.open_incident("escrow drain", "escrow").await;
    let escrow = room.net.addr(ContractKind::PaymentEscrow);
    let (rosa, rosa_csrf) = sign_in(&room.base, &room.token("rosa", Role::Responder)).await;
    let (vic, vic_csrf) = sign_in(&room.base, &room.token("vic", Role::Viewer)).await;
    let (ada, ada_csrf) = sign_in(&room.base, &room.token("ada", Role::Admin)).await;

    // Where each contract stands, and what was at stake when the incident opened.
    let (_, page) = get(&room.base, "/incidents/1", &rosa).await;
    let row = |page: &str, name: &str| {
        page.split(&format!("<tr data-contract=\"{name}\">"))
            .nth(1)
            .and_then(|r| r.split("</tr>").next())
            .unwrap_or_else(|| panic!("no row for {name}: {page}"))
            .to_string()
    };
    assert!(row(&page, "escrow").contains(">at risk<"), "{page}");
    let funds = page.split("<h2>Funds</h2>").nth(1).expect("funds");
    assert!(
        funds.contains("held at the incident&#39;s opening") && funds.contains("5.0 ETH"),
        "{funds}"
    );

    // The rescue needs the number typed again, a responder, and something paused to rescue.
    let rescue = "/incidents/1/rescue";
    let untyped = post_form(&room.base, rescue, &rosa, &[("csrf", &rosa_csrf)]).await;
    assert_eq!(untyped, StatusCode::UNPROCESSABLE_ENTITY);
    let (by_rosa, by_vic) = (
        [("csrf", rosa_csrf.as_str()), ("confirm", "1")],
        [("csrf", vic_csrf.as_str()), ("confirm", "1")],
    );
    let as_viewer = post_form(&room.base, rescue, &vic, &by_vic).await;
    assert_eq!(as_viewer, StatusCode::FORBIDDEN);
    let nothing_paused = post_form(&room.base, rescue, &rosa, &by_rosa).await;
    assert_eq!(nothing_paused, StatusCode::CONFLICT, "nothing paused yet");

    let paused = post_form(
        &room.base,
        "/incidents/1/pause",
        &rosa,
        &[
            ("csrf", &rosa_csrf),
            ("scope", "affected"),
            ("reason", "escrow drain"),
            ("confirm", "yes"),
        ],
    )
    .await;
    assert_eq!(paused, StatusCode::SEE_OTHER);
    assert!(is_paused(&room.net, ContractKind::PaymentEscrow).await);

    let proposed = post_form(&room.base, rescue, &rosa, &by_rosa).await;
    assert_eq!(proposed, StatusCode::SEE_OTHER);
    let (_, page) = get(&room.base, "/incidents/1", &vic).await;
    assert!(row(&page, "escrow").contains(">paused<"), "{page}");
    let waiting = page
        .split("<h2>Safe proposals waiting</h2>")
        .nth(1)
        .expect("proposals");
    assert!(
        waiting.contains("rescue") && waiting.contains("data-proposal=\"1\">0:"),
        "the rescue waits for the owners: {waiting}"
    );
    let (_, timeline) = get(&room.base, "/api/incidents/1", &vic).await;
    assert!(timeline.contains("\"actor\":\"rosa\""), "{timeline}");
    assert_eq!(
        room.net.balance(escrow).await,
        five,
        "nothing moves before the owners sign"
    );
    let again = post_form(&room.base, rescue, &rosa, &by_rosa).await;
    assert_eq!(
        again,
        StatusCode::CONFLICT,
        "a pending rescue is not proposed twice"
    );

    // Resuming is an admin's, and waits for the fix.
    let unpause = "/incidents/1/unpause";
    let as_responder = post_form(&room.base, unpause, &rosa, &by_rosa).await;
    assert_eq!(as_responder, StatusCode::FORBIDDEN);
    let r = super::http()
        .post(format!("{}{unpause}", room.base))
        .header(reqwest::header::COOKIE, &ada)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(super::form(&[("csrf", &ada_csrf), ("confirm", "1")]))
        .send()
        .await
        .expect("unpause");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let why = r.text().await.unwrap_or_default();
    assert!(why.contains("verify-fix"), "{why}");
    assert!(is_paused(&room.net, ContractKind::PaymentEscrow).await);

    // Read from the chain on request: who is affected, and the report as it stands.
    let (status, affected) = get(&room.base, "/incidents/1/affected", &vic).await;
    assert_eq!(status, StatusCode::OK, "{affected}");
    assert!(
        affected.contains("data-party=") && affected.contains("escrow"),
        "{affected}"
    );
    let (status, report) = get(&room.base, "/incidents/1/report", &vic).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(report.contains("Post-mortem: incident 1"), "{report}");
}
