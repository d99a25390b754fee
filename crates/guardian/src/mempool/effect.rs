//! What a pending transaction would do if mined: the contracts it calls, the logs it emits and the
//! native coin it moves, read from a node's simulation, and why a simulation can give none.

use std::collections::BTreeMap;

use alloy::primitives::{Address, Log, U256};

/// The simulated effect of one pending transaction (serialised as evidence of a decision).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Effect {
    /// The simulated transaction reverts (then it has no logs and moves no value).
    pub reverted: bool,
    /// Every address called anywhere in the call tree, in order of first call, deduplicated.
    /// Calls inside reverted frames are kept: they show what the transaction reaches for, which
    /// is what an exploit attempt on a paused or guarded contract looks like. With
    /// [`Simulator::SimulateV1`](super::Simulator::SimulateV1), which has no call tree, these are
    /// the transaction's `to`, then every log emitter and both ends of every native transfer
    /// except the sender (see [`super::simulate`]).
    pub calls: Vec<Address>,
    /// Every log it would emit (address, topics, data), in execution order; none from frames
    /// that revert.
    pub logs: Vec<Log>,
    /// Native coin leaving each address: the sum of the values it sends in calls that do not
    /// revert (its own top-level value included).
    pub native_out: BTreeMap<Address, U256>,
    /// Native coin arriving at each address, the same way.
    pub native_in: BTreeMap<Address, U256>,
}

impl Effect {
    /// Native coin `who` would lose: what leaves it minus what arrives, zero if it gains.
    pub fn net_native_outflow(&self, who: Address) -> U256 {
        let out = self.native_out.get(&who).copied().unwrap_or_default();
        let inflow = self.native_in.get(&who).copied().unwrap_or_default();
        out.saturating_sub(inflow)
    }

    /// Records `value` moving from `from` to `to` (nothing for a zero value).
    pub(crate) fn transfer(&mut self, from: Address, to: Address, value: U256) {
        if value.is_zero() {
            return;
        }
        let out = self.native_out.entry(from).or_default();
        *out = out.saturating_add(value);
        let inflow = self.native_in.entry(to).or_default();
        *inflow = inflow.saturating_add(value);
    }

    /// Adds `who` to [`Effect::calls`] unless it is already there.
    pub(crate) fn called(&mut self, who: Address) {
        if !self.calls.contains(&who) {
            self.calls.push(who);
        }
    }
}

/// Why a pending transaction has no trustworthy effect. Whatever the variant, no decision
/// (an alert, a pre-emptive pause) may be taken on it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// The node does not offer the simulation method (method not found, not supported).
    #[error("the node does not support {0}")]
    Unsupported(String),
    /// The node answered with an error (or did not answer): nothing is known about the effect.
    #[error("simulation failed: {0}")]
    Failed(String),
    /// The node answered, but the answer cannot be trusted to describe the effect (no result, a
    /// result without status, a frame without its fields).
    #[error("simulation answer is ambiguous: {0}")]
    Ambiguous(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_outflow_is_out_minus_in_and_never_negative() {
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let mut effect = Effect::default();
        effect.transfer(a, b, U256::from(10));
        effect.transfer(b, a, U256::from(3));
        effect.transfer(a, b, U256::ZERO);
        assert_eq!(effect.net_native_outflow(a), U256::from(7));
        assert_eq!(effect.net_native_outflow(b), U256::ZERO);
        assert_eq!(effect.net_native_outflow(Address::ZERO), U256::ZERO);
        assert_eq!(effect.native_out.len(), 2);
    }

    #[test]
    fn calls_keep_first_order_without_repeats() {
        let mut effect = Effect::default();
        for byte in [3, 1, 3, 2, 1] {
            effect.called(Address::repeat_byte(byte));
        }
        let expected: Vec<_> = [3, 1, 2].map(Address::repeat_byte).to_vec();
        assert_eq!(effect.calls, expected);
    }

    #[test]
    fn an_effect_serialises_as_evidence() {
        let mut effect = Effect::default();
        effect.transfer(
            Address::repeat_byte(1),
            Address::repeat_byte(2),
            U256::from(5),
        );
        effect.called(Address::repeat_byte(1));
        let json = serde_json::to_value(&effect).expect("serialise");
        assert_eq!(json["reverted"], false);
        assert_eq!(
            json["calls"][0],
            "0x0101010101010101010101010101010101010101"
        );
        assert_eq!(
            json["native_out"]["0x0101010101010101010101010101010101010101"],
            "0x5"
        );
    }
}
