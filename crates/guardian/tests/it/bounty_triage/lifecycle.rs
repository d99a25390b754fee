//! The whole lifecycle of one critical report, from the researcher's post through the team's
//! triage (API and CLI), the level-3 incident and the assessment, to the payment and the
//! post-mortem's credit: the done-when scenario on one devnet.

use age::secrecy::ExposeSecret as _;
use guardian::bounty::crypto;
use serde_json::json;

use super::{
    Api, POC, RESEARCHER, Team, guardian, json_of, manifest_dir, number_of, paused, report, serve,
    statuses,
};
use crate::support::{http_sink::HttpSink, smtp_sink::SmtpSink, testnet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_report_goes_from_the_researcher_to_a_paused_suite_and_a_paid_reward() {
    lifecycle(None).await;
}

/// The same through the real server with the records in PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_critical_report_goes_from_the_researcher_to_a_paused_suite_and_a_paid_reward()
 {
    lifecycle(Some(crate::support::postgres::cluster().fresh_database())).await;
}

async fn lifecycle(database: Option<String>) {
    let net = testnet().await;
    let devnet = &net.devnet;
    // 12 ETH in the escrow when the report comes in: $36,000 at risk at $3,000.
    crate::bounty_assess::register(&net).await;
    crate::bounty_assess::deposit(&net, None, crate::bounty_assess::eth(12)).await;
    let smtp = SmtpSink::start().await;
    let hook = HttpSink::start().await;
    let pair = crypto::generate();
    let secret = pair.secret.expose_secret().to_string();
    let dir = manifest_dir(devnet, &pair.public, &hook.url);
    let t = &Team {
        dir: dir.path().to_path_buf(),
        smtp: format!("smtp://127.0.0.1:{}", smtp.port),
        database,
    };
    let d = &t.dir;
    let (_server, base) = serve(t).await;
    let api = Api {
        http: reqwest::Client::new(),
        base,
    };

    // The researcher reports; the answer is an id and a follow-up token.
    let (code, created) = api
        .call("POST", "/bounty/reports", None, Some(report("Escrow drained through release", "release() pays before it records the payment, so a contract payee can take everything.")))
        .await;
    assert_eq!(code, 201, "{created}");
    let id = number_of(t, &created).await;
    let public = created["id"].as_str().expect("public id").to_string();
    let follow_up = created["token"].as_str().expect("token").to_string();

    // The team hears of it at once, from the server: the claim, never the researcher's text.
    let notice = hook.wait_for("/team", 1).await.remove(0).json();
    assert_eq!(notice["bounty"]["report"], id, "{notice}");
    assert_eq!(notice["bounty"]["claimed_severity"], "critical");
    assert!(
        !notice.to_string().contains("Escrow drained"),
        "no free text: {notice}"
    );

    // The team API refuses it without a team token, and a viewer may list but not decide.
    let path = format!("/api/bounty/reports/{id}");
    assert_eq!(api.call("GET", &path, None, None).await.0, 401);
    assert_eq!(api.call("GET", &path, Some(&follow_up), None).await.0, 401);
    let token = |role: &'static str| {
        let t = t.clone();
        async move {
            json_of(
                &t,
                "lead",
                None,
                &["token", "create", "--role", role, "--name", role, "--json"],
            )
            .await["token"]
                .as_str()
                .expect("token")
                .to_string()
        }
    };
    let (viewer, triager, admin) = (
        token("viewer").await,
        token("triager").await,
        token("admin").await,
    );
    let (code, list) = api
        .call("GET", "/api/bounty/reports", Some(&viewer), None)
        .await;
    assert_eq!(code, 200);
    assert_eq!(list["reports"][0]["id"], id);
    assert_eq!(
        api.call("POST", &format!("{path}/ack"), Some(&viewer), None)
            .await
            .0,
        403
    );

    // Acknowledged through the API, under the token's name; the researcher is told by e-mail.
    let (code, acked) = api
        .call("POST", &format!("{path}/ack"), Some(&triager), None)
        .await;
    assert_eq!(code, 200, "{acked}");
    assert_eq!(acked["taken"]["to"], "acknowledged");
    assert_eq!(acked["taken"]["by"], "triager");
    let mail = smtp.wait_for(1).await.remove(0);
    assert_eq!(mail.to, vec![RESEARCHER.to_string()], "{mail:?}");
    assert!(mail.data.contains("acknowledged"), "{}", mail.data);
    // The researcher is told of their report by its public id, never the team's number.
    assert!(mail.text().contains(&public), "{}", mail.data);
    assert!(!mail.text().contains("Report #"), "{}", mail.data);
    assert!(
        !mail.data.contains(POC),
        "the e-mail never carries the proof"
    );
    // A decision from the wrong status is a conflict (409); an argument that is not allowed is
    // the request's fault (422), naming the field. Neither writes or tells anything.
    let (code, again) = api
        .call("POST", &format!("{path}/ack"), Some(&triager), None)
        .await;
    assert_eq!(code, 409, "{again}");
    assert_eq!(again["errors"][0]["field"], "decision", "{again}");
    let (code, empty) = api
        .call(
            "POST",
            &format!("{path}/ask"),
            Some(&triager),
            Some(json!({"message": "  "})),
        )
        .await;
    assert_eq!(code, 422, "{empty}");
    assert_eq!(empty["errors"][0]["field"], "message", "{empty}");

    // Asked for more through the CLI; the researcher answers in the thread.
    let asked = json_of(
        t,
        "bob",
        None,
        &[
            "bounty",
            "ask",
            &id.to_string(),
            "--message",
            "Which block did you fork from?",
            "--json",
        ],
    )
    .await;
    assert_eq!(asked["to"], "needs-info");
    let (code, _) = api
        .call(
            "POST",
            &format!("/bounty/reports/{public}"),
            Some(&follow_up),
            Some(json!({"message": "Any recent block: the bug is in release()."})),
        )
        .await;
    assert_eq!(code, 201);
    let mails = smtp.wait_for(2).await;
    assert!(
        mails[1].text().contains("Which block did you fork from?"),
        "{}",
        mails[1].data
    );
    assert!(
        mails[1]
            .text()
            .contains(&format!("POST /bounty/reports/{public}")),
        "{}",
        mails[1].data
    );

    // A second researcher reports much the same thing later; it is marked a duplicate of the
    // first, and the first can never be the duplicate of the later one.
    let (_, second) = api
        .call(
            "POST",
            "/bounty/reports",
            None,
            Some(report(
                "Escrow drained via release",
                "release() pays before it records the payment so a payee contract takes everything",
            )),
        )
        .await;
    let second = number_of(t, &second).await;
    let (ok, _, err) = guardian(
        t,
        "bob",
        None,
        &[
            "bounty",
            "duplicate",
            &id.to_string(),
            "--of",
            &second.to_string(),
        ],
    )
    .await;
    assert!(
        !ok && err.contains("earlier report has precedence"),
        "{err}"
    );
    // The triager sees the earlier report flagged beside the later one, never closed for them.
    let later = json_of(
        t,
        "bob",
        None,
        &["bounty", "show", &second.to_string(), "--json"],
    )
    .await;
    assert_eq!(later["report"]["status"], "reported");
    assert_eq!(later["possible_duplicates"][0]["id"], id, "{later}");
    // The later one's clock runs (48 hours for a critical claim); the first one's stopped.
    let listed = json_of(t, "x", None, &["bounty", "list", "--json"]).await;
    let clock_of = |n: i64| {
        listed["reports"]
            .as_array()
            .expect("reports")
            .iter()
            .find(|r| r["id"] == n)
            .expect("listed")["clock"]
            .clone()
    };
    assert_eq!(clock_of(second)["overdue"], false);
    assert_eq!(
        clock_of(second)["due_at"].as_i64().expect("due"),
        later["report"]["submitted_at"].as_i64().expect("submitted") + 48 * 3_600_000
    );
    assert!(clock_of(id)["acknowledged_at"].is_i64());
    let dup = json_of(
        t,
        "bob",
        None,
        &[
            "bounty",
            "duplicate",
            &second.to_string(),
            "--of",
            &id.to_string(),
            "--json",
        ],
    )
    .await;
    assert_eq!(dup["to"], "duplicate");

    // Paying before it is confirmed and fixed is refused, and nothing changes.
    let (ok, _, err) = guardian(
        t,
        "bob",
        None,
        &[
            "bounty",
            "pay",
            &id.to_string(),
            "--amount-usd",
            "1000",
            "--tx",
            &format!("0x{}", "ab".repeat(32)),
        ],
    )
    .await;
    assert!(
        !ok && err.contains("applies to a report that is fixed"),
        "{err}"
    );

    // Confirmed critical: a level-3 incident, with the report as its first evidence, pauses
    // every contract of the suite.
    let confirmed = json_of(
        t,
        "carol",
        None,
        &[
            "bounty",
            "confirm",
            &id.to_string(),
            "--severity",
            "critical",
            "--impact",
            "direct-theft-of-funds",
            "--json",
        ],
    )
    .await;
    assert_eq!(confirmed["to"], "confirmed", "{confirmed}");
    let incident = confirmed["incident"]["incident"]
        .as_i64()
        .expect("incident");
    assert_eq!(confirmed["incident"]["opened"], true);
    let show = json_of(
        t,
        "x",
        None,
        &["incident", "show", &incident.to_string(), "--json"],
    )
    .await;
    assert_eq!(show["level"], 3);
    let kinds: Vec<&str> = show["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| e["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(&kinds[..2], ["opened", "bounty-report"], "{kinds:?}");
    let pausable = paused(t).await;
    assert!(pausable.len() >= 3, "{pausable:?}");
    assert!(
        pausable.iter().all(|(_, p)| *p),
        "everything paused: {pausable:?}"
    );
    assert!(
        !serde_json::to_string(&show).expect("json").contains(POC),
        "the incident never holds the proof"
    );

    // The team reads the proof with its key; the disclosure date is 90 days after confirmation.
    let shown = json_of(
        t,
        "carol",
        Some(&secret),
        &["bounty", "show", &id.to_string(), "--json"],
    )
    .await;
    assert_eq!(shown["proof_of_concept"], POC);
    assert_eq!(shown["incident"], incident);
    let confirmed_at = shown["report"]["confirmed_at"]
        .as_i64()
        .expect("confirmed_at");
    assert_eq!(
        shown["disclosure"]["may_publish_from"],
        confirmed_at + 90 * 86_400_000
    );
    let without_key = json_of(
        t,
        "carol",
        None,
        &["bounty", "show", &id.to_string(), "--json"],
    )
    .await;
    assert!(without_key["proof_of_concept"].is_null());
    assert!(
        without_key["proof_of_concept_error"]
            .as_str()
            .expect("why")
            .contains("GUARDIAN_BOUNTY_KEY")
    );

    // The reward proposed from the chain: 10 % of what the escrow held at submission, in USD.
    let assessed = json_of(
        t,
        "carol",
        None,
        &["bounty", "assess", &id.to_string(), "--json"],
    )
    .await;
    assert_eq!(assessed["severity"], "critical", "{assessed}");
    assert_eq!(
        assessed["at_risk_usd"].as_f64(),
        Some(36_000.0),
        "{assessed}"
    );
    assert_eq!(assessed["cap_usd"].as_f64(), Some(100_000.0), "{assessed}");
    assert_eq!(assessed["reward_usd"].as_f64(), Some(3_600.0), "{assessed}");

    // Fixed, then paid: above the critical tier's cap is refused; paying needs the admin role.
    json_of(
        t,
        "carol",
        None,
        &["bounty", "fixed", &id.to_string(), "--json"],
    )
    .await;
    let tx = format!("0x{}", "cd".repeat(32));
    let (ok, _, err) = guardian(
        t,
        "carol",
        None,
        &[
            "bounty",
            "pay",
            &id.to_string(),
            "--amount-usd",
            "150000",
            "--tx",
            &tx,
        ],
    )
    .await;
    assert!(!ok && err.contains("from 1 to 100000"), "{err}");
    let pay = json!({"amount_usd": 40000, "tx": tx});
    assert_eq!(
        api.call(
            "POST",
            &format!("{path}/pay"),
            Some(&triager),
            Some(pay.clone())
        )
        .await
        .0,
        403
    );
    let (code, paid) = api
        .call("POST", &format!("{path}/pay"), Some(&admin), Some(pay))
        .await;
    assert_eq!(code, 200, "{paid}");
    assert_eq!(paid["taken"]["to"], "paid");

    // The researcher's own view: every step, and the reward; paid now, so they may publish.
    let (code, view) = api
        .call(
            "GET",
            &format!("/bounty/reports/{public}"),
            Some(&follow_up),
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        statuses(&view["thread"]),
        [
            "reported",
            "acknowledged",
            "needs-info",
            "confirmed",
            "fixed",
            "paid"
        ]
    );
    assert_eq!(view["reward_usd"], 40000);
    let shown = json_of(
        t,
        "carol",
        None,
        &["bounty", "show", &id.to_string(), "--json"],
    )
    .await;
    assert_eq!(shown["disclosure"]["rule"], "fixed and paid");
    assert_eq!(
        shown["disclosure"]["may_publish_from"],
        shown["report"]["paid_at"]
    );
    let mails = smtp.wait_for(6).await;
    assert!(mails.iter().all(|m| m.to == vec![RESEARCHER.to_string()]));

    // Each transition names who took it; a closed step cannot be taken twice.
    let listed = json_of(
        t,
        "x",
        None,
        &["bounty", "list", "--status", "paid", "--json"],
    )
    .await;
    assert_eq!(listed["reports"].as_array().expect("reports").len(), 1);
    let (code, by_api) = api
        .call(
            "GET",
            "/api/bounty/reports?status=paid",
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(by_api["reports"][0]["id"], listed["reports"][0]["id"]);
    assert_eq!(by_api["reports"].as_array().expect("reports").len(), 1);
    let (code, _) = api
        .call(
            "GET",
            "/api/bounty/reports?status=lost",
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(code, 400);
    let (ok, _, err) = guardian(t, "bob", None, &["bounty", "ack", &id.to_string()]).await;
    assert!(!ok && err.contains("is paid"), "{err}");

    // The post-mortem credits the researcher by the name they gave, and names the report by
    // the id the researcher knows, never by its number (which tells how many reports exist).
    let (ok, md, err) =
        guardian(t, "x", None, &["incident", "report", &incident.to_string()]).await;
    assert!(ok, "{err}");
    assert!(
        md.contains(&format!(
            "Found by Alice Example, through the bug bounty program: report {public} ("
        )),
        "{md}"
    );
    assert!(!md.contains("report #"), "{md}");

    // The records are where the settings say; the proof of concept is nowhere in the database
    // files in clear.
    assert_eq!(d.join("guardian.db").exists(), t.database.is_none());
    for name in ["guardian.db", "guardian.db-wal"] {
        if let Ok(bytes) = std::fs::read(d.join(name)) {
            assert!(
                !bytes.windows(POC.len()).any(|w| w == POC.as_bytes()),
                "{name} holds the proof"
            );
        }
    }
}
