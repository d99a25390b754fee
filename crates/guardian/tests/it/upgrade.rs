//! `guardian upgrade` against anvil: the fix ships and only the implementation changes; nothing is
//! sent without an upgrader or to an unusable implementation; and the drill's buggy escrow, shipped
//! the same way, lets an attacker drain other people's deposits until a pause stops them.

use std::path::{Path, PathBuf};

use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
};
use bindings::{drill::PaymentEscrowBuggy, testing::PaymentEscrowV2};
use guardian::{
    config::ContractKind,
    response::{
        ResponseError,
        upgrade::{self, Implementation, UpgradeReport, UpgradeRequest},
    },
    status::IMPLEMENTATION_SLOT,
    storage::Status,
};

use crate::contracts::{deposit_native, deposit_token, ether, pause, register, token_balance};
use crate::response::{named, open, request};
use crate::support::{TestNet, assert_error, testnet};
use crate::{send_err, send_ok};

/// A committed test artifact.
fn artifact(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/artifacts/test")
        .join(format!("{name}.json"))
}

fn upgrade_request(contract: &str, implementation: Implementation) -> UpgradeRequest {
    UpgradeRequest {
        contract: contract.into(),
        implementation,
        chain: None,
        signer: None,
        dry_run: false,
        reason: Some("test".into()),
    }
}

async fn slot(net: &TestNet, proxy: Address) -> Address {
    let word = net
        .reader()
        .get_storage_at(proxy, IMPLEMENTATION_SLOT.into())
        .await
        .expect("storage");
    Address::from_word(B256::from(word))
}

fn check<'a>(report: &'a UpgradeReport, name: &str) -> &'a upgrade::Check {
    report
        .checks
        .iter()
        .find(|c| c.check == name)
        .unwrap_or_else(|| panic!("no check `{name}` in {report:#?}"))
}

#[tokio::test]
async fn upgrade_to_escrow_v2_keeps_paused_state_roles_and_balances_and_moves_the_slot() {
    let net = testnet().await;
    let (alice, bob) = (net.account(6), net.account(7));
    let escrow = net.addr(ContractKind::PaymentEscrow);
    let id = register(&net, &alice, 1, Address::ZERO).await;
    deposit_native(&net, &alice, bob.address(), id, ether(2)).await;
    deposit_token(&net, &alice, bob.address(), id, ether(5)).await;
    pause(&net, ContractKind::PaymentEscrow).await;
    let before = slot(&net, escrow).await;

    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let report = upgrade::run(
        &d,
        &upgrade_request(
            "escrow",
            Implementation::Artifact(artifact("PaymentEscrowV2")),
        ),
        &|_| {},
    )
    .await
    .expect("upgrade");
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.signer, "upgrader");
    assert_eq!(report.previous_implementation, before);
    let new_impl = report.implementation.expect("deployed");
    assert_ne!(new_impl, before);
    assert_eq!(slot(&net, escrow).await, new_impl, "the chain's slot moved");
    assert_eq!(
        PaymentEscrowV2::new(escrow, net.reader())
            .version()
            .call()
            .await
            .expect("version"),
        U256::from(2),
        "the proxy runs V2"
    );

    // The report's checks, against what was set up.
    assert_eq!(
        check(&report, "implementation slot").after,
        new_impl.to_string()
    );
    let paused = check(&report, "paused");
    assert!(paused.ok && paused.before == "true" && paused.after == "true");
    assert!(check(&report, "balance ETH").ok);
    assert_eq!(check(&report, "balance ETH").after, "2.0 ETH");
    assert!(check(&report, "owed ETH").ok);
    let tokens = report
        .checks
        .iter()
        .find(|c| c.check.starts_with("balance ") && c.check != "balance ETH")
        .expect("the listed token's balance is checked");
    assert!(tokens.ok && tokens.after.starts_with("5.0 "), "{tokens:?}");
    let pauser = format!("PAUSER_ROLE of {}", net.pauser.address());
    assert!(check(&report, &pauser).ok && check(&report, &pauser).after == "true");
    let upgrader = format!("UPGRADER_ROLE of {}", net.upgrader.address());
    assert!(check(&report, &upgrader).ok && check(&report, &upgrader).after == "true");
    // And the chain agrees with the report.
    assert_eq!(net.balance(escrow).await, ether(2));
    assert_eq!(token_balance(&net, escrow).await, ether(5));

    // Deployment, then upgrade: both recorded under the action, mined in order.
    assert_eq!(report.transactions.len(), 2);
    assert!(report.transactions[0].block <= report.transactions[1].block);
    let txs = d.store.transactions(report.action_id).expect("journal");
    assert_eq!(txs.len(), 2, "{txs:#?}");
    assert!(txs.iter().all(|t| t.status == Status::Mined));
    assert_eq!(txs[0].target, None, "the implementation's deployment");
    assert_eq!(txs[1].target, Some(escrow));
    let action = d
        .store
        .actions()
        .expect("actions")
        .into_iter()
        .find(|a| a.id == report.action_id)
        .expect("action");
    assert_eq!(action.kind, "upgrade");
    assert_eq!(action.status, Status::Succeeded);

    // Upgrading to what it already runs is refused, nothing sent.
    let nonce = net.nonce(net.upgrader.address()).await;
    let again = upgrade::run(
        &d,
        &upgrade_request("escrow", Implementation::Address(new_impl)),
        &|_| {},
    )
    .await;
    assert!(
        matches!(&again, Err(ResponseError::Implementation { reason, .. }) if reason.contains("already runs")),
        "{again:?}"
    );
    assert_eq!(net.nonce(net.upgrader.address()).await, nonce);
}

