//! Rescuing funds and reading status against real anvil chains: withdraw refusals and
//! `--everything`, and status findings.

mod findings;

use alloy::primitives::{Address, U256};
use bindings::{DocumentRegistry, PaymentEscrow, TestToken};
use guardian::{
    config::ContractKind,
    response::{
        ResponseError,
        pause::Selection,
        replenish::{self, ReplenishRequest},
        withdraw::{self, Amount, Asset, WithdrawRequest},
    },
    status,
    storage::Status,
};

use guardian::deployment::Deployment;

use crate::{
    response::{is_paused, named, no_env, open, request, rpc, run, wait_until_in_pool},
    send_ok,
    support::{TestNet, doc, testnet},
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
async fn an_interrupted_withdraw_run_again_withdraws_once() {
    let net = testnet().await;
    let (native, _) = fund_escrow(&net).await;
    let (d, dir) = open(&net.devnet.manifest, |_| {}).await;
    run(&d, &request(true, named(&["escrow"])))
        .await
        .expect("pause");
    rpc(&net, "evm_setAutomine", serde_json::json!([false])).await;
    let path = dir.path().join("guardian.toml");
    let safe = net.safe.address();
    let safe_before = net.balance(safe).await;
    let nonce = net.nonce(net.emergency.address()).await;
    let req = withdraw_req(Some("escrow"), Asset::Native, Amount::Exact(native), safe);

    // First run: broadcasts, then is killed while its transaction waits in the pool.
    let first_req = req.clone();
    let first = tokio::spawn(async move {
        let d = Deployment::open(&path, None, &no_env).await.expect("open");
        let _ = withdraw::run(&d, &first_req).await;
    });
    wait_until_in_pool(&net, &d, net.emergency.address()).await;
    first.abort();
    let _ = first.await;

    // Mined while nobody watches: the re-run must find it in the journal, not send it again.
    rpc(&net, "evm_mine", serde_json::json!([])).await;
    rpc(&net, "evm_setAutomine", serde_json::json!([true])).await;
    let report = withdraw::run(&d, &req).await.expect("re-run");
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.movements.len(), 1);
    assert!(report.movements[0].resumed, "{report:#?}");
    assert!(report.movements[0].block.is_some());
    assert_eq!(
        net.nonce(net.emergency.address()).await,
        nonce + 1,
        "exactly one withdrawal was ever sent"
    );
    assert_eq!(net.balance(safe).await, safe_before + native);

    // A pending one is waited for: interrupt again, re-run while it is still in the pool.
    let path = dir.path().join("guardian.toml");
    let fees = net.balance(net.addr(ContractKind::DocumentRegistry)).await;
    run(&d, &request(true, named(&["registry"])))
        .await
        .expect("pause registry");
    rpc(&net, "evm_setAutomine", serde_json::json!([false])).await;
    let req = withdraw_req(Some("registry"), Asset::Native, Amount::All, safe);
    let first_req = req.clone();
    let first = tokio::spawn(async move {
        let d = Deployment::open(&path, None, &no_env).await.expect("open");
        let _ = withdraw::run(&d, &first_req).await;
    });
    wait_until_in_pool(&net, &d, net.emergency.address()).await;
    first.abort();
    let _ = first.await;
    let mine = async {
        for _ in 0..20 {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            rpc(&net, "evm_mine", serde_json::json!([])).await;
        }
    };
    let (report, _) = tokio::join!(withdraw::run(&d, &req), mine);
    let report = report.expect("re-run");
    assert!(report.ok(), "{report:#?}");
    assert!(report.movements[0].resumed);
    assert_eq!(report.movements[0].amount, fees);
    assert_eq!(net.nonce(net.emergency.address()).await, nonce + 2);
    assert_eq!(net.balance(safe).await, safe_before + native + fees);
}

#[tokio::test]
async fn withdraw_everything_rescues_what_it_can_and_names_the_rest() {
    let net = testnet().await;
    fund_escrow(&net).await;
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    // Only the registry is paused: the escrow cannot be rescued from.
    run(&d, &request(true, named(&["registry"])))
        .await
        .expect("pause registry");
    let safe = net.safe.address();
    let safe_before = net.balance(safe).await;
    let fees = net.balance(net.addr(ContractKind::DocumentRegistry)).await;
    let report = withdraw::run(
        &d,
        &withdraw_req(None, Asset::Everything, Amount::All, safe),
    )
    .await
    .expect("best effort reports");
    assert!(!report.ok(), "the escrow was not rescued: {report:#?}");
    assert_eq!(report.skipped.len(), 1, "{report:#?}");
    assert_eq!(report.skipped[0].contract, "escrow");
    assert!(
        report.skipped[0].error.contains("guardian pause escrow"),
        "{:?}",
        report.skipped[0]
    );
    assert_eq!(net.balance(safe).await, safe_before + fees, "fees rescued");
    assert_eq!(
        d.store.actions().expect("journal")[0].status,
        Status::Failed
    );
}

