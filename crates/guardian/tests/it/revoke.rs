//! `guardian revoke` against anvil: a compromised key loses a role on every contract at once,
//! "not held" where it had none; nothing is sent when no configured signer is admin anywhere.

use alloy::primitives::Address;
use bindings::{DocumentRegistry, EmergencyBrake};
use guardian::{
    config::ContractKind,
    response::{
        ResponseError,
        pause::Selection,
        revoke::{self, RevokeOutcome, RevokeReport, RevokeRequest},
    },
    roles::Role,
    storage::Status,
};

use crate::response::open;
use crate::send_ok;
use crate::support::{TestNet, testnet};

fn revoke_request(role: Role, account: Address) -> RevokeRequest {
    RevokeRequest {
        role,
        account,
        selection: Selection::All,
        chain: None,
        signer: None,
        dry_run: false,
        reason: Some("compromised key".into()),
    }
}

async fn holds(net: &TestNet, role: Role, contract: Address, account: Address) -> bool {
    DocumentRegistry::new(contract, net.reader())
        .hasRole(role.id(), account)
        .call()
        .await
        .expect("hasRole")
}

fn outcome(report: &RevokeReport, name: &str) -> RevokeOutcome {
    report
        .targets
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no target {name} in {report:#?}"))
        .outcome
}

#[tokio::test]
async fn revoke_takes_the_pauser_role_on_every_contract_and_reports_where_it_was_not_held() {
    let net = testnet().await;
    let mallory = net.account(9).address();
    let granted = [
        ContractKind::DocumentRegistry,
        ContractKind::OwnershipTokenizer,
        ContractKind::PaymentEscrow,
    ];
    for kind in granted {
        let c = DocumentRegistry::new(net.addr(kind), net.as_signer_uncached(&net.admin));
        send_ok!(c.grantRole(Role::Pauser.id(), mallory));
        assert!(holds(&net, Role::Pauser, net.addr(kind), mallory).await);
    }
    // On the brake, pausing power is GUARDIAN_ROLE: it goes with PAUSER_ROLE.
    let brake = EmergencyBrake::new(
        net.addr(ContractKind::EmergencyBrake),
        net.as_signer_uncached(&net.admin),
    );
    send_ok!(brake.grantRole(Role::Guardian.id(), mallory));

    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;
    let mut dry = revoke_request(Role::Pauser, mallory);
    dry.dry_run = true;
    let planned = revoke::run(&d, &dry, &|_| {}).await.expect("dry run");
    assert_eq!(outcome(&planned, "registry"), RevokeOutcome::WouldRevoke);
    assert!(
        holds(
            &net,
            Role::Pauser,
            net.addr(ContractKind::DocumentRegistry),
            mallory
        )
        .await
    );

    let report = revoke::run(&d, &revoke_request(Role::Pauser, mallory), &|_| {})
        .await
        .expect("revoke");
    assert!(report.ok(), "{report:#?}");
    assert_eq!(
        report.targets.len(),
        5,
        "every contract with PAUSER_ROLE, and the brake"
    );
    for name in ["registry", "tokenizer", "escrow"] {
        assert_eq!(outcome(&report, name), RevokeOutcome::Revoked, "{name}");
    }
    assert_eq!(outcome(&report, "resolver"), RevokeOutcome::NotHeld);
    assert_eq!(outcome(&report, "brake"), RevokeOutcome::Revoked);
    let on_brake = report.targets.iter().find(|t| t.name == "brake");
    assert_eq!(on_brake.map(|t| t.role), Some("GUARDIAN_ROLE"));
    assert_eq!(report.transactions, 4, "nothing sent where it was not held");
    for kind in granted {
        assert!(
            !holds(&net, Role::Pauser, net.addr(kind), mallory).await,
            "{kind:?}: the chain agrees"
        );
        assert!(
            holds(&net, Role::Pauser, net.addr(kind), net.pauser.address()).await,
            "{kind:?}: the real pauser keeps its role"
        );
    }
    let txs = d.store.transactions(report.action_id).expect("journal");
    assert_eq!(txs.len(), 4);
    assert!(txs.iter().all(|t| t.status == Status::Mined));
    let action = d
        .store
        .actions()
        .expect("actions")
        .into_iter()
        .find(|a| a.id == report.action_id)
        .expect("action");
    assert_eq!(action.kind, "revoke");

    assert!(
        !holds(
            &net,
            Role::Guardian,
            net.addr(ContractKind::EmergencyBrake),
            mallory
        )
        .await
    );
    // Asked again, by the brake's own role name: nothing left to take.
    let again = revoke::run(&d, &revoke_request(Role::Guardian, mallory), &|_| {})
        .await
        .expect("revoke guardian");
    assert!(again.ok() && again.transactions == 0, "{again:#?}");
    assert_eq!(outcome(&again, "brake"), RevokeOutcome::NotHeld);
}

#[tokio::test]
async fn revoke_is_refused_when_no_signer_is_admin_and_sends_nothing() {
    let net = testnet().await;
    let mallory = net.account(9).address();
    let registry = net.addr(ContractKind::DocumentRegistry);
    send_ok!(
        DocumentRegistry::new(registry, net.as_signer_uncached(&net.admin))
            .grantRole(Role::Pauser.id(), mallory)
    );
    let (d, _dir) = open(&net.devnet.manifest, |m| {
        m.signers.remove("admin");
    })
    .await;
    let head = net.block_number().await;
    let refused = revoke::run(&d, &revoke_request(Role::Pauser, mallory), &|_| {}).await;
    match &refused {
        Err(ResponseError::MissingRole { role, missing, .. }) => {
            assert_eq!(*role, "DEFAULT_ADMIN_ROLE");
            assert_eq!(missing.len(), 1, "only where mallory holds it: {missing:?}");
            assert!(missing[0].starts_with("registry"), "{missing:?}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(net.block_number().await, head, "nothing sent");
    assert!(holds(&net, Role::Pauser, registry, mallory).await);
}

#[tokio::test]
async fn revoke_takes_the_role_wherever_it_can_and_names_each_contract_it_cannot() {
    let net = testnet().await;
    let mallory = net.account(9).address();
    let (registry, tokenizer) = (
        net.addr(ContractKind::DocumentRegistry),
        net.addr(ContractKind::OwnershipTokenizer),
    );
    for c in [registry, tokenizer] {
        send_ok!(
            DocumentRegistry::new(c, net.as_signer_uncached(&net.admin))
                .grantRole(Role::Pauser.id(), mallory)
        );
    }
    // The tokenizer's admin is now a key the manifest does not configure.
    let t = DocumentRegistry::new(tokenizer, net.as_signer_uncached(&net.admin));
    send_ok!(t.grantRole(Role::Admin.id(), net.outsider.address()));
    send_ok!(t.renounceRole(Role::Admin.id(), net.admin.address()));
    let (d, _dir) = open(&net.devnet.manifest, |_| {}).await;

    let report = revoke::run(&d, &revoke_request(Role::Pauser, mallory), &|_| {})
        .await
        .expect("best effort, not a refusal");
    assert!(
        !report.ok(),
        "the tokenizer still has the role: {report:#?}"
    );
    assert_eq!(outcome(&report, "registry"), RevokeOutcome::Revoked);
    let failed = report
        .targets
        .iter()
        .find(|t| t.name == "tokenizer")
        .expect("tokenizer");
    assert_eq!(failed.outcome, RevokeOutcome::Failed);
    let why = failed.error.as_deref().unwrap_or_default();
    assert!(
        why.contains("no configured signer holds DEFAULT_ADMIN_ROLE on tokenizer"),
        "{why}"
    );
    assert!(!holds(&net, Role::Pauser, registry, mallory).await);
    assert!(holds(&net, Role::Pauser, tokenizer, mallory).await);
    let action = d
        .store
        .actions()
        .expect("actions")
        .into_iter()
        .find(|a| a.id == report.action_id)
        .expect("action");
    assert_eq!(action.status, Status::Failed);
}
