//! The PostgreSQL backend through the real binary, on the tests' own throwaway server:
//! `guardian db migrate` copies an SQLite file whole and checks it, the manifest's
//! `[storage] url` (with `${VAR}` for the password) and `GUARDIAN_DATABASE_URL` select it, and
//! no password ever reaches the output.

use guardian::{
    bounty::tokens::Role,
    incident::{Integrity, NewIncident},
    storage::Store,
};

use crate::support::{bin, postgres};

/// An SQLite file with a record of every kind the copy must carry: an action, an incident with
/// its timeline, a team token.
fn file_with_records(dir: &std::path::Path) -> (std::path::PathBuf, i64) {
    let path = dir.join("guardian.db");
    let store = Store::open(&path).expect("sqlite");
    let action = store
        .begin_action(
            "pause",
            "alice",
            Some("drill"),
            &serde_json::json!({"all": true}),
        )
        .expect("action");
    store
        .finish_action(action, true, "paused 3")
        .expect("finish");
    let incident = store
        .open_incident(
            &NewIncident {
                level: 2,
                title: "escrow drained".into(),
                commander: Some("alice".into()),
                contracts: vec!["escrow".into()],
                from_alert: None,
                evidence: None,
            },
            &[("pause", "Pause the escrow")],
            "alice",
        )
        .expect("incident");
    store
        .record(
            incident,
            "bob",
            Some((
                "note",
                serde_json::json!({"text": "attacker funded from a mixer"}),
            )),
            &[],
        )
        .expect("note");
    store
        .create_api_token("carol", Role::Viewer, "alice", None)
        .expect("token");
    (path, incident)
}

#[tokio::test]
async fn db_migrate_copies_every_record_checks_the_timelines_and_refuses_a_second_copy() {
    let dir = tempfile::tempdir().expect("tmp");
    let (file, incident) = file_with_records(dir.path());
    let url = postgres::cluster().fresh_database();
    let vars = [("GUARDIAN_DATABASE_URL", url.as_str())];

    let (ok, out, err) = bin::run(
        dir.path(),
        &vars,
        &["db", "migrate", "--from", file.to_str().expect("utf-8")],
    )
    .await;
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("verified: the hash chains of all 1 incident timelines are intact"),
        "{out}"
    );
    for (table, rows) in [("actions", 1), ("incidents", 1), ("api_tokens", 1)] {
        assert!(
            out.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == [table, &rows.to_string()]),
            "{table} {rows}: {out}"
        );
    }
    assert!(
        !out.contains(postgres::PASSWORD) && !err.contains(postgres::PASSWORD),
        "{out}{err}"
    );

    // The copy reads back whole through the PostgreSQL backend, and new rows continue after
    // the copied ids.
    // (The store's calls may run on the test's runtime: PostgreSQL's round trips leave it.)
    let pg = Store::connect(&url).expect("connect");
    assert_eq!(pg.actions().expect("actions").len(), 1);
    assert_eq!(
        pg.incident(incident)
            .expect("incident")
            .map(|i| i.title)
            .as_deref(),
        Some("escrow drained")
    );
    let (entries, integrity) = pg.timeline(incident).expect("timeline");
    assert_eq!(
        integrity,
        Integrity::Intact {
            entries: entries.len()
        }
    );
    assert!(entries.iter().any(|e| e.actor == "bob" && e.kind == "note"));
    let next = pg
        .begin_action("unpause", "alice", None, &serde_json::json!({}))
        .expect("a new action");
    assert_eq!(next, 2, "identity continues after the copied ids");

    // A second copy into the same database is refused before anything is written.
    let (ok, out, err) = bin::run(
        dir.path(),
        &vars,
        &["db", "migrate", "--from", file.to_str().expect("utf-8")],
    )
    .await;
    assert!(!ok, "{out}");
    assert!(err.contains("not empty"), "{err}");

    // Without the variable there is no target, and it says how to name one.
    let (ok, _, err) = bin::run(dir.path(), &[], &["db", "migrate"]).await;
    assert!(!ok);
    assert!(err.contains("GUARDIAN_DATABASE_URL is not set"), "{err}");
}

