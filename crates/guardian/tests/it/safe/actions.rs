//! Every action whose role only the Safe holds, through the binary: proposed (printed,
//! recorded, written as files), confirmed, executed, its effect checked on chain; what was
//! edited after it was made is refused.

use super::*;

/// A proposal whose recorded fields were changed after it was made no longer hashes to what
/// owners sign: guardian refuses to sign or execute it.
#[tokio::test]
async fn a_proposal_edited_after_it_was_made_is_refused() {
    let net = testnet().await;
    let (d, _) = paused_under_a_safe(&net).await;
    let dir = safe_manifest(&net, &d);
    let run = |args: &'static [&'static str]| crate::support::bin::run(dir.path(), &[], args);
    let (ok, out, err) = run(&["unpause", "registry"]).await;
    assert!(ok, "{out}\n{err}");
    // Someone with the database's file points the call elsewhere.
    let db = rusqlite::Connection::open(dir.path().join("guardian.db")).expect("db");
    let (tx, calls): (String, String) = db
        .query_row(
            "SELECT safe_tx, calls FROM safe_proposals WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    let registry = net.addr(ContractKind::DocumentRegistry);
    let elsewhere = Address::repeat_byte(0x66).to_string();
    let edit = |text: String| {
        text.replace(&registry.to_string(), &elsewhere)
            .replace(&format!("{registry:#x}"), &elsewhere)
    };
    let (tx, calls) = (edit(tx), edit(calls));
    assert!(
        tx.contains(&elsewhere) && calls.contains(&elsewhere),
        "{tx}\n{calls}"
    );
    db.execute(
        "UPDATE safe_proposals SET safe_tx = ?1, calls = ?2 WHERE id = 1",
        [&tx, &calls],
    )
    .expect("edit");
    drop(db);
    for args in [
        &["safe", "sign", "1", "--signer", "owner-a"][..],
        &["safe", "execute", "1"][..],
    ] {
        let (ok, _, err) = crate::support::bin::run(dir.path(), &[], args).await;
        assert!(
            !ok && err.contains("edited after it was made"),
            "{args:?}: {err}"
        );
    }
    assert!(is_paused(&net, ContractKind::DocumentRegistry).await);
}

