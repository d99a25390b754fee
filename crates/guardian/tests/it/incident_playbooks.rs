//! Each incident level's playbook through the real binary, on SQLite and on PostgreSQL:
//! what is paused, who is told, and escalation performing the higher level's playbook.

use std::path::Path;

use crate::{
    incident::{guardian, incident_messages, json, kinds, manifest_dir_on},
    support::{http_sink::HttpSink, start_devnet},
};

/// Every pausable contract's `paused` state, by name, as `status --json` reads it.
async fn paused(dir: &Path) -> Vec<(String, bool)> {
    let v = json(dir, "x", &["incident", "show", "1", "--json"]).await;
    v["contracts"]
        .as_array()
        .expect("contracts")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_string(),
                c["paused"] == true,
            )
        })
        .collect()
}

#[tokio::test]
async fn each_level_runs_its_playbook_and_escalation_performs_the_higher_one() {
    each_level_runs_its_playbook(None).await;
}

/// The same, with the records in PostgreSQL (named by the manifest's `[storage] url`).
#[tokio::test]
async fn on_postgres_each_level_runs_its_playbook_and_escalation_performs_the_higher_one() {
    let url = crate::support::postgres::cluster().fresh_database();
    let name = url.rsplit('/').next().expect("name").to_string();
    each_level_runs_its_playbook(Some(&name)).await;
}

async fn each_level_runs_its_playbook(database: Option<&str>) {
    let devnet = start_devnet(2, 1, None).await;
    let sink = HttpSink::start().await;
    let dir = manifest_dir_on(&devnet, &sink, database);
    let d = dir.path();
    assert!(!d.join("guardian.db").exists());

    // Level 2 without contracts is refused, and nothing is written.
    let (ok, _, err) = guardian(
        d,
        "alice",
        &["incident", "open", "--level", "2", "--title", "x"],
    )
    .await;
    assert!(!ok && err.contains("--contracts"), "{err}");
    let list = json(d, "alice", &["incident", "list", "--all", "--json"]).await;
    assert_eq!(list, serde_json::json!([]));

    // Level 1: recorded, the team told, one task, nothing paused.
    let opened = json(
        d,
        "alice",
        &[
            "incident",
            "open",
            "--level",
            "1",
            "--title",
            "odd registrations",
            "--contracts",
            "registry",
            "--commander",
            "alice",
            "--json",
        ],
    )
    .await;
    assert_eq!(opened["id"], 1);
    assert_eq!(opened["status"], "open");
    assert_eq!(opened["opened_by"], "alice");
    let tasks: Vec<&str> = opened["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_str().expect("id"))
        .collect();
    assert_eq!(tasks, ["prepare-patch"]);
    assert!(opened["playbook"]["pause"].is_null());
    let team = incident_messages(&sink, "/team");
    assert_eq!(team.len(), 1, "the team is told at level 1");
    assert_eq!(team[0]["level"], 1);
    assert!(
        sink.requests_to("/partners").is_empty(),
        "partners are not told at level 1"
    );
    assert!(
        paused(d).await.iter().all(|(_, p)| !p),
        "level 1 pauses nothing"
    );

    // Level 2: the affected contract is paused, nothing else.
    let two = json(
        d,
        "bob",
        &["incident", "escalate", "1", "--level", "2", "--json"],
    )
    .await;
    assert_eq!(two["level"], 2);
    assert_eq!(two["status"], "mitigated", "{two:#}");
    let states = paused(d).await;
    assert_eq!(
        states,
        [("registry".to_string(), true)],
        "scope at level 2 is the affected contract"
    );
    let tasks: Vec<&str> = two["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_str().expect("id"))
        .collect();
    assert!(
        tasks.contains(&"investigate-root-cause") && tasks.contains(&"deploy-fix-and-unpause"),
        "{tasks:?}"
    );

    // Level 3: every contract on both chains, the partners activated, users not told.
    let three = json(
        d,
        "carol",
        &["incident", "escalate", "1", "--level", "3", "--json"],
    )
    .await;
    assert_eq!(three["level"], 3);
    let states = paused(d).await;
    let pausable = devnet
        .manifest
        .contracts
        .iter()
        .filter(|c| c.kind.is_pausable())
        .count();
    assert_eq!(states.len(), pausable, "{states:?}");
    assert!(
        states.iter().all(|(_, p)| *p),
        "everything paused on every chain: {states:?}"
    );
    let partners = incident_messages(&sink, "/partners");
    assert_eq!(partners.len(), 1);
    assert_eq!(partners[0]["level"], 3);
    assert!(
        sink.requests_to("/users").is_empty(),
        "users hear only through incident notify"
    );

    // The timeline tells it in order, names who did what, and is intact.
    let show = json(d, "x", &["incident", "show", "1", "--json"]).await;
    let k = kinds(&show);
    let at = |kind: &str, from: usize| {
        k.iter()
            .skip(from)
            .position(|x| x == kind)
            .map(|p| p + from)
            .unwrap_or_else(|| panic!("no {kind} after {from}: {k:?}"))
    };
    let opened_at = at("opened", 0);
    let level2 = at("level", opened_at);
    let pause2 = at("pause", level2);
    let level3 = at("level", pause2);
    let pause3 = at("pause", level3);
    assert!(at("transaction", pause3) > pause3);
    assert_eq!(show["timeline"][level3]["actor"], "carol");
    assert_eq!(
        show["timeline"][level3]["details"],
        serde_json::json!({"from": 2, "to": 3})
    );
    assert!(
        k.contains(&"notification".to_string()),
        "deliveries are in the timeline: {k:?}"
    );
    assert_eq!(show["integrity"]["state"], "intact");

    // Down is not an escalation.
    let (ok, _, err) = guardian(d, "carol", &["incident", "escalate", "1", "--level", "2"]).await;
    assert!(!ok && err.contains("escalation goes up"), "{err}");
    assert_eq!(
        d.join("guardian.db").exists(),
        database.is_none(),
        "the records are where the manifest says"
    );
}
