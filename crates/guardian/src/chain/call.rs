//! What a transaction is before it is sent and what became of it: shared by the send path
//! (`tx`), the receipt follower (`follow`) and everything that sends.

use std::time::Duration;

use alloy::{
    primitives::{Address, Bytes, TxHash, U256},
    sol_types::SolCall,
};

use crate::storage::{ActionId, Store};

/// One state-changing call to make.
#[derive(Debug, Clone)]
pub struct Call {
    /// What it does, in words (`pause registry`).
    pub label: String,
    /// The contract called; `None` deploys `input` as init code.
    pub to: Option<Address>,
    /// Calldata or init code.
    pub input: Bytes,
    /// Native coin sent along.
    pub value: U256,
    /// An emergency pause: priced to win the next block, within `[rpc] fee_cap_gwei`.
    pub urgent: bool,
    /// A pre-emptive pause: it pays more than this pending transaction (within the fee cap).
    pub outbid: Option<Outbid>,
    /// Already broadcast by an earlier, interrupted run as this hash: followed (and replaced
    /// when it waits) instead of being sent again.
    pub in_flight: Option<TxHash>,
}

/// The fees of a pending transaction a pre-emptive pause must beat to be mined ahead of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Outbid {
    /// Its priority fee per gas (its gas price, for a legacy transaction).
    pub max_priority_fee_per_gas: u128,
    /// Its max fee per gas (its gas price, for a legacy transaction).
    pub max_fee_per_gas: u128,
}

impl Call {
    /// A call of a typed contract function.
    pub fn new(label: impl Into<String>, to: Address, call: impl SolCall) -> Self {
        Self {
            label: label.into(),
            to: Some(to),
            input: call.abi_encode().into(),
            value: U256::ZERO,
            urgent: false,
            outbid: None,
            in_flight: None,
        }
    }

    /// Makes it pay more than `pending` (a pre-emptive pause), when given.
    pub fn outbid(mut self, pending: Option<Outbid>) -> Self {
        self.outbid = pending;
        self
    }

    /// Marks it as already broadcast as `hash` by an earlier run.
    pub fn in_flight(mut self, hash: TxHash) -> Self {
        self.in_flight = Some(hash);
        self
    }

    /// Marks it an emergency pause: priced to be in the next block ([`super::fees::urgent`]),
    /// replaced every block it waits, and sent to the chain's private endpoints too.
    pub fn urgent(mut self) -> Self {
        self.urgent = true;
        self
    }

    /// A contract creation from init code (bytecode followed by encoded constructor arguments).
    pub fn create(label: impl Into<String>, init_code: Bytes) -> Self {
        Self {
            label: label.into(),
            to: None,
            input: init_code,
            value: U256::ZERO,
            urgent: false,
            outbid: None,
            in_flight: None,
        }
    }
}

/// A mined, successful transaction.
#[derive(Debug, Clone)]
pub struct Confirmed {
    /// What it did.
    pub label: String,
    /// Its hash (of the replacement, if one was mined).
    pub tx_hash: TxHash,
    /// The block it was mined in.
    pub block: u64,
    /// Gas used.
    pub gas_used: u64,
    /// The created contract, for deployments.
    pub contract_address: Option<Address>,
    /// Time from broadcast to receipt seen.
    pub latency: Duration,
    /// How many times it was re-sent with a higher fee.
    pub replacements: u32,
}

/// Where to record transactions: every hash is written before its broadcast.
#[derive(Clone, Copy)]
pub struct Journal<'a> {
    /// The database.
    pub store: &'a Store,
    /// The action the transactions belong to.
    pub action: ActionId,
}

/// How a batch treats a call whose simulation reverts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preflight {
    /// Send nothing if any call would revert (deployments).
    AllOrNothing,
    /// Send the calls that simulate cleanly; the others fail on their own (emergency actions).
    BestEffort,
}
