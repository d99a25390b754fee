//! The war room, `guardian serve`'s team pages, on a devnet: signing in with a token, the
//! session cookie and its CSRF value, the roles (a viewer reads, a responder pauses), and the
//! pause sent from the incident page, recorded under the person's name. Over HTTP here; in a
//! real Chromium in `browser.rs`.

mod bounty;
mod browser;
mod feed;
mod openapi;
mod rescue;
mod serving;

use std::sync::Arc;

use guardian::{
    bounty::tokens::Role,
    config::{ContractKind, Manifest},
    serve::{self, Server},
    storage::Store,
};
use reqwest::{StatusCode, header};

use crate::{
    response::is_paused,
    support::{TestNet, testnet},
};

/// A devnet, its manifest (with a bounty team key, which the server needs) and the server.
pub(super) struct Room {
    pub(super) net: TestNet,
    pub(super) dir: tempfile::TempDir,
    pub(super) store: Arc<Store>,
    _server: Server,
    pub(super) base: String,
}

impl Room {
    pub(super) async fn start() -> Self {
        let net = testnet().await;
        let dir = tempfile::tempdir().expect("tmp");
        net.devnet
            .manifest
            .write(&dir.path().join("guardian.toml"), true)
            .expect("write");
        Self::serve(net, dir).await
    }

    /// The server on the manifest in `dir` (given the bounty team key the server needs).
    pub(super) async fn serve(net: TestNet, dir: tempfile::TempDir) -> Self {
        let path = dir.path().join("guardian.toml");
        let mut manifest = Manifest::load(&path).expect("manifest");
        manifest.bounty.team_public_key = Some(guardian::bounty::crypto::generate().public);
        manifest.write(&path, true).expect("write");
        let manifest = Manifest::load(&path).expect("manifest");
        let store = Arc::new(Store::open(&dir.path().join("guardian.db")).expect("db"));
        let server = serve::start_with(
            manifest,
            Some(path),
            store.clone(),
            "127.0.0.1:0".parse().expect("addr"),
        )
        .await
        .expect("serve");
        let base = format!("http://{}", server.addr);
        Self {
            net,
            dir,
            store,
            _server: server,
            base,
        }
    }

    /// A team token for `name` with `role`.
    pub(super) fn token(&self, name: &str, role: Role) -> String {
        self.store
            .create_api_token(name, role, "test", None)
            .expect("token")
    }

    /// Opens a level 1 incident titled `title` about `contract`, through the binary.
    pub(super) async fn open_incident(&self, title: &str, contract: &str) {
        let args = [
            "incident",
            "open",
            "--level",
            "1",
            "--title",
            title,
            "--contracts",
            contract,
        ];
        let (ok, out, err) = crate::support::bin::run(self.dir.path(), &[], &args).await;
        assert!(ok, "{args:?}: {out}\n{err}");
    }
}

/// `pairs` as an HTML form's body.
fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Signs in with `token`: the session cookie (`name=value`) and the page's CSRF value.
async fn sign_in(base: &str, token: &str) -> (String, String) {
    let r = http()
        .post(format!("{base}/signin"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("token", token)]))
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a cookie")
        .to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    let cookie = set.split(';').next().expect("pair").to_string();
    let page = get(base, "/", &cookie).await.1;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries its CSRF value")
        .to_string();
    (cookie, csrf)
}

