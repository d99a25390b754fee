//! The bug bounty desk as a researcher meets it: the real server on a local port (started by
//! the same function `guardian serve` uses), the program page, reports accepted and refused,
//! the follow-up with the token, the rate limit, and the proof of concept never in clear on
//! disk. No chain is needed: the server only reads the manifest.

mod hostile;
mod setup;
mod team_api;
mod terminal;

use std::{path::Path, sync::Arc};

use age::secrecy::ExposeSecret as _;
use guardian::{
    bounty::crypto,
    config::Manifest,
    serve::{self, Server},
    storage::Store,
};
use serde_json::{Value, json};

const ESCROW: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const POC: &str = "PROOF-OF-CONCEPT-7f3a: call releasePayment twice before the state update";

fn manifest_text(team_key: Option<&str>, rate_limit: u32) -> String {
    manifest_text_with(team_key, rate_limit, "")
}

/// The desk's manifest with `extra` (more sections) at its end.
fn manifest_text_with(team_key: Option<&str>, rate_limit: u32, extra: &str) -> String {
    let key = team_key
        .map(|k| format!("team_public_key = \"{k}\"\n"))
        .unwrap_or_default();
    format!(
        r#"
[chains.local]
chain_id = 31337
rpc_urls = ["http://127.0.0.1:1"]

[[contracts]]
name = "escrow"
chain = "local"
kind = "PaymentEscrow"
address = "{ESCROW}"

[[contracts]]
name = "registry"
chain = "local"
kind = "DocumentRegistry"
address = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"

[bounty]
{key}rate_limit_per_hour = {rate_limit}
max_body_bytes = 32768
{extra}"#
    )
}

struct Desk {
    server: Server,
    store: Arc<Store>,
    dir: tempfile::TempDir,
    secret: String,
    base: String,
    http: reqwest::Client,
}

async fn desk(rate_limit: u32) -> Desk {
    desk_with(rate_limit, "").await
}

