//! A real Safe v1.4.1 (the npm package's contracts) on anvil, 2 of 3 owners, holding
//! `PAUSER_ROLE`: guardian's hash is the Safe's own, a batch is simulated as the Safe runs it,
//! confirmations by signature and by `approveHash` execute it, and every refusal sends nothing.

use alloy::{
    primitives::{Address, Bytes, U256},
    providers::Provider,
    signers::SignerSync,
    sol_types::SolCall,
};
use bindings::{DocumentRegistry, safe::Safe};
use guardian::{
    chain::Signer,
    config::ContractKind,
    roles::Role,
    safe::{self, Confirmation, SafeCall, SafeError, SafeTx, SafeTxError},
};

use crate::{
    response::is_paused,
    send_ok,
    support::{TestNet, testnet},
};

/// The devnet with a 2-of-3 Safe holding `PAUSER_ROLE` on the registry and the escrow, both
/// paused; the Safe and its three owners.
async fn paused_under_a_safe(net: &TestNet) -> (safe::Deployed, Vec<Signer>) {
    let owners: Vec<Signer> = (7..10).map(|i| net.account(i)).collect();
    let addresses: Vec<Address> = owners.iter().map(|o| o.address()).collect();
    // The Safe's four contracts go out at once; anvil mining on demand may hold one back.
    let deployed = tokio::select! {
        d = safe::deploy(&net.client, &owners[2], &addresses, 2) => d.expect("deploy the Safe"),
        () = guardian::devnet::unstick(&net.client) => unreachable!("unstick never returns"),
    };
    for kind in [ContractKind::DocumentRegistry, ContractKind::PaymentEscrow] {
        let admin = DocumentRegistry::new(net.addr(kind), net.as_signer(&net.admin));
        send_ok!(admin.grantRole(Role::Pauser.id(), deployed.safe));
        let pauser = DocumentRegistry::new(net.addr(kind), net.as_signer(&net.pauser));
        send_ok!(pauser.pause());
    }
    (deployed, owners)
}

fn unpause(net: &TestNet, kind: ContractKind) -> SafeCall {
    SafeCall {
        label: format!("unpause {kind:?}"),
        to: net.addr(kind),
        value: U256::ZERO,
        data: Bytes::from(DocumentRegistry::unpauseCall {}.abi_encode()),
    }
}

fn signed(owner: &Signer, hash: alloy::primitives::B256) -> Confirmation {
    let sig = owner.key().sign_hash_sync(&hash).expect("sign");
    Confirmation::Signature {
        signature: Bytes::from(sig.as_bytes().to_vec()),
    }
}

