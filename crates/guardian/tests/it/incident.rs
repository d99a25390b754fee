//! Incidents through the real binary: the checklist gating `close`, a timeline that refuses
//! edits and shows where it was altered, what each level lets be told, the verified fix
//! unpause waits for, and a failed message sent later (each level's playbook and escalation
//! are in `incident_playbooks`); the manifest and runner the incident tests share.

use std::path::Path;

use guardian::devnet::Devnet;
use serde_json::Value;

use crate::support::{http_sink::HttpSink, start_devnet};

/// The devnet's manifest in a temp dir, with three webhook contacts on `sink`: the team, the
/// partners, and users/public.
fn manifest_dir(devnet: &Devnet, sink: &HttpSink) -> tempfile::TempDir {
    manifest_dir_on(devnet, sink, None)
}

/// The same, with `[storage] url` naming `database` (a PostgreSQL database on the tests'
/// server, its password from `PG_PASSWORD`) when given.
pub(super) fn manifest_dir_on(
    devnet: &Devnet,
    sink: &HttpSink,
    database: Option<&str>,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let manifest = dir.path().join("guardian.toml");
    devnet.manifest.write(&manifest, true).expect("write");
    let mut text = std::fs::read_to_string(&manifest).expect("read");
    if let Some(name) = database {
        text.push_str(&format!(
            "\n[storage]\nurl = \"postgres://guardian:${{PG_PASSWORD}}@127.0.0.1:{}/{name}\"\n",
            crate::support::postgres::cluster().port
        ));
    }
    text.push_str(&format!(
        r#"
[[contacts]]
name = "team-hook"
channel = "webhook"
url = "{url}/team"
secret_env = "HOOK_KEY"

[[contacts]]
name = "partner-hook"
channel = "webhook"
url = "{url}/partners"
secret_env = "HOOK_KEY"
audiences = ["partners"]

[[contacts]]
name = "users-hook"
channel = "webhook"
url = "{url}/users"
secret_env = "HOOK_KEY"
audiences = ["users", "public"]
"#,
        url = sink.url
    ));
    std::fs::write(&manifest, text).expect("write contacts");
    dir
}

/// Runs guardian in `dir` as operator `who` (tokio's process, so the sink keeps answering).
pub(super) async fn guardian(dir: &Path, who: &str, args: &[&str]) -> (bool, String, String) {
    let vars = [
        ("HOOK_KEY", "incident-test-key"),
        ("GUARDIAN_OPERATOR", who),
        ("PG_PASSWORD", crate::support::postgres::PASSWORD),
    ];
    crate::support::bin::run(dir, &vars, args).await
}

