//! The funds figures' shape, their table for people, and the chain totals.

use alloy::primitives::{Address, U256};
use serde::Serialize;

use super::{Amount, Report};
use crate::funds::show_amount;

/// Funds of one asset (of one contract, or summed over a chain). Each figure is defined once, in
/// `figures::funds`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Funds {
    /// Contract name (`None` in the totals).
    pub contract: Option<String>,
    /// Chain name.
    pub chain: String,
    /// The token, `None` for the native coin.
    #[schema(value_type = Option<String>)]
    pub token: Option<Address>,
    /// Its symbol.
    pub symbol: String,
    /// Its decimals.
    pub decimals: u8,
    /// Held in the block before the exploit's first transaction (else at the opening).
    pub at_risk: Amount,
    /// Owed to open payments then (escrows), shown beside what was held.
    pub owed: Option<Amount>,
    /// Held then, less held after the pause: what left to the attacker, net of what the attacker
    /// put in.
    pub lost: Amount,
    /// Moved to the safe address by withdrawals mined under the incident.
    pub rescued: Amount,
    /// Returned by `replenish` under the incident.
    pub returned: Amount,
    /// Lost, less what was returned beyond what was rescued.
    pub still_short: Amount,
}

/// The funds table's columns, the same in every view (report, `incident show`, the war room).
pub const FUNDS_COLUMNS: [&str; 9] = [
    "contract",
    "chain",
    "asset",
    "at risk",
    "owed then",
    "lost",
    "rescued",
    "returned",
    "still short",
];

/// What each funds figure means, in one paragraph every view prints with the table.
pub const FUNDS_MEANING: &str = "At risk: held in the block before the exploit's first transaction (else at the opening), with what was owed then. Lost: held then, less held after the pause, so net of what the attacker put in. Rescued: withdrawn to a safe address. Returned: replenished. Still short: lost, less what was returned beyond what was rescued.";

impl Funds {
    /// The row's cells under [`FUNDS_COLUMNS`] (`total` for a chain's sum).
    pub fn cells(&self) -> [String; 9] {
        [
            self.contract.clone().unwrap_or_else(|| "total".into()),
            self.chain.clone(),
            self.symbol.clone(),
            self.at_risk.shown.clone(),
            self.owed
                .as_ref()
                .map(|o| o.shown.clone())
                .unwrap_or_else(|| "-".into()),
            self.lost.shown.clone(),
            self.rescued.shown.clone(),
            self.returned.shown.clone(),
            self.still_short.shown.clone(),
        ]
    }
}

impl Report {
    /// Fills `funds_total` from `funds`.
    pub(super) fn with_totals(mut self) -> Self {
        let mut totals: Vec<Funds> = Vec::new();
        for f in &self.funds {
            let slot = match totals
                .iter_mut()
                .find(|t| t.chain == f.chain && t.token == f.token)
            {
                Some(t) => t,
                None => {
                    let zero = amount(U256::ZERO, f.decimals, &f.symbol);
                    totals.push(Funds {
                        contract: None,
                        at_risk: zero.clone(),
                        owed: None,
                        lost: zero.clone(),
                        rescued: zero.clone(),
                        returned: zero.clone(),
                        still_short: zero,
                        ..f.clone()
                    });
                    totals.last_mut().expect("just pushed")
                }
            };
            let add = |a: &Amount, b: &Amount| {
                amount(base(a).saturating_add(base(b)), f.decimals, &f.symbol)
            };
            slot.at_risk = add(&slot.at_risk, &f.at_risk);
            slot.owed = match (&slot.owed, &f.owed) {
                (Some(a), Some(b)) => Some(add(a, b)),
                (a, b) => a.clone().or(b.clone()),
            };
            slot.lost = add(&slot.lost, &f.lost);
            slot.rescued = add(&slot.rescued, &f.rescued);
            slot.returned = add(&slot.returned, &f.returned);
            slot.still_short = add(&slot.still_short, &f.still_short);
        }
        self.funds_total = totals;
        self
    }
}

fn base(a: &Amount) -> U256 {
    a.base.parse().unwrap_or_default()
}

pub(super) fn amount(v: U256, decimals: u8, symbol: &str) -> Amount {
    Amount {
        base: v.to_string(),
        shown: show_amount(v, decimals, symbol),
    }
}

/// The funds movement table's columns, the same in every view.
pub const MOVEMENT_COLUMNS: [&str; 6] = ["from", "transaction", "block", "amount", "to", "status"];

/// One movement's cells under [`MOVEMENT_COLUMNS`].
pub fn movement_cells(m: &crate::incident::movements::Movement) -> [String; 6] {
    [
        format!("{} ({}) {}", m.contract, m.chain, m.from),
        m.transaction.to_string(),
        m.block.to_string(),
        m.shown.clone(),
        m.to.map_or_else(
            || "not known (read from balances)".into(),
            |a| a.to_string(),
        ),
        m.recovery.as_str().to_string(),
    ]
}

/// Where the movements were read from, in one line.
pub fn movements_source(m: &crate::incident::movements::Movements) -> String {
    format!(
        "Read from {}{}: every transfer out of the incident's contracts in its attack and rescue transactions.",
        m.source.as_str(),
        m.recorded_at
            .map(|at| format!(", recorded {}", super::utc(at)))
            .unwrap_or_default()
    )
}

/// One attacker address in one line.
pub fn attacker_line(a: &crate::incident::movements::Attacker) -> String {
    format!("{} ({}, {}): {}", a.address, a.role, a.chain, a.funding)
}
