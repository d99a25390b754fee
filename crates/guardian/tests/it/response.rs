//! Emergency actions against real anvil chains: pause/unpause (brake and direct, many chains),
//! refusals before sending, dry runs, interrupted runs, dead endpoints, stuck transactions,
//! withdrawals and status findings.

use std::time::Instant;

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use bindings::{DocumentRegistry, PaymentEscrow, TestToken};
use guardian::{
    config::{ContractKind, Manifest, SignerConfig},
    deployment::Deployment,
    devnet::{Devnet, DevnetOptions},
    response::{
        ResponseError,
        pause::{self, Outcome, PauseRequest, Selection},
        withdraw::{self, Amount, Asset, WithdrawRequest},
    },
    roles::Role,
    status::{self, Severity},
    storage::Status,
};

use crate::{
    send_ok,
    support::{TestNet, anvil_path, doc, testnet},
};

fn no_env(_: &str) -> Option<String> {
    None
}

/// Writes `manifest` (after `tweak`) into a temp dir and opens it as a deployment.
async fn open(
    manifest: &Manifest,
    tweak: impl FnOnce(&mut Manifest),
) -> (Deployment, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let mut m = manifest.clone();
    tweak(&mut m);
    let path = dir.path().join("guardian.toml");
    m.write(&path, true).expect("write manifest");
    let d = Deployment::open(&path, None, &no_env)
        .await
        .expect("open deployment");
    (d, dir)
}

fn request(pause: bool, selection: Selection) -> PauseRequest {
    PauseRequest {
        pause,
        selection,
        chain: None,
        signer: None,
        dry_run: false,
        reason: Some("test".into()),
    }
}

fn named(names: &[&str]) -> Selection {
    Selection::Named(names.iter().map(|s| s.to_string()).collect())
}

async fn run(d: &Deployment, req: &PauseRequest) -> Result<pause::PauseReport, ResponseError> {
    pause::run(d, req, Instant::now(), &|_| {}).await
}

async fn is_paused(net: &TestNet, kind: ContractKind) -> bool {
    DocumentRegistry::new(net.addr(kind), net.reader())
        .paused()
        .call()
        .await
        .expect("paused()")
}

async fn rpc(net: &TestNet, method: &'static str, params: serde_json::Value) -> serde_json::Value {
    net.client
        .provider()
        .raw_request(method.into(), params)
        .await
        .expect(method)
}

async fn multi_chain(chains: u32, copies: u32, block_time: Option<u64>) -> Devnet {
    Devnet::start(
        &DevnetOptions {
            anvil: anvil_path(),
            port: 0,
            block_time,
            chains,
            copies,
        },
        None,
    )
    .await
    .expect("devnet")
}

#[tokio::test]
async fn pause_all_stops_every_contract_on_every_chain_in_one_block_each() {
    let devnet = multi_chain(3, 2, Some(1)).await;
    let (d, _dir) = open(&devnet.manifest, |_| {}).await;
    let report = run(&d, &request(true, Selection::All))
        .await
        .expect("pause --all");
    assert!(report.ok(), "{report:#?}");
    assert_eq!(
        report.targets.len(),
        3 * 2 * 4,
        "every pausable contract of every copy on every chain"
    );
    assert!(
        report
            .targets
            .iter()
            .all(|t| t.outcome == Outcome::Changed && t.paused == Some(true))
    );
    assert_eq!(report.transactions, 6, "one pauseAll per brake");
    for (chain, (first, last)) in &report.blocks {
        assert_eq!(
            first, last,
            "chain {chain}: all pauses must land in one block"
        );
    }
    // The chains agree, not just the report.
    let st = status::read(&d).await;
    for c in st.contracts.iter().filter(|c| c.kind.is_pausable()) {
        assert_eq!(c.paused, Some(true), "{} on {}", c.name, c.chain);
    }
    // And the journal has the action with its transactions.
    let txs = d.store.transactions(report.action_id).expect("journal");
    assert_eq!(txs.len(), 6);
    assert!(
        txs.iter()
            .all(|t| t.status == Status::Mined && t.block_number.is_some())
    );

    let again = run(&d, &request(true, Selection::All))
        .await
        .expect("second pause");
    assert!(
        again.ok() && again.transactions == 0,
        "already paused: nothing sent"
    );
    assert!(
        again
            .targets
            .iter()
            .all(|t| t.outcome == Outcome::AlreadyDone)
    );

    let unpaused = run(&d, &request(false, Selection::All))
        .await
        .expect("unpause --all");
    assert!(
        unpaused.ok() && unpaused.transactions == 24,
        "unpause goes contract by contract"
    );
    for (chain, (first, last)) in &unpaused.blocks {
        assert_eq!(first, last, "chain {chain}: all unpauses in one block");
    }
    devnet.stop().await;
}

