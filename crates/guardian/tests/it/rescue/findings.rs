//! `guardian status` against real anvil chains: what it finds, first the findings that matter,
//! and role history read through an endpoint that caps log ranges.

use bindings::DocumentRegistry;
use guardian::{
    config::ContractKind,
    roles::Role,
    status::{self, Severity},
};

use crate::{
    response::open,
    send_ok,
    support::{
        proxy::{self, Behaviour, Counts},
        testnet,
    },
};

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
