//! The chains, signers, contracts and intended role holders a manifest lists.

use std::{fmt, path::PathBuf};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::secret::RpcUrl;

/// The kinds of contract the manifest may list.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Deserialize,
    Serialize,
    utoipa::ToSchema,
)]
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
    /// How transactions are priced: `auto` (EIP-1559 when blocks carry a base fee), `eip1559`
    /// or `legacy` (for L2s where detection cannot tell).
    #[serde(default, skip_serializing_if = "is_default")]
    pub fee_market: FeeMarket,
    /// Private endpoints (a builder or a protection RPC) an emergency pause is sent to as well,
    /// so that an attacker watching the public mempool does not see it coming.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub private_send_urls: Vec<RpcUrl>,
    /// Send an emergency pause only to `private_send_urls`, and to the public endpoints only after
    /// `private_fallback_blocks` blocks without it.
    #[serde(default, skip_serializing_if = "is_default")]
    pub private_only: bool,
    /// Blocks a private-only pause may wait unmined before it goes to the public endpoints too.
    #[serde(default = "default_private_fallback_blocks")]
    pub private_fallback_blocks: u64,
}

impl ChainConfig {
    /// A chain at `rpc_urls` with every other setting at its default.
    pub fn new(chain_id: u64, rpc_urls: Vec<RpcUrl>) -> Self {
        Self {
            chain_id,
            rpc_urls,
            explorer_url: None,
            fee_market: FeeMarket::default(),
            private_send_urls: Vec::new(),
            private_only: false,
            private_fallback_blocks: default_private_fallback_blocks(),
        }
    }
}

fn default_private_fallback_blocks() -> u64 {
    2
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// How a chain prices its transactions (`[chains.NAME] fee_market`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FeeMarket {
    /// EIP-1559 when the chain's blocks carry a base fee, a legacy gas price otherwise.
    #[default]
    Auto,
    /// Max fee and priority fee (EIP-1559).
    Eip1559,
    /// One gas price (chains without EIP-1559, and L2s that ignore its fields).
    Legacy,
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
    /// A Safe multisig (`safe = "0x…"`, the same address on every chain, or a table of
    /// addresses by chain): its actions are proposed for its owners to confirm, never signed by
    /// one key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub safe: Option<super::safe::PerChain<alloy::primitives::Address>>,
    /// For a Safe: a key signer of the manifest that signs each proposal as it is made (an
    /// owner's key, never enough alone) and shares it with the Safe Transaction Service (an
    /// owner or a delegate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposer: Option<String>,
    /// The `MultiSendCallOnly` the Safe's batches go through (default: Safe v1.4.1's canonical
    /// deployment); the only contract a proposal may DELEGATECALL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multisend: Option<alloy::primitives::Address>,
}

/// Safe v1.4.1's `MultiSendCallOnly`, deployed at this address on every chain Safe supports.
pub const CANONICAL_MULTISEND: alloy::primitives::Address =
    alloy::primitives::address!("9641d764fc13c8B624c04430C7356C1C7C8102e2");

impl SignerConfig {
    /// The Safe this signer is, with the batch library its proposals go through.
    pub fn as_safe(
        &self,
    ) -> Option<(
        &super::safe::PerChain<alloy::primitives::Address>,
        alloy::primitives::Address,
    )> {
        self.safe
            .as_ref()
            .map(|s| (s, self.multisend.unwrap_or(CANONICAL_MULTISEND)))
    }
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