#[tokio::test]
async fn named_targets_mix_of_paused_and_unpaused() {
    let net = testnet().await;
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let first = run(&d, &request(true, named(&["registry"])))
        .await
        .expect("pause registry");
    assert_eq!(first.targets[0].outcome, Outcome::Changed);
    assert_eq!(first.targets[0].via.as_deref(), Some("direct"));

    let mixed = run(&d, &request(true, named(&["registry", "escrow"])))
        .await
        .expect("pause both");
    assert!(mixed.ok());
    assert_eq!(mixed.transactions, 1, "the paused one is skipped");
    let outcome = |n: &str| {
        mixed
            .targets
            .iter()
            .find(|t| t.name == n)
            .map(|t| t.outcome)
    };
    assert_eq!(outcome("registry"), Some(Outcome::AlreadyDone));
    assert_eq!(outcome("escrow"), Some(Outcome::Changed));
    assert!(
        !is_paused(&net, ContractKind::OwnershipTokenizer).await,
        "untouched target stays unpaused"
    );

    let err = run(&d, &request(true, named(&["registry", "nope"])))
        .await
        .expect_err("unknown name");
    assert!(
        err.to_string().contains("no contract named `nope`"),
        "{err}"
    );
    let err = run(&d, &request(true, named(&["test-token"])))
        .await
        .expect_err("not pausable");
    assert!(err.to_string().contains("has no pause()"), "{err}");
}

#[tokio::test]
async fn a_signer_without_the_role_is_refused_before_anything_is_sent() {
    let net = testnet().await;
    let (d, _dir) = open(&net.devnet.manifest, |m| {
        m.signers.insert(
            "outsider".into(),
            SignerConfig {
                dev_account: Some(5),
                ..Default::default()
            },
        );
    })
    .await;
    let mut req = request(true, named(&["registry", "escrow"]));
    req.signer = Some("outsider".into());
    let nonce = net.nonce(net.outsider.address()).await;
    let err = run(&d, &req).await.expect_err("no role");
    let text = err.to_string();
    assert!(
        text.contains("PAUSER_ROLE") && text.contains("registry (local): outsider"),
        "{text}"
    );
    assert!(
        text.contains("escrow (local): outsider"),
        "lists every target it lacks: {text}"
    );
    assert_eq!(
        net.nonce(net.outsider.address()).await,
        nonce,
        "nothing was sent"
    );
    assert!(!is_paused(&net, ContractKind::DocumentRegistry).await);

    // --all with a signer lacking every role: the brake is not usable either.
    let mut all = request(true, Selection::All);
    all.signer = Some("outsider".into());
    assert!(matches!(
        run(&d, &all).await,
        Err(ResponseError::MissingRole { .. })
    ));
    assert_eq!(net.nonce(net.outsider.address()).await, nonce);
}

#[tokio::test]
async fn dry_run_sends_nothing() {
    let net = testnet().await;
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let nonce = net.nonce(net.pauser.address()).await;
    let block = net.block_number().await;
    let mut req = request(true, Selection::All);
    req.dry_run = true;
    let report = run(&d, &req).await.expect("dry run");
    assert!(
        report
            .targets
            .iter()
            .all(|t| t.outcome == Outcome::WouldChange)
    );
    assert!(
        report
            .targets
            .iter()
            .all(|t| t.via.as_deref() == Some("brake"))
    );
    assert_eq!(net.nonce(net.pauser.address()).await, nonce);
    assert_eq!(net.block_number().await, block);
    assert!(!is_paused(&net, ContractKind::DocumentRegistry).await);
}