pub(super) async fn json(dir: &Path, who: &str, args: &[&str]) -> Value {
    let (ok, out, err) = guardian(dir, who, args).await;
    assert!(ok, "guardian {args:?} failed:\n{out}\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

pub(super) fn kinds(show: &Value) -> Vec<String> {
    show["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| e["kind"].as_str().expect("kind").to_string())
        .collect()
}

pub(super) fn incident_messages(sink: &HttpSink, prefix: &str) -> Vec<Value> {
    sink.requests_to(prefix)
        .iter()
        .map(|r| r.json()["incident"].clone())
        .collect()
}

#[tokio::test]
async fn close_needs_the_checklist_and_the_timeline_shows_tampering() {
    let devnet = start_devnet(1, 1, None).await;
    let sink = HttpSink::start().await;
    let dir = manifest_dir(&devnet, &sink);
    let d = dir.path();
    let opened = json(
        d,
        "alice",
        &[
            "incident",
            "open",
            "--level",
            "2",
            "--title",
            "escrow bug",
            "--contracts",
            "escrow",
            "--json",
        ],
    )
    .await;
    assert_eq!(opened["status"], "mitigated", "the escrow is paused");

    // Not resolved yet: close refuses.
    let (ok, _, err) = guardian(d, "alice", &["incident", "close", "1"]).await;
    assert!(!ok && err.contains("resolve it first"), "{err}");
    let (ok, out, err) = guardian(d, "alice", &["incident", "resolve", "1"]).await;
    assert!(ok, "{out}{err}");

    // Resolved, but the checklist is empty: refused, with each item and how to satisfy it.
    let (ok, _, err) = guardian(d, "alice", &["incident", "close", "1"]).await;
    assert!(!ok, "{err}");
    for item in [
        "root-cause-documented",
        "fix-deployed-and-verified",
        "affected-users-notified",
        "funds-recovered",
        "fix-audited",
    ] {
        assert!(err.contains(item), "{item} missing from: {err}");
    }
    // The post-mortem is published by the closing itself.
    assert!(!err.contains("post-mortem-published"), "{err}");
    assert!(
        err.contains("guardian incident check 1 root-cause-documented"),
        "{err}"
    );

    // A wrong item and an empty task are refused; a person attests each item.
    let (ok, _, err) = guardian(
        d,
        "bob",
        &["incident", "check", "1", "root-cause", "--evidence", "x"],
    )
    .await;
    assert!(!ok && err.contains("not a checklist item"), "{err}");
    for item in [
        "root-cause-documented",
        "fix-deployed-and-verified",
        "affected-users-notified",
        "funds-recovered",
    ] {
        let (ok, out, err) = guardian(
            d,
            "bob",
            &[
                "incident",
                "check",
                "1",
                item,
                "--evidence",
                "https://example.org/evidence",
            ],
        )
        .await;
        assert!(ok, "{out}{err}");
    }
    let (ok, _, err) = guardian(d, "alice", &["incident", "close", "1"]).await;
    assert!(
        !ok && err.contains("fix-audited") && !err.contains("root-cause-documented"),
        "only the last item is missing: {err}"
    );
    let (ok, out, err) = guardian(
        d,
        "carol",
        &[
            "incident",
            "check",
            "1",
            "fix-audited",
            "--evidence",
            "audit report v2",
        ],
    )
    .await;
    assert!(ok, "{out}{err}");
    // The review: the "why" chain, what went well, where we were lucky, a follow-up with an
    // owner and a due date; a due date that is not one is refused.
    for args in [
        &["why", "release() paid without settling"][..],
        &[
            "why",
            "the upgrade's diff was not reviewed against the invariant",
        ],
        &["went-well", "the pause key was at hand"],
        &["lucky", "the attacker stopped after one block"],
        &[
            "action",
            "add a solvency invariant test",
            "--owner",
            "bob",
            "--due",
            "2026-12-31",
        ],
    ] {
        let mut all = vec!["incident", "review", "1"];
        all.extend_from_slice(args);
        let (ok, out, err) = guardian(d, "alice", &all).await;
        assert!(ok, "{out}{err}");
    }
    let (ok, _, err) = guardian(
        d,
        "alice",
        &[
            "incident",
            "review",
            "1",
            "action",
            "x",
            "--due",
            "next week",
        ],
    )
    .await;
    assert!(!ok && err.contains("YYYY-MM-DD"), "{err}");

    let published = d.join("postmortem.md");
    let closed = json(
        d,
        "alice",
        &[
            "incident",
            "close",
            "1",
            "--json",
            "--out",
            published.to_str().expect("path"),
        ],
    )
    .await;
    assert_eq!(closed["status"], "closed");
    // The published report is the closed incident's, as `incident show` has it: closed, not a
    // draft, every checklist item ticked (post-mortem published among them, by the closing).
    let text = std::fs::read_to_string(&published).expect("published");
    assert!(text.contains("closed") && !text.contains("DRAFT"), "{text}");
    assert!(!text.contains("- [ ]"), "{text}");
    let show = json(d, "x", &["incident", "show", "1", "--json"]).await;
    let items = show["checklist"].as_array().expect("checklist");
    assert_eq!(items.len(), 6);
    for item in items {
        let line = format!("- [x] {}", item["title"].as_str().expect("title"));
        assert!(text.contains(&line), "{line} not in {text}");
    }
    for needle in [
        "## Detection",
        "1. release() paid without settling (alice, ",
        "2. the upgrade's diff was not reviewed against the invariant (alice, ",
        "## What went well\n\n- the pause landed 1 block after the first alert (from guardian's records)\n- the pause key was at hand (alice, ",
        "## Where we were lucky\n\n- the attacker stopped after one block (alice, ",
        "| follow-up | add a solvency invariant test | bob | 2026-12-31 | open |",
    ] {
        assert!(text.contains(needle), "{needle} not in {text}");
    }
    // `incident report` of the closed incident prints what was published, never a new one.
    let (ok, again, _) = guardian(d, "x", &["incident", "report", "1"]).await;
    assert!(ok);
    assert_eq!(again, text);
    let (ok, _, err) = guardian(d, "alice", &["incident", "note", "1", "more"]).await;
    assert!(
        !ok && err.contains("closed"),
        "a closed record is final: {err}"
    );

    // The timeline refuses edits through SQLite itself ...
    let db = rusqlite::Connection::open(d.join("guardian.db")).expect("db");
    let refused = db.execute(
        "UPDATE timeline SET actor = 'mallory' WHERE incident_id = 1",
        [],
    );
    assert!(refused.is_err(), "updates are refused");
    assert!(
        db.execute("DELETE FROM timeline", []).is_err(),
        "deletes are refused"
    );
    let (ok, out, _) = guardian(d, "x", &["incident", "show", "1"]).await;
    assert!(ok && out.contains("intact"), "{out}");
    // ... and an edit made behind its back (guard dropped) is found, with where.
    db.execute_batch(
        "DROP TRIGGER timeline_no_update;
         UPDATE timeline SET actor = 'mallory' WHERE id = (SELECT MIN(id) FROM timeline WHERE kind = 'checklist');",
    )
    .expect("tamper");
    let (ok, out, _) = guardian(d, "x", &["incident", "show", "1"]).await;
    assert!(!ok, "an altered record exits non-zero");
    assert!(out.contains("ALTERED at entry"), "{out}");
}

#[tokio::test]
async fn communication_follows_the_seed_and_unpause_waits_for_the_verified_fix() {
    let devnet = start_devnet(1, 1, None).await;
    let sink = HttpSink::start().await;
    let dir = manifest_dir(&devnet, &sink);
    let d = dir.path();
    json(
        d,
        "alice",
        &[
            "incident",
            "open",
            "--level",
            "1",
            "--title",
            "release pays twice",
            "--contracts",
            "escrow",
            "--json",
        ],
    )
    .await;

    // Level 1: no user communication; no public disclosure before mitigation.
    let (ok, _, err) = guardian(
        d,
        "alice",
        &["incident", "notify", "1", "--audience", "users"],
    )
    .await;
    assert!(!ok && err.contains("no user communication"), "{err}");
    let (ok, _, err) = guardian(
        d,
        "alice",
        &["incident", "notify", "1", "--audience", "public"],
    )
    .await;
    assert!(!ok && err.contains("not mitigated yet"), "{err}");
    assert!(sink.requests_to("/users").is_empty(), "nothing was sent");

    // Level 2 pauses the escrow (mitigated): users and then the public may be told.
    json(
        d,
        "alice",
        &["incident", "escalate", "1", "--level", "2", "--json"],
    )
    .await;
    let (ok, out, err) = guardian(
        d,
        "alice",
        &["incident", "notify", "1", "--audience", "users"],
    )
    .await;
    assert!(ok, "{out}{err}");
    let users = incident_messages(&sink, "/users");
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["audience"], "users");
    let text = users[0]["lines"].to_string();
    assert!(
        text.contains("security@integra.io") && text.contains("#security-alerts"),
        "the seed's contacts are named: {text}"
    );
    assert!(text.contains("escrow"), "{text}");
    let (ok, out, err) = guardian(
        d,
        "alice",
        &["incident", "notify", "1", "--audience", "public"],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert_eq!(
        incident_messages(&sink, "/users").len(),
        2,
        "users-hook also has the public audience"
    );

    // Unpause waits for the fix, deployed (upgrade under the incident) and verified.
    let (ok, _, err) = guardian(d, "alice", &["incident", "unpause", "1"]).await;
    assert!(!ok && err.contains("not deployed and verified"), "{err}");
    let artifact = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/artifacts/test/PaymentEscrowV2.json");
    let artifact = artifact.to_str().expect("path");
    let (ok, _, err) = guardian(
        d,
        "bob",
        &[
            "upgrade",
            "escrow",
            "--artifact",
            artifact,
            "--incident",
            "99",
        ],
    )
    .await;
    assert!(
        !ok && err.contains("no incident 99") && err.contains("nothing was sent"),
        "{err}"
    );
    let (ok, out, err) = guardian(
        d,
        "bob",
        &[
            "upgrade",
            "escrow",
            "--artifact",
            artifact,
            "--incident",
            "1",
        ],
    )
    .await;
    assert!(ok, "{out}{err}");
    let (ok, _, err) = guardian(d, "alice", &["incident", "unpause", "1"]).await;
    assert!(
        !ok && err.contains("not deployed and verified"),
        "an upgrade alone is not verified: {err}"
    );
    let (ok, out, err) = guardian(
        d,
        "carol",
        &[
            "incident",
            "verify-fix",
            "1",
            "--note",
            "replayed the exploit on a fork: reverts",
        ],
    )
    .await;
    assert!(ok, "{out}{err}");
    let resumed = json(d, "alice", &["incident", "unpause", "1", "--json"]).await;
    assert_eq!(resumed["targets"][0]["name"], "escrow");
    assert_eq!(resumed["targets"][0]["paused"], false);

    let show = json(d, "x", &["incident", "show", "1", "--json"]).await;
    let k = kinds(&show);
    let upgrade = k
        .iter()
        .position(|x| x == "upgrade")
        .expect("upgrade recorded");
    let verified = k
        .iter()
        .position(|x| x == "fix-verified")
        .expect("verification recorded");
    let unpause = k
        .iter()
        .position(|x| x == "unpause")
        .expect("unpause recorded");
    assert!(upgrade < verified && verified < unpause, "{k:?}");
    assert_eq!(show["contracts"][0]["state"], "resumed");
    let fixed = show["checklist"]
        .as_array()
        .expect("checklist")
        .iter()
        .find(|c| c["id"] == "fix-deployed-and-verified")
        .expect("item")
        .clone();
    assert_eq!(
        fixed["ticked_by"], "guardian",
        "the records prove the fix: {fixed}"
    );
}

#[tokio::test]
async fn a_message_that_failed_is_sent_by_the_next_command_that_runs() {
    let devnet = start_devnet(1, 1, None).await;
    let sink = HttpSink::start().await;
    let dir = manifest_dir(&devnet, &sink);
    let d = dir.path();
    let manifest = d.join("guardian.toml");
    let mut text = std::fs::read_to_string(&manifest).expect("read");
    text.push_str("\n[notify]\nbackoff_ms = 100\nmax_backoff_ms = 200\n");
    std::fs::write(&manifest, text).expect("write");
    // The team's receiver is down when the incident opens.
    sink.fail_next("/team", &[503]);
    json(
        d,
        "alice",
        &[
            "incident", "open", "--level", "1", "--title", "odd", "--json",
        ],
    )
    .await;
    assert_eq!(sink.requests_to("/team").len(), 1, "tried once, refused");
    // Wait (with a deadline) until the outbox says the retry is due, as the journal records it.
    let store = guardian::storage::Store::open(&d.join("guardian.db")).expect("db");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let due = store
            .deliveries(None)
            .expect("outbox")
            .iter()
            .filter_map(|r| r.next_attempt_at)
            .all(|at| at <= guardian::storage::now_ms());
        if due {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the retry never fell due"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Any later command sends what is owed: here, reading the journal.
    let (ok, out, err) = guardian(d, "bob", &["history"]).await;
    assert!(ok, "{out}{err}");
    let team = sink.requests_to("/team");
    assert_eq!(team.len(), 2, "delivered on the retry");
    assert_eq!(team[1].json()["incident"]["id"], 1);
    let show = json(d, "x", &["incident", "show", "1", "--json"]).await;
    let delivered: Vec<&Value> = show["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["kind"] == "notification")
        .collect();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["details"]["delivered"], true);
    assert_eq!(delivered[0]["details"]["attempts"], 2);
}

/// Without `USER`, `LOGNAME` or `GUARDIAN_OPERATOR` (a service, a container), the records name
/// the OS account by its uid with the host, never "unknown"; a person who opens an incident
/// commands it, and the first person to act on one guardian opened becomes its commander.
#[tokio::test]
async fn without_user_or_logname_every_record_names_the_account_and_the_host() {
    let devnet = start_devnet(1, 1, None).await;
    let sink = HttpSink::start().await;
    let dir = manifest_dir(&devnet, &sink);
    let d = dir.path();
    let no_one: &[(&str, &str)] = &[("HOOK_KEY", "incident-test-key")];
    let open = [
        "incident",
        "open",
        "--level",
        "1",
        "--title",
        "odd grant",
        "--contracts",
        "registry",
        "--json",
    ];
    let (ok, out, err) = crate::support::bin::run(d, no_one, &open).await;
    assert!(ok, "{out}\n{err}");
    let store = guardian::storage::Store::open(&d.join("guardian.db")).expect("db");
    let first = store.incident(1).expect("read").expect("incident");
    let who = first.opened_by.clone();
    assert!(who.contains('@') && !who.contains("unknown"), "{who}");
    assert_eq!(first.commander.as_deref(), Some(who.as_str()));

    // One guardian opened (as the monitor does): no commander until a person acts on it.
    let new = guardian::incident::NewIncident {
        level: 1,
        title: "opened by the monitor".into(),
        commander: None,
        contracts: vec!["registry".into()],
        from_alert: None,
        evidence: None,
    };
    let id = store
        .open_incident(&new, &[], guardian::incident::playbook::GUARDIAN)
        .expect("open");
    assert_eq!(
        store.incident(id).expect("read").expect("it").commander,
        None
    );
    let note = ["incident", "note", &id.to_string(), "looking at it"];
    let (ok, out, err) = crate::support::bin::run(d, no_one, &note).await;
    assert!(ok, "{out}\n{err}");
    let second = store.incident(id).expect("read").expect("it");
    assert_eq!(second.commander.as_deref(), Some(who.as_str()));
    let (timeline, _) = store.timeline(id).expect("timeline");
    let named = timeline
        .iter()
        .find(|e| e.kind == "commander")
        .expect("the timeline says who commands it");
    assert_eq!(named.details["commander"], serde_json::json!(who));
    for i in [1, id] {
        let (entries, _) = store.timeline(i).expect("timeline");
        for e in entries {
            assert!(!e.actor.contains("unknown"), "{e:?}");
        }
    }
}
