//! Each affected address's status, as the war-room records security partners ask for have it:
//! at risk, impacted, saved, or needs review.

use alloy::primitives::U256;
use serde::Serialize;

use super::affected::AffectedParty;

/// Where an affected address stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PartyStatus {
    /// What it has at stake is unchanged, but the contract is not safe yet (the incident is
    /// still open: nothing paused or mitigated).
    AtRisk,
    /// The contract it has payments in holds less than it owes now: its payments are not
    /// covered until the funds are returned.
    Impacted,
    /// What it had at stake at the start is still its own, and the contract is safe (paused or
    /// mitigated, or the incident resolved).
    Saved,
    /// What it has at stake fell during the incident: a legitimate release or a loss, which a
    /// person must tell apart.
    #[default]
    NeedsReview,
}

impl PartyStatus {
    /// The printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AtRisk => "at risk",
            Self::Impacted => "impacted",
            Self::Saved => "saved",
            Self::NeedsReview => "needs review",
        }
    }
}

/// The status of `party`, given whether its contract holds less than it owes now (`short`) and
/// whether the contract is safe (`safe`: the incident mitigated, resolved or closed).
pub fn status(party: &AffectedParty, short: bool, safe: bool) -> PartyStatus {
    let amount = |s: &str| s.parse::<U256>().unwrap_or_default();
    let fell = party.at_stake_start.iter().any(|start| {
        let now = party
            .at_stake_now
            .iter()
            .find(|n| n.symbol == start.symbol)
            .map_or(U256::ZERO, |n| amount(&n.amount));
        now < amount(&start.amount)
    });
    let has_stake = party
        .at_stake_now
        .iter()
        .any(|n| amount(&n.amount) > U256::ZERO);
    if fell {
        PartyStatus::NeedsReview
    } else if short && party.role.is_escrow() && has_stake {
        PartyStatus::Impacted
    } else if safe {
        PartyStatus::Saved
    } else {
        PartyStatus::AtRisk
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::Address;

    use super::*;
    use crate::incident::affected::{Amount, Role, Source};

    fn party(role: Role, start: u64, now: u64) -> AffectedParty {
        let eth = |v: u64| Amount {
            amount: v.to_string(),
            symbol: "ETH".into(),
            decimals: 18,
        };
        AffectedParty {
            address: Address::ZERO,
            chain: "local".into(),
            contract: "escrow".into(),
            role,
            detail: vec![],
            at_stake_start: vec![eth(start)],
            at_stake_now: vec![eth(now)],
            start_block: 1,
            now_block: 2,
            start_source: Source::State,
            status: PartyStatus::default(),
        }
    }

    #[test]
    fn a_payer_of_a_short_escrow_is_impacted_until_it_is_whole_then_saved() {
        let payer = party(Role::EscrowPayer, 5, 5);
        assert_eq!(status(&payer, true, true), PartyStatus::Impacted);
        assert_eq!(status(&payer, false, true), PartyStatus::Saved);
        assert_eq!(status(&payer, false, false), PartyStatus::AtRisk);
        // A stake that fell is for a person to judge, whatever the contract's state.
        assert_eq!(
            status(&party(Role::EscrowPayee, 5, 2), false, true),
            PartyStatus::NeedsReview
        );
        // A document owner is never "impacted" by an escrow's shortfall.
        assert_eq!(
            status(&party(Role::DocumentOwner, 1, 1), true, true),
            PartyStatus::Saved
        );
    }
}
