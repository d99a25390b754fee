//! `guardian bounty assess` through the real binary against a devnet's real balances: critical
//! reports paid 10 % of the escrow's worth at their submission (priced by [bounty] native_usd
//! and [bounty.token_usd]), the floor and the cap, a medium report's fixed amount, balances
//! moved after a submission not counted, and an unknown report refused.

use std::{
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
};

use alloy::{
    primitives::{Address, I256, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
};
use bindings::{DocumentRegistry, PaymentEscrow, TestToken, testing::TestPriceFeed};
use guardian::{
    bounty::{self, Submission},
    config::ContractKind,
    storage::Store,
};
use serde_json::Value;

use crate::{
    send_ok,
    support::{TestNet, doc, testnet},
};

const NATIVE_USD: f64 = 3000.0;
const ITT_USD: f64 = 2.0;
const MEDIUM_USD: u64 = 2500;

/// Makes each stored report's (unused) follow-up token hash unique.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Runs guardian in `dir` (the process's environment cleared but for PATH).
async fn guardian(dir: &Path, args: &[&str]) -> (bool, String, String) {
    crate::support::bin::run(dir, &[], args).await
}

async fn assess(dir: &Path, id: i64) -> Value {
    let (ok, out, err) = guardian(dir, &["bounty", "assess", &id.to_string(), "--json"]).await;
    assert!(ok, "bounty assess {id} failed:\n{out}\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

pub(crate) fn eth(n: u128) -> U256 {
    U256::from(n * 10u128.pow(18))
}

/// Stores a report against `contracts` as if submitted half a second after the latest block,
/// and makes the next block come 10 s after that block: whatever happens next on chain is after
/// the submission, whatever the wall clock says.
async fn report(net: &TestNet, store: &Store, severity: &str, contracts: &[&str]) -> (i64, u64) {
    report_on(&net.reader(), store, severity, contracts).await
}

/// [`report`] on the chain `reader` reads.
async fn report_on(
    reader: &DynProvider,
    store: &Store,
    severity: &str,
    contracts: &[&str],
) -> (i64, u64) {
    let head = reader
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .expect("head")
        .expect("block");
    let ts = head.header.timestamp;
    let new = bounty::validate(
        &Submission {
            title: "Escrow pays twice".into(),
            severity: severity.into(),
            impact: impact_of(severity).into(),
            contracts: contracts.iter().map(|c| c.to_string()).collect(),
            description: "releasePayment can be re-entered.".into(),
            proof_of_concept: "poc".into(),
            contact: "researcher@example.org".into(),
            ..Default::default()
        },
        &["escrow", "registry", "tokenizer"],
    )
    .expect("valid report");
    let id = store
        .insert_bounty_report(
            &new,
            None,
            &format!("hash-{}", NEXT.fetch_add(1, Ordering::Relaxed)),
            (ts * 1000 + 500) as i64,
        )
        .expect("stored");
    let _: Value = reader
        .raw_request("evm_setNextBlockTimestamp".into(), (ts + 10,))
        .await
        .expect("next timestamp");
    (id, head.header.number)
}

/// The first impact of `severity` (a claim whose impact is of its severity).
fn impact_of(severity: &str) -> &'static str {
    severity
        .parse::<bounty::Severity>()
        .expect("severity")
        .impacts()
        .next()
        .expect("an impact")
        .id
}

/// Registers the document the deposits are for, from account 6.
pub(crate) async fn register(net: &TestNet) {
    let registry = DocumentRegistry::new(
        net.addr(ContractKind::DocumentRegistry),
        net.as_signer(&net.account(6)),
    );
    let fee = registry.registrationFee().call().await.expect("fee");
    send_ok!(
        registry
            .registerDocument(doc(1), doc(2), Address::ZERO)
            .value(fee)
    );
}

/// Deposits `amount` of ETH (or of the test token) into the escrow from account 6 to account 7;
/// returns the payment id.
pub(crate) async fn deposit(net: &TestNet, token: Option<Address>, amount: U256) -> U256 {
    let payer = net.account(6);
    let p = net.as_signer(&payer);
    let escrow = PaymentEscrow::new(net.addr(ContractKind::PaymentEscrow), p.clone());
    let payee = net.account(7).address();
    let receipt = match token {
        None => send_ok!(
            escrow
                .deposit(doc(1), Address::ZERO, amount, payee)
                .value(amount)
        ),
        Some(t) => {
            let erc20 = TestToken::new(t, p);
            send_ok!(erc20.mint(payer.address(), amount));
            send_ok!(erc20.approve(*escrow.address(), amount));
            send_ok!(escrow.deposit(doc(1), t, amount, payee))
        }
    };
    crate::support::events::<PaymentEscrow::PaymentDeposited>(&receipt)[0].paymentId
}

/// `dollars` as a feed answer with 8 decimals.
fn usd_8(dollars: i64) -> I256 {
    I256::try_from(dollars * 100_000_000).expect("i256")
}

fn asset<'a>(a: &'a Value, symbol: &str) -> &'a Value {
    a["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .find(|l| l["symbol"] == symbol)
        .unwrap_or_else(|| panic!("{symbol} in {a:#}"))
}

#[tokio::test]
async fn rewards_follow_the_escrow_balance_at_submission_between_the_floor_and_the_cap() {
    let net = testnet().await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut manifest = net.devnet.manifest.clone();
    manifest.bounty.native_usd = Some(NATIVE_USD);
    manifest.bounty.medium_usd = MEDIUM_USD;
    manifest.bounty.token_usd.insert("ITT".to_string(), ITT_USD);
    manifest
        .write(&dir.path().join("guardian.toml"), true)
        .expect("manifest");
    let store = Store::open(&dir.path().join("guardian.db")).expect("db");
    let escrow_addr = net.addr(ContractKind::PaymentEscrow);
    let token = net.addr(ContractKind::TestToken);
    assert_eq!(net.balance(escrow_addr).await, U256::ZERO, "a fresh escrow");

    register(&net).await;

    // 1 ETH in the escrow: 10 % of $3,000 is below the $1,000 floor.
    deposit(&net, None, eth(1)).await;
    let (small, _) = report(&net, &store, "critical", &["escrow"]).await;

    // 30 ETH and 100 ITT: 10 % of $90,000 + $200.
    deposit(&net, None, eth(29)).await;
    deposit(&net, Some(token), eth(100)).await;
    let (mid, mid_block) = report(&net, &store, "critical", &["escrow", "tokenizer"]).await;
    let medium = report(&net, &store, "medium", &["escrow"]).await.0;

    // 400 ETH: 10 % of $1.2M is above the critical cap.
    let big_payment = deposit(&net, None, eth(370)).await;
    let (big, _) = report(&net, &store, "critical", &["escrow"]).await;

    // After the last submission, 370 ETH leave the escrow: the reports above were all submitted
    // before and are assessed on what the escrow held then.
    let escrow = PaymentEscrow::new(escrow_addr, net.as_signer(&net.account(6)));
    send_ok!(escrow.release(big_payment));
    assert_eq!(net.balance(escrow_addr).await, eth(30));

    let a = assess(dir.path(), small).await;
    assert_eq!(a["severity"], "critical");
    assert_eq!(a["severity_source"], "claimed");
    assert_eq!(asset(&a, "ETH")["amount"], "1.0 ETH");
    assert_eq!(asset(&a, "ETH")["raw"], eth(1).to_string());
    assert_eq!(asset(&a, "ETH")["usd"], 3000.0);
    assert_eq!(a["at_risk_usd"], 3000.0);
    assert_eq!(a["min_usd"], 1000);
    assert_eq!(a["reward_usd"], 1000.0, "the floor: {a:#}");
    assert_eq!(a["rule"], "min_usd");

    let a = assess(dir.path(), mid).await;
    assert_eq!(asset(&a, "ETH")["amount"], "30.0 ETH");
    assert_eq!(asset(&a, "ITT")["amount"], "100.0 ITT");
    assert_eq!(asset(&a, "ITT")["asset"], token.to_checksum(None));
    assert_eq!(asset(&a, "ITT")["usd"], 200.0);
    // 30 ETH × $3,000 + 100 ITT × $2, exactly, and 10 % of it.
    assert_eq!(a["at_risk_usd"], 30.0 * NATIVE_USD + 100.0 * ITT_USD);
    assert_eq!(a["share_percent"], 10);
    assert_eq!(a["cap_usd"], 100_000);
    assert_eq!(a["reward_usd"], 9020.0, "{a:#}");
    assert_eq!(a["rule"], "share");
    // The balances of the submission block, which is the block before the report.
    assert_eq!(a["read_at"]["local"]["at"], "submission");
    assert_eq!(a["read_at"]["local"]["block"], mid_block);
    assert!(
        a["assets"]
            .as_array()
            .expect("assets")
            .iter()
            .all(|l| l["contract"] == "escrow"),
        "the tokenizer holds no funds: {a:#}"
    );
    let notes = a["notes"].to_string();
    assert!(notes.contains("counts once"), "{notes}");
    assert!(notes.contains("tokenizer"), "{notes}");
    assert_eq!(a["warnings"], serde_json::json!([]));

    let a = assess(dir.path(), big).await;
    assert_eq!(asset(&a, "ETH")["amount"], "400.0 ETH");
    assert_eq!(a["at_risk_usd"], 400.0 * NATIVE_USD + 100.0 * ITT_USD);
    assert_eq!(a["reward_usd"], 100_000.0, "capped: {a:#}");
    assert_eq!(a["rule"], "cap");

    let a = assess(dir.path(), medium).await;
    assert_eq!(a["severity"], "medium");
    assert_eq!(a["reward_usd"], MEDIUM_USD as f64);
    assert_eq!(a["rule"], "fixed");
    assert_eq!(a["cap_usd"], 5000);
    assert_eq!(a["at_risk_usd"], Value::Null);

    // --severity overrides the claim: the medium report assessed as high is a share again,
    // 10 % of $90,200.
    let (ok, out, err) = guardian(
        dir.path(),
        &[
            "bounty",
            "assess",
            &medium.to_string(),
            "--severity",
            "high",
            "--json",
        ],
    )
    .await;
    assert!(ok, "{out}\n{err}");
    let a: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (&a["severity"], &a["severity_source"]),
        (&Value::from("high"), &Value::from("override"))
    );
    assert_eq!(a["reward_usd"], 9020.0);
    assert_eq!(a["cap_usd"], 25_000);

    // For people: a line per asset, the total, the share, the cap, the reward and where.
    let (ok, out, err) = guardian(dir.path(), &["bounty", "assess", &mid.to_string()]).await;
    assert!(ok, "{out}\n{err}");
    for expected in [
        "30.0 ETH",
        "$90000.00",
        "100.0 ITT",
        "at risk:  $90200.00",
        "share:    10%",
        "cap:      $100000.00",
        "reward:   $9020.00",
        &format!("read at:  local block {mid_block} (submission"),
    ] {
        assert!(out.contains(expected), "{expected:?} in:\n{out}");
    }

    // An unknown report: a clear error and a failing exit code.
    let (ok, out, err) = guardian(dir.path(), &["bounty", "assess", "99", "--json"]).await;
    assert!(!ok, "{out}");
    assert!(err.contains("no bounty report #99"), "{err}");
}