#[tokio::test]
async fn a_two_of_three_safe_unpauses_a_batch_with_a_signature_and_an_approved_hash() {
    let net = testnet().await;
    let (d, owners) = paused_under_a_safe(&net).await;
    let info = safe::read(&net.client, d.safe).await.expect("read");
    assert_eq!(
        (info.version.as_str(), info.threshold, info.nonce),
        ("1.4.1", 2, 0)
    );
    assert_eq!(info.owners.len(), 3);
    assert_eq!(
        (info.singleton, info.fallback_handler, info.guard),
        (d.singleton, d.fallback_handler, Address::ZERO)
    );

    let calls = [
        unpause(&net, ContractKind::DocumentRegistry),
        unpause(&net, ContractKind::PaymentEscrow),
    ];
    let tx = SafeTx::batch(&calls, d.multisend, info.nonce).expect("batch");
    let hashes = tx.hashes(31337, d.safe);
    // The hash owners sign is the Safe's own.
    assert_eq!(
        hashes.safe_tx_hash,
        safe::onchain_hash(&net.client, d.safe, &tx)
            .await
            .expect("hash")
    );
    safe::simulate(&net.client, d.safe, d.multisend, &calls)
        .await
        .expect("the batch runs from the Safe");

    // One signature: below the threshold, nothing is sent.
    let first = (owners[0].address(), signed(&owners[0], hashes.safe_tx_hash));
    assert_eq!(
        safe::tx::recover(
            hashes.safe_tx_hash,
            match &first.1 {
                Confirmation::Signature { signature } => signature,
                Confirmation::ApprovedHash => unreachable!(),
            }
        )
        .expect("recover"),
        owners[0].address()
    );
    let payer = &net.outsider;
    let below = safe::execute(
        &net.client,
        payer,
        d.safe,
        d.multisend,
        &tx,
        std::slice::from_ref(&first),
        None,
    )
    .await
    .expect_err("below the threshold");
    assert!(
        matches!(
            below,
            SafeError::BelowThreshold {
                have: 1,
                threshold: 2,
                ..
            }
        ),
        "{below}"
    );
    // A stranger's signature is not an owner's.
    let stranger = (
        net.outsider.address(),
        signed(&net.outsider, hashes.safe_tx_hash),
    );
    let refused = safe::execute(
        &net.client,
        payer,
        d.safe,
        d.multisend,
        &tx,
        &[first.clone(), stranger],
        None,
    )
    .await
    .expect_err("not an owner");
    assert!(matches!(refused, SafeError::NotOwner(a) if a == net.outsider.address()));
    assert!(is_paused(&net, ContractKind::DocumentRegistry).await);

    // The second owner approves the hash on chain, from its own wallet.
    let as_owner = Safe::new(d.safe, net.as_signer(&owners[1]));
    send_ok!(as_owner.approveHash(hashes.safe_tx_hash));
    assert!(
        safe::approved(
            &net.client,
            d.safe,
            owners[1].address(),
            hashes.safe_tx_hash
        )
        .await
        .expect("read")
    );
    let done = safe::execute(
        &net.client,
        payer,
        d.safe,
        d.multisend,
        &tx,
        &[
            first.clone(),
            (owners[1].address(), Confirmation::ApprovedHash),
        ],
        None,
    )
    .await
    .expect("execute");
    assert!(done.block > 0);
    assert!(!is_paused(&net, ContractKind::DocumentRegistry).await);
    assert!(!is_paused(&net, ContractKind::PaymentEscrow).await);
    assert_eq!(
        safe::read(&net.client, d.safe).await.expect("read").nonce,
        1
    );

    // Its nonce is used: executing it again is refused before sending.
    let again = safe::execute(&net.client, payer, d.safe, d.multisend, &tx, &[first], None)
        .await
        .expect_err("used nonce");
    assert!(
        matches!(
            again,
            SafeError::NonceUsed {
                nonce: 0,
                current: 1
            }
        ),
        "{again}"
    );
}

#[tokio::test]
async fn what_would_revert_and_a_foreign_delegatecall_are_refused_before_anything_is_sent() {
    let net = testnet().await;
    let (d, owners) = paused_under_a_safe(&net).await;
    // The tokenizer is not paused, and the Safe holds no role there: the batch would revert,
    // and the simulation says why.
    let calls = [
        unpause(&net, ContractKind::DocumentRegistry),
        unpause(&net, ContractKind::OwnershipTokenizer),
    ];
    let err = safe::simulate(&net.client, d.safe, d.multisend, &calls)
        .await
        .expect_err("reverts");
    let text = err.to_string();
    assert!(
        text.contains("call 2 of 2 (unpause OwnershipTokenizer)") && text.contains("AccessControl"),
        "{text}"
    );

    // A DELEGATECALL to anything but the pinned batch library is never executed.
    let mut tx = SafeTx::batch(&calls, d.multisend, 0).expect("batch");
    tx.to = Address::repeat_byte(0x66);
    let hash = tx.hashes(31337, d.safe).safe_tx_hash;
    let confirmations: Vec<_> = owners[..2]
        .iter()
        .map(|o| (o.address(), signed(o, hash)))
        .collect();
    let refused = safe::execute(
        &net.client,
        &net.outsider,
        d.safe,
        d.multisend,
        &tx,
        &confirmations,
        None,
    )
    .await
    .expect_err("foreign delegatecall");
    assert!(
        matches!(
            refused,
            SafeError::Refused(SafeTxError::Delegatecall { .. })
        ),
        "{refused}"
    );
    assert_eq!(
        safe::read(&net.client, d.safe).await.expect("read").nonce,
        0
    );
    assert!(is_paused(&net, ContractKind::DocumentRegistry).await);
}

