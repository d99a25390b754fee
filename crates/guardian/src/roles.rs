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

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 6] = [
        Self::Admin,
        Self::Pauser,
        Self::Emergency,
        Self::Upgrader,
        Self::Guardian,
        Self::HookSource,
    ];
}

/// A role name that is not one of the suite's.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown role `{0}` (known: DEFAULT_ADMIN_ROLE, PAUSER_ROLE, EMERGENCY_ROLE, UPGRADER_ROLE, GUARDIAN_ROLE, HOOK_SOURCE_ROLE)"
)]
pub struct UnknownRole(pub String);

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    /// Accepts the Solidity name (`PAUSER_ROLE`) or its short form (`pauser`, `admin`), in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_uppercase().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|r| {
                let name = r.name();
                wanted == name
                    || Some(wanted.as_str()) == name.strip_suffix("_ROLE")
                    || (*r == Self::Admin && wanted == "ADMIN")
            })
            .ok_or_else(|| UnknownRole(s.to_string()))
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

    #[test]
    fn names_parse_long_short_and_in_any_case() {
        assert_eq!("PAUSER_ROLE".parse::<Role>().ok(), Some(Role::Pauser));
        assert_eq!("pauser".parse::<Role>().ok(), Some(Role::Pauser));
        assert_eq!("admin".parse::<Role>().ok(), Some(Role::Admin));
        assert_eq!("DEFAULT_ADMIN_ROLE".parse::<Role>().ok(), Some(Role::Admin));
        assert_eq!("hook-source".parse::<Role>().ok(), Some(Role::HookSource));
        assert!("MINTER_ROLE".parse::<Role>().is_err());
    }
}
