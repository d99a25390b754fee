//! The chains, signers, contracts and intended role holders a manifest lists.

use std::{fmt, path::PathBuf};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::secret::RpcUrl;

/// The kinds of contract the manifest may list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
pub enum ContractKind {
    /// Document identity and registration fees.
    DocumentRegistry,
    /// ERC-721 tokens bound to documents.
    OwnershipTokenizer,
    /// Document-linked payments.
    PaymentEscrow,
    /// The resolver that counts hook calls.
    AuditResolver,
    /// The one-transaction pause of a whole chain.
    EmergencyBrake,
    /// A plain ERC-20 for local chains.
    TestToken,
}

impl ContractKind {
    /// Whether this kind has `pause()`/`unpause()`.
    pub fn is_pausable(self) -> bool {
        matches!(
            self,
            Self::DocumentRegistry
                | Self::OwnershipTokenizer
                | Self::PaymentEscrow
                | Self::AuditResolver
        )
    }

    /// Whether this kind holds funds and has `emergencyWithdraw`.
    pub fn holds_funds(self) -> bool {
        matches!(self, Self::DocumentRegistry | Self::PaymentEscrow)
    }
}

impl fmt::Display for ContractKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One chain of the deployment.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// The chain id every endpoint must report.
    pub chain_id: u64,
    /// JSON-RPC endpoints in order of preference.
    pub rpc_urls: Vec<RpcUrl>,
    /// A block explorer (`https://etherscan.io`): notifications link `{explorer_url}/tx/{hash}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explorer_url: Option<String>,
}

/// How to obtain a signing key. The key itself never appears in the manifest.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SignerConfig {
    /// Name of an environment variable holding a hex private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_env: Option<String>,
    /// Path of an encrypted JSON keystore (relative to the manifest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keystore: Option<PathBuf>,
    /// Name of an environment variable holding the keystore password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Index of a well-known development account (local dev chains only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_account: Option<u32>,
}

/// One deployed contract (the proxy address for upgradeable ones).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContractConfig {
    /// Unique name, used on the command line.
    pub name: Spanned<String>,
    /// Name of the chain in `[chains]`.
    pub chain: Spanned<String>,
    /// What the contract is.
    pub kind: ContractKind,
    /// The address to call.
    pub address: Address,
    /// The block it was deployed in; its history (role events) is read from there, not from
    /// block 0. `deploy` and `devnet` write it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_block: Option<u64>,
    /// ERC-20 tokens whose balances matter for this contract.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<Address>,
}

impl ContractConfig {
    /// The contract's name.
    pub fn name(&self) -> &str {
        self.name.get_ref()
    }

    /// The name of the contract's chain.
    pub fn chain(&self) -> &str {
        self.chain.get_ref()
    }
}

/// Who is meant to hold each role; the tool checks the chain against it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RolesConfig {
    /// Holder of `DEFAULT_ADMIN_ROLE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<Address>,
    /// Holders of `PAUSER_ROLE`.
    #[serde(default)]
    pub pauser: Vec<Address>,
    /// Holders of `EMERGENCY_ROLE`.
    #[serde(default)]
    pub emergency: Vec<Address>,
    /// Holders of `UPGRADER_ROLE`.
    #[serde(default)]
    pub upgrader: Vec<Address>,
}

/// Emergency settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EmergencyConfig {
    /// The only addresses rescued funds may be sent to.
    #[serde(default)]
    pub safe_recipients: Vec<Address>,
}
