//! `incident affected` through the real binary: the escrow's payers and payees with what they had
//! at stake when the incident opened and now, as JSON and as RFC 4180 CSV, and the export recorded
//! in the timeline for the checklist.

use std::path::Path;

use alloy::{
    primitives::{Address, U256},
    providers::{Provider, ProviderBuilder},
};
use bindings::{DocumentRegistry, OwnershipTokenizer, PaymentEscrow, TestToken};
use guardian::config::ContractKind;
use serde_json::Value;

use crate::{
    send_ok,
    support::{TestNet, doc, testnet},
};

/// Runs guardian in `dir` (the process's environment cleared but for PATH).
async fn guardian(dir: &Path, args: &[&str]) -> (bool, String, String) {
    crate::support::bin::run(dir, &[("GUARDIAN_OPERATOR", "dana")], args).await
}

async fn ok(dir: &Path, args: &[&str]) -> String {
    let (ok, out, err) = guardian(dir, args).await;
    assert!(ok, "guardian {args:?} failed:\n{out}\n{err}");
    out
}

async fn json(dir: &Path, args: &[&str]) -> Value {
    let out = ok(dir, args).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// An RFC 4180 reader: CRLF records, quoted fields with doubled quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => assert_eq!(chars.next(), Some('\n'), "CRLF line ends"),
            (false, '\n') => panic!("a bare LF ends a record: {text:?}"),
            (false, c) => field.push(c),
        }
        if !quoted && c == '\r' {
            row.push(std::mem::take(&mut field));
            rows.push(std::mem::take(&mut row));
        }
    }
    assert!(
        field.is_empty() && row.is_empty(),
        "the last record ends with CRLF"
    );
    rows
}

/// `[(symbol, amount)]` of a party's `at_stake_*` list.
fn stake(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .expect("amounts")
        .iter()
        .map(|a| {
            (
                a["symbol"].as_str().expect("symbol").to_string(),
                a["amount"].as_str().expect("amount").to_string(),
            )
        })
        .collect()
}

fn party<'a>(parties: &'a [Value], who: Address, role: &str) -> &'a Value {
    parties
        .iter()
        .find(|p| address(p) == who && p["role"] == role)
        .unwrap_or_else(|| panic!("{who} as {role} in {parties:#?}"))
}

