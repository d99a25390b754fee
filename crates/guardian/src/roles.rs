//! The access-control roles of the suite; each id is `keccak256` of its name, as on chain.

use alloy::primitives::{B256, keccak256};
use serde::Serialize;

/// A role of the suite's `AccessControl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Role {
    /// Grants and revokes every role.
    Admin,
    /// May `pause()` and `unpause()`.
    Pauser,
    /// May `emergencyWithdraw` while paused.
    Emergency,
    /// Authorises upgrades.
    Upgrader,
    /// May pull the brake: `pauseAll()` and `pauseTargets(...)`.
    Guardian,
    /// May call the audit resolver's hooks.
    HookSource,
}

impl Role {
    /// The role's name as declared in Solidity.
    pub fn name(self) -> &'static str {
        match self {
            Self::Admin => "DEFAULT_ADMIN_ROLE",
            Self::Pauser => "PAUSER_ROLE",
            Self::Emergency => "EMERGENCY_ROLE",
            Self::Upgrader => "UPGRADER_ROLE",
            Self::Guardian => "GUARDIAN_ROLE",
            Self::HookSource => "HOOK_SOURCE_ROLE",
        }
    }

    /// The role id (`DEFAULT_ADMIN_ROLE` is zero).
    pub fn id(self) -> B256 {
        match self {
            Self::Admin => B256::ZERO,
            other => keccak256(other.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_solidity() {
        // keccak256("PAUSER_ROLE"), as OpenZeppelin's examples and every explorer show it.
        assert_eq!(
            Role::Pauser.id().to_string(),
            "0x65d7a28e3265b37a6474929f336521b332c1681b933f6cb9f3376673440d862a"
        );
        assert_eq!(Role::Admin.id(), B256::ZERO);
    }
}