#[tokio::test]
async fn a_brake_that_would_fail_falls_back_to_direct_pauses() {
    let net = testnet().await;
    // The brake loses its PAUSER_ROLE on the tokenizer: pauseAll would revert TargetsNotPaused.
    let tokenizer = DocumentRegistry::new(
        net.addr(ContractKind::OwnershipTokenizer),
        net.as_signer(&net.admin),
    );
    send_ok!(tokenizer.revokeRole(Role::Pauser.id(), net.addr(ContractKind::EmergencyBrake)));
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let report = run(&d, &request(true, Selection::All))
        .await
        .expect("pause --all");
    assert!(report.ok(), "{report:#?}");
    assert!(
        report
            .targets
            .iter()
            .all(|t| t.via.as_deref() == Some("direct"))
    );
    for kind in [
        ContractKind::DocumentRegistry,
        ContractKind::OwnershipTokenizer,
        ContractKind::PaymentEscrow,
    ] {
        assert!(is_paused(&net, kind).await);
    }
}

#[tokio::test]
async fn an_interrupted_run_is_finished_without_duplicates() {
    let net = testnet().await;
    rpc(&net, "evm_setAutomine", serde_json::json!([false])).await;
    let (d, dir) = open(&net.devnet.manifest, |_| {}).await;
    let path = dir.path().join("guardian.toml");
    let nonce = net.nonce(net.pauser.address()).await;

    // First run: sends, then is killed while the transaction waits in the pool.
    let first = tokio::spawn(async move {
        let d = Deployment::open(&path, None, &no_env).await.expect("open");
        let _ = pause::run(
            &d,
            &request(true, named(&["registry"])),
            Instant::now(),
            &|_| {},
        )
        .await;
    });
    let mut waited = 0;
    while d
        .store
        .unconfirmed(31337, net.pauser.address())
        .expect("journal")
        .is_empty()
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        waited += 1;
        assert!(waited < 500, "the first run never sent");
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    first.abort();
    let _ = first.await;
    assert!(
        !is_paused(&net, ContractKind::DocumentRegistry).await,
        "not mined yet"
    );

    // Second run: finds the pending transaction and waits for it instead of sending another.
    let mine = async {
        for _ in 0..20 {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            rpc(&net, "evm_mine", serde_json::json!([])).await;
        }
    };
    let req = request(true, named(&["registry"]));
    let (report, _) = tokio::join!(run(&d, &req), mine);
    let report = report.expect("re-run");
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.targets[0].outcome, Outcome::Changed);
    assert_eq!(report.transactions, 0, "the re-run sent nothing new");
    assert_eq!(
        net.nonce(net.pauser.address()).await,
        nonce + 1,
        "exactly one transaction was ever sent"
    );
    assert!(is_paused(&net, ContractKind::DocumentRegistry).await);
}

/// A TCP listener that accepts connections and never answers: a hanging RPC endpoint.
async fn hanging_endpoint() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (url, task)
}