fn address(p: &Value) -> Address {
    p["address"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("address")
}

fn eth(n: u128) -> U256 {
    U256::from(n * 10u128.pow(18))
}

/// Deposits `amount` (native coin when `token` is None) from `payer` to `payee` for doc(1);
/// returns the payment id.
async fn deposit(
    net: &TestNet,
    payer: u32,
    payee: Address,
    token: Option<Address>,
    amount: U256,
) -> U256 {
    let p = net.as_signer(&net.account(payer));
    let escrow = PaymentEscrow::new(net.addr(ContractKind::PaymentEscrow), p.clone());
    let receipt = match token {
        None => send_ok!(
            escrow
                .deposit(doc(1), Address::ZERO, amount, payee)
                .value(amount)
        ),
        Some(t) => {
            let erc20 = TestToken::new(t, p);
            send_ok!(erc20.mint(net.account(payer).address(), amount));
            send_ok!(erc20.approve(*escrow.address(), amount));
            send_ok!(escrow.deposit(doc(1), t, amount, payee))
        }
    };
    crate::support::events::<PaymentEscrow::PaymentDeposited>(&receipt)[0].paymentId
}

async fn release(net: &TestNet, payer: u32, id: U256) {
    let p = net.as_signer(&net.account(payer));
    let escrow = PaymentEscrow::new(net.addr(ContractKind::PaymentEscrow), p);
    send_ok!(escrow.release(id));
}

#[tokio::test]
async fn lists_each_payer_and_payee_with_their_stake_at_the_start_and_now() {
    let net = testnet().await;
    let dir = tempfile::tempdir().expect("tmp");
    net.devnet
        .manifest
        .write(&dir.path().join("guardian.toml"), true)
        .expect("manifest");
    let (outsider, a6, a7, a8, a9) = (
        net.outsider.address(),
        net.account(6).address(),
        net.account(7).address(),
        net.account(8).address(),
        net.account(9).address(),
    );
    let token = net.addr(ContractKind::TestToken);

    // Before the incident: 6 pays 7 five ETH and 1234 token units (open); 8 pays 9 two ETH,
    // released at once (nothing at stake any more).
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
    let open_eth = deposit(&net, 6, a7, None, eth(5)).await;
    let released = deposit(&net, 8, a9, None, eth(2)).await;
    release(&net, 8, released).await;
    let open_token = deposit(&net, 6, a7, Some(token), U256::from(1234)).await;

    let opened = json(
        dir.path(),
        &[
            "incident",
            "open",
            "--level",
            "2",
            "--contracts",
            "escrow",
            "--title",
            "t",
            "--json",
        ],
    )
    .await;
    assert_eq!(opened["id"], 1);

    // After the start: the escrow resumes, 6 releases the ETH payment and the outsider pays 7 one
    // ETH. "Now" shows both; "at the start" neither.
    let pauser = net.as_signer(&net.pauser);
    send_ok!(PaymentEscrow::new(net.addr(ContractKind::PaymentEscrow), pauser).unpause());
    release(&net, 6, open_eth).await;
    let late = deposit(&net, 5, a7, None, eth(1)).await;

    let listing = json(dir.path(), &["incident", "affected", "1", "--json"]).await;
    let parties = listing["parties"].as_array().expect("parties").clone();
    assert_eq!(parties.len(), 5, "{parties:#?}");
    assert_eq!(listing["addresses"], 5);
    let (eth_, itt) = ("ETH".to_string(), "ITT".to_string());
    let amount = |n: U256| n.to_string();

    let p6 = party(&parties, a6, "escrow-payer");
    assert_eq!(
        stake(&p6["at_stake_start"]),
        [(eth_.clone(), amount(eth(5))), (itt.clone(), "1234".into())]
    );
    assert_eq!(
        stake(&p6["at_stake_now"]),
        [(eth_.clone(), "0".into()), (itt.clone(), "1234".into())]
    );
    assert_eq!(
        p6["detail"],
        serde_json::json!([open_eth.to_string(), open_token.to_string()])
    );
    assert_eq!(p6["start_source"], "state", "anvil keeps old state");
    assert_eq!(p6["contract"], "escrow");

    let p7 = party(&parties, a7, "escrow-payee");
    assert_eq!(
        stake(&p7["at_stake_start"]),
        [(eth_.clone(), amount(eth(5))), (itt.clone(), "1234".into())]
    );
    assert_eq!(
        stake(&p7["at_stake_now"]),
        [(eth_.clone(), amount(eth(1))), (itt, "1234".into())]
    );

    // The payment released before the incident: both its parties are listed, with nothing at stake.
    for (who, role) in [(a8, "escrow-payer"), (a9, "escrow-payee")] {
        let p = party(&parties, who, role);
        assert_eq!(stake(&p["at_stake_start"]), [(eth_.clone(), "0".into())]);
        assert_eq!(stake(&p["at_stake_now"]), [(eth_.clone(), "0".into())]);
        assert_eq!(p["detail"], serde_json::json!([released.to_string()]));
    }
    // Deposited after the start: nothing at stake then, the deposit now.
    let p5 = party(&parties, outsider, "escrow-payer");
    assert_eq!(stake(&p5["at_stake_start"]), [(eth_.clone(), "0".into())]);
    assert_eq!(stake(&p5["at_stake_now"]), [(eth_, amount(eth(1)))]);
    assert_eq!(p5["detail"], serde_json::json!([late.to_string()]));

    // Each address's status: a stake that fell is for a person to judge (a release or a loss);
    // an unchanged one is saved, the incident being mitigated (its pause landed).
    assert_eq!(p6["status"], "needs-review");
    assert_eq!(p7["status"], "needs-review");
    assert_eq!(party(&parties, a8, "escrow-payer")["status"], "saved");
    assert_eq!(p5["status"], "saved");

    // The start is the head block recorded when the incident opened, before its pause.
    let show = json(dir.path(), &["incident", "show", "1", "--json"]).await;
    let timeline = show["timeline"].as_array().expect("timeline");
    let funds = timeline
        .iter()
        .find(|e| e["kind"] == "funds" && e["details"]["when"] == "opened")
        .expect("opening snapshot");
    assert_eq!(p6["start_block"], funds["details"]["blocks"]["local"]);

    // CSV: the header, then a row per party, in the JSON's order.
    let csv = parse_csv(&ok(dir.path(), &["incident", "affected", "1", "--csv"]).await);
    assert_eq!(
        csv[0],
        [
            "address",
            "chain",
            "contract",
            "role",
            "detail",
            "at_stake_start",
            "at_stake_now",
            "start_block",
            "now_block",
            "start_source",
            "status"
        ]
    );
    assert_eq!(csv.len(), 1 + parties.len());
    for (row, p) in csv[1..].iter().zip(&parties) {
        assert_eq!(row.len(), 11);
        assert_eq!(row[0].parse::<Address>().expect("address"), address(p));
        assert_eq!(row[3], p["role"].as_str().expect("role"));
    }
    let row6 = csv
        .iter()
        .find(|r| r[0].parse::<Address>().ok() == Some(a6))
        .expect("6 in the CSV");
    assert_eq!(row6[5], "5.0 ETH; 0.000000000000001234 ITT");

    // The table is for people: not an export.
    let table = ok(dir.path(), &["incident", "affected", "1"]).await;
    assert!(table.contains(&a9.to_string()) && table.contains("escrow-payee"));

    // Each export is in the timeline (the checklist's evidence), the table is not.
    let show = json(dir.path(), &["incident", "show", "1", "--json"]).await;
    let exports: Vec<&Value> = show["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["kind"] == "affected-exported")
        .collect();
    assert_eq!(exports.len(), 2, "{exports:#?}");
    assert_eq!(exports[0]["details"]["format"], "json");
    assert_eq!(exports[1]["details"]["format"], "csv");
    assert!(exports.iter().all(|e| e["details"]["addresses"] == 5));
    assert_eq!(exports[0]["actor"], "dana");
    assert_eq!(show["integrity"]["state"], "intact");
}

#[tokio::test]
async fn lists_document_owners_and_token_holders_before_and_after_transfers_during_the_pause() {
    let net = testnet().await;
    let dir = tempfile::tempdir().expect("tmp");
    net.devnet
        .manifest
        .write(&dir.path().join("guardian.toml"), true)
        .expect("manifest");
    let (a6, a7, a8, a9) = (
        net.account(6).address(),
        net.account(7).address(),
        net.account(8).address(),
        net.account(9).address(),
    );
    // Nonces read from the node: one account sends through both contracts.
    let registry_as = |i| {
        DocumentRegistry::new(
            net.addr(ContractKind::DocumentRegistry),
            net.as_signer_uncached(&net.account(i)),
        )
    };
    let tokenizer_as = |i| {
        OwnershipTokenizer::new(
            net.addr(ContractKind::OwnershipTokenizer),
            net.as_signer_uncached(&net.account(i)),
        )
    };
    let fee = registry_as(6).registrationFee().call().await.expect("fee");
    // 6 owns documents 1 and 3, 7 owns document 4; 8 holds document 1's token.
    let (r6, r7) = (registry_as(6), registry_as(7));
    for n in [1, 3] {
        send_ok!(
            r6.registerDocument(doc(n), doc(100 + n), Address::ZERO)
                .value(fee)
        );
    }
    send_ok!(
        r7.registerDocument(doc(4), doc(104), Address::ZERO)
            .value(fee)
    );
    send_ok!(tokenizer_as(6).reserveToken(doc(1), a8));
    let claim = send_ok!(tokenizer_as(8).claimToken(doc(1)));
    let token_id = crate::support::events::<OwnershipTokenizer::Transfer>(&claim)[0].tokenId;

    json(
        dir.path(),
        &["incident", "open", "--level", "3", "--title", "t", "--json"],
    )
    .await;
    // Transfers still run while everything is paused (the pause matrix): document 3 and the
    // token move to 9 after the start.
    send_ok!(r6.transferDocumentOwnership(doc(3), a9));
    send_ok!(tokenizer_as(8).transferFrom(a8, a9, token_id));

    let listing = json(dir.path(), &["incident", "affected", "1", "--json"]).await;
    let parties = listing["parties"].as_array().expect("parties").clone();
    let counts = |who, role| {
        let p = party(&parties, who, role);
        let one = |k: &str| {
            let s = stake(&p[k]);
            assert_eq!(s.len(), 1, "{p:#?}");
            s[0].1.clone()
        };
        (one("at_stake_start"), one("at_stake_now"), p.clone())
    };
    let (start, now, p6) = counts(a6, "document-owner");
    assert_eq!((start.as_str(), now.as_str()), ("2", "1"));
    assert_eq!(p6["at_stake_now"][0]["symbol"], "documents");
    let mut owned = [doc(1).to_string(), doc(3).to_string()];
    owned.sort();
    assert_eq!(p6["detail"], serde_json::json!(owned));
    assert_eq!(p6["contract"], "registry");
    let (start, now, _) = counts(a7, "document-owner");
    assert_eq!((start.as_str(), now.as_str()), ("1", "1"));
    let (start, now, p9) = counts(a9, "document-owner");
    assert_eq!((start.as_str(), now.as_str()), ("0", "1"));
    assert_eq!(p9["detail"], serde_json::json!([doc(3).to_string()]));

    let (start, now, p8) = counts(a8, "token-holder");
    assert_eq!((start.as_str(), now.as_str()), ("1", "0"));
    assert_eq!(p8["detail"], serde_json::json!([token_id.to_string()]));
    assert_eq!(p8["contract"], "tokenizer");
    let (start, now, _) = counts(a9, "token-holder");
    assert_eq!((start.as_str(), now.as_str()), ("0", "1"));

    // Nothing else: no payments were made, and 7 never held a token.
    assert_eq!(parties.len(), 5, "{parties:#?}");
    assert_eq!(listing["addresses"], 4);
}

#[tokio::test]
async fn on_a_node_without_old_state_the_start_comes_from_the_logs_and_says_so() {
    // anvil keeping one state, as a pruned (non-archive) node does: older state is refused.
    let dir = tempfile::tempdir().expect("tmp");
    let manifest = dir.path().join("guardian.toml");
    let (_anvil, url) = crate::support::pruned_chain_with_suite(&manifest).await;
    let reader = ProviderBuilder::new().connect_http(url.clone());
    let m = guardian::config::Manifest::load(&manifest).expect("manifest");
    crate::support::register_and_deposit(url, &m, eth(3)).await;

    let run = |args: &'static [&'static str]| {
        let dir = dir.path().to_path_buf();
        async move {
            let key = format!("0x{}", crate::support::DEV_KEY_0);
            let (ok, text, err) =
                crate::support::bin::run(&dir, &[("DEPLOYER_KEY", key.as_str())], args).await;
            assert!(ok, "guardian {args:?}: {text}{err}");
            text
        }
    };
    run(&[
        "incident",
        "open",
        "--level",
        "2",
        "--contracts",
        "escrow",
        "--title",
        "t",
    ])
    .await;
    // A few blocks later, the start block's state is gone from this node.
    let _: Value = reader
        .raw_request("anvil_mine".into(), (3,))
        .await
        .expect("mine");
    let listing: Value =
        serde_json::from_str(&run(&["incident", "affected", "1", "--json"]).await).expect("json");
    let parties = listing["parties"].as_array().expect("parties").clone();
    assert_eq!(parties.len(), 2, "{parties:#?}");
    for p in &parties {
        assert_eq!(p["start_source"], "logs", "{p:#?}");
        assert_eq!(
            stake(&p["at_stake_start"]),
            [("ETH".into(), eth(3).to_string())]
        );
        assert_eq!(
            stake(&p["at_stake_now"]),
            [("ETH".into(), eth(3).to_string())]
        );
    }
    let table = run(&["incident", "affected", "1"]).await;
    assert!(
        table.contains("amounts at the start were read from its logs"),
        "{table}"
    );
}