#[tokio::test]
async fn an_unpriced_asset_counts_nothing_and_a_feed_prices_it_as_it_was_at_submission() {
    let net = testnet().await;
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("guardian.toml");
    // No [bounty] prices at all.
    net.devnet.manifest.write(&path, true).expect("manifest");
    let store = Store::open(&dir.path().join("guardian.db")).expect("db");
    // A Chainlink-style ETH/USD feed with 8 decimals, at $2,500.
    let deployer = net.as_signer(&net.account(8));
    let feed = TestPriceFeed::deploy(deployer.clone(), 8, usd_8(2_500))
        .await
        .expect("feed deployed");
    let registry = DocumentRegistry::new(
        net.addr(ContractKind::DocumentRegistry),
        net.as_signer(&net.account(6)),
    );
    let fee = registry.registrationFee().call().await.expect("fee");
    send_ok!(
        registry
            .registerDocument(doc(1), doc(2), Address::ZERO)
            .value(fee)
    );
    deposit(&net, None, eth(5)).await;
    deposit(&net, Some(net.addr(ContractKind::TestToken)), eth(7)).await;
    let (id, _) = report(&net, &store, "high", &["escrow"]).await;
    // After the submission, ETH goes to $4,000.
    send_ok!(feed.setAnswer(usd_8(4_000)));

    let a = assess(dir.path(), id).await;
    assert_eq!(asset(&a, "ETH")["amount"], "5.0 ETH");
    assert_eq!(asset(&a, "ETH")["usd"], Value::Null);
    assert_eq!(asset(&a, "ITT")["usd"], Value::Null);
    assert_eq!(a["at_risk_usd"], 0.0);
    assert_eq!(a["reward_usd"], 1000.0, "the floor, nothing guessed");
    let warnings = a["warnings"].to_string();
    assert!(warnings.contains("[bounty] native_usd"), "{warnings}");
    assert!(warnings.contains("[bounty.token_usd]"), "{warnings}");
    assert!(warnings.contains("ITT"), "{warnings}");

    // The feed for the native coin (it wins over the fixed price), a fixed price for ITT, and
    // an ITT feed address that is no feed: the fixed price is used, with a warning.
    let mut manifest = net.devnet.manifest.clone();
    manifest.bounty.native_usd = Some(1.0);
    manifest.bounty.token_usd.insert("ITT".into(), ITT_USD);
    manifest
        .bounty
        .price_feeds
        .insert("native".into(), *feed.address());
    let not_a_feed = net.account(9).address();
    manifest.bounty.price_feeds.insert("itt".into(), not_a_feed);
    manifest.write(&path, true).expect("manifest");
    let a = assess(dir.path(), id).await;
    let eth_line = asset(&a, "ETH");
    assert_eq!(
        eth_line["price_usd"], 2500.0,
        "the price at submission: {a:#}"
    );
    assert_eq!(eth_line["price_from"], format!("feed {}", feed.address()));
    assert_eq!(eth_line["usd"], 12_500.0);
    assert_eq!(asset(&a, "ITT")["price_from"], "[bounty.token_usd]");
    assert_eq!(asset(&a, "ITT")["usd"], 14.0);
    // 10 % of $12,514.
    assert_eq!(a["at_risk_usd"], 12_514.0);
    assert_eq!(a["reward_usd"], 1251.4);
    assert_eq!(a["cap_usd"], 25_000);
    let warnings = a["warnings"].to_string();
    assert!(
        warnings.contains(&format!("price feed {not_a_feed} for ITT"))
            && warnings.contains("the fixed price is used"),
        "{warnings}"
    );
}