/// A desk whose manifest ends with `extra`.
async fn desk_with(rate_limit: u32, extra: &str) -> Desk {
    guardian::tls::install_provider();
    let pair = crypto::generate();
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("guardian.toml");
    std::fs::write(
        &path,
        manifest_text_with(Some(&pair.public), rate_limit, extra),
    )
    .expect("write");
    let manifest = Manifest::load(&path).expect("manifest");
    let store = Arc::new(Store::open(&dir.path().join("guardian.db")).expect("db"));
    let server = serve::start(
        manifest,
        store.clone(),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("serve");
    let base = format!("http://{}", server.addr);
    Desk {
        server,
        store,
        dir,
        secret: pair.secret.expose_secret().to_string(),
        base,
        http: reqwest::Client::new(),
    }
}

fn critical() -> Value {
    json!({
        "title": "Escrow pays twice",
        "severity": "critical",
        "impact": "direct-theft-of-funds",
        "contracts": ["escrow"],
        "description": "releasePayment can be re-entered.",
        "proof_of_concept": POC,
        "contact": "researcher@example.org",
        "payout_address": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    })
}

impl Desk {
    async fn post_json(&self, path: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).expect("json"));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let r = req.send().await.expect("send");
        let status = r.status().as_u16();
        let bytes = r.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn post_form(&self, fields: &[(&str, &str)]) -> (u16, String) {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let r = self
            .http
            .post(format!("{}/bounty/reports", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("send");
        (r.status().as_u16(), r.text().await.expect("text"))
    }

    async fn get(&self, path: &str, token: Option<&str>, accept: &str) -> (u16, String) {
        let mut req = self
            .http
            .get(format!("{}{path}", self.base))
            .header("accept", accept);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let r = req.send().await.expect("send");
        (r.status().as_u16(), r.text().await.expect("text"))
    }
}

/// The public id of a submission's answer, checked to be one (never the team's number), and the
/// report's number the team knows it by.
fn ids_of(store: &Store, answer: &Value) -> (String, i64) {
    let public = answer["id"].as_str().expect("a public id").to_string();
    assert!(crypto::is_public_id(&public), "{answer}");
    let number = store
        .bounty_report_number(&public)
        .expect("query")
        .expect("stored");
    (public, number)
}

fn file_holds(path: &Path, needle: &str) -> bool {
    std::fs::read(path)
        .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        .unwrap_or(false)
}

#[tokio::test]
async fn a_critical_report_is_stored_encrypted_and_followed_up_with_its_token() {
    let d = desk(100).await;

    let (status, page) = d.get("/bounty", None, "text/html").await;
    assert_eq!(status, 200);
    for expected in [
        "escrow",
        ESCROW,
        "31337",
        "$100,000",
        "$25,000",
        "$5,000",
        "$1,000",
        "direct-theft-of-funds",
        "fails-to-deliver-promised-returns",
        "security@integra.io",
        "90 days",
        "action=\"/bounty/reports\"",
    ] {
        assert!(page.contains(expected), "page lacks {expected}");
    }
    assert!(!page.contains("<script"), "the page needs no script");

    let (status, answer) = d.post_json("/bounty/reports", &critical(), None).await;
    assert_eq!(status, 201, "{answer}");
    let (public, id) = ids_of(&d.store, &answer);
    let token = answer["token"].as_str().expect("token").to_string();

    // Stored before the answer, the proof of concept only as ciphertext the team can open.
    let stored = d.store.bounty_report(id).expect("query").expect("stored");
    assert_eq!(stored.view.status, "reported");
    assert_eq!(stored.view.contracts, vec!["escrow".to_string()]);
    let sealed = stored.poc_age.expect("poc stored");
    assert_eq!(crypto::decrypt(&d.secret, &sealed).expect("decrypt"), POC);
    let db = d.dir.path().join("guardian.db");
    let wal = d.dir.path().join("guardian.db-wal");
    let on_disk = |needle: &str| file_holds(&db, needle) || file_holds(&wal, needle);
    assert!(
        on_disk("Escrow pays twice"),
        "the report is on disk (the search works)"
    );
    assert!(
        !file_holds(&db, "PROOF-OF-CONCEPT-7f3a"),
        "PoC in clear in the db"
    );
    assert!(
        !file_holds(&wal, "PROOF-OF-CONCEPT-7f3a"),
        "PoC in clear in the wal"
    );
    assert!(!on_disk(&token), "the token itself is not stored");

    // The researcher's view: with the token only, never the PoC, and by the public id only.
    let path = format!("/bounty/reports/{public}");
    let (status, body) = d.get(&path, Some(&token), "application/json").await;
    assert_eq!(status, 200, "{body}");
    let view: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        view["id"],
        public.as_str(),
        "the researcher's id is the public one"
    );
    assert!(view.get("public_id").is_none(), "{body}");
    assert_eq!(view["status"], "reported");
    assert_eq!(view["title"], "Escrow pays twice");
    assert_eq!(view["severity"], "critical");
    assert!(!body.contains("PROOF-OF-CONCEPT"), "{body}");
    let (no_token, refused) = d.get(&path, None, "application/json").await;
    let (wrong, wrong_body) = d
        .get(&path, Some(&"0".repeat(64)), "application/json")
        .await;
    let (unknown, unknown_body) = d
        .get(
            &format!("/bounty/reports/{}", "0".repeat(32)),
            Some(&token),
            "application/json",
        )
        .await;
    // The report's own number, with its own token: not an id a researcher may use.
    let (number, number_body) = d
        .get(
            &format!("/bounty/reports/{id}"),
            Some(&token),
            "application/json",
        )
        .await;
    let (number_reply, number_reply_body) = d
        .post_json(
            &format!("/bounty/reports/{id}"),
            &json!({"message": "hello"}),
            Some(&token),
        )
        .await;
    assert_eq!(
        (no_token, wrong, unknown, number, number_reply),
        (401, 401, 401, 401, 401)
    );
    assert_eq!(
        wrong_body, unknown_body,
        "unknown id and wrong token look alike"
    );
    assert_eq!(wrong_body, number_body, "a number looks like a wrong token");
    assert_eq!(
        serde_json::from_str::<Value>(&wrong_body).expect("json"),
        number_reply_body
    );
    assert_eq!(refused, wrong_body);
    let (status, _) = d
        .get(&format!("{path}?token={token}"), None, "application/json")
        .await;
    assert_eq!(status, 401, "a token in the URL is not accepted");

    // A reply joins the thread.
    let (status, view) = d
        .post_json(&path, &json!({"message": "Any news?"}), Some(&token))
        .await;
    assert_eq!(status, 201, "{view}");
    let thread = view["thread"].as_array().expect("thread");
    assert_eq!(thread.last().expect("reply")["message"], "Any news?");
    let (status, _) = d
        .post_json(&path, &json!({"message": "x"}), Some("wrong"))
        .await;
    assert_eq!(status, 401);
    d.server.stop().await.expect("stop");
}

#[tokio::test]
async fn bad_reports_are_refused_naming_each_field() {
    let d = desk(1000).await;
    let with = |field: &str, value: Value| {
        let mut v = critical();
        v[field] = value;
        v
    };
    let without = |field: &str| {
        let mut v = critical();
        v.as_object_mut().expect("object").remove(field);
        v
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "unknown impact",
            with("impact", json!("rug-pull")),
            "impact",
        ),
        (
            "an impact of another severity",
            with("severity", json!("low")),
            "impact",
        ),
        (
            "unknown contract",
            with("contracts", json!(["vault"])),
            "contracts",
        ),
        ("no contract", with("contracts", json!([])), "contracts"),
        (
            "critical without PoC",
            without("proof_of_concept"),
            "proof_of_concept",
        ),
        (
            "high without PoC",
            {
                let mut v = without("proof_of_concept");
                v["severity"] = json!("high");
                v["impact"] = json!("temporary-freezing-of-funds");
                v
            },
            "proof_of_concept",
        ),
        (
            "bad payout address",
            with("payout_address", json!("0x1234")),
            "payout_address",
        ),
        ("empty title", with("title", json!("  ")), "title"),
        (
            "too-long description",
            with("description", json!("d".repeat(20_001))),
            "description",
        ),
        (
            "unknown severity",
            with("severity", json!("catastrophic")),
            "severity",
        ),
        ("missing contact", without("contact"), "contact"),
        ("title not a string", with("title", json!(42)), "title"),
        (
            "markup in a contract name",
            with("contracts", json!(["<script>alert(1)</script>"])),
            "contracts",
        ),
    ];
    for (what, body, field) in &cases {
        let (status, answer) = d.post_json("/bounty/reports", body, None).await;
        assert_eq!(status, 400, "{what}: {answer}");
        let fields: Vec<&str> = answer["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(fields.contains(field), "{what}: {answer}");
        assert!(
            !answer.to_string().contains("<script"),
            "{what}: echoed markup"
        );
    }

    // Several bad fields at once: each is named.
    let (status, answer) = d
        .post_json("/bounty/reports", &json!({"severity": "low"}), None)
        .await;
    assert_eq!(status, 400);
    let named: Vec<&str> = answer["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    for field in ["title", "impact", "contracts", "description", "contact"] {
        assert!(named.contains(&field), "{field} not named in {answer}");
    }

    // Oversized body: 413 before anything is parsed.
    let (status, answer) = d
        .post_json(
            "/bounty/reports",
            &with("description", json!("d".repeat(40_000))),
            None,
        )
        .await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["errors"][0]["field"], "body");

    // The form: errors as HTML naming the fields.
    let (status, html) = d
        .post_form(&[
            ("title", "t"),
            ("severity", "critical"),
            ("impact", "direct-theft-of-funds"),
            ("contracts", "escrow"),
            ("description", "d"),
            ("contact", "c"),
        ])
        .await;
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("<code>proof_of_concept</code>"), "{html}");
    assert!(
        d.store.bounty_report(1).expect("query").is_none(),
        "nothing stored"
    );

    // Markup in every text field: stored as written, rendered inert everywhere.
    let evil = "<script>alert(1)</script>";
    let (status, html) = d
        .post_form(&[
            ("title", evil),
            ("severity", "medium"),
            ("impact", "griefing"),
            ("contracts", "escrow, registry"),
            ("description", evil),
            ("proof_of_concept", evil),
            ("contact", evil),
        ])
        .await;
    assert_eq!(status, 201, "{html}");
    assert!(!html.contains(evil), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    let token = html
        .split("<p class=\"token\">")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .expect("token shown")
        .to_string();
    let public = html
        .split("<code class=\"report-id\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("id shown")
        .to_string();
    assert!(crypto::is_public_id(&public), "{html}");
    assert!(
        !html.contains("Report #"),
        "no number of the team's: {html}"
    );
    assert!(
        html.contains(&format!("/bounty/reports/{public}")),
        "{html}"
    );
    let id = d
        .store
        .bounty_report_number(&public)
        .expect("query")
        .expect("stored");
    let stored = d.store.bounty_report(id).expect("query").expect("stored");
    assert_eq!(stored.view.title, evil, "stored as written");
    assert_eq!(
        stored.view.contracts,
        vec!["escrow".to_string(), "registry".into()]
    );
    let path = format!("/bounty/reports/{public}");
    let (status, _) = d
        .post_json(&path, &json!({"message": evil}), Some(&token))
        .await;
    assert_eq!(status, 201);
    let (status, page) = d.get(&path, Some(&token), "text/html").await;
    assert_eq!(status, 200, "{page}");
    assert!(!page.contains("<script"), "{page}");
    assert_eq!(
        page.matches("&lt;script&gt;alert(1)&lt;/script&gt;")
            .count(),
        4,
        "title, description, contact and the reply, each escaped: {page}"
    );
    let (_, json_view) = d.get(&path, Some(&token), "application/json").await;
    assert!(!json_view.contains("proof_of_concept"), "{json_view}");
    d.server.stop().await.expect("stop");
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let d = desk(3).await;
    // Only accepted reports count (refused ones are covered in hostile.rs): three fill the hour.
    for _ in 0..3 {
        let (status, _) = d.post_json("/bounty/reports", &critical(), None).await;
        assert_eq!(status, 201);
    }
    let r = d
        .http
        .post(format!("{}/bounty/reports", d.base))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&critical()).expect("json"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=3600).contains(&retry), "{retry}");
    assert!(
        d.store.bounty_report(4).expect("query").is_none(),
        "nothing stored"
    );
    // The page itself stays readable.
    assert_eq!(d.get("/bounty", None, "text/html").await.0, 200);
    d.server.stop().await.expect("stop");
}
