//! Pausing against real anvil chains: pause/unpause (brake and direct, many chains), refusals
//! before sending, dry runs, interrupted runs, dead endpoints, stuck transactions.

mod congestion;
mod trouble;

use std::time::Instant;

use alloy::providers::Provider;
use bindings::DocumentRegistry;
use guardian::{
    config::{ContractKind, Manifest, SignerConfig},
    deployment::Deployment,
    devnet::Devnet,
    response::{
        ResponseError,
        pause::{self, Outcome, PauseRequest, Selection},
    },
    roles::Role,
    status,
    storage::Status,
};

use crate::{
    send_ok,
    support::{TestNet, testnet},
};

pub(crate) fn no_env(_: &str) -> Option<String> {
    None
}

/// Writes `manifest` (after `tweak`) into a temp dir and opens it as a deployment.
pub(crate) async fn open(
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

pub(crate) fn request(pause: bool, selection: Selection) -> PauseRequest {
    PauseRequest {
        pause,
        selection,
        chain: None,
        signer: None,
        dry_run: false,
        reason: Some("test".into()),
        strict: false,
        allow_insolvent: false,
        outbid: None,
    }
}

pub(crate) fn named(names: &[&str]) -> Selection {
    Selection::Named(names.iter().map(|s| s.to_string()).collect())
}

pub(crate) async fn run(
    d: &Deployment,
    req: &PauseRequest,
) -> Result<pause::PauseReport, ResponseError> {
    pause::run(d, req, Instant::now(), &|_| {}).await
}

pub(crate) async fn is_paused(net: &TestNet, kind: ContractKind) -> bool {
    DocumentRegistry::new(net.addr(kind), net.reader())
        .paused()
        .call()
        .await
        .expect("paused()")
}

pub(crate) async fn rpc(
    net: &TestNet,
    method: &'static str,
    params: serde_json::Value,
) -> serde_json::Value {
    net.client
        .provider()
        .raw_request(method.into(), params)
        .await
        .expect(method)
}

pub(crate) async fn multi_chain(chains: u32, copies: u32, block_time: Option<u64>) -> Devnet {
    crate::support::start_devnet(chains, copies, block_time).await
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
async fn a_signer_without_the_role_pauses_nothing_and_names_every_target() {
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
    let report = run(&d, &req).await.expect("best effort reports");
    assert!(!report.ok(), "nothing could be paused: {report:#?}");
    for t in &report.targets {
        assert_eq!(t.outcome, Outcome::Failed);
        let error = t.error.as_deref().unwrap_or_default();
        assert!(
            error.contains(&format!(
                "no configured signer holds PAUSER_ROLE on {}@local",
                t.name
            )),
            "{error}"
        );
    }
    assert_eq!(
        net.nonce(net.outsider.address()).await,
        nonce,
        "nothing was sent"
    );

    // --strict, and every unpause, refuse before sending, naming every target.
    req.strict = true;
    let err = run(&d, &req).await.expect_err("strict refuses");
    let text = err.to_string();
    assert!(
        text.contains("PAUSER_ROLE")
            && text.contains("registry (local): outsider")
            && text.contains("escrow (local): outsider"),
        "{text}"
    );
    let mut all = request(false, Selection::All);
    all.signer = Some("outsider".into());
    run(&d, &request(true, Selection::All))
        .await
        .expect("pause as the pauser");
    assert!(matches!(
        run(&d, &all).await,
        Err(ResponseError::MissingRole { .. })
    ));
    assert_eq!(net.nonce(net.outsider.address()).await, nonce);
    assert!(is_paused(&net, ContractKind::DocumentRegistry).await);
}

#[tokio::test]
async fn pause_all_pauses_everything_else_when_one_target_has_no_pauser_at_all() {
    let net = testnet().await;
    // Nobody Guardian can sign for (neither the pauser nor the brake) may pause the tokenizer.
    let tokenizer = DocumentRegistry::new(
        net.addr(ContractKind::OwnershipTokenizer),
        net.as_signer(&net.admin),
    );
    send_ok!(tokenizer.revokeRole(Role::Pauser.id(), net.addr(ContractKind::EmergencyBrake)));
    send_ok!(tokenizer.revokeRole(Role::Pauser.id(), net.pauser.address()));
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;

    let report = run(&d, &request(true, Selection::All))
        .await
        .expect("pause --all reports");
    assert!(!report.ok(), "one target stays unpaused: {report:#?}");
    let failed: Vec<_> = report
        .targets
        .iter()
        .filter(|t| t.outcome == Outcome::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "{report:#?}");
    assert_eq!(failed[0].name, "tokenizer");
    assert!(
        failed[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("no configured signer holds PAUSER_ROLE on tokenizer@local"),
        "{:?}",
        failed[0].error
    );
    for kind in [
        ContractKind::DocumentRegistry,
        ContractKind::PaymentEscrow,
        ContractKind::AuditResolver,
    ] {
        assert!(is_paused(&net, kind).await, "{kind:?} paused");
    }
    assert!(!is_paused(&net, ContractKind::OwnershipTokenizer).await);
    let action = &d.store.actions().expect("journal")[0];
    assert_eq!(
        action.status,
        Status::Failed,
        "the journal says it fell short"
    );
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
    // It says what the pause would pay, and why, for each chain and signer.
    let (at, fees) = report.fees.iter().next().expect("a quote");
    assert!(at.starts_with("local ("), "{at}");
    assert!(fees.max_priority_fee_per_gas >= d.manifest.rpc.pause_tip_wei());
    assert!(fees.max_fee_per_gas > fees.max_priority_fee_per_gas);
    assert!(fees.reason.contains("tip: the floor"), "{}", fees.reason);
}

#[tokio::test]
async fn a_target_the_brake_cannot_pause_is_paused_directly_in_the_same_round() {
    let net = testnet().await;
    // The brake loses its PAUSER_ROLE on the tokenizer; the pauser still holds it.
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
    for t in &report.targets {
        let expected = if t.name == "tokenizer" {
            "direct"
        } else {
            "brake"
        };
        assert_eq!(t.via.as_deref(), Some(expected), "{t:#?}");
    }
    assert_eq!(report.transactions, 2, "one pauseAll and one direct pause");
    for kind in [
        ContractKind::DocumentRegistry,
        ContractKind::OwnershipTokenizer,
        ContractKind::PaymentEscrow,
    ] {
        assert!(is_paused(&net, kind).await);
    }
}

pub(crate) async fn wait_until_in_pool(
    net: &TestNet,
    d: &Deployment,
    sender: alloy::primitives::Address,
) {
    for _ in 0..1000 {
        let journaled = d.store.unconfirmed(31337, sender).expect("journal");
        if let Some(tx) = journaled.first() {
            let seen = net
                .client
                .provider()
                .get_transaction_by_hash(tx.tx_hash)
                .await
                .expect("lookup");
            if seen.is_some() {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the first run never broadcast");
}

/// A TCP listener that accepts connections and never answers: a hanging RPC endpoint.
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

#[tokio::test]
async fn a_named_target_no_signer_can_pause_goes_through_the_brakes_pause_targets() {
    let net = testnet().await;
    // The pauser lost its role on the escrow; the brake still holds it there.
    let escrow = DocumentRegistry::new(
        net.addr(ContractKind::PaymentEscrow),
        net.as_signer(&net.admin),
    );
    send_ok!(escrow.revokeRole(Role::Pauser.id(), net.pauser.address()));
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let report = run(&d, &request(true, named(&["registry", "escrow"])))
        .await
        .expect("pause");
    assert!(report.ok(), "{report:#?}");
    let via = |n: &str| {
        report
            .targets
            .iter()
            .find(|t| t.name == n)
            .and_then(|t| t.via.clone())
    };
    assert_eq!(via("registry").as_deref(), Some("direct"));
    assert_eq!(via("escrow").as_deref(), Some("brake"));
    assert!(is_paused(&net, ContractKind::PaymentEscrow).await);
    assert!(
        !is_paused(&net, ContractKind::OwnershipTokenizer).await,
        "pauseTargets paused only what was named"
    );
    let txs = d.store.transactions(report.action_id).expect("journal");
    assert!(
        txs.iter()
            .any(|t| t.label == "pauseTargets escrow via brake"),
        "{txs:#?}"
    );
}
