//! Synthetic blocks and manifests for the rules' unit tests.

use std::path::Path;

use alloy::{
    primitives::{Address, B256, Bytes, LogData, TxHash, U256, address},
    rpc::types::Log,
};

use super::RuleEngine;
use crate::{
    alert::NewAlert,
    config::Manifest,
    monitor::block::{BalanceAt, BlockData, SuiteTx},
};

pub const REGISTRY: Address = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
pub const ESCROW: Address = address!("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512");
pub const TOKEN: Address = address!("0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0");

/// A manifest with a registry and an escrow on chain `local`, and `rules` appended.
pub fn manifest(rules: &str) -> Manifest {
    Manifest::parse(&manifest_text(rules), Path::new("guardian.toml"))
        .unwrap_or_else(|e| panic!("valid manifest: {e}"))
}

/// The engine for chain `local` of [`manifest`]; tokens are `TT` with 6 decimals.
pub fn engine(rules: &str) -> RuleEngine {
    RuleEngine::new(&manifest(rules), "local", |_| ("TT".to_string(), 6)).expect("engine")
}

/// Feeds `blocks` in order and returns every alert raised.
pub fn feed(engine: &mut RuleEngine, blocks: &[BlockData]) -> Vec<NewAlert> {
    blocks.iter().flat_map(|b| engine.on_block(b)).collect()
}

pub fn manifest_text(rules: &str) -> String {
    format!(
        r#"[chains.local]
chain_id = 31337
rpc_urls = ["http://127.0.0.1:8545"]

[[contracts]]
name = "registry"
chain = "local"
kind = "DocumentRegistry"
address = "{REGISTRY}"

[[contracts]]
name = "escrow"
chain = "local"
kind = "PaymentEscrow"
address = "{ESCROW}"
tokens = ["{TOKEN}"]
{rules}"#
    )
}

/// An empty block `number` of chain `local`, with a hash derived from `number` and `fork`.
pub fn block(number: u64, fork: u8) -> BlockData {
    BlockData {
        chain: "local".into(),
        chain_id: 31337,
        number,
        hash: hash(number, fork),
        parent_hash: hash(number.saturating_sub(1), fork),
        timestamp: number * 12,
        ..BlockData::default()
    }
}

pub fn hash(number: u64, fork: u8) -> B256 {
    let mut h = B256::left_padding_from(&number.to_be_bytes());
    h.0[0] = fork;
    h
}

/// A transaction hash made from two numbers.
pub fn tx(a: u64, b: u64) -> TxHash {
    let mut h = B256::left_padding_from(&b.to_be_bytes());
    h.0[..8].copy_from_slice(&a.to_be_bytes());
    h
}

/// A log of `address` with event `topic0`, in transaction `tx_hash`.
pub fn log(address: Address, topic0: B256, tx_hash: TxHash) -> Log {
    Log {
        inner: alloy::primitives::Log {
            address,
            data: LogData::new_unchecked(vec![topic0], Bytes::new()),
        },
        transaction_hash: Some(tx_hash),
        ..Log::default()
    }
}

/// The escrow's holding of `token` at a block.
pub fn balance(token: Option<Address>, amount: U256) -> BalanceAt {
    BalanceAt {
        contract: "escrow".into(),
        address: ESCROW,
        token,
        amount,
        owed: Some(U256::ZERO),
    }
}

/// A transaction to `to`.
pub fn suite_tx(hash: TxHash, from: Address, to: Address, success: bool) -> SuiteTx {
    SuiteTx {
        hash,
        from,
        to,
        success,
    }
}

/// One ether.
pub fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10).pow(U256::from(18))
}
