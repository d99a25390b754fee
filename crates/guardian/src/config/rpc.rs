//! `[rpc]`: how the tool talks to endpoints and waits for transactions.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The largest `[rpc] batch_size`: geth refuses batches of more than 1000 requests.
pub const MAX_BATCH_SIZE: usize = 1000;

/// How the tool talks to endpoints and waits for transactions.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RpcSettings {
    /// How long one request may take before the next endpoint is tried, in milliseconds.
    #[serde(default = "RpcSettings::default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// How long to wait for a receipt before giving up, in seconds.
    #[serde(default = "RpcSettings::default_receipt_timeout_secs")]
    pub receipt_timeout_secs: u64,
    /// Blocks a transaction may wait unmined before it is replaced with a higher fee.
    #[serde(default = "RpcSettings::default_replace_after_blocks")]
    pub replace_after_blocks: u64,
    /// The highest max fee per gas a replacement may offer, in gwei.
    #[serde(default = "RpcSettings::default_fee_cap_gwei")]
    pub fee_cap_gwei: u64,
    /// Most requests sent in one JSON-RPC batch; 1 sends every request on its own (for
    /// endpoints that refuse batches).
    #[serde(default = "RpcSettings::default_batch_size")]
    pub batch_size: usize,
    /// How long an endpoint may stay silent before the next one is asked as well, in
    /// milliseconds (default: a quarter of `request_timeout_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hedge_after_ms: Option<u64>,
    /// The priority fee an emergency pause pays at least, in gwei, so that it is ordered ahead
    /// of ordinary traffic (an attacker's next transaction included) in its block.
    #[serde(default = "RpcSettings::default_pause_tip_gwei")]
    pub pause_tip_gwei: u64,
}

impl RpcSettings {
    fn default_request_timeout_ms() -> u64 {
        2_000
    }
    fn default_receipt_timeout_secs() -> u64 {
        120
    }
    fn default_replace_after_blocks() -> u64 {
        3
    }
    fn default_fee_cap_gwei() -> u64 {
        1_000
    }
    fn default_batch_size() -> usize {
        100
    }
    fn default_pause_tip_gwei() -> u64 {
        3
    }

    /// The pause's priority fee floor in wei.
    pub fn pause_tip_wei(&self) -> u128 {
        u128::from(self.pause_tip_gwei) * 1_000_000_000
    }

    /// The fee cap in wei.
    pub fn fee_cap_wei(&self) -> u128 {
        u128::from(self.fee_cap_gwei) * 1_000_000_000
    }

    /// The per-request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// How long an endpoint may stay silent before the next one is asked as well; never longer
    /// than the request timeout.
    pub fn hedge_after(&self) -> Duration {
        let ms = self
            .hedge_after_ms
            .unwrap_or(self.request_timeout_ms / 4)
            .clamp(1, self.request_timeout_ms.max(1));
        Duration::from_millis(ms)
    }

    /// The receipt timeout.
    pub fn receipt_timeout(&self) -> Duration {
        Duration::from_secs(self.receipt_timeout_secs)
    }
}

impl Default for RpcSettings {
    fn default() -> Self {
        Self {
            request_timeout_ms: Self::default_request_timeout_ms(),
            receipt_timeout_secs: Self::default_receipt_timeout_secs(),
            replace_after_blocks: Self::default_replace_after_blocks(),
            fee_cap_gwei: Self::default_fee_cap_gwei(),
            batch_size: Self::default_batch_size(),
            hedge_after_ms: None,
            pause_tip_gwei: Self::default_pause_tip_gwei(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hedging_starts_after_a_quarter_of_the_timeout_unless_configured() {
        let mut rpc = RpcSettings::default();
        assert_eq!(rpc.hedge_after(), Duration::from_millis(500));
        rpc.hedge_after_ms = Some(50);
        assert_eq!(rpc.hedge_after(), Duration::from_millis(50));
        rpc.hedge_after_ms = Some(10_000);
        assert_eq!(
            rpc.hedge_after(),
            rpc.request_timeout(),
            "never after the timeout"
        );
    }
}