#[tokio::test]
async fn on_a_node_without_the_submission_state_the_balances_are_read_now_and_it_says_so() {
    // anvil keeping one state, as a pruned (non-archive) node does: older state is refused.
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("guardian.toml");
    let (_anvil, url) = crate::support::pruned_chain_with_suite(&path).await;
    let reader = ProviderBuilder::new().connect_http(url.clone()).erased();
    let mut manifest = guardian::config::Manifest::load(&path).expect("manifest");
    manifest.bounty.native_usd = Some(NATIVE_USD);
    manifest.write(&path, true).expect("manifest");
    let (escrow, payee) = crate::support::register_and_deposit(url, &manifest, eth(3)).await;
    let store = Store::open(&dir.path().join("guardian.db")).expect("db");
    let (id, submitted) = report_on(&reader, &store, "critical", &["escrow"]).await;
    // After the submission: 7 more ETH, and a few blocks; the submission's state is gone.
    send_ok!(
        escrow
            .deposit(doc(1), Address::ZERO, eth(7), payee)
            .value(eth(7))
    );
    let _: Value = reader
        .raw_request("anvil_mine".into(), (3,))
        .await
        .expect("mine");
    let head = reader.get_block_number().await.expect("head");

    let a = assess(dir.path(), id).await;
    assert_eq!(a["read_at"]["local"]["at"], "now", "{a:#}");
    assert_eq!(a["read_at"]["local"]["block"], head);
    assert_eq!(asset(&a, "ETH")["amount"], "10.0 ETH");
    assert_eq!(a["at_risk_usd"], 30_000.0);
    assert_eq!(a["reward_usd"], 3000.0);
    let warnings = a["warnings"].to_string();
    assert!(
        warnings.contains(&format!("no state at block {submitted}")),
        "{warnings}"
    );
}