#[tokio::test]
async fn the_manifest_names_the_database_with_its_password_from_the_environment() {
    let dir = tempfile::tempdir().expect("tmp");
    let cluster = postgres::cluster();
    let url = cluster.fresh_database();
    let db = url.rsplit('/').next().expect("name").to_string();
    std::fs::write(
        dir.path().join("guardian.toml"),
        format!(
            "[storage]\nurl = \"postgres://guardian:${{PG_PASSWORD}}@127.0.0.1:{}/{db}\"\n\n[chains.local]\nchain_id = 31337\nrpc_urls = [\"http://127.0.0.1:1\"]\n",
            cluster.port
        ),
    )
    .expect("manifest");
    let vars = [
        ("PG_PASSWORD", postgres::PASSWORD),
        ("GUARDIAN_OPERATOR", "alice"),
    ];
    let (ok, out, err) = bin::run(
        dir.path(),
        &vars,
        &["token", "create", "--role", "viewer", "--name", "dana"],
    )
    .await;
    assert!(ok, "{out}\n{err}");
    assert!(
        !dir.path().join("guardian.db").exists(),
        "no SQLite file beside the manifest"
    );
    let (ok, out, err) = bin::run(dir.path(), &vars, &["token", "list", "--json"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("\"dana\""), "{out}");

    // A wrong password is refused naming the server, never echoing any password.
    let wrong = [
        ("PG_PASSWORD", "not-the-password"),
        ("GUARDIAN_OPERATOR", "alice"),
    ];
    let (ok, out, err) = bin::run(dir.path(), &wrong, &["token", "list"]).await;
    assert!(!ok, "{out}");
    assert!(
        err.contains(&format!("127.0.0.1:{}/{db}", cluster.port)),
        "{err}"
    );
    assert!(
        !err.contains("not-the-password") && !out.contains("not-the-password"),
        "{err}"
    );

    // A URL that is not PostgreSQL's is refused at load, with what to write instead.
    std::fs::write(
        dir.path().join("guardian.toml"),
        "[storage]\nurl = \"mysql://x@y/z\"\n\n[chains.local]\nchain_id = 31337\nrpc_urls = [\"http://127.0.0.1:1\"]\n",
    )
    .expect("manifest");
    let (ok, _, err) = bin::run(dir.path(), &vars, &["token", "list"]).await;
    assert!(!ok);
    assert!(err.contains("must be a postgres://"), "{err}");
}

#[tokio::test]
async fn with_the_database_unreachable_a_pause_is_journalled_locally_and_written_when_it_is_back() {
    let net = crate::support::testnet().await;
    let dir = tempfile::tempdir().expect("tmp");
    let manifest = dir.path().join("guardian.toml");
    net.devnet.manifest.write(&manifest, true).expect("write");
    let base = std::fs::read_to_string(&manifest).expect("read");
    let with_url = |url: &str| {
        std::fs::write(&manifest, format!("{base}\n[storage]\nurl = \"{url}\"\n"))
            .expect("manifest");
    };
    // A port where nothing listens: the database is down.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    with_url(&format!(
        "postgres://guardian:${{PG_PASSWORD}}@127.0.0.1:{closed}/guardian"
    ));
    let vars = [
        ("PG_PASSWORD", postgres::PASSWORD),
        ("GUARDIAN_OPERATOR", "alice"),
    ];

    // The emergency pause does not wait for it: it pauses, journals locally, and says so.
    let (ok, out, err) = bin::run(
        dir.path(),
        &vars,
        &["pause", "--all", "--reason", "drain in progress"],
    )
    .await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("paused by this run"), "{out}");
    assert!(
        err.contains(&format!(
            "PostgreSQL at 127.0.0.1:{closed}/guardian is unreachable"
        )) && err.contains("guardian db sync"),
        "{err}"
    );
    assert!(!err.contains(postgres::PASSWORD) && !out.contains(postgres::PASSWORD));
    for kind in [
        guardian::config::ContractKind::DocumentRegistry,
        guardian::config::ContractKind::PaymentEscrow,
    ] {
        assert!(crate::response::is_paused(&net, kind).await, "{kind:?}");
    }
    assert!(dir.path().join("guardian-offline.db").exists());

    // Every other action waits for the database: refused before anything is sent.
    let (ok, _, err) = bin::run(dir.path(), &vars, &["unpause", "--all"]).await;
    assert!(!ok);
    assert!(err.contains("cannot connect to PostgreSQL"), "{err}");
    assert!(
        crate::response::is_paused(&net, guardian::config::ContractKind::DocumentRegistry).await,
        "still paused"
    );

    // Back: `db sync` writes the pause and its transactions to the database, once.
    let url = postgres::cluster().fresh_database();
    let name = url.rsplit('/').next().expect("name").to_string();
    with_url(&format!(
        "postgres://guardian:${{PG_PASSWORD}}@127.0.0.1:{}/{name}",
        postgres::cluster().port
    ));
    let (ok, out, err) = bin::run(dir.path(), &vars, &["db", "sync"]).await;
    assert!(ok, "{out}\n{err}");
    assert!(err.contains("synced 1 action(s)"), "{err}");
    assert!(
        !dir.path().join("guardian-offline.db").exists(),
        "set aside"
    );
    let pg = Store::connect(&url).expect("connect");
    let actions = pg.actions().expect("actions");
    assert_eq!(actions.len(), 1, "{actions:#?}");
    assert_eq!(actions[0].kind, "pause");
    assert_eq!(actions[0].reason.as_deref(), Some("drain in progress"));
    let txs = pg.transactions(actions[0].id).expect("transactions");
    assert!(!txs.is_empty(), "the pause's transactions came along");
    let (ok, out, _) = bin::run(dir.path(), &vars, &["db", "sync"]).await;
    assert!(ok && out.contains("nothing to sync"), "{out}");

    // Down again, another pause (of what the first left unpaused, if anything) is journalled
    // offline; the next command that reaches the database writes it in on its own.
    with_url(&format!(
        "postgres://guardian:${{PG_PASSWORD}}@127.0.0.1:{closed}/guardian"
    ));
    let (ok, out, err) = bin::run(dir.path(), &vars, &["pause", "--all"]).await;
    assert!(ok, "{out}\n{err}");
    assert!(dir.path().join("guardian-offline.db").exists());
    with_url(&format!(
        "postgres://guardian:${{PG_PASSWORD}}@127.0.0.1:{}/{name}",
        postgres::cluster().port
    ));
    let (_, _, err) = bin::run(dir.path(), &vars, &["status"]).await;
    assert!(err.contains("synced 1 action(s)"), "{err}");
    assert!(!dir.path().join("guardian-offline.db").exists());
    assert_eq!(pg.actions().expect("actions").len(), 2);
}

