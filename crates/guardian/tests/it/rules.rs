//! The configurable rules against a real chain: a burst of registrations on anvil, read back
//! block by block with `eth_getLogs` as the monitor reads it, makes a `rate` rule fire once.

use std::path::Path;

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, U256},
    providers::Provider,
    rpc::types::Filter,
};
use bindings::DocumentRegistry;
use guardian::{
    config::{ContractKind, Manifest},
    monitor::{block::BlockData, rules::RuleEngine},
};

use crate::{
    send_ok,
    support::{TestNet, doc, testnet},
};

const BURST: &str = r#"
[[rules]]
name = "registration-burst"
kind = "rate"
contracts = ["registry"]
event = "DocumentRegistered"
window_blocks = 10
threshold = 5
severity = "warning"
"#;

/// What block `number` yields to the rules: its header and every manifest contract's logs,
/// fetched by block hash.
async fn block_data(net: &TestNet, manifest: &Manifest, number: u64) -> BlockData {
    let provider = net.client.provider();
    let block = provider
        .get_block_by_number(BlockNumberOrTag::Number(number))
        .await
        .expect("block")
        .expect("mined");
    let addresses: Vec<Address> = manifest.contracts.iter().map(|c| c.address).collect();
    let logs = provider
        .get_logs(
            &Filter::new()
                .at_block_hash(block.header.hash)
                .address(addresses),
        )
        .await
        .expect("logs");
    BlockData {
        chain: "local".into(),
        chain_id: 31337,
        number,
        hash: block.header.hash,
        parent_hash: block.header.parent_hash,
        timestamp: block.header.timestamp,
        logs,
        ..BlockData::default()
    }
}

#[tokio::test]
async fn a_registration_burst_on_anvil_fires_the_rate_rule_once() {
    let net = testnet().await;
    let text = format!("{}{BURST}", net.devnet.manifest.to_toml());
    let manifest = Manifest::parse(&text, Path::new("guardian.toml")).expect("manifest with rules");
    let mut rules =
        RuleEngine::new(&manifest, "local", |_| unreachable!("no token rule")).expect("rules");
    let registry_address = net.addr(ContractKind::DocumentRegistry);
    let registry = DocumentRegistry::new(registry_address, net.as_signer(&net.account(6)));
    let fee: U256 = registry.registrationFee().call().await.expect("fee");
    let start = net.block_number().await + 1;

    // Nine registrations, one a block: five in the window are normal, the sixth crosses the
    // threshold, and the cooldown (the window) keeps the next three from raising it again.
    for n in 0..9 {
        send_ok!(
            registry
                .registerDocument(doc(n), doc(100 + n), Address::ZERO)
                .value(fee)
        );
    }
    let head = net.block_number().await;
    let mut alerts = Vec::new();
    for number in start..=head {
        let block = block_data(&net, &manifest, number).await;
        for alert in rules.on_block(&block) {
            alerts.push((number - start, alert));
        }
    }
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let (nth, alert) = &alerts[0];
    assert_eq!(*nth, 5, "the sixth registration crosses the threshold of 5");
    assert_eq!(alert.rule, "registration-burst");
    assert_eq!(alert.contract.as_deref(), Some("registry"));
    assert_eq!(alert.address, Some(registry_address));
    assert_eq!(
        alert.summary,
        "registry: 6 DocumentRegistered in 10 blocks (threshold 5)"
    );
    assert_eq!(alert.tx_hashes.len(), 6);
    let block = block_data(&net, &manifest, alert.block_number).await;
    assert_eq!(alert.block_hash, block.hash);
}