/// The devnet's manifest with no key holding a role: two owners' keys (`owner-a`, `owner-b`)
/// and the Safe (`ops`).
fn safe_manifest(net: &TestNet, d: &safe::Deployed) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let mut m = net.devnet.manifest.clone();
    m.signers.clear();
    for (name, index) in [("owner-a", 7), ("owner-b", 8)] {
        m.signers.insert(
            name.into(),
            guardian::config::SignerConfig {
                dev_account: Some(index),
                ..Default::default()
            },
        );
    }
    m.signers.insert(
        "ops".into(),
        guardian::config::SignerConfig {
            safe: Some(d.safe),
            multisend: Some(d.multisend),
            ..Default::default()
        },
    );
    m.write(&dir.path().join("guardian.toml"), true)
        .expect("write");
    dir
}

/// The `safeTxHash` of the proposal at `nonce`, from guardian's file of it.
fn proposal_hash(dir: &std::path::Path, d: &safe::Deployed, nonce: u64) -> alloy::primitives::B256 {
    let file = dir
        .join("proposals")
        .join(format!("local-{}-{nonce}.json", d.safe));
    let own: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).expect("guardian's file"))
            .expect("json");
    own["hashes"]["safe_tx_hash"]
        .as_str()
        .expect("hash")
        .parse()
        .expect("hash")
}

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

/// `devnet --safe 2-of-3` on two chains: one Safe address on both, holding the admin, upgrader
/// and emergency roles, which the keys that held them lost; the manifest names the Safe and its
/// owners instead of those keys, and loads.
#[tokio::test]
async fn a_devnet_hands_the_multisig_roles_to_one_safe_on_every_chain() {
    let mut devnet = crate::support::start_devnet(2, 1, None).await;
    let d = devnet.hand_roles_to_safe(2, 3).await.expect("hand over");
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("guardian.toml");
    devnet.manifest.write(&path, true).expect("write");
    let m = guardian::config::Manifest::load(&path).expect("the manifest loads");
    assert_eq!(m.signers["multisig"].safe, Some(d.safe));
    assert!(m.signers.contains_key("owner-3") && !m.signers.contains_key("admin"));
    assert!(
        m.signers.contains_key("pauser"),
        "pausing stays with the pause key"
    );
    // `status` reads the Safe on each chain, with the roles it holds.
    let (_, out, err) = crate::support::bin::run(dir.path(), &[], &["status", "--json"]).await;
    let status: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    let safes = status["safes"].as_array().expect("safes");
    assert_eq!(safes.len(), 2, "{status}");
    for s in safes {
        assert_eq!(s["info"]["threshold"], 2, "{s}");
        assert!(
            s["holds"]
                .as_object()
                .expect("holds")
                .values()
                .any(|r| r.to_string().contains("Emergency")),
            "{s}"
        );
    }
    let key = |i| guardian::devnet::dev_address(i).expect("dev");
    for (name, chain) in &m.chains {
        let client = guardian::chain::ChainClient::connect(
            name,
            &chain.rpc_urls,
            Some(chain.chain_id),
            &m.rpc,
        )
        .await
        .expect("connect");
        let info = safe::read(&client, d.safe)
            .await
            .expect("the same Safe on every chain");
        assert_eq!((info.threshold, info.owners.len()), (2, 3));
        for c in m.contracts.iter().filter(|c| c.chain() == name) {
            if c.kind != ContractKind::PaymentEscrow {
                continue;
            }
            let roles = bindings::interfaces::IAccessControl::new(c.address, client.provider());
            let has = |role: Role, who: Address| {
                let roles = roles.clone();
                async move { roles.hasRole(role.id(), who).call().await.expect("hasRole") }
            };
            assert!(has(Role::Admin, d.safe).await && has(Role::Emergency, d.safe).await);
            assert!(has(Role::Upgrader, d.safe).await);
            use guardian::devnet::accounts;
            assert!(!has(Role::Admin, key(accounts::ADMIN)).await);
            assert!(!has(Role::Emergency, key(accounts::EMERGENCY)).await);
            assert!(!has(Role::Upgrader, key(accounts::UPGRADER)).await);
            assert!(has(Role::Pauser, key(accounts::PAUSER)).await);
        }
    }
}

