//! The Safe as the rest of guardian sees it: a devnet that hands it the roles, `status`, and
//! the monitor telling a proposal executed from a change nobody proposed.

use super::*;

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
    assert_eq!(
        m.signers["multisig"].safe,
        Some(guardian::config::PerChain::All(d.safe))
    );
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
    confirm_and_execute(dir.path(), "1").await;
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

/// Two owners, outside guardian, DELEGATECALL a contract that rewrites the Safe's singleton
/// slot: no event says so, but the monitor reads the slot around the execution and raises it
/// as critical.
#[tokio::test]
async fn a_singleton_swapped_by_a_delegate_call_nobody_proposed_is_critical() {
    use alloy::{network::TransactionBuilder, rpc::types::TransactionRequest};
    let net = testnet().await;
    let (d, owners) = paused_under_a_safe(&net).await;
    let dir = safe_manifest(&net, &d);
    let start = net.block_number().await + 1;
    // Runtime `sstore(0, calldataload(0))`, behind the init code that returns it.
    let writer: Bytes = "0x6007600c60003960076000f36000356000550000"
        .parse()
        .expect("code");
    let deployed = net
        .as_signer(&net.outsider)
        .send_transaction(TransactionRequest::default().with_deploy_code(writer))
        .await
        .expect("send")
        .get_receipt()
        .await
        .expect("receipt");
    let writer = deployed.contract_address.expect("deployed");
    let swapped = Address::repeat_byte(0x5a);
    let tx = SafeTx {
        to: writer,
        value: U256::ZERO,
        data: Bytes::from(swapped.into_word().to_vec()),
        operation: safe::tx::DELEGATECALL,
        safeTxGas: U256::ZERO,
        baseGas: U256::ZERO,
        gasPrice: U256::ZERO,
        gasToken: Address::ZERO,
        refundReceiver: Address::ZERO,
        nonce: U256::ZERO,
    };
    let hash = tx.hashes(31337, d.safe).safe_tx_hash;
    let confirmations: Vec<_> = owners[..2]
        .iter()
        .map(|o| (o.address(), signed(o, hash)))
        .collect();
    let outside = Safe::new(d.safe, net.as_signer(&net.outsider));
    send_ok!(outside.execTransaction(
        tx.to,
        tx.value,
        tx.data.clone(),
        tx.operation,
        tx.safeTxGas,
        tx.baseGas,
        tx.gasPrice,
        tx.gasToken,
        tx.refundReceiver,
        safe::tx::pack_signatures(&confirmations),
    ));
    let slot = net
        .client
        .provider()
        .get_storage_at(d.safe, U256::ZERO)
        .await
        .expect("slot");
    assert_eq!(
        Address::from_word(slot.into()),
        swapped,
        "the singleton was swapped"
    );

    let from = start.to_string();
    let (ok, out, err) = crate::support::bin::run(
        dir.path(),
        &[],
        &["monitor", "--once", "--from-block", &from],
    )
    .await;
    assert!(ok, "{out}\n{err}");
    let store = guardian::storage::Store::open(&dir.path().join("guardian.db")).expect("db");
    let swaps: Vec<_> = store
        .alerts(&guardian::storage::AlertFilter::default())
        .expect("alerts")
        .into_iter()
        .filter(|a| a.found.summary.contains("singleton changed"))
        .map(|a| (a.found.severity, a.found.summary))
        .collect();
    assert_eq!(swaps.len(), 1, "{swaps:#?}");
    assert_eq!(swaps[0].0, guardian::alert::Severity::Critical);
    assert!(
        swaps[0].1.contains(&d.singleton.to_string()) && swaps[0].1.contains(&swapped.to_string()),
        "{swaps:#?}"
    );
}
