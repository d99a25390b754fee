//! The model of the property test: the operations it draws and what the chain should look like.

use alloy::primitives::{B256, U256};
use guardian::config::ContractKind;
use proptest::{prelude::*, sample::Index};

/// Users are dev accounts 6..9.
pub(super) const USERS: usize = 4;

/// The contracts whose pause the operations below depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    Registry,
    Tokenizer,
    Escrow,
}

impl Target {
    pub(super) fn kind(self) -> ContractKind {
        match self {
            Self::Registry => ContractKind::DocumentRegistry,
            Self::Tokenizer => ContractKind::OwnershipTokenizer,
            Self::Escrow => ContractKind::PaymentEscrow,
        }
    }
}

/// One step of a sequence. Users are indices below [`USERS`]; an `Index` picks an existing document
/// or payment (the step is skipped while there is none).
#[derive(Debug, Clone)]
pub(super) enum Op {
    Register {
        user: usize,
    },
    Reserve {
        doc: Index,
        recipient: usize,
    },
    Claim {
        doc: Index,
    },
    TransferDoc {
        doc: Index,
        to: usize,
    },
    Deposit {
        doc: Index,
        payer: usize,
        payee: usize,
        native: bool,
        amount: u64,
    },
    Release {
        payment: Index,
    },
    Refund {
        payment: Index,
    },
    Pause(Target),
    Unpause(Target),
    Withdraw {
        native: bool,
        percent: u8,
    },
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        Just(Target::Registry),
        Just(Target::Tokenizer),
        Just(Target::Escrow)
    ]
}

pub(super) fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..USERS).prop_map(|user| Op::Register { user }),
        2 => (any::<Index>(), 0..USERS).prop_map(|(doc, recipient)| Op::Reserve { doc, recipient }),
        2 => any::<Index>().prop_map(|doc| Op::Claim { doc }),
        1 => (any::<Index>(), 0..USERS).prop_map(|(doc, to)| Op::TransferDoc { doc, to }),
        4 => (any::<Index>(), 0..USERS, 0..USERS, any::<bool>(), 1u64..=1_000_000_000_000_000_000)
            .prop_map(|(doc, payer, payee, native, amount)| Op::Deposit { doc, payer, payee, native, amount }),
        2 => any::<Index>().prop_map(|payment| Op::Release { payment }),
        2 => any::<Index>().prop_map(|payment| Op::Refund { payment }),
        2 => target().prop_map(Op::Pause),
        2 => target().prop_map(Op::Unpause),
        2 => (any::<bool>(), 0u8..=100).prop_map(|(native, percent)| Op::Withdraw { native, percent }),
    ]
}

/// A registered document as the model knows it (users by index).
pub(super) struct DocModel {
    pub(super) id: B256,
    pub(super) owner: usize,
    pub(super) reserved: Option<usize>,
    pub(super) claimed: bool,
}

/// A payment as the model knows it (users by index).
pub(super) struct PaymentModel {
    pub(super) id: U256,
    pub(super) payer: usize,
    pub(super) payee: usize,
    pub(super) native: bool,
    pub(super) amount: U256,
    pub(super) settled: bool,
}

/// What the chain should look like. Asset index 0 is the native coin, 1 the test token.
#[derive(Default)]
pub(super) struct Model {
    pub(super) docs: Vec<DocModel>,
    pub(super) payments: Vec<PaymentModel>,
    pub(super) paused: [bool; 3],
    pub(super) outstanding: [U256; 2],
    pub(super) rescued: [U256; 2],
}

impl Model {
    pub(super) fn is_paused(&self, t: Target) -> bool {
        self.paused[t as usize]
    }

    pub(super) fn held(&self, asset: usize) -> U256 {
        self.outstanding[asset] - self.rescued[asset]
    }
}