#[tokio::test]
async fn tls_to_postgres_checks_the_server_certificate_against_the_same_trust_as_the_endpoints() {
    let (ca, leaf, key) = crate::support::tls::ca_and_leaf(&["localhost", "127.0.0.1"]);
    let server = postgres::tls_only(&leaf.pem(), &key.serialize_pem());
    let dir = tempfile::tempdir().expect("tmp");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("ca");
    std::fs::write(
        dir.path().join("guardian.toml"),
        "[chains.local]\nchain_id = 31337\nrpc_urls = [\"http://127.0.0.1:1\"]\n",
    )
    .expect("manifest");
    let database = server.fresh_database();
    let name = database.rsplit('/').next().expect("name").to_string();
    let url = |mode: &str| {
        format!(
            "postgres://guardian:{}@localhost:{}/{name}?sslmode={mode}",
            postgres::PASSWORD,
            server.port
        )
    };
    let create = ["token", "create", "--role", "viewer", "--name", "erin"];

    // Trusted through SSL_CERT_FILE, as a private CA's RPC endpoint is: the server takes only
    // TLS, so this connection is TLS.
    let trusted = url("verify-full");
    let ca_path = ca_file.to_str().expect("utf-8");
    let vars = [
        ("GUARDIAN_DATABASE_URL", trusted.as_str()),
        ("SSL_CERT_FILE", ca_path),
        ("GUARDIAN_OPERATOR", "alice"),
    ];
    let (ok, out, err) = bin::run(dir.path(), &vars, &create).await;
    assert!(ok, "{out}\n{err}");

    // Without the CA the certificate is refused, and the error says what to do.
    let required = url("require");
    let vars = [
        ("GUARDIAN_DATABASE_URL", required.as_str()),
        ("GUARDIAN_OPERATOR", "alice"),
    ];
    let (ok, _, err) = bin::run(dir.path(), &vars, &create).await;
    assert!(!ok);
    assert!(
        err.contains("certificate") && err.contains("SSL_CERT_FILE"),
        "{err}"
    );
    assert!(!err.contains(postgres::PASSWORD), "{err}");

    // Plain TCP is turned away by this server: sslmode=disable cannot get in.
    let plain = url("disable");
    let vars = [
        ("GUARDIAN_DATABASE_URL", plain.as_str()),
        ("SSL_CERT_FILE", ca_path),
        ("GUARDIAN_OPERATOR", "alice"),
    ];
    let (ok, _, err) = bin::run(dir.path(), &vars, &create).await;
    assert!(!ok, "{err}");
}