#[tokio::test]
async fn unpause_refuses_an_insolvent_escrow_and_says_what_to_return() {
    let net = testnet().await;
    let (native, _) = fund_escrow(&net).await;
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    run(&d, &request(true, Selection::All))
        .await
        .expect("pause all");
    let safe = net.safe.address();
    withdraw::run(
        &d,
        &withdraw_req(Some("escrow"), Asset::Native, Amount::All, safe),
    )
    .await
    .expect("rescue");

    // status flags the shortfall, in ETH.
    let report = status::read(&d).await;
    let shortfall = report
        .findings
        .iter()
        .find(|f| f.subject == "escrow" && f.message.contains("owes"))
        .unwrap_or_else(|| panic!("no shortfall finding: {:#?}", report.findings));
    assert!(
        shortfall.message.contains("owes 5.0 ETH but holds 0.0 ETH"),
        "{}",
        shortfall.message
    );

    let nonce = net.nonce(net.pauser.address()).await;
    let err = run(&d, &request(false, Selection::All))
        .await
        .expect_err("insolvent escrow");
    let text = err.to_string();
    assert!(matches!(err, ResponseError::Insolvent(_)), "{text}");
    assert!(
        text.contains("escrow owes 5.0 ETH, holds 0.0 ETH: return 5.0 ETH")
            && text.contains("guardian replenish --contract escrow --native --amount 5.0"),
        "{text}"
    );
    assert_eq!(
        net.nonce(net.pauser.address()).await,
        nonce,
        "nothing was sent, not even for the solvent contracts"
    );
    assert!(is_paused(&net, ContractKind::DocumentRegistry).await);

    // The safe returns the rescued coin: replenish, then unpause works.
    let returned = replenish::run(
        &d,
        &ReplenishRequest {
            contract: "escrow".into(),
            token: None,
            amount: "5.0".into(),
            signer: Some("safe".into()),
            dry_run: false,
            reason: Some("funds back".into()),
        },
    )
    .await
    .expect("replenish");
    assert_eq!(returned.balance_after, Some(native));
    assert_eq!(returned.owed, Some(native), "replenish changes no books");
    let report = run(&d, &request(false, Selection::All))
        .await
        .expect("unpause once whole");
    assert!(report.ok(), "{report:#?}");
    assert!(!is_paused(&net, ContractKind::PaymentEscrow).await);
    assert!(
        !status::read(&d)
            .await
            .findings
            .iter()
            .any(|f| f.message.contains("owes")),
        "no shortfall left"
    );
}

#[tokio::test]
async fn unpause_allow_insolvent_needs_a_reason_and_records_it() {
    let net = testnet().await;
    fund_escrow(&net).await;
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    run(&d, &request(true, Selection::All))
        .await
        .expect("pause all");
    withdraw::run(
        &d,
        &withdraw_req(
            Some("escrow"),
            Asset::Native,
            Amount::All,
            net.safe.address(),
        ),
    )
    .await
    .expect("rescue");

    // An override needs a reason; with one it resumes, and the reason is recorded.
    let mut anyway = request(false, Selection::All);
    anyway.allow_insolvent = true;
    anyway.reason = None;
    assert!(matches!(
        run(&d, &anyway).await,
        Err(ResponseError::ReasonRequired(_))
    ));
    anyway.reason = Some("compensation plan agreed".into());
    let report = run(&d, &anyway).await.expect("unpause anyway");
    assert!(report.ok(), "{report:#?}");
    assert!(!is_paused(&net, ContractKind::PaymentEscrow).await);
    let action = &d.store.actions().expect("journal")[0];
    assert_eq!(action.reason.as_deref(), Some("compensation plan agreed"));
    assert_eq!(action.params["allow_insolvent"], true);
}

#[tokio::test]
async fn replenish_returns_tokens_after_approving_and_refuses_what_the_payer_lacks() {
    let net = testnet().await;
    let (_, tokens) = fund_escrow(&net).await;
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    run(&d, &request(true, named(&["escrow"])))
        .await
        .expect("pause");
    let token = net.addr(ContractKind::TestToken);
    withdraw::run(
        &d,
        &withdraw_req(
            Some("escrow"),
            Asset::Token(token),
            Amount::All,
            net.safe.address(),
        ),
    )
    .await
    .expect("rescue tokens");
    let erc20 = TestToken::new(token, net.reader());
    let decimals = erc20.decimals().call().await.expect("decimals");
    let whole = alloy::primitives::utils::format_units(tokens, decimals).expect("units");
    let req = |amount: &str, signer: &str| ReplenishRequest {
        contract: "escrow".into(),
        token: Some(token),
        amount: amount.into(),
        signer: Some(signer.into()),
        dry_run: false,
        reason: None,
    };

    // The pauser holds no tokens: refused before anything is sent.
    let nonce = net.nonce(net.pauser.address()).await;
    let err = replenish::run(&d, &req(&whole, "pauser"))
        .await
        .expect_err("payer lacks tokens");
    assert!(matches!(err, ResponseError::Replenish(_)), "{err}");
    assert!(err.to_string().contains("less than the"), "{err}");
    assert_eq!(net.nonce(net.pauser.address()).await, nonce);
    let err = replenish::run(&d, &req("lots", "safe"))
        .await
        .expect_err("not an amount");
    assert!(err.to_string().contains("not an amount"), "{err}");

    // The safe holds them: it approves, then replenishes, while the escrow is still paused.
    let report = replenish::run(&d, &req(&whole, "safe"))
        .await
        .expect("replenish tokens");
    assert!(report.approve_tx.is_some(), "approved first: {report:#?}");
    assert_eq!(report.amount, tokens);
    let escrow = net.addr(ContractKind::PaymentEscrow);
    assert_eq!(
        erc20.balanceOf(escrow).call().await.expect("balance"),
        tokens
    );
    assert_eq!(
        PaymentEscrow::new(escrow, net.reader())
            .outstanding(token)
            .call()
            .await
            .expect("outstanding"),
        tokens,
        "what is owed did not change"
    );
    assert!(is_paused(&net, ContractKind::PaymentEscrow).await);
}
