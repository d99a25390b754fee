//! Rescuing funds and reading status against real anvil chains: withdraw refusals and
//! `--everything`, and status findings.

use alloy::primitives::{Address, U256};
use bindings::{DocumentRegistry, PaymentEscrow, TestToken};
use guardian::{
    config::ContractKind,
    response::{
        ResponseError,
        pause::Selection,
        withdraw::{self, Amount, Asset, WithdrawRequest},
    },
    roles::Role,
    status::{self, Severity},
    storage::Status,
};

use crate::{
    response::{named, open, request, run},
    send_ok,
    support::{
        TestNet, doc,
        proxy::{self, Behaviour, Counts},
        testnet,
    },
};

/// Funds the escrow with a native and a token deposit; returns the amounts.
async fn fund_escrow(net: &TestNet) -> (U256, U256) {
    let user = net.account(6);
    let fee = U256::from(1_000_000_000_000_000u64);
    // One provider for the user, so its nonces stay in order.
    let p = net.as_signer(&user);
    let registry = DocumentRegistry::new(net.addr(ContractKind::DocumentRegistry), p.clone());
    send_ok!(
        registry
            .registerDocument(doc(1), doc(2), Address::ZERO)
            .value(fee)
    );
    let escrow_addr = net.addr(ContractKind::PaymentEscrow);
    let escrow = PaymentEscrow::new(escrow_addr, p.clone());
    let native = U256::from(5_000_000_000_000_000_000u128);
    send_ok!(
        escrow
            .deposit(doc(1), Address::ZERO, native, net.account(7).address())
            .value(native)
    );
    let token = TestToken::new(net.addr(ContractKind::TestToken), p);
    let tokens = U256::from(1234u64);
    send_ok!(token.mint(user.address(), tokens));
    send_ok!(token.approve(escrow_addr, tokens));
    send_ok!(escrow.deposit(
        doc(1),
        net.addr(ContractKind::TestToken),
        tokens,
        net.account(7).address()
    ));
    (native, tokens)
}

fn withdraw_req(
    contract: Option<&str>,
    asset: Asset,
    amount: Amount,
    to: Address,
) -> WithdrawRequest {
    WithdrawRequest {
        contract: contract.map(String::from),
        asset,
        amount,
        to,
        signer: None,
        dry_run: false,
        reason: None,
    }
}

#[tokio::test]
async fn withdraw_refuses_unsafe_recipients_and_unpaused_contracts() {
    let net = testnet().await;
    fund_escrow(&net).await;
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let nonce = net.nonce(net.emergency.address()).await;

    let err = withdraw::run(
        &d,
        &withdraw_req(
            Some("escrow"),
            Asset::Native,
            Amount::All,
            net.outsider.address(),
        ),
    )
    .await
    .expect_err("unsafe recipient");
    assert!(
        matches!(err, ResponseError::RecipientNotAllowed(..)),
        "{err}"
    );

    let err = withdraw::run(
        &d,
        &withdraw_req(
            Some("escrow"),
            Asset::Native,
            Amount::All,
            net.safe.address(),
        ),
    )
    .await
    .expect_err("not paused");
    assert!(
        err.to_string().contains("guardian pause escrow"),
        "says how to pause it: {err}"
    );

    run(&d, &request(true, named(&["escrow"])))
        .await
        .expect("pause");
    let too_much = Amount::Exact(U256::from(10u128.pow(30)));
    let err = withdraw::run(
        &d,
        &withdraw_req(Some("escrow"), Asset::Native, too_much, net.safe.address()),
    )
    .await
    .expect_err("above balance");
    assert!(err.to_string().contains("less than the"), "{err}");

    let err = withdraw::run(
        &d,
        &withdraw_req(
            Some("tokenizer"),
            Asset::Native,
            Amount::All,
            net.safe.address(),
        ),
    )
    .await
    .expect_err("holds no funds");
    assert!(err.to_string().contains("no emergencyWithdraw"), "{err}");
    assert_eq!(
        net.nonce(net.emergency.address()).await,
        nonce,
        "nothing was sent"
    );
}

