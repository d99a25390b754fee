//! What an incident puts at stake, recorded as evidence: the head block of each chain and, for
//! every fund-holding contract in scope, what it holds and (escrows) owes, at the incident's
//! opening and after its pause. The post-mortem's "funds at risk" and "lost" come from these.

use alloy::providers::Provider;
use futures::future::join_all;
use serde::{Deserialize, Serialize};

use super::{Incident, warroom};
use crate::{deployment::Deployment, funds::read_holdings};

/// One asset of one contract at a moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Stake {
    /// Contract name.
    pub contract: String,
    /// Chain name.
    pub chain: String,
    /// The token, or `null` for the native coin.
    #[schema(value_type = Option<String>)]
    pub token: Option<alloy::primitives::Address>,
    /// The asset's symbol.
    pub symbol: String,
    /// Its decimals.
    pub decimals: u8,
    /// Held, base units as a decimal string.
    pub held: String,
    /// Owed to open payments (escrows), base units as a decimal string.
    pub owed: Option<String>,
    /// Owed beyond what is held: what is missing (lost, until returned).
    pub shortfall: String,
}

/// A snapshot: the head block per chain, and the stakes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Snapshot {
    /// `opened` or `paused`.
    pub when: String,
    /// Each chain's head block when read.
    pub blocks: std::collections::BTreeMap<String, u64>,
    /// Every fund-holding contract's assets in scope.
    pub stakes: Vec<Stake>,
}

/// Reads the snapshot of `incident`'s scope now. Contracts or chains that cannot be read are
/// left out (the snapshot is evidence, never a reason to hold up a pause).
pub async fn snapshot(deployment: &Deployment, incident: &Incident, when: &str) -> Snapshot {
    let scope = warroom::scope(&deployment.manifest, incident);
    let holders: Vec<_> = scope
        .into_iter()
        .filter(|c| c.kind.holds_funds())
        .filter_map(|c| deployment.clients.get(c.chain()).map(|client| (c, client)))
        .collect();
    let reads = join_all(
        holders
            .iter()
            .map(|(c, client)| async move { read_holdings(client, c).await }),
    )
    .await;
    let mut stakes = Vec::new();
    for ((c, _), read) in holders.iter().zip(reads) {
        let Ok(holdings) = read else { continue };
        for h in holdings {
            stakes.push(Stake {
                contract: c.name().to_string(),
                chain: c.chain().to_string(),
                token: h.token,
                symbol: h.symbol.clone(),
                decimals: h.decimals,
                held: h.amount.to_string(),
                owed: h.owed.map(|o| o.to_string()),
                shortfall: h.shortfall().to_string(),
            });
        }
    }
    let heads = join_all(deployment.clients.iter().map(|(name, client)| async move {
        (
            name.clone(),
            client.provider().get_block_number().await.ok(),
        )
    }))
    .await;
    Snapshot {
        when: when.to_string(),
        blocks: heads
            .into_iter()
            .filter_map(|(n, b)| b.map(|b| (n, b)))
            .collect(),
        stakes,
    }
}
