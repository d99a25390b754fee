//! `guardian serve` as it is run: the team's pages on an address of their own over HTTPS, and
//! the monitor in the server's process.

use super::*;

/// `--team-listen` and TLS: the public address serves the bounty desk only, the team's address
/// the pages and API only, both over HTTPS with the given certificate; a browser's cookie is
/// marked Secure when `[server] public_url` is https.
#[tokio::test]
async fn the_team_pages_have_their_own_https_address_apart_from_the_public_desk() {
    use tokio_rustls::rustls;
    let (ca, leaf, key) = crate::support::tls::ca_and_leaf(&["localhost"]);
    let dir = tempfile::tempdir().expect("tmp");
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, leaf.pem()).expect("cert");
    std::fs::write(&key_file, key.serialize_pem()).expect("key");
    let path = dir.path().join("guardian.toml");
    std::fs::write(
        &path,
        format!(
            "[chains.local]\nchain_id = 31337\nrpc_urls = [\"http://127.0.0.1:1\"]\n\n[bounty]\nteam_public_key = \"{}\"\n\n[server]\npublic_url = \"https://guardian.example.org\"\n",
            guardian::bounty::crypto::generate().public
        ),
    )
    .expect("write");
    let store = Arc::new(Store::open(&dir.path().join("guardian.db")).expect("db"));
    let server = serve::start_listening(
        Manifest::load(&path).expect("manifest"),
        Some(path),
        store.clone(),
        &serve::Listen {
            public: "127.0.0.1:0".parse().expect("addr"),
            team: Some("127.0.0.1:0".parse().expect("addr")),
            tls: Some((cert_file, key_file)),
        },
    )
    .await
    .expect("serve");
    assert_ne!(server.addr, server.team_addr);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).expect("ca");
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let status = |addr: std::net::SocketAddr, path: &'static str| {
        let client = client.clone();
        async move {
            client
                .get(format!("https://localhost:{}{path}", addr.port()))
                .send()
                .await
                .expect("https")
                .status()
        }
    };
    assert_eq!(status(server.addr, "/bounty").await, StatusCode::OK);
    assert_eq!(status(server.addr, "/signin").await, StatusCode::NOT_FOUND);
    assert_eq!(
        status(server.addr, "/api/overview").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(status(server.team_addr, "/signin").await, StatusCode::OK);
    assert_eq!(
        status(server.team_addr, "/bounty").await,
        StatusCode::NOT_FOUND
    );
    let token = store
        .create_api_token("vic", Role::Viewer, "test", None)
        .expect("token");
    let signed = client
        .post(format!(
            "https://localhost:{}/signin",
            server.team_addr.port()
        ))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form(&[("token", token.as_str())]))
        .send()
        .await
        .expect("sign in");
    let cookie = signed
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
    server.stop().await.expect("stop");
}

/// `guardian serve --monitor`: one process serves the pages and follows the chains; a stranger's
/// role granted on chain becomes an alert its own API lists.
#[tokio::test]
async fn serve_with_the_monitor_in_the_same_process_lists_what_it_detects() {
    use alloy::providers::Provider as _;
    let net = testnet().await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut manifest = net.devnet.manifest.clone();
    manifest.bounty.team_public_key = Some(guardian::bounty::crypto::generate().public);
    manifest
        .write(&dir.path().join("guardian.toml"), true)
        .expect("write");
    let token = Store::open(&dir.path().join("guardian.db"))
        .expect("db")
        .create_api_token("vic", Role::Viewer, "test", None)
        .expect("token");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir.path())
        .args(["serve", "--monitor", "--listen", &listen])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("guardian serve");
    let alerts = || async {
        http()
            .get(format!(
                "http://{listen}/api/alerts?rule=privileged&severity=critical"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .ok()?
            .json::<serde_json::Value>()
            .await
            .ok()
    };
    // Serving, and following the chain (its cursor is stored), before anything happens.
    let mut following = false;
    for _ in 0..300 {
        let overview = http()
            .get(format!("http://{listen}/api/overview"))
            .bearer_auth(&token)
            .send()
            .await;
        if let Ok(r) = overview
            && let Ok(v) = r.json::<serde_json::Value>().await
            && v["chains"][0]["block"].is_u64()
        {
            following = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(following, "the monitor in the server follows the chain");
    let admin = bindings::DocumentRegistry::new(
        net.addr(ContractKind::DocumentRegistry),
        net.as_signer(&net.admin),
    );
    crate::send_ok!(admin.grantRole(guardian::roles::Role::Pauser.id(), net.outsider.address()));
    let _ = net.client.provider().get_block_number().await;
    let mut seen = None;
    for _ in 0..300 {
        if let Some(list) = alerts().await
            && let Some(a) = list.as_array().and_then(|l| l.first())
        {
            seen = Some(a.clone());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let alert = seen.expect("the stranger's role is detected by the server's own monitor");
    // The overview shows each contract as the monitor last read it: running, then paused.
    let registry_paused = || async {
        let v: serde_json::Value = http()
            .get(format!("http://{listen}/api/overview"))
            .bearer_auth(&token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        v["contracts"]
            .as_array()?
            .iter()
            .find(|c| c["name"] == "registry")?["state"]["paused"]
            .as_bool()
    };
    assert_eq!(
        registry_paused().await,
        Some(false),
        "read when the monitor started"
    );
    let pauser = bindings::DocumentRegistry::new(
        net.addr(ContractKind::DocumentRegistry),
        net.as_signer(&net.pauser),
    );
    crate::send_ok!(pauser.pause());
    let mut shown = false;
    for _ in 0..300 {
        if registry_paused().await == Some(true) {
            shown = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(shown, "the pause the monitor saw is on the overview");
    // The chain's head and lag as the monitor last read them, and the stranger's role as a
    // finding of the registry's.
    let v: serde_json::Value = http()
        .get(format!("http://{listen}/api/overview"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("overview")
        .json()
        .await
        .expect("JSON");
    let chain = &v["chains"][0];
    assert!(chain["head"].is_u64() && chain["lag"].is_u64(), "{chain}");
    let contract = |name: &str| {
        v["contracts"]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["name"] == name))
            .cloned()
            .unwrap_or_default()
    };
    let findings = &contract("registry")["role_findings"];
    let ids: Vec<_> = findings
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| &f["alert"])
        .collect();
    assert_eq!(ids, [&alert["id"]], "the stranger's role only: {findings}");
    assert_eq!(contract("escrow")["role_findings"], serde_json::json!([]));
    let native = &contract("escrow")["state"]["balances"][0];
    assert_eq!(
        (&native["symbol"], &native["decimals"]),
        (&serde_json::json!("ETH"), &serde_json::json!(18)),
        "the pages show units: {native}"
    );
    assert_eq!(alert["severity"], "critical", "{alert}");
    let stranger = net.outsider.address().to_string().to_lowercase();
    assert!(
        alert.to_string().to_lowercase().contains(&stranger),
        "{alert}"
    );
    let pid = server.id().expect("pid").to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(20), server.wait()).await;
    assert!(stopped.is_ok(), "serve --monitor stops on SIGTERM");
}
