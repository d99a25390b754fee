//! The team's API on the bounty desk: team tokens and their roles, one error shape, and a
//! storage failure answered 500.

use super::*;

#[tokio::test]
async fn the_team_api_needs_a_team_token_with_the_right_role() {
    let d = desk(100).await;
    let (status, answer) = d.post_json("/bounty/reports", &critical(), None).await;
    assert_eq!(status, 201, "{answer}");
    let (public, id) = ids_of(&d.store, &answer);
    let researcher = answer["token"].as_str().expect("token").to_string();

    // Tokens come from the binary, beside the manifest, printed once.
    let token_cmd = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GUARDIAN_OPERATOR", "lead")
            .current_dir(d.dir.path())
            .args(args)
            .output()
            .expect("guardian runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let create = |role: &str| {
        let (ok, out, err) =
            token_cmd(&["token", "create", "--role", role, "--name", role, "--json"]);
        assert!(ok, "{err}");
        let v: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["role"], role);
        v["token"].as_str().expect("token").to_string()
    };
    let viewer = create("viewer");
    let triager = create("triager");
    // Read by another process: opening and closing the file here would drop this process's
    // POSIX locks on it (the server's connection's among them), and the next guardian process
    // to close would take itself for the last and remove the WAL under the server.
    let raw = |name: &str| {
        std::process::Command::new("cat")
            .arg(d.dir.path().join(name))
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default()
    };
    let (db, wal) = (raw("guardian.db"), raw("guardian.db-wal"));
    let stored = |t: &str| {
        [&db, &wal]
            .iter()
            .any(|f| f.windows(t.len()).any(|w| w == t.as_bytes()))
    };
    assert!(
        !stored(&viewer) && !stored(&triager),
        "tokens are kept only hashed"
    );

    let list = "/api/bounty/reports";
    let one = format!("/api/bounty/reports/{id}");
    // No token, a wrong one, and the researcher's follow-up token: 401.
    for token in [None, Some("gdn_wrong"), Some(researcher.as_str())] {
        let (status, _) = d.get(list, token, "application/json").await;
        assert_eq!(status, 401, "{token:?}");
    }
    // A viewer lists, but may not open a report's thread: 403.
    let (status, body) = d.get(list, Some(&viewer), "application/json").await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["reports"][0]["id"], id);
    assert_eq!(v["reports"][0]["public_id"], public.as_str());
    assert!(!body.contains(POC), "never the proof of concept");
    let (status, _) = d.get(&one, Some(&viewer), "application/json").await;
    assert_eq!(status, 403);
    let (status, body) = d.get(&one, Some(&triager), "application/json").await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["report"]["id"], id);
    assert_eq!(v["report"]["public_id"], public.as_str());
    // The public id a researcher quotes finds the same report.
    let (status, by_public) = d
        .get(
            &format!("/api/bounty/reports/{public}"),
            Some(&triager),
            "application/json",
        )
        .await;
    assert_eq!(status, 200, "{by_public}");
    let by_public: Value = serde_json::from_str(&by_public).expect("json");
    assert_eq!(by_public["report"]["id"], id);
    assert_eq!(v["proof_of_concept"], "encrypted");
    assert!(!body.contains(POC));
    // A lower-case scheme is a bearer token all the same (RFC 9110: the scheme is
    // case-insensitive).
    let r = d
        .http
        .get(format!("{}{list}", d.base))
        .header("authorization", format!("bearer {viewer}"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 200);

    // The team sees its tokens (never the tokens themselves), with their last use; a revoked
    // token answers 401 from then on.
    let (ok, listed, err) = token_cmd(&["token", "list", "--json"]);
    assert!(ok, "{err}");
    assert!(!listed.contains(&viewer) && !listed.contains(&triager));
    let listed: Value = serde_json::from_str(&listed).expect("json");
    let viewer_row = listed["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["role"] == "viewer")
        .expect("the viewer's token")
        .clone();
    assert_eq!(viewer_row["state"], "active");
    assert!(viewer_row["last_used_at"].is_i64(), "{viewer_row}");
    let id = viewer_row["id"].to_string();
    let (ok, _, err) = token_cmd(&["token", "revoke", &id]);
    assert!(ok, "{err}");
    let (status, _) = d.get(list, Some(&viewer), "application/json").await;
    assert_eq!(status, 401, "a revoked token is refused");
    let (ok, _, err) = token_cmd(&["token", "revoke", &id]);
    assert!(!ok && err.contains("already revoked by lead"), "{err}");

    // The database failing under a team route is the server's failure: 500 in the one error
    // shape, naming no table or query — never a 404 or an empty list.
    let broken = rusqlite::Connection::open(d.dir.path().join("guardian.db")).expect("db");
    broken
        .execute_batch("ALTER TABLE bounty_reports RENAME TO bounty_reports_gone;")
        .expect("break the table");
    for path in [list, one.as_str()] {
        let (status, body) = d.get(path, Some(&triager), "application/json").await;
        assert_eq!(status, 500, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["errors"][0]["field"], "server", "{body}");
        assert!(!body.contains("bounty_reports"), "{body}");
    }
    // The token check itself still answers: a missing token is 401, not 500.
    let (status, _) = d.get(list, None, "application/json").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_team_list_is_paged_newest_first() {
    let d = desk(100).await;
    let report = guardian::bounty::NewReport {
        title: "t".into(),
        severity: guardian::bounty::Severity::Medium,
        impact: "griefing",
        contracts: vec!["escrow".into()],
        description: "d".into(),
        proof_of_concept: None,
        contact: "c".into(),
        payout_address: None,
        credit_as: None,
    };
    for n in 0..205 {
        d.store
            .insert_bounty_report(&report, None, &format!("hash-{n}"), n)
            .expect("insert");
    }
    let guardian = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GUARDIAN_OPERATOR", "lead")
            .current_dir(d.dir.path())
            .args(args)
            .output()
            .expect("guardian runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).expect("json")
    };
    let viewer = guardian(&[
        "token", "create", "--role", "viewer", "--name", "vera", "--json",
    ])["token"]
        .as_str()
        .expect("token")
        .to_string();
    let list = |query: &str| {
        let (d, viewer) = (&d, &viewer);
        let path = format!("/api/bounty/reports{query}");
        async move {
            let (status, body) = d.get(&path, Some(viewer), "application/json").await;
            (status, serde_json::from_str::<Value>(&body).expect("json"))
        }
    };
    let numbers = |page: &Value| -> Vec<i64> {
        page["reports"]
            .as_array()
            .expect("reports")
            .iter()
            .map(|r| r["id"].as_i64().expect("id"))
            .collect()
    };

    // 50 unless said, newest first, with where the next page starts.
    let (status, page) = list("").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(numbers(&page), (156..=205).rev().collect::<Vec<_>>());
    assert_eq!(page["next_before"], 156);
    assert_eq!(
        page["reports"][0]["public_id"].as_str().map(str::len),
        Some(32)
    );
    // At most 200 at once; the last page says nothing remains.
    let (_, page) = list("?limit=200").await;
    assert_eq!(numbers(&page), (6..=205).rev().collect::<Vec<_>>());
    assert_eq!(page["next_before"], 6);
    let (_, page) = list("?limit=200&before=6").await;
    assert_eq!(numbers(&page), [5, 4, 3, 2, 1]);
    assert!(page.get("next_before").is_none(), "{page}");
    let (_, page) = list("?status=reported&limit=1&before=100").await;
    assert_eq!(
        (numbers(&page), &page["next_before"]),
        (vec![99], &json!(99))
    );
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?limit=ten", "limit"),
        ("?before=x", "before"),
        ("?before=-3", "before"),
    ] {
        let (status, answer) = list(query).await;
        assert_eq!(status, 400, "{query}: {answer}");
        assert_eq!(answer["errors"][0]["field"], field, "{query}: {answer}");
    }

    // The CLI lists them all unless --limit says otherwise, in the same shape.
    let all = guardian(&["bounty", "list", "--json"]);
    assert_eq!(all["reports"].as_array().expect("reports").len(), 205);
    let newest = guardian(&["bounty", "list", "--json", "--limit", "2"]);
    assert_eq!(numbers(&newest), [205, 204]);
    assert_eq!(
        newest
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["reports".to_string()])
    );
    d.server.stop().await.expect("stop");
}