#[tokio::test]
async fn a_dead_or_hanging_first_endpoint_costs_one_timeout() {
    let net = testnet().await;
    let (hanging, _task) = hanging_endpoint().await;
    for dead in [hanging.as_str(), "http://127.0.0.1:9"] {
        let (d, _dir) = open(&net.devnet.manifest, |m| {
            m.rpc.request_timeout_ms = 300;
            let chain = m.chains.get_mut("local").expect("chain");
            chain.rpc_urls.insert(0, dead.parse().expect("url"));
        })
        .await;
        assert!(d.unreachable.is_empty(), "the second endpoint answers");
        let report = run(&d, &request(true, named(&["registry", "escrow"])))
            .await
            .expect("pause");
        assert!(report.ok(), "{report:#?}");
        let report = run(&d, &request(false, named(&["registry", "escrow"])))
            .await
            .expect("unpause");
        assert!(report.ok(), "{report:#?}");
    }
    // Every endpoint dead: a clear error naming none of the secrets in the URL.
    let (d, _dir) = open(&net.devnet.manifest, |m| {
        m.rpc.request_timeout_ms = 200;
        m.chains.get_mut("local").expect("chain").rpc_urls =
            vec!["http://127.0.0.1:9/v2/APIKEY123".parse().expect("url")];
    })
    .await;
    let err = d.unreachable.get("local").expect("unreachable").to_string();
    assert!(
        err.contains("no RPC endpoint answered") && !err.contains("APIKEY123"),
        "{err}"
    );
    let report = run(&d, &request(true, named(&["registry"])))
        .await
        .expect("runs");
    assert!(!report.ok(), "an unreachable chain is a failure");
}