/// The monitor watches the Safe: what executed guardian's proposal is `info`; an owner added by
/// a transaction nobody proposed through guardian, and that transaction, are `critical`.
#[tokio::test]
async fn the_monitor_tells_a_proposal_executed_from_an_owner_change_nobody_proposed() {
    let net = testnet().await;
    let (d, owners) = paused_under_a_safe(&net).await;
    let dir = safe_manifest(&net, &d);
    let start = net.block_number().await + 1;
    let run = |args: &'static [&'static str]| crate::support::bin::run(dir.path(), &[], args);
    let (ok, out, err) = run(&["unpause", "registry"]).await;
    assert!(ok, "{out}\n{err}");
    for args in [
        &["safe", "sign", "1", "--signer", "owner-a"][..],
        &["safe", "sign", "1", "--signer", "owner-b"][..],
        &["safe", "execute", "1"][..],
    ] {
        let (ok, out, err) = crate::support::bin::run(dir.path(), &[], args).await;
        assert!(ok, "{args:?}: {out}\n{err}");
    }
    let proposed = safe::read(&net.client, d.safe).await.expect("read");
    assert_eq!(proposed.nonce, 1);

    // Two owners add a fourth from outside guardian.
    let newcomer = Address::repeat_byte(0x4e);
    let call = SafeCall {
        label: "add an owner".into(),
        to: d.safe,
        value: U256::ZERO,
        data: Bytes::from(
            Safe::addOwnerWithThresholdCall {
                owner: newcomer,
                _threshold: U256::from(2),
            }
            .abi_encode(),
        ),
    };
    let tx = SafeTx::batch(&[call], d.multisend, 1).expect("tx");
    let hash = tx.hashes(31337, d.safe).safe_tx_hash;
    let confirmations: Vec<_> = owners[..2]
        .iter()
        .map(|o| (o.address(), signed(o, hash)))
        .collect();
    safe::execute(
        &net.client,
        &net.outsider,
        d.safe,
        d.multisend,
        &tx,
        &confirmations,
        None,
    )
    .await
    .expect("executed outside guardian");

    let from = start.to_string();
    let (ok, out, err) = crate::support::bin::run(
        dir.path(),
        &[],
        &["monitor", "--once", "--from-block", &from],
    )
    .await;
    assert!(ok, "{out}\n{err}");
    let store = guardian::storage::Store::open(&dir.path().join("guardian.db")).expect("db");
    let alerts = store
        .alerts(&guardian::storage::AlertFilter::default())
        .expect("alerts");
    let of_safe: Vec<_> = alerts
        .iter()
        .filter(|a| a.found.summary.starts_with("Safe ops"))
        .map(|a| (a.found.severity, a.found.summary.clone()))
        .collect();
    use guardian::alert::Severity;
    let find = |needle: &str| {
        of_safe
            .iter()
            .filter(|(_, s)| s.contains(needle))
            .map(|(sev, _)| *sev)
            .collect::<Vec<_>>()
    };
    let first = safe::read(&net.client, d.safe).await.expect("read");
    assert_eq!(first.owners.len(), 4);
    let executed_proposal = find("(a proposal made through guardian)");
    assert_eq!(executed_proposal, vec![Severity::Info], "{of_safe:#?}");
    assert_eq!(
        find(&format!("owner {newcomer} added")),
        vec![Severity::Critical],
        "{of_safe:#?}"
    );
    assert_eq!(
        find(&format!("executed Safe transaction {hash}")),
        vec![Severity::Critical],
        "{of_safe:#?}"
    );
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
    for args in [
        &["safe", "sign", "1", "--signer", "owner-a"][..],
        &["safe", "sign", "1", "--signer", "owner-b"][..],
        &["safe", "execute", "1"][..],
    ] {
        let (ok, out, err) = crate::support::bin::run(dir.path(), &[], args).await;
        assert!(ok, "{args:?}: {out}\n{err}");
    }
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
        &["safe", "execute", "1"][..],
    ] {
        let (ok, out, err) = crate::support::bin::run(dir.path(), &[], args).await;
        assert!(ok, "{args:?}: {out}\n{err}");
    }
    assert_eq!(
        slot().await.to_string().to_lowercase(),
        implementation.to_lowercase()
    );
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
    for args in [
        &["safe", "sign", "1", "--signer", "owner-a"][..],
        &["safe", "sign", "1", "--signer", "owner-b"][..],
        &["safe", "execute", "1"][..],
    ] {
        let (ok, out, err) = crate::support::bin::run(dir.path(), &[], args).await;
        assert!(ok, "{args:?}: {out}\n{err}");
    }
    assert!(is_paused(&net, ContractKind::OwnershipTokenizer).await);
}