#[tokio::test]
async fn upgrade_is_refused_without_an_upgrader_or_to_an_unusable_implementation_and_sends_nothing()
{
    let net = testnet().await;
    let registry = net.addr(ContractKind::DocumentRegistry);
    let before = slot(&net, registry).await;
    // A manifest whose only upgrader key is not configured.
    let (d, _dir) = open(&net.devnet.manifest, |m| {
        m.signers.remove("upgrader");
    })
    .await;
    let accounts = [
        &net.admin,
        &net.pauser,
        &net.emergency,
        &net.upgrader,
        &net.safe,
    ];
    let mut nonces = Vec::new();
    for a in accounts {
        nonces.push(net.nonce(a.address()).await);
    }
    let head = net.block_number().await;

    let refused = upgrade::run(
        &d,
        &upgrade_request(
            "registry",
            Implementation::Artifact(artifact("DocumentRegistryV2")),
        ),
        &|_| {},
    )
    .await;
    match &refused {
        Err(ResponseError::MissingRole { role, missing, .. }) => {
            assert_eq!(*role, "UPGRADER_ROLE");
            assert!(missing[0].starts_with("registry"), "{missing:?}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Naming a signer without the role is refused the same way.
    let mut as_admin = upgrade_request(
        "registry",
        Implementation::Artifact(artifact("DocumentRegistryV2")),
    );
    as_admin.signer = Some("admin".into());
    assert!(matches!(
        upgrade::run(&d, &as_admin, &|_| {}).await,
        Err(ResponseError::MissingRole { .. })
    ));

    // With the upgrader: the brake is not upgradeable, and neither an account without code nor a
    // proxy is an implementation.
    let (d, _dir2) = open(&net.devnet.manifest, |_| {}).await;
    let brake = upgrade::run(
        &d,
        &upgrade_request("brake", Implementation::Address(net.outsider.address())),
        &|_| {},
    )
    .await;
    assert!(
        matches!(&brake, Err(ResponseError::Unsupported { what, .. }) if what.contains("not behind a UUPS proxy")),
        "{brake:?}"
    );
    for (bad, why) in [
        (net.outsider.address(), "has no code"),
        (
            net.addr(ContractKind::PaymentEscrow),
            "does not answer proxiableUUID()",
        ),
    ] {
        let r = upgrade::run(
            &d,
            &upgrade_request("registry", Implementation::Address(bad)),
            &|_| {},
        )
        .await;
        assert!(
            matches!(&r, Err(ResponseError::Implementation { reason, .. }) if reason.contains(why)),
            "{bad}: {r:?}"
        );
    }
    // A dry run with the upgrader checks everything and sends nothing either.
    let mut dry = upgrade_request(
        "registry",
        Implementation::Artifact(artifact("DocumentRegistryV2")),
    );
    dry.dry_run = true;
    let report = upgrade::run(&d, &dry, &|_| {}).await.expect("dry run");
    assert!(report.ok() && report.dry_run && report.transactions.is_empty());

    for (a, n) in accounts.iter().zip(nonces) {
        assert_eq!(net.nonce(a.address()).await, n, "{} sent nothing", a.name);
    }
    assert_eq!(net.block_number().await, head, "no block was mined");
    assert_eq!(slot(&net, registry).await, before);
}

#[tokio::test]
async fn the_buggy_escrow_lets_an_attacker_drain_deposits_until_the_pause() {
    let net = testnet().await;
    let (alice, bob, carol, attacker) = (
        net.account(6),
        net.account(7),
        net.account(8),
        net.account(9),
    );
    let escrow = net.addr(ContractKind::PaymentEscrow);
    let id = register(&net, &alice, 1, Address::ZERO).await;
    // Other people's deposits: 3 + 2 ether, owed to bob.
    deposit_native(&net, &alice, bob.address(), id, ether(3)).await;
    deposit_native(&net, &carol, bob.address(), id, ether(2)).await;
    // The attacker's own deposit, payable to themself.
    let theirs = deposit_native(&net, &attacker, attacker.address(), id, ether(1)).await;

    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    // Shipped from init code the caller holds, as the drill does with its embedded artifact.
    let shipped = upgrade::run(
        &d,
        &upgrade_request(
            "escrow",
            Implementation::InitCode(PaymentEscrowBuggy::BYTECODE.clone()),
        ),
        &|_| {},
    )
    .await
    .expect("upgrade");
    assert!(
        shipped.ok(),
        "the bug is in behaviour, not state: {shipped:#?}"
    );

    let as_attacker = PaymentEscrowBuggy::new(escrow, net.as_signer_uncached(&attacker));
    let start = net.balance(attacker.address()).await;
    for _ in 0..3 {
        send_ok!(as_attacker.release(theirs));
    }
    let payment = as_attacker.payments(theirs).call().await.expect("payments");
    assert!(
        !payment.settled,
        "the bug: a released payment is never settled"
    );
    assert_eq!(
        net.balance(escrow).await,
        ether(3),
        "2 ether of other people's deposits are gone"
    );
    assert!(
        net.balance(attacker.address()).await > start + ether(2),
        "the attacker got 3 ether back for a deposit of 1 (less gas)"
    );

    let report = crate::response::run(&d, &request(true, named(&["escrow"])))
        .await
        .expect("pause");
    assert!(report.ok(), "{report:#?}");
    let err = send_err!(as_attacker.release(theirs));
    assert_error(&err, "EnforcedPause");
    assert_eq!(
        net.balance(escrow).await,
        ether(3),
        "the pause stopped the drain"
    );
}

#[tokio::test]
async fn the_binary_upgrades_revokes_and_exits_non_zero_on_a_refusal() {
    let net = testnet().await;
    let dir = tempfile::tempdir().expect("tmp");
    net.devnet
        .manifest
        .write(&dir.path().join("guardian.toml"), true)
        .expect("write");
    let guardian = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .current_dir(dir.path())
            .args(args)
            .output()
            .expect("run")
    };
    let path = artifact("OwnershipTokenizerV2");
    let o = guardian(&[
        "upgrade",
        "tokenizer",
        "--artifact",
        path.to_str().expect("utf-8 path"),
        "--reason",
        "fix",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(json["action"], "upgrade");
    assert!(json["action_id"].as_i64().is_some());
    let checks = json["checks"].as_array().expect("checks");
    assert!(!checks.is_empty() && checks.iter().all(|c| c["ok"] == true));
    assert_eq!(json["transactions"].as_array().expect("txs").len(), 2);

    let o = guardian(&[
        "upgrade",
        "brake",
        "--implementation",
        json["implementation"].as_str().expect("impl"),
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not behind a UUPS proxy"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let mallory = net.account(9).address().to_string();
    let o = guardian(&["revoke", "PAUSER_ROLE", &mallory, "--all"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    assert_eq!(out.matches("not held").count(), 5, "{out}");
}
