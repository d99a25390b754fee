//! `guardian incident movements` on the drill's incident: the drainer's take out of the escrow,
//! the rescue to the safe recipient, the attacker's addresses and who funded them, as a user
//! reads them after `guardian demo` (whose chains are gone by then: the drill recorded them).

use alloy::primitives::{Address, U256, utils::parse_ether};
use serde_json::Value;

/// Runs `guardian ARGS` in `dir`: its standard output, and whether it exited 0.
async fn guardian(dir: &std::path::Path, args: &[&str]) -> (String, bool) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_guardian"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GUARDIAN_OPERATOR", "drill-lead")
        .current_dir(dir)
        .args(args)
        .output()
        .await
        .expect("guardian runs");
    (
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            if out.status.success() {
                String::new()
            } else {
                format!("\nstderr: {}", String::from_utf8_lossy(&out.stderr))
            }
        ),
        out.status.success(),
    )
}

fn wei(v: &Value) -> U256 {
    v.as_str()
        .unwrap_or_else(|| panic!("a decimal string: {v}"))
        .parse()
        .expect("decimal")
}

#[tokio::test]
async fn the_drills_movements_show_the_take_with_the_attacker_and_the_rescue() {
    drill_then_movements(&[]).await;
}

#[tokio::test]
async fn a_rescue_a_safe_executed_is_rescued_too() {
    drill_then_movements(&["--safe"]).await;
}

/// Runs `guardian demo --json` with `more` arguments, then checks `incident movements 1`.
async fn drill_then_movements(more: &[&str]) {
    let tmp = tempfile::tempdir().expect("tmp");
    let args = [&["demo", "--json", "--dir", "drill"][..], more].concat();
    let (demo, ok) = guardian(tmp.path(), &args).await;
    let r: Value = serde_json::from_str(&demo).unwrap_or_else(|e| panic!("{e}: {demo}"));
    assert!(ok && r["ok"] == true, "{r:#}");
    let drill = tmp.path().join("drill");

    let (out, ok) = guardian(&drill, &["incident", "movements", "1", "--json"]).await;
    assert!(ok, "{out}");
    let m: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    // anvil serves call traces: every native transfer with its recipient.
    assert_eq!(m["source"], "traces", "{m:#}");

    // The attacker: the sender of the exploit, funded at genesis (a dev account), and its
    // drainer contract, first funded by that sender.
    let attackers = m["attackers"].as_array().expect("attackers");
    let sender = attackers
        .iter()
        .find(|a| a["role"] == "sender")
        .unwrap_or_else(|| panic!("no sender: {m:#}"));
    assert_eq!(sender["funding"], "funded at genesis", "{sender}");
    let drainer = attackers
        .iter()
        .find(|a| a["role"] == "contract")
        .unwrap_or_else(|| panic!("no drainer: {m:#}"));
    assert_eq!(drainer["funded_by"], sender["address"], "{drainer}");
    let theirs = |to: &Value| attackers.iter().any(|a| a["address"] == *to);

    // What the drainer took out of the escrow in the exploit's transactions: what the escrow
    // lost (net of the deposit) plus the attacker's own deposit.
    let exploit_txs: Vec<&Value> = r["attacker_txs"]
        .as_array()
        .expect("attacker_txs")
        .iter()
        .map(|t| &t["hash"])
        .collect();
    let rows = m["movements"].as_array().expect("movements");
    let taken: Vec<&Value> = rows
        .iter()
        .filter(|row| row["recovery"] == "with the attacker")
        .collect();
    assert!(!taken.is_empty(), "{m:#}");
    for row in &taken {
        assert!(exploit_txs.contains(&&row["transaction"]), "{row}");
        assert!(theirs(&row["to"]), "{row}");
        assert_eq!(row["to"], drainer["address"], "{row}");
        assert!(row["asset"]["token"].is_null(), "{row}");
        assert_eq!(row["chain"], r["chain"]);
    }
    let escrow = &taken[0]["contract"];
    assert!(taken.iter().all(|row| row["contract"] == *escrow));
    let sum: U256 = taken.iter().map(|row| wei(&row["amount"])).sum();
    let deposit = parse_ether("1").expect("the drill's deposit: scene::ATTACK_DEPOSIT_ETH");
    assert_eq!(sum, wei(&r["lost_wei"]) + deposit, "{m:#}\n{r:#}");

    // The rescue: what was left, to the manifest's safe recipient (by the Safe's execution
    // with --safe).
    let rescued: Vec<&Value> = rows
        .iter()
        .filter(|row| row["recovery"] == "rescued")
        .collect();
    assert!(!rescued.is_empty(), "{m:#}");
    let manifest = std::fs::read_to_string(drill.join("guardian.toml"))
        .expect("manifest")
        .to_lowercase();
    let recipients = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("safe_recipients"))
        .expect("safe_recipients")
        .to_string();
    for row in &rescued {
        let to = row["to"].as_str().expect("a recipient").to_lowercase();
        assert!(recipients.contains(&to), "{to} not in {recipients}");
        assert!(!theirs(&row["to"]), "{row}");
    }
    assert!(
        rescued.iter().any(|row| row["contract"] == *escrow),
        "{m:#}"
    );
    let back: U256 = rescued
        .iter()
        .filter(|row| row["asset"]["token"].is_null())
        .map(|row| wei(&row["amount"]))
        .sum();
    assert_eq!(back, wei(&r["rescued_wei"]), "{m:#}\n{r:#}");

    // For people: the table, the attacker list and the source.
    let (text, ok) = guardian(&drill, &["incident", "movements", "1"]).await;
    assert!(ok, "{text}");
    for needed in [
        "with the attacker",
        "rescued",
        "funded at genesis",
        "source: traces",
    ] {
        assert!(text.contains(needed), "{needed:?} missing:\n{text}");
    }
}