#[tokio::test]
async fn a_stuck_transaction_is_replaced_with_a_higher_fee() {
    let net = testnet().await;
    rpc(&net, "evm_setAutomine", serde_json::json!([false])).await;
    let (d, _dir) = open(&net.devnet.manifest, |m| m.rpc.replace_after_blocks = 1).await;
    let pauser = net.pauser.address();

    let pool_fee = || async {
        let content = rpc(&net, "txpool_content", serde_json::json!([])).await;
        let txs = content["pending"][pauser.to_string().to_lowercase()]
            .as_object()
            .cloned()
            .unwrap_or_default();
        txs.values().next().and_then(|tx| {
            tx["maxFeePerGas"]
                .as_str()
                .map(|s| u128::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex"))
        })
    };
    let driver = async {
        let mut original = None;
        for _ in 0..200 {
            if let Some(fee) = pool_fee().await {
                original = Some(fee);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let m = original.expect("the pause reached the pool");
        // A block whose base fee is just above the offered max fee: the transaction is stuck.
        rpc(
            &net,
            "anvil_setNextBlockBaseFeePerGas",
            serde_json::json!([format!("0x{:x}", m + 1)]),
        )
        .await;
        rpc(&net, "evm_mine", serde_json::json!([])).await;
        let mut replaced = None;
        for _ in 0..200 {
            match pool_fee().await {
                Some(fee) if fee > m => {
                    replaced = Some(fee);
                    break;
                }
                _ => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
        let r = replaced.expect("a replacement with a higher fee");
        assert!(r * 10 >= m * 11, "at least a 10% bump: {m} -> {r}");
        rpc(
            &net,
            "anvil_setNextBlockBaseFeePerGas",
            serde_json::json!([format!("0x{:x}", m + 1)]),
        )
        .await;
        rpc(&net, "evm_mine", serde_json::json!([])).await;
    };
    let req = request(true, named(&["registry"]));
    let (report, ()) = tokio::join!(run(&d, &req), driver);
    let report = report.expect("pause");
    assert!(report.ok(), "{report:#?}");
    let txs = d.store.transactions(report.action_id).expect("journal");
    assert_eq!(txs.len(), 2, "the original and its replacement: {txs:#?}");
    assert_eq!(txs[0].nonce, txs[1].nonce, "same nonce");
    assert_eq!(txs[0].status, Status::Replaced);
    assert_eq!(txs[1].status, Status::Mined);
    assert_eq!(report.targets[0].tx, Some(txs[1].tx_hash));
    assert!(is_paused(&net, ContractKind::DocumentRegistry).await);
}

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
    assert!(registry.implementation.is_some());

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

fn guardian(dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_guardian"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir);
    cmd
}

#[tokio::test]
async fn cli_pauses_with_a_key_from_the_environment_and_never_prints_it() {
    let net = testnet().await;
    let key = alloy::hex::encode(net.pauser.key().to_bytes());
    let dir = tempfile::tempdir().expect("tmp");
    let mut m = net.devnet.manifest.clone();
    m.signers.clear();
    m.signers.insert(
        "oncall".into(),
        SignerConfig {
            private_key_env: Some("GUARDIAN_PAUSER_KEY".into()),
            ..Default::default()
        },
    );
    m.write(&dir.path().join("guardian.toml"), true)
        .expect("write");

    let o = guardian(dir.path())
        .env("GUARDIAN_PAUSER_KEY", &key)
        .env("RUST_LOG", "trace")
        .args(["-vv", "pause", "--all", "--reason", "drill"])
        .output()
        .expect("run");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{out}");
    assert!(out.contains("paused by this run"), "{out}");
    assert!(!out.contains(&key), "the key leaked into output or logs");

    let o = guardian(dir.path())
        .env("GUARDIAN_PAUSER_KEY", &key)
        .args(["status", "--json"])
        .output()
        .expect("run");
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        json["contracts"]
            .as_array()
            .expect("contracts")
            .iter()
            .filter(|c| c["kind"] == "DocumentRegistry")
            .all(|c| c["paused"] == true)
    );
    assert!(!String::from_utf8_lossy(&o.stderr).contains(&key));

    // The journal tells who did what, and why.
    let o = guardian(dir.path())
        .args(["history"])
        .output()
        .expect("run");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success()
            && out.contains("pause")
            && out.contains("drill")
            && out.contains("oncall"),
        "{out}"
    );
    let o = guardian(dir.path())
        .args(["history", "--json"])
        .output()
        .expect("run");
    let actions: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let id = actions[0]["id"].as_i64().expect("id");
    let o = guardian(dir.path())
        .args(["history", "--action", &id.to_string(), "--json"])
        .output()
        .expect("run");
    let txs: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        txs.as_array().map(Vec::len),
        Some(1),
        "one pauseAll through the brake: {txs}"
    );
    assert_eq!(txs[0]["status"], "mined");

    // Exit code 1 when a target cannot reach the wanted state; a missing key is a clear error.
    let o = guardian(dir.path())
        .args(["unpause", "registry"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("GUARDIAN_PAUSER_KEY is not set"),
        "{err}"
    );
}

#[tokio::test]
async fn devnet_cli_starts_many_chains_and_leaves_no_anvil_behind() {
    let dir = tempfile::tempdir().expect("tmp");
    let o = guardian(dir.path())
        .args([
            "devnet", "--port", "0", "--chains", "3", "--copies", "2", "--exit", "--anvil",
        ])
        .arg(anvil_path())
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = Manifest::load(&dir.path().join("guardian.toml")).expect("manifest");
    let mut ids: Vec<u64> = m.chains.values().map(|c| c.chain_id).collect();
    ids.sort();
    assert_eq!(ids, vec![31337, 31338, 31339]);
    assert_eq!(m.contracts.len(), 3 * 2 * 6);
    for chain in m.chains.values() {
        let url = chain.rpc_urls[0].expose().clone();
        let provider = alloy::providers::RootProvider::<alloy::network::Ethereum>::new_http(url);
        assert!(
            provider.get_block_number().await.is_err(),
            "anvil outlived guardian"
        );
    }
}

#[tokio::test]
async fn without_signer_flag_the_configured_holder_of_the_role_signs() {
    let net = testnet().await;
    // The intended pauser lost the role on the registry; the admin holds it instead.
    let reg = DocumentRegistry::new(
        net.addr(ContractKind::DocumentRegistry),
        net.as_signer(&net.admin),
    );
    send_ok!(reg.grantRole(Role::Pauser.id(), net.admin.address()));
    send_ok!(reg.revokeRole(Role::Pauser.id(), net.pauser.address()));
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let report = run(&d, &request(true, named(&["registry", "escrow"])))
        .await
        .expect("pause");
    assert!(report.ok(), "{report:#?}");
    let signer = |n: &str| {
        report
            .targets
            .iter()
            .find(|t| t.name == n)
            .and_then(|t| t.signer.clone())
    };
    assert_eq!(signer("registry").as_deref(), Some("admin"));
    assert_eq!(
        signer("escrow").as_deref(),
        Some("pauser"),
        "the intended holder is preferred"
    );
}