/// Through the binary: `unpause` of contracts whose `PAUSER_ROLE` only the Safe holds is a
/// proposal (printed, recorded, written as guardian's file and a Transaction Builder export);
/// one owner signs with a key of the manifest, another approves the hash on chain, and `safe
/// execute` unpauses both; a stranger's signature and an execution below the threshold are
/// refused.
#[tokio::test]
async fn unpause_through_the_safe_is_proposed_confirmed_two_ways_and_executed() {
    let net = testnet().await;
    let (d, owners) = paused_under_a_safe(&net).await;
    let dir = safe_manifest(&net, &d);
    let run = |args: &'static [&'static str]| crate::support::bin::run(dir.path(), &[], args);

    let (ok, out, err) = run(&["incident", "open", "--level", "1", "--title", "resume"]).await;
    assert!(ok, "{out}\n{err}");
    let (ok, out, err) = run(&["unpause", "registry", "escrow", "--incident", "1"]).await;
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("Safe proposal 1 on local") && out.contains("DELEGATECALL"),
        "{out}"
    );
    assert!(is_paused(&net, ContractKind::DocumentRegistry).await);
    let stem = dir
        .path()
        .join("proposals")
        .join(format!("local-{}-0", d.safe));
    let own: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(stem.with_extension("json")).expect("guardian's file"),
    )
    .expect("json");
    let hash: alloy::primitives::B256 = own["hashes"]["safe_tx_hash"]
        .as_str()
        .expect("hash")
        .parse()
        .expect("hash");
    assert!(out.contains(&hash.to_string()), "{out}");
    let builder: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(stem.with_extension("tx-builder.json")).expect("export"),
    )
    .expect("json");
    assert_eq!(builder["version"], "1.0");
    assert_eq!(builder["chainId"], "31337");
    assert_eq!(
        builder["meta"]["createdFromSafeAddress"],
        d.safe.to_checksum(None)
    );
    let txs = builder["transactions"].as_array().expect("transactions");
    assert_eq!(txs.len(), 2);
    for (t, kind) in txs
        .iter()
        .zip([ContractKind::DocumentRegistry, ContractKind::PaymentEscrow])
    {
        assert_eq!(t["to"], net.addr(kind).to_checksum(None));
        assert_eq!(t["value"], "0");
        assert_eq!(
            t["data"],
            alloy::hex::encode_prefixed(DocumentRegistry::unpauseCall {}.abi_encode())
        );
    }

    // A stranger's signature is refused; an owner's key confirms.
    let stranger = net.outsider.key().sign_hash_sync(&hash).expect("sign");
    let sig = alloy::hex::encode_prefixed(stranger.as_bytes());
    let (ok, _, err) =
        crate::support::bin::run(dir.path(), &[], &["safe", "sign", "1", "--signature", &sig])
            .await;
    assert!(!ok && err.contains("is not an owner"), "{err}");
    let (ok, out, err) = run(&["safe", "sign", "1", "--signer", "owner-a"]).await;
    assert!(ok && out.contains("1 of 2"), "{out}\n{err}");
    // Below the threshold nothing is sent.
    let (ok, _, err) = run(&["safe", "execute", "1"]).await;
    assert!(
        !ok && err.contains("1 of 2 confirmations: waiting for"),
        "{err}"
    );
    assert!(is_paused(&net, ContractKind::DocumentRegistry).await);

    // The incident says what waits on which signers.
    let (_, out, _) = run(&["incident", "show", "1", "--json"]).await;
    let view: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        view["proposals"][0]["waiting"].as_array().map(Vec::len),
        Some(2),
        "{view}"
    );

    // The second owner approves the hash from its own wallet; guardian sees it.
    let as_owner = Safe::new(d.safe, net.as_signer(&owners[1]));
    send_ok!(as_owner.approveHash(hash));
    let (ok, out, err) = run(&["safe", "status", "--json"]).await;
    let states: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(ok, "{err}");
    assert_eq!(
        states[0]["confirmed"].as_array().map(Vec::len),
        Some(2),
        "{states}"
    );
    let (ok, out, err) = run(&["safe", "execute", "1"]).await;
    assert!(ok && out.contains("executed"), "{out}\n{err}");
    assert!(!is_paused(&net, ContractKind::DocumentRegistry).await);
    assert!(!is_paused(&net, ContractKind::PaymentEscrow).await);
    let (_, out, _) = run(&["safe", "status", "--all", "--json"]).await;
    let states: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(states[0]["proposal"]["status"], "executed", "{states}");
    // The incident's timeline: proposed, confirmed by owner-a, executed.
    let (_, out, _) = run(&["incident", "show", "1", "--json"]).await;
    let view: serde_json::Value = serde_json::from_str(&out).expect("json");
    let events: Vec<String> = view["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["kind"] == "safe")
        .map(|e| {
            e["details"]["event"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        events,
        ["proposed", "confirmed", "confirmed", "executed"],
        "{view}"
    );
    let vias: Vec<&str> = view["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter_map(|e| e["details"]["via"].as_str())
        .collect();
    assert_eq!(vias, ["signer:owner-a", "approveHash"], "{view}");
    assert!(view["proposals"].as_array().is_some_and(Vec::is_empty));
}

/// A rescue whose `EMERGENCY_ROLE` only the Safe holds is proposed (the escrow's whole balance to
/// the safe recipient), and moves the funds once two owners confirmed and it is executed.
#[tokio::test]
async fn a_rescue_only_the_safe_may_make_is_proposed_and_moves_the_funds_once_executed() {
    let net = testnet().await;
    let five = U256::from(5_000_000_000_000_000_000u128);
    let url = net.devnet.anvils[0].url.expose().clone();
    crate::support::register_and_deposit(url, &net.devnet.manifest, five).await;
    let (d, _) = paused_under_a_safe(&net).await;
    let escrow = net.addr(ContractKind::PaymentEscrow);
    let admin = DocumentRegistry::new(escrow, net.as_signer(&net.admin));
    send_ok!(admin.grantRole(Role::Emergency.id(), d.safe));
    let dir = safe_manifest(&net, &d);
    let to = net.safe.address().to_string();
    let run = |args: Vec<&str>| {
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let dir = dir.path().to_path_buf();
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            crate::support::bin::run(&dir, &[], &refs).await
        }
    };

    let before = net.balance(net.safe.address()).await;
    let (ok, out, err) = run(vec![
        "withdraw",
        "--contract",
        "escrow",
        "--native",
        "--all",
        "--to",
        &to,
    ])
    .await;
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("Safe proposal 1") && out.contains("withdraw 5"),
        "{out}"
    );
    assert_eq!(
        net.balance(escrow).await,
        five,
        "nothing moved before the owners confirm"
    );
    let (ok, out, err) = run(vec!["safe", "sign", "1", "--signer", "owner-a"]).await;
    assert!(ok, "{out}\n{err}");
    // The second owner signs elsewhere, with another tool (Foundry's cast, from the npm
    // package), and hands guardian the signature.
    let hash = proposal_hash(dir.path(), &d, 0);
    let cast = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/node_modules/@foundry-rs/cast-linux-amd64/bin/cast");
    let key = alloy::hex::encode_prefixed(net.account(8).key().to_bytes());
    let made = std::process::Command::new(&cast)
        .args([
            "wallet",
            "sign",
            "--no-hash",
            &hash.to_string(),
            "--private-key",
            &key,
        ])
        .output()
        .expect("cast");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let signature = String::from_utf8_lossy(&made.stdout).trim().to_string();
    let (ok, out, err) = run(vec!["safe", "sign", "1", "--signature", &signature]).await;
    assert!(
        ok && out.contains("--signature") && out.contains("2 of 2"),
        "{out}\n{err}"
    );
    let (ok, out, err) = run(vec!["safe", "execute", "1"]).await;
    assert!(ok, "{out}\n{err}");
    assert_eq!(net.balance(escrow).await, U256::ZERO);
    assert_eq!(net.balance(net.safe.address()).await, before + five);
}

/// A stranger's role on a contract whose `DEFAULT_ADMIN_ROLE` only the Safe holds: `revoke`
/// proposes it, and two owners' confirmations take it away.
#[tokio::test]
async fn a_revoke_only_the_safe_may_make_is_proposed_and_takes_the_role_once_executed() {
    let net = testnet().await;
    let (d, _) = paused_under_a_safe(&net).await;
    let registry = net.addr(ContractKind::DocumentRegistry);
    let stranger = Address::repeat_byte(0x5e);
    let admin = DocumentRegistry::new(registry, net.as_signer(&net.admin));
    send_ok!(admin.grantRole(Role::Pauser.id(), stranger));
    send_ok!(admin.grantRole(Role::Admin.id(), d.safe));
    let dir = safe_manifest(&net, &d);
    let account = stranger.to_string();
    let args: Vec<&str> = vec!["revoke", "PAUSER_ROLE", &account, "registry"];
    let (ok, out, err) = crate::support::bin::run(dir.path(), &[], &args).await;
    assert!(
        ok && out.contains("proposed to the Safe's owners"),
        "{out}\n{err}"
    );
    let holds = || async {
        DocumentRegistry::new(registry, net.reader())
            .hasRole(Role::Pauser.id(), stranger)
            .call()
            .await
            .expect("hasRole")
    };
    assert!(holds().await, "nothing sent before the owners confirm");
    confirm_and_execute(dir.path(), "1").await;
    assert!(!holds().await);
}

/// An upgrade only the Safe may make: a key of the manifest deploys the new implementation, the
/// proposal holds only `upgradeToAndCall`, and the proxy moves once two owners confirmed.
#[tokio::test]
async fn an_upgrade_only_the_safe_may_make_deploys_with_a_key_and_proposes_only_the_upgrade() {
    let net = testnet().await;
    let (d, _) = paused_under_a_safe(&net).await;
    let escrow = net.addr(ContractKind::PaymentEscrow);
    let admin = DocumentRegistry::new(escrow, net.as_signer(&net.admin));
    send_ok!(admin.grantRole(Role::Upgrader.id(), d.safe));
    let upgrader = DocumentRegistry::new(escrow, net.as_signer(&net.admin));
    send_ok!(upgrader.revokeRole(Role::Upgrader.id(), net.upgrader.address()));
    let dir = safe_manifest(&net, &d);
    let slot = || async {
        let word = net
            .client
            .provider()
            .get_storage_at(
                escrow,
                alloy::primitives::U256::from_be_bytes(
                    alloy::primitives::b256!(
                        "360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc"
                    )
                    .0,
                ),
            )
            .await
            .expect("slot");
        Address::from_word(word.into())
    };
    let before = slot().await;
    let artifact = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/artifacts/test/PaymentEscrowV2.json");
    let path = artifact.to_str().expect("utf-8").to_string();
    let args = vec!["upgrade", "escrow", "--artifact", path.as_str(), "--json"];
    let (ok, out, err) = crate::support::bin::run(dir.path(), &[], &args).await;
    assert!(ok, "{out}\n{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(report["signer"], "ops", "{report}");
    let implementation = report["implementation"]
        .as_str()
        .expect("deployed")
        .to_string();
    assert_eq!(
        report["proposal"]["calls"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        slot().await,
        before,
        "not upgraded before the owners confirm"
    );
    for args in [
        &["safe", "sign", "1", "--signer", "owner-a"][..],
        &["safe", "sign", "1", "--signer", "owner-b"][..],
    ] {
        let (ok, out, err) = crate::support::bin::run(dir.path(), &[], args).await;
        assert!(ok, "{args:?}: {out}\n{err}");
    }
    let (ok, out, err) =
        crate::support::bin::run(dir.path(), &[], &["safe", "execute", "1", "--json"]).await;
    assert!(ok, "{out}\n{err}");
    assert_eq!(
        slot().await.to_string().to_lowercase(),
        implementation.to_lowercase()
    );
    // The upgrade the Safe executed is checked as guardian checks its own.
    let done: serde_json::Value = serde_json::from_str(&out).expect("json");
    let checks = done["upgrades"][0]["checks"].as_array().expect("checks");
    let slot_check = checks
        .iter()
        .find(|c| c["check"] == "implementation slot")
        .expect("the slot is checked");
    assert_eq!(
        slot_check["after"].as_str().map(str::to_lowercase),
        Some(implementation.to_lowercase())
    );
    assert!(
        checks.len() > 3,
        "paused state, roles and balances too: {checks:?}"
    );
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:?}");
}

/// A pause no key or brake of the manifest can send, where the Safe holds `PAUSER_ROLE`, is
/// proposed after everything else was sent; executed, it pauses.
#[tokio::test]
async fn a_pause_only_the_safe_may_make_is_proposed_after_the_rest_is_sent() {
    let net = testnet().await;
    let (d, _) = paused_under_a_safe(&net).await;
    let tokenizer = net.addr(ContractKind::OwnershipTokenizer);
    let admin = DocumentRegistry::new(tokenizer, net.as_signer(&net.admin));
    send_ok!(admin.grantRole(Role::Pauser.id(), d.safe));
    let dir = safe_manifest(&net, &d);
    let (ok, out, err) = crate::support::bin::run(dir.path(), &[], &["pause", "tokenizer"]).await;
    assert!(
        ok && out.contains("proposed to the Safe's owners"),
        "{out}\n{err}"
    );
    assert!(!is_paused(&net, ContractKind::OwnershipTokenizer).await);
    confirm_and_execute(dir.path(), "1").await;
    assert!(is_paused(&net, ContractKind::OwnershipTokenizer).await);
}