async fn get(base: &str, path: &str, cookie: &str) -> (StatusCode, String) {
    let r = http()
        .get(format!("{base}{path}"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .expect("get");
    (r.status(), r.text().await.unwrap_or_default())
}

async fn post_form(base: &str, path: &str, cookie: &str, pairs: &[(&str, &str)]) -> StatusCode {
    http()
        .post(format!("{base}{path}"))
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .expect("post")
        .status()
}

#[tokio::test]
async fn a_viewer_reads_every_page_but_has_no_pause_and_the_api_refuses_it() {
    let room = Room::start().await;
    room.open_incident("odd grant", "registry").await;
    let viewer = room.token("vic", Role::Viewer);
    // Unsigned, a page sends to the sign-in form.
    let r = http()
        .get(format!("{}/", room.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some("/signin")
    );
    let (cookie, csrf) = sign_in(&room.base, &viewer).await;
    let (status, page) = get(&room.base, "/", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    for seen in [
        "Overview",
        "local",
        "registry",
        "escrow",
        "odd grant",
        "vic (viewer)",
    ] {
        assert!(page.contains(seen), "{seen}: {page}");
    }
    let (status, page) = get(&room.base, "/incidents/1", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("odd grant") && !page.contains("pause-form"),
        "{page}"
    );
    // The API refuses the viewer's pause, by cookie (with the CSRF value) or by token.
    let by_cookie = http()
        .post(format!("{}/api/incidents/1/pause", room.base))
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"scope": "all", "reason": "x"}))
        .send()
        .await
        .expect("post");
    assert_eq!(by_cookie.status(), StatusCode::FORBIDDEN);
    let by_token = http()
        .post(format!("{}/api/incidents/1/pause", room.base))
        .bearer_auth(&viewer)
        .json(&serde_json::json!({"scope": "all", "reason": "x"}))
        .send()
        .await
        .expect("post");
    assert_eq!(by_token.status(), StatusCode::FORBIDDEN);
    assert!(!is_paused(&room.net, ContractKind::DocumentRegistry).await);
    let overview: serde_json::Value = http()
        .get(format!("{}/api/overview", room.base))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(overview["incidents"][0]["title"], "odd grant");
    assert_eq!(overview["chains"][0]["name"], "local");
}

#[tokio::test]
async fn a_change_needs_the_csrf_value_and_a_revoked_token_ends_its_sessions() {
    let room = Room::start().await;
    room.open_incident("noted", "registry").await;
    let token = room.token("rosa", Role::Responder);
    let (cookie, csrf) = sign_in(&room.base, &token).await;
    let note = |csrf: &'static str| [("text", "looked at the grant"), ("csrf", csrf)];
    assert_eq!(
        post_form(
            &room.base,
            "/incidents/1/note",
            &cookie,
            &[("text", "no csrf")]
        )
        .await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post_form(&room.base, "/incidents/1/note", &cookie, &note("wrong")).await,
        StatusCode::FORBIDDEN
    );
    let ok = post_form(
        &room.base,
        "/incidents/1/note",
        &cookie,
        &[("text", "looked at the grant"), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(ok, StatusCode::SEE_OTHER);
    let (timeline, _) = room.store.timeline(1).expect("timeline");
    let notes: Vec<_> = timeline.iter().filter(|e| e.kind == "note").collect();
    assert_eq!(
        notes.len(),
        1,
        "only the change with its CSRF value was made"
    );
    assert_eq!(notes[0].actor, "rosa");

    let id = room
        .store
        .api_tokens(guardian::storage::now_ms())
        .expect("tokens")[0]
        .id;
    room.store
        .revoke_api_token(id, "admin", guardian::storage::now_ms())
        .expect("revoke");
    let (status, _) = get(&room.base, "/", &cookie).await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the session ended with its token"
    );
    let again = http()
        .post(format!("{}/signin", room.base))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("token", token.as_str())]))
        .send()
        .await
        .expect("sign in");
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    assert!(again.headers().get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn a_responder_pauses_everything_from_the_incident_page_under_their_name() {
    let room = Room::start().await;
    room.open_incident("drain", "escrow").await;
    let (cookie, csrf) = sign_in(&room.base, &room.token("rosa", Role::Responder)).await;
    let unconfirmed = post_form(
        &room.base,
        "/incidents/1/pause",
        &cookie,
        &[("scope", "all"), ("reason", "drain"), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(unconfirmed, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!is_paused(&room.net, ContractKind::DocumentRegistry).await);
    let paused = post_form(
        &room.base,
        "/incidents/1/pause",
        &cookie,
        &[
            ("scope", "all"),
            ("reason", "escrow drain in progress"),
            ("confirm", "yes"),
            ("csrf", &csrf),
        ],
    )
    .await;
    assert_eq!(paused, StatusCode::SEE_OTHER);
    for kind in [ContractKind::DocumentRegistry, ContractKind::PaymentEscrow] {
        assert!(is_paused(&room.net, kind).await, "{kind:?}");
    }
    let (timeline, _) = room.store.timeline(1).expect("timeline");
    let asked = timeline
        .iter()
        .find(|e| e.kind == "pause-requested")
        .expect("the request");
    assert_eq!(asked.actor, "rosa");
    assert_eq!(asked.details["reason"], "escrow drain in progress");
    let pause = timeline
        .iter()
        .find(|e| e.kind == "pause")
        .expect("the pause");
    assert_eq!(pause.actor, "rosa");
    let (_, page) = get(&room.base, "/incidents/1", &cookie).await;
    assert!(
        page.contains("pause-requested") && page.contains("rosa"),
        "{page}"
    );
    // The history lists the pause's action with each transaction it sent.
    let action = pause.details["action_id"].as_i64().expect("action");
    let txs = room.store.transactions(action).expect("transactions");
    assert!(!txs.is_empty());
    let (_, history) = get(&room.base, "/history", &cookie).await;
    let row = history
        .split(&format!("<tr id=\"action-{action}\">"))
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_else(|| panic!("no row for action {action}: {history}"));
    assert!(
        row.contains("href=\"/incidents/1\""),
        "the action links to its incident: {row}"
    );
    let (_, json) = get(&room.base, "/api/history", &cookie).await;
    let list: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let entry = list
        .as_array()
        .and_then(|l| l.iter().find(|e| e["action"]["id"] == action))
        .unwrap_or_else(|| panic!("no action {action}: {json}"));
    assert_eq!(entry["incident"], 1);
    assert_eq!(
        entry["transactions"].as_array().map(Vec::len),
        Some(txs.len())
    );
    for t in &txs {
        assert!(
            history.contains(&format!("id=\"tx-{}\"", t.tx_hash)),
            "{history}"
        );
    }
}

/// With `[server] public_url`, the team's messages link to the pages: an incident's to its page
/// (not the messages for people outside the team), an alert's to its page, which shows it.
#[tokio::test]
async fn messages_to_the_team_link_to_the_incident_and_alert_pages() {
    let room = Room::start().await;
    let path = room.dir.path().join("guardian.toml");
    let text = std::fs::read_to_string(&path).expect("manifest");
    std::fs::write(
        &path,
        text + "\n[server]\npublic_url = \"https://guardian.example.org/\"\n\n[[contacts]]\nname = \"war-room\"\nchannel = \"webhook\"\nurl = \"http://127.0.0.1:1/hook\"\nsecret_env = \"HOOK_SECRET\"\nmin_severity = \"info\"\naudiences = [\"team\", \"partners\"]\n",
    )
    .expect("write");
    let (ok, out, err) = crate::support::bin::run(
        room.dir.path(),
        &[("HOOK_SECRET", "a-secret-of-the-hook")],
        &[
            "incident",
            "open",
            "--level",
            "1",
            "--title",
            "linked",
            "--contracts",
            "registry",
        ],
    )
    .await;
    assert!(ok, "{out}\n{err}");
    let rows: Vec<(String, serde_json::Value)> =
        rusqlite::Connection::open(room.dir.path().join("guardian.db"))
            .expect("db")
            .prepare("SELECT topic, message FROM outbox ORDER BY id")
            .expect("query")
            .query_map([], |r| {
                let m: String = r.get(1)?;
                Ok((r.get(0)?, serde_json::from_str(&m).unwrap_or_default()))
            })
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
    let team = rows
        .iter()
        .find(|(topic, _)| topic.ends_with(".team"))
        .expect("the team's message");
    assert!(
        team.1["links"].as_array().is_some_and(|l| l
            .iter()
            .any(|u| u == "https://guardian.example.org/incidents/1")),
        "{:#}",
        team.1
    );

    // An alert's page, where its message links.
    let alert = room
        .store
        .store_alert(&guardian::alert::NewAlert {
            rule: "privileged".into(),
            kind: "privileged".into(),
            severity: guardian::alert::Severity::Critical,
            chain: "local".into(),
            chain_id: 31337,
            contract: Some("registry".into()),
            address: None,
            block_number: 9,
            block_hash: alloy::primitives::B256::repeat_byte(9),
            tx_hashes: Vec::new(),
            summary: "PAUSER_ROLE granted to a stranger".into(),
            evidence: serde_json::json!({"account": "0xabc"}),
            dedup_key: "warroom-link:1".into(),
        })
        .expect("store")
        .expect("stored");
    let (cookie, _) = sign_in(&room.base, &room.token("vic", Role::Viewer)).await;
    let (status, page) = get(&room.base, &format!("/alerts/{}", alert.id), &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !page.contains("ack-button"),
        "a viewer does not acknowledge"
    );
    // A responder acknowledges it from its page, under their name.
    let (rosa, csrf) = sign_in(&room.base, &room.token("rosa", Role::Responder)).await;
    let acked = post_form(
        &room.base,
        &format!("/alerts/{}/ack", alert.id),
        &rosa,
        &[("note", "looking into it"), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(acked, StatusCode::SEE_OTHER);
    let ack = room
        .store
        .alert(alert.id)
        .expect("read")
        .and_then(|a| a.acknowledged)
        .expect("acknowledged");
    assert_eq!(
        (ack.by.as_str(), ack.note.as_deref()),
        ("rosa", Some("looking into it"))
    );
    assert!(
        page.contains("PAUSER_ROLE granted to a stranger") && page.contains("0xabc"),
        "{page}"
    );
}

/// A responder marks a task done and escalates (the level's playbook pauses the affected
/// contract); resolving needs an admin who types the incident's number again.
#[tokio::test]
async fn a_responder_escalates_and_an_admin_resolves_with_a_typed_confirmation() {
    let room = Room::start().await;
    room.open_incident("drain", "escrow").await;
    let (rosa, csrf) = sign_in(&room.base, &room.token("rosa", Role::Responder)).await;
    let task = room
        .store
        .incident(1)
        .expect("read")
        .expect("incident")
        .tasks[0]
        .id
        .clone();
    // The task is taken on from the command line for bob, then from the page by rosa.
    let args = ["incident", "task", "1", &task, "take", "--owner", "bob"];
    let (ok, out, err) = crate::support::bin::run(room.dir.path(), &[], &args).await;
    assert!(ok, "{out}\n{err}");
    let (_, page) = get(&room.base, "/incidents/1", &rosa).await;
    assert!(page.contains("(owner bob)"), "{page}");
    let taken = post_form(
        &room.base,
        "/incidents/1/task",
        &rosa,
        &[("task", &task), ("take", "yes"), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(taken, StatusCode::SEE_OTHER);
    let (_, page) = get(&room.base, "/incidents/1", &rosa).await;
    assert!(page.contains("(owner rosa)"), "{page}");
    let done = post_form(
        &room.base,
        "/incidents/1/task",
        &rosa,
        &[("task", &task), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(done, StatusCode::SEE_OTHER);
    let escalated = post_form(
        &room.base,
        "/incidents/1/escalate",
        &rosa,
        &[("level", "2"), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(escalated, StatusCode::SEE_OTHER);
    assert!(is_paused(&room.net, ContractKind::PaymentEscrow).await);
    assert!(!is_paused(&room.net, ContractKind::DocumentRegistry).await);
    let incident = room.store.incident(1).expect("read").expect("incident");
    assert_eq!(incident.level, 2);
    let t = incident.tasks.iter().find(|t| t.id == task).expect("task");
    assert_eq!(t.done_by.as_deref(), Some("rosa"));
    // A responder cannot resolve; an admin must type the number.
    let (_, page) = get(&room.base, "/incidents/1", &rosa).await;
    assert!(
        !page.contains("resolve-form") && page.contains("escalate-form"),
        "{page}"
    );
    assert_eq!(
        post_form(
            &room.base,
            "/incidents/1/resolve",
            &rosa,
            &[("confirm", "1"), ("csrf", &csrf)]
        )
        .await,
        StatusCode::FORBIDDEN
    );
    let (ada, admin_csrf) = sign_in(&room.base, &room.token("ada", Role::Admin)).await;
    assert_eq!(
        post_form(
            &room.base,
            "/incidents/1/resolve",
            &ada,
            &[("confirm", "2"), ("csrf", &admin_csrf)]
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        post_form(
            &room.base,
            "/incidents/1/resolve",
            &ada,
            &[("confirm", "1"), ("csrf", &admin_csrf)]
        )
        .await,
        StatusCode::SEE_OTHER
    );
    let incident = room.store.incident(1).expect("read").expect("incident");
    assert_eq!(incident.status.to_string(), "resolved");
    let (timeline, _) = room.store.timeline(1).expect("timeline");
    assert!(
        timeline.iter().any(|e| e.actor == "ada"),
        "who resolved is recorded"
    );
}
