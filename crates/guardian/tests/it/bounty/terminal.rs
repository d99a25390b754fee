//! A researcher's text cannot act on the team's terminal: control characters but newline and
//! tab are refused at the door (replies and submissions alike, `\r\n` from the form taken as a
//! newline), and what an older row still holds is shown escaped by `guardian bounty list` and
//! `guardian bounty show`.

use super::*;
use crate::support::bin::run;

const REPAINT: &str = "\u{1b}[2J\u{1b}[H\u{1b}[31mFAKE: report confirmed";

fn fields_of(answer: &Value) -> Vec<String> {
    answer["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn control_characters_are_refused_and_old_ones_are_shown_escaped() {
    let d = desk(1000).await;
    let (status, answer) = d.post_json("/bounty/reports", &critical(), None).await;
    assert_eq!(status, 201, "{answer}");
    let (public, id) = ids_of(&d.store, &answer);
    let token = answer["token"].as_str().expect("token").to_string();
    let path = format!("/bounty/reports/{public}");
    let thread_len = || {
        d.store
            .bounty_report(id)
            .expect("query")
            .expect("stored")
            .view
            .thread
            .len()
    };
    let before = thread_len();

    // A reply that would repaint the triager's terminal, or ring or blank it: refused naming
    // `message`, nothing added to the thread.
    for evil in [REPAINT, "bell\u{7}", "nul\0", "over\rwrite"] {
        let (status, answer) = d
            .post_json(&path, &json!({ "message": evil }), Some(&token))
            .await;
        assert_eq!(status, 400, "{evil:?}: {answer}");
        assert_eq!(fields_of(&answer), ["message"], "{answer}");
        let message = answer["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("control characters"), "{answer}");
    }
    assert_eq!(thread_len(), before, "nothing stored");
    // Newline and tab pass, and `\r\n` is a newline.
    let (status, view) = d
        .post_json(
            &path,
            &json!({"message": "line one\r\n\tline two"}),
            Some(&token),
        )
        .await;
    assert_eq!(status, 201, "{view}");
    assert_eq!(
        view["thread"]
            .as_array()
            .expect("thread")
            .last()
            .expect("reply")["message"],
        "line one\n\tline two"
    );

    // A submission: each field with a control character is named.
    let mut bad = critical();
    bad["title"] = json!(REPAINT);
    bad["contact"] = json!("me@example.org\u{7}");
    bad["contracts"] = json!(["escrow\u{1b}"]);
    let (status, answer) = d.post_json("/bounty/reports", &bad, None).await;
    assert_eq!(status, 400, "{answer}");
    for field in ["title", "contact", "contracts"] {
        assert!(fields_of(&answer).iter().any(|f| f == field), "{answer}");
    }
    assert!(
        d.store.bounty_report(id + 1).expect("query").is_none(),
        "nothing stored"
    );
    // The page's form posts `\r\n`: accepted, stored as `\n`.
    let (status, html) = d
        .post_form(&[
            ("title", "Griefing the registry"),
            ("severity", "medium"),
            ("impact", "griefing"),
            ("contracts", "registry"),
            ("description", "first\r\nsecond"),
            ("contact", "me@example.org"),
        ])
        .await;
    assert_eq!(status, 201, "{html}");
    let form = d
        .store
        .bounty_report(id + 1)
        .expect("query")
        .expect("stored");
    assert_eq!(form.view.description, "first\nsecond");
    d.server.stop().await.expect("stop");

    // A row written before the check: raw ESC and U+202E in the title and in the thread.
    let db = rusqlite::Connection::open(d.dir.path().join("guardian.db")).expect("db");
    db.execute(
        "UPDATE bounty_reports SET title = ?2, description = ?3 WHERE id = ?1",
        rusqlite::params![
            id,
            "Escrow \u{1b}[2J pays \u{202E}eciwt",
            format!("{REPAINT}\nsecond line"),
        ],
    )
    .expect("old title");
    db.execute(
        "INSERT INTO bounty_events (report_id, kind, author, message, public, at)
         VALUES (?1, 'message', 'researcher', ?2, 1, 1)",
        rusqlite::params![id, format!("{REPAINT}\u{7}\u{0}\r\u{200B}")],
    )
    .expect("old reply");
    drop(db);

    let id_arg = id.to_string();
    for args in [
        vec!["bounty", "show", id_arg.as_str()],
        vec!["bounty", "list"],
    ] {
        let (ok, out, err) = run(d.dir.path(), &[], &args).await;
        assert!(ok, "{args:?}: {out}\n{err}");
        for raw in ['\u{1b}', '\u{202E}', '\u{7}', '\u{0}', '\r', '\u{200B}'] {
            assert!(!out.contains(raw), "{args:?} prints {raw:?} raw:\n{out}");
        }
        assert!(
            out.contains("Escrow \\u{1b}[2J pays \\u{202e}eciwt"),
            "{args:?}:\n{out}"
        );
    }
    let (_, show, _) = run(d.dir.path(), &[], &["bounty", "show", &id_arg]).await;
    assert!(
        show.contains("\\u{1b}[2J\\u{1b}[H\\u{1b}[31mFAKE: report confirmed\nsecond line"),
        "description escaped, its newline kept:\n{show}"
    );
    assert!(
        show.contains("FAKE: report confirmed\\u{7}\\u{0}\\u{d}\\u{200b}"),
        "thread escaped:\n{show}"
    );
    assert!(show.contains("line one\n\tline two"), "{show}");

    // `--json` is unchanged: serde escapes the controls, the text is the stored one.
    let (ok, json_out, _) = run(d.dir.path(), &[], &["bounty", "show", &id_arg, "--json"]).await;
    assert!(ok);
    assert!(!json_out.contains('\u{1b}'), "{json_out}");
    let v: Value = serde_json::from_str(&json_out).expect("json");
    assert_eq!(v["report"]["title"], "Escrow \u{1b}[2J pays \u{202E}eciwt");
}