#[tokio::test]
async fn withdraw_everything_moves_native_and_tokens_to_the_safe_recipient() {
    let net = testnet().await;
    let (native, tokens) = fund_escrow(&net).await;
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    run(&d, &request(true, Selection::All))
        .await
        .expect("pause all");
    let safe = net.safe.address();
    let token = TestToken::new(net.addr(ContractKind::TestToken), net.reader());
    let safe_before = net.balance(safe).await;
    let fees = net.balance(net.addr(ContractKind::DocumentRegistry)).await;

    let mut dry = withdraw_req(None, Asset::Everything, Amount::All, safe);
    dry.dry_run = true;
    let plan = withdraw::run(&d, &dry).await.expect("dry run");
    assert_eq!(
        plan.movements.len(),
        3,
        "registry fees, escrow native, escrow token: {plan:#?}"
    );
    assert_eq!(
        net.balance(safe).await,
        safe_before,
        "a dry run moves nothing"
    );

    let report = withdraw::run(
        &d,
        &withdraw_req(None, Asset::Everything, Amount::All, safe),
    )
    .await
    .expect("withdraw");
    assert!(report.ok(), "{report:#?}");
    assert_eq!(net.balance(safe).await, safe_before + native + fees);
    assert_eq!(token.balanceOf(safe).call().await.expect("balance"), tokens);
    assert_eq!(
        net.balance(net.addr(ContractKind::PaymentEscrow)).await,
        U256::ZERO
    );
    assert!(
        report
            .movements
            .iter()
            .all(|m| m.tx.is_some() && m.balance_after == Some(U256::ZERO))
    );
    let actions = d.store.actions().expect("journal");
    assert_eq!(actions[0].kind, "withdraw");
    assert_eq!(actions[0].status, Status::Succeeded);
}

#[tokio::test]
async fn status_shows_an_unexpected_role_holder_first() {
    let net = testnet().await;
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let clean = status::read(&d).await;
    assert!(clean.findings.is_empty(), "{:#?}", clean.findings);
    assert!(clean.ok());
    let pauser = clean
        .signers
        .iter()
        .find(|s| s.signer == "pauser")
        .expect("pauser");
    assert!(pauser.holds["registry"].contains(&Role::Pauser));
    assert!(pauser.holds["brake"].contains(&Role::Guardian));
    let registry = clean
        .contracts
        .iter()
        .find(|c| c.name == "registry")
        .expect("registry");
    assert!(registry.upgradeable && registry.implementation.is_some());
    // The brake is a plain contract: shown as not upgradeable, neither an error nor a finding.
    let brake = clean
        .contracts
        .iter()
        .find(|c| c.name == "brake")
        .expect("brake");
    assert!(!brake.upgradeable);
    assert_eq!(brake.implementation, None);
    assert_eq!(brake.error, None);
    assert_eq!(
        brake.roles.keys().copied().collect::<Vec<_>>(),
        [Role::Admin, Role::Guardian]
    );

    let reg = DocumentRegistry::new(
        net.addr(ContractKind::DocumentRegistry),
        net.as_signer(&net.admin),
    );
    send_ok!(reg.grantRole(Role::Emergency.id(), net.outsider.address()));
    send_ok!(reg.revokeRole(Role::Pauser.id(), net.pauser.address()));
    let report = status::read(&d).await;
    assert!(!report.ok());
    let first = &report.findings[0];
    assert_eq!(first.severity, Severity::Critical);
    assert!(
        first.message.contains("EMERGENCY_ROLE")
            && first.message.contains(&net.outsider.address().to_string()),
        "{first:?}"
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.severity == Severity::Warning && f.message.contains("PAUSER_ROLE"))
    );
}

#[tokio::test]
async fn status_reads_role_history_through_an_endpoint_that_caps_log_ranges() {
    let net = testnet().await;
    assert!(
        net.devnet
            .manifest
            .contracts
            .iter()
            .all(|c| c.deployed_block.is_some()),
        "devnet records where each contract's history starts"
    );
    let (direct, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let expected = status::read(&direct).await;
    let upstream = net.devnet.anvils[0].url.expose().to_string();
    let proxy = proxy::start_with(
        &upstream,
        Behaviour {
            max_log_range: Some(3),
            ..Behaviour::default()
        },
    )
    .await;
    // Without deployed_block the history is read from block 0, across the whole deployment.
    let (capped, _dir2) = open(&net.devnet.manifest, |m| {
        m.chains.get_mut("local").expect("chain").rpc_urls = vec![proxy.url.parse().expect("url")];
        for c in &mut m.contracts {
            c.deployed_block = None;
        }
    })
    .await;
    let report = status::read(&capped).await;
    assert!(
        report.ok() && report.findings.is_empty(),
        "{:#?}",
        report.findings
    );
    assert!(
        Counts::get(&proxy.counts.refused_logs) > 0,
        "ranges were refused"
    );
    for (want, got) in expected.contracts.iter().zip(&report.contracts) {
        assert_eq!(want.roles, got.roles, "{}", want.name);
    }

    let reg = DocumentRegistry::new(
        net.addr(ContractKind::DocumentRegistry),
        net.as_signer(&net.admin),
    );
    send_ok!(reg.grantRole(Role::Upgrader.id(), net.outsider.address()));
    let report = status::read(&capped).await;
    let first = &report.findings[0];
    assert_eq!(first.severity, Severity::Critical, "{first:?}");
    assert!(
        first.message.contains("UPGRADER_ROLE")
            && first.message.contains(&net.outsider.address().to_string()),
        "{first:?}"
    );
}
