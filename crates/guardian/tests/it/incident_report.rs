//! The post-mortem through the real binary: a level-3 incident on a devnet, a note carrying
//! markup, the report written as Markdown and as HTML, each file recorded in the timeline.

use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::start_devnet;

/// Runs guardian in `dir` as operator `who`.
async fn guardian(dir: &Path, who: &str, args: &[&str]) -> (bool, String, String) {
    crate::support::bin::run(dir, &[("GUARDIAN_OPERATOR", who)], args).await
}

async fn json(dir: &Path, who: &str, args: &[&str]) -> Value {
    let (ok, out, err) = guardian(dir, who, args).await;
    assert!(ok, "guardian {args:?} failed:\n{out}\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

async fn run_ok(dir: &Path, who: &str, args: &[&str]) -> String {
    let (ok, out, err) = guardian(dir, who, args).await;
    assert!(ok, "guardian {args:?} failed:\n{out}\n{err}");
    out
}

#[tokio::test]
async fn the_post_mortem_reports_the_pause_escapes_notes_and_is_recorded() {
    let devnet = start_devnet(1, 1, None).await;
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    devnet
        .manifest
        .write(&d.join("guardian.toml"), true)
        .expect("write manifest");

    json(
        d,
        "alice",
        &[
            "incident",
            "open",
            "--level",
            "3",
            "--title",
            "escrow drain",
            "--commander",
            "carol",
            "--json",
        ],
    )
    .await;
    let note = "release() pays twice <script>alert(1)</script>";
    run_ok(d, "bob", &["incident", "note", "1", note]).await;

    // What the records say: the paused contracts and the pause's transaction.
    let show = json(d, "x", &["incident", "show", "1", "--json"]).await;
    let paused: Vec<String> = show["contracts"]
        .as_array()
        .expect("contracts")
        .iter()
        .filter(|c| c["paused"] == true)
        .map(|c| c["name"].as_str().expect("name").to_string())
        .collect();
    assert!(paused.len() >= 3, "level 3 paused everything: {show}");
    let pause_tx = show["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .find(|e| e["kind"] == "transaction" && e["details"]["result"] == "mined")
        .and_then(|e| e["details"]["hash"].as_str())
        .expect("the pause transaction is in the timeline")
        .to_string();

    let md_path = d.join("postmortem.md");
    let html_path = d.join("postmortem.html");
    run_ok(
        d,
        "alice",
        &[
            "incident",
            "report",
            "1",
            "--out",
            md_path.to_str().expect("utf-8"),
        ],
    )
    .await;
    run_ok(
        d,
        "alice",
        &[
            "incident",
            "report",
            "1",
            "--format",
            "html",
            "--out",
            html_path.to_str().expect("utf-8"),
        ],
    )
    .await;
    let md = std::fs::read_to_string(&md_path).expect("md written");
    let html = std::fs::read_to_string(&html_path).expect("html written");

    for text in [&md, &html] {
        assert!(text.contains(&pause_tx), "the pause transaction is named");
        assert!(text.contains("escrow drain"));
        assert!(text.contains("time to pause"));
        for name in &paused {
            assert!(text.contains(name.as_str()), "{name} listed");
        }
        // The note is shown, as text.
        assert!(text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!text.contains("<script"), "markup from a note never runs");
    }
    for name in &paused {
        assert!(md.contains(&format!("| {name} | ")), "{name} row in the md");
    }
    assert!(md.contains("| paused | yes |"), "{md}");
    // One self-contained file: an inline chart, no external asset.
    assert!(html.contains("<svg"));
    for external in [
        "src=\"http",
        "href=\"http",
        "http://",
        "https://",
        "<link",
        "<script",
    ] {
        assert!(!html.contains(external), "{external} in the html");
    }

    // Each written file is in the timeline with its digest, and proves "post-mortem published".
    let show = json(d, "x", &["incident", "show", "1", "--json"]).await;
    let reports: Vec<&Value> = show["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["kind"] == "report")
        .collect();
    assert_eq!(reports.len(), 2, "{show}");
    let digest = |text: &str| {
        Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(reports[0]["details"]["format"], "md");
    assert_eq!(reports[0]["details"]["sha256"], digest(&md));
    assert_eq!(reports[1]["details"]["format"], "html");
    assert_eq!(reports[1]["details"]["sha256"], digest(&html));
    assert_eq!(reports[1]["actor"], "alice");
    let published = show["checklist"]
        .as_array()
        .expect("checklist")
        .iter()
        .find(|c| c["id"] == "post-mortem-published")
        .expect("item");
    assert_eq!(published["ticked_by"], "guardian");

    // --json: the figures for programs, amounts as decimal strings.
    let report = json(d, "x", &["incident", "report", "1", "--json"]).await;
    assert_eq!(report["incident"], 1);
    assert!(
        report["durations"]["pause"]["to"]
            .as_str()
            .is_some_and(|t| t.contains(&pause_tx)),
        "{report}"
    );
    assert!(report["durations"]["pause"]["blocks"].is_u64(), "{report}");
    assert!(
        report["funds_total"]
            .as_array()
            .expect("funds")
            .iter()
            .all(|f| f["at_risk"]["base"]
                .as_str()
                .is_some_and(|b| b.parse::<u128>().is_ok())),
        "{report}"
    );
}