/// A node that serves no traces and no Otterscan API: the movements come from the logs and the
/// escrow's balances (the recipient unknown), and the sender's first funding from a scan of
/// every block.
#[tokio::test]
async fn without_traces_the_movements_come_from_logs_and_balances() {
    use alloy::{
        network::EthereumWallet,
        providers::{Provider, ProviderBuilder},
        signers::local::PrivateKeySigner,
    };
    use bindings::{DocumentRegistry, PaymentEscrow};
    use guardian::config::ContractKind;

    use crate::{
        send_ok,
        support::{
            doc,
            proxy::{self, Behaviour},
            testnet,
        },
    };

    let net = testnet().await;
    let proxy = proxy::start_with(
        net.devnet.anvils[0].url.expose().as_str(),
        Behaviour {
            missing_methods: &[
                "debug_traceTransaction",
                "ots_searchTransactionsAfter",
                "ots_getContractCreator",
            ],
            ..Behaviour::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut manifest = net.devnet.manifest.clone();
    for chain in manifest.chains.values_mut() {
        chain.rpc_urls = vec![proxy.url.parse().expect("url")];
    }
    manifest
        .write(&dir.path().join("guardian.toml"), true)
        .expect("manifest");

    // A fresh key, funded by dev account 0, pays itself through the escrow: the release is the
    // "exploit" (five ETH leave the escrow).
    let taker = PrivateKeySigner::random();
    let funder = net.as_signer(&net.admin);
    let funding = funder
        .send_transaction(
            alloy::rpc::types::TransactionRequest::default()
                .to(taker.address())
                .value(parse_ether("10").expect("eth")),
        )
        .await
        .expect("send")
        .get_receipt()
        .await
        .expect("mined");
    let p = ProviderBuilder::new()
        .wallet(EthereumWallet::from(taker.clone()))
        .connect_http(net.devnet.anvils[0].url.expose().clone())
        .erased();
    let registry = DocumentRegistry::new(net.addr(ContractKind::DocumentRegistry), p.clone());
    let fee = registry.registrationFee().call().await.expect("fee");
    send_ok!(
        registry
            .registerDocument(doc(1), doc(2), Address::ZERO)
            .value(fee)
    );
    let escrow = PaymentEscrow::new(net.addr(ContractKind::PaymentEscrow), p);
    let five = parse_ether("5").expect("eth");
    let receipt = send_ok!(
        escrow
            .deposit(doc(1), Address::ZERO, five, taker.address())
            .value(five)
    );
    let id = crate::support::events::<PaymentEscrow::PaymentDeposited>(&receipt)[0].paymentId;
    let released = send_ok!(escrow.release(id));

    let run = |args: &'static [&'static str]| guardian(dir.path(), args);
    let (out, ok) = run(&[
        "incident",
        "open",
        "--level",
        "1",
        "--contracts",
        "escrow",
        "--title",
        "t",
    ])
    .await;
    assert!(ok, "{out}");
    let hash = released.transaction_hash.to_string();
    let (out, ok) = guardian(dir.path(), &["incident", "exploit", "1", "--tx", &hash]).await;
    assert!(ok, "{out}");

    let (out, ok) = run(&["incident", "movements", "1", "--json"]).await;
    assert!(ok, "{out}");
    let m: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(m["source"], "logs and balances", "{m:#}");
    assert!(m["recorded_at"].is_null(), "read from the chain now");
    let rows = m["movements"].as_array().expect("movements");
    assert_eq!(rows.len(), 1, "{m:#}");
    assert_eq!(rows[0]["contract"], "escrow");
    assert_eq!(rows[0]["transaction"], hash.as_str());
    assert_eq!(wei(&rows[0]["amount"]), five);
    assert!(rows[0]["to"].is_null(), "{m:#}");
    assert_eq!(rows[0]["recovery"], "recipient unknown");

    let attackers = m["attackers"].as_array().expect("attackers");
    assert_eq!(attackers.len(), 1, "{m:#}");
    let a = &attackers[0];
    let lower = |v: &Value| v.as_str().unwrap_or_default().to_lowercase();
    assert_eq!(
        lower(&a["address"]),
        taker.address().to_string().to_lowercase()
    );
    assert_eq!(
        lower(&a["funded_by"]),
        net.admin.address().to_string().to_lowercase(),
        "{a}"
    );
    assert_eq!(
        lower(&a["funding_tx"]),
        funding.transaction_hash.to_string().to_lowercase()
    );
}