#[tokio::test]
async fn an_unreachable_chain_fails_a_critical_assessment_but_not_a_medium_one() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("guardian.toml"),
        r#"
[chains.local]
chain_id = 31337
rpc_urls = ["http://127.0.0.1:1/v3/SECRET-API-KEY-4f2a"]

[[contracts]]
name = "escrow"
chain = "local"
kind = "PaymentEscrow"
address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"

[bounty]
native_usd = 3000
low_usd = 500
"#,
    )
    .expect("manifest");
    let store = Store::open(&dir.path().join("guardian.db")).expect("db");
    let stored = |severity: &str| {
        let new = bounty::validate(
            &Submission {
                title: "t".into(),
                severity: severity.into(),
                impact: impact_of(severity).into(),
                contracts: vec!["escrow".into()],
                description: "d".into(),
                proof_of_concept: "p".into(),
                contact: "c".into(),
                ..Default::default()
            },
            &["escrow"],
        )
        .expect("valid");
        let hash = format!("hash-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        store
            .insert_bounty_report(&new, None, &hash, 1)
            .expect("stored")
    };
    let (critical, low) = (stored("critical"), stored("low"));

    let (ok, out, err) = guardian(dir.path(), &["bounty", "assess", &critical.to_string()]).await;
    assert!(!ok, "{out}");
    assert!(
        err.contains("chain `local` (of contract `escrow`) cannot be reached"),
        "{err}"
    );
    assert!(
        !err.contains("SECRET-API-KEY"),
        "no RPC path in errors: {err}"
    );

    let a = assess(dir.path(), low).await;
    assert_eq!(a["severity"], "low");
    assert_eq!(a["reward_usd"], 500.0);
    assert_eq!(a["cap_usd"], 1000);
}
