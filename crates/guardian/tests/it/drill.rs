//! `guardian drill --fork` against a real devnet behind a counting proxy: the drill acts as the
//! role holders on a fork (a Safe for the rescue, the brake where only it can pause), names the
//! contract nobody can pause and the one nobody can unpause, and why, records itself as the last
//! drill, and the real chain sees no transaction at all.

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use bindings::interfaces::IAccessControl;
use guardian::{config::ContractKind, roles::Role, storage::Store};
use serde_json::Value;

use bindings::{PaymentEscrow, TestToken};

use crate::{
    send_ok,
    support::{bin, doc, proxy, register_and_deposit, testnet},
};

/// A path segment standing for an API key in the endpoint's URL: it must never be printed.
const KEY: &str = "drill-api-key-5f0c2e";

fn step<'a>(chain: &'a Value, name: &str) -> &'a Value {
    chain["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {chain}"))
}

/// Every outcome's detail for `contract` in `step`, joined.
fn details(step: &Value, contract: &str) -> String {
    step["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .filter(|o| o["contract"] == contract)
        .map(|o| o["detail"].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn outcome<'a>(step: &'a Value, contract: &str) -> &'a Value {
    step["outcomes"]
        .as_array()
        .expect("outcomes")
        .iter()
        .find(|o| o["contract"] == contract)
        .unwrap_or_else(|| panic!("no outcome for {contract} in {step}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_drill_acts_as_the_role_holders_and_sends_nothing_to_the_real_chain() {
    let mut net = testnet().await;
    let url = net.devnet.anvils[0].url.expose().clone();
    let amount = U256::from(3_000_000_000_000_000_000u128);
    register_and_deposit(
        url.as_str().parse().expect("url"),
        &net.devnet.manifest,
        amount,
    )
    .await;
    // And a token payment: the rescue and the return move a token too (approved first).
    let token = net.addr(ContractKind::TestToken);
    let escrow = net.addr(ContractKind::PaymentEscrow);
    let tokens = U256::from(500_000_000_000_000_000_000u128);
    let payer = net.account(8);
    let erc20 = TestToken::new(token, net.as_signer(&payer));
    send_ok!(erc20.mint(payer.address(), tokens));
    send_ok!(erc20.approve(escrow, tokens));
    let payee = net.account(9).address();
    let paying = PaymentEscrow::new(escrow, net.as_signer(&payer));
    send_ok!(paying.deposit(doc(1), token, tokens, payee));
    // Nobody can pause the tokenizer: its pauser key and the brake lose PAUSER_ROLE.
    let tokenizer = net.addr(ContractKind::OwnershipTokenizer);
    let brake = net.addr(ContractKind::EmergencyBrake);
    let access = IAccessControl::new(tokenizer, net.as_signer(&net.admin));
    send_ok!(access.revokeRole(Role::Pauser.id(), net.pauser.address()));
    send_ok!(access.revokeRole(Role::Pauser.id(), brake));
    // Only the brake can pause the resolver: its pauser key loses PAUSER_ROLE there.
    let resolver = IAccessControl::new(
        net.addr(ContractKind::AuditResolver),
        net.as_signer(&net.admin),
    );
    send_ok!(resolver.revokeRole(Role::Pauser.id(), net.pauser.address()));
    // The rescue role is a 2-of-3 Safe's, as real teams keep it.
    let safe = net
        .devnet
        .hand_roles_to_safe(2, 3)
        .await
        .expect("Safe holds the roles")
        .safe;

    // The manifest's endpoint is a counting proxy in front of the devnet, with a "key" in its path.
    let counting = proxy::start(url.as_str(), proxy::Batches::Forward).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut manifest = net.devnet.manifest.clone();
    let endpoint = format!("{}/v3/{KEY}", counting.url);
    manifest.chains.get_mut("local").expect("local").rpc_urls =
        vec![endpoint.parse().expect("url")];
    let path = dir.path().join("guardian.toml");
    manifest.write(&path, true).expect("write");

    let reader = net.reader();
    let accounts: Vec<Address> = (0..13)
        .map(|i| guardian::devnet::dev_address(i).expect("dev"))
        .chain([safe])
        .collect();
    let nonces = |r: alloy::providers::DynProvider, accounts: Vec<Address>| async move {
        let mut out = Vec::new();
        for a in accounts {
            out.push(r.get_transaction_count(a).await.expect("nonce"));
        }
        out
    };
    let head_before = net.block_number().await;
    let nonces_before = nonces(reader.clone(), accounts.clone()).await;
    let escrow_before = net.balance(escrow).await;
    let tokens_before = erc20.balanceOf(escrow).call().await.expect("balance");

    let vars = [("GUARDIAN_OPERATOR", "drill-tester")];
    let (ok, out, err) = bin::run(dir.path(), &vars, &["drill", "--fork", "--json"]).await;
    assert!(
        !ok,
        "a drill with a step that failed exits non-zero: {out}{err}"
    );
    assert!(
        !out.contains(KEY) && !err.contains(KEY),
        "the key leaked: {out}{err}"
    );
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let chain = &report["chains"][0];
    assert_eq!(chain["chain"], "local");
    let fork_block = chain["fork_block"].as_u64().expect("fork block");
    assert_eq!(fork_block, head_before);
    // The drill sent to the fork only: its guard had nothing to refuse.
    assert_eq!(chain["refused_sends"], 0);

    // The tokenizer is named as not pausable, with why; every other target paused in one block.
    let pause = step(chain, "pause");
    let refused = outcome(pause, "tokenizer");
    assert_eq!(refused["ok"], false);
    assert!(
        refused["detail"]
            .as_str()
            .expect("detail")
            .contains("no account holds PAUSER_ROLE"),
        "{refused}"
    );
    let targets = ["registry", "escrow", "resolver"];
    for t in targets {
        assert_eq!(outcome(pause, t)["ok"], true, "{pause}");
    }
    let braked = details(pause, "resolver");
    assert!(
        braked.contains("through the brake") && braked.contains("GUARDIAN_ROLE"),
        "{braked}"
    );
    let verified = step(chain, "paused in one block");
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["block"], pause["block"]);
    assert_eq!(verified["outcomes"].as_array().expect("list").len(), 3);
    for t in targets {
        assert_eq!(outcome(verified, t)["ok"], true, "{verified}");
    }

    // The funds went to the safe recipient through the Safe and came back.
    let rescue = step(chain, "rescue");
    assert_eq!(rescue["ok"], true, "{rescue}");
    let rescued = details(rescue, "escrow");
    assert!(
        rescued.contains("rescued 3.0 ETH")
            && rescued.contains("rescued 500.0 ")
            && rescued.contains("Safe"),
        "{rescued}"
    );
    assert!(
        outcome(rescue, "registry")["detail"]
            .as_str()
            .expect("d")
            .contains("rescued")
    );
    let back = step(chain, "return");
    assert_eq!(back["ok"], true, "{back}");
    let returned = details(back, "escrow");
    assert!(
        returned.contains("returned 3.0 ETH") && returned.contains("returned 500.0 "),
        "{returned}"
    );
    // The brake cannot unpause: the resolver stays paused, and the report says why.
    let unpause = step(chain, "unpause");
    assert_eq!(unpause["ok"], false, "{unpause}");
    for t in ["registry", "escrow"] {
        assert_eq!(outcome(unpause, t)["ok"], true, "{unpause}");
    }
    assert_eq!(outcome(unpause, "resolver")["ok"], false);
    assert!(details(unpause, "resolver").contains("a brake can only pause: nobody can unpause it"));
    let summary = report["summary"].as_str().expect("summary");
    assert!(
        summary.starts_with(&format!("fork of local at block {fork_block}: "))
            && summary.contains("4 of 6 steps worked")
            && summary.contains("failed: pause tokenizer (no account holds PAUSER_ROLE")
            && summary.contains("; unpause resolver (only the brake holds PAUSER_ROLE"),
        "{summary}"
    );

    // Recorded as the last drill.
    let store = Store::open(&guardian::deployment::db_path(&path)).expect("journal");
    let id = store.last_action("drill").expect("read").expect("a drill");
    assert_eq!(report["action_id"], id);
    let action = store.action(id).expect("read").expect("action");
    assert_eq!(action.actor, "drill-tester");
    assert_eq!(action.params["fork"], true);
    assert_eq!(action.params["chains"]["local"], fork_block);
    assert_eq!(action.summary.as_deref(), Some(summary));

    // Human output, one chain: the same summary, the refusal in words.
    let (ok, out, err) =
        bin::run(dir.path(), &vars, &["drill", "--fork", "--chain", "local"]).await;
    assert!(!ok);
    assert!(
        out.contains("✗ tokenizer: no account holds PAUSER_ROLE"),
        "{out}{err}"
    );
    assert!(out.contains("fork of local at block"), "{out}");
    assert!(!out.contains(KEY) && !err.contains(KEY));

    // The real chain saw no transaction: no send crossed the proxy, nothing was mined, no
    // nonce moved, the escrow holds what it held, nothing is paused.
    let methods = counting.counts.singles.lock().expect("lock").clone();
    assert!(
        methods.iter().any(|m| m == "eth_blockNumber"),
        "{methods:?}"
    );
    assert!(
        !methods.iter().any(|m| m.starts_with("eth_send")),
        "{methods:?}"
    );
    assert_eq!(net.block_number().await, head_before);
    assert_eq!(nonces(reader, accounts).await, nonces_before);
    assert_eq!(net.balance(escrow).await, escrow_before);
    let tokens_after = erc20.balanceOf(escrow).call().await.expect("balance");
    assert_eq!(tokens_after, tokens_before);
    for kind in [ContractKind::DocumentRegistry, ContractKind::PaymentEscrow] {
        let paused = bindings::interfaces::IPausable::new(net.addr(kind), net.reader())
            .paused()
            .call()
            .await
            .expect("paused()");
        assert!(!paused, "{kind} paused on the real chain");
    }
}
