//! What an incident puts at stake, recorded as evidence: the head block of each chain and, for
//! every fund-holding contract in scope, what it holds and (escrows) owes, in the block before the
//! exploit's first transaction, at the incident's opening and after its pause. The figures "at
//! risk" and "lost" come from these (`report::figures`).

use std::collections::BTreeMap;

use alloy::{eips::BlockId, providers::Provider};
use futures::future::join_all;
use serde::{Deserialize, Serialize};

use super::{
    Incident, IncidentError, playbook::GUARDIAN, playbook::Responder, report::Exploit, warroom,
};
use crate::{deployment::Deployment, funds::read_holdings_at};

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
    /// `before` (the block before the exploit's first transaction), `opened` or `paused`.
    pub when: String,
    /// Each chain's head block when read.
    pub blocks: BTreeMap<String, u64>,
    /// Every fund-holding contract's assets in scope.
    pub stakes: Vec<Stake>,
}

/// Reads the snapshot of `incident`'s scope now. Contracts or chains that cannot be read are
/// left out (the snapshot is evidence, never a reason to hold up a pause).
pub async fn snapshot(deployment: &Deployment, incident: &Incident, when: &str) -> Snapshot {
    let at = heads(deployment).await;
    snapshot_at(deployment, incident, when, &at).await
}

/// Each chain's head block now (chains whose node does not answer are left out). A snapshot
/// reads its holdings in these blocks, so what it holds and the block it names agree.
pub async fn heads(deployment: &Deployment) -> BTreeMap<String, u64> {
    join_all(deployment.clients.iter().map(|(name, client)| async move {
        let head = client.provider().get_block_number().await.ok();
        head.map(|b| (name.clone(), b))
    }))
    .await
    .into_iter()
    .flatten()
    .collect()
}

/// Reads the snapshot of `incident`'s scope on the chains of `at`, each in the state of its
/// block there (`before`: the block before the exploit's first transaction). A node that keeps no
/// state that old leaves its contracts out, as an unreadable one does.
pub async fn snapshot_at(
    deployment: &Deployment,
    incident: &Incident,
    when: &str,
    at: &BTreeMap<String, u64>,
) -> Snapshot {
    let mut snap = read(deployment, incident, when, Some(at)).await;
    snap.blocks = at.clone();
    snap
}

async fn read(
    deployment: &Deployment,
    incident: &Incident,
    when: &str,
    at: Option<&BTreeMap<String, u64>>,
) -> Snapshot {
    let scope = warroom::scope(&deployment.manifest, incident);
    let holders: Vec<_> = scope
        .into_iter()
        .filter(|c| c.kind.holds_funds())
        .filter_map(|c| {
            let block = match at {
                None => BlockId::latest(),
                Some(at) => BlockId::number(*at.get(c.chain())?),
            };
            deployment
                .clients
                .get(c.chain())
                .map(|client| (c, client, block))
        })
        .collect();
    let reads = join_all(
        holders
            .iter()
            .map(|(c, client, block)| read_holdings_at(client, c, *block)),
    )
    .await;
    let mut stakes = Vec::new();
    for ((c, _, _), read) in holders.iter().zip(reads) {
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
    Snapshot {
        when: when.to_string(),
        blocks: BTreeMap::new(),
        stakes,
    }
}

/// `heads`, each taken back to the block before the pause's first on its chain where it was read
/// after the pause landed: the opening cannot have seen a block its own pause made.
fn before_the_pause(
    mut heads: BTreeMap<String, u64>,
    paused_in: &BTreeMap<String, (u64, u64)>,
) -> BTreeMap<String, u64> {
    for (chain, head) in heads.iter_mut() {
        if let Some((first, _)) = paused_in.get(chain) {
            *head = (*head).min(first.saturating_sub(1));
        }
    }
    heads
}

impl Responder<'_> {
    /// The snapshots read when an incident opens: its scope in the blocks `opened_at` (each
    /// chain's head when it opened) and, on each chain where an alert is linked, in the block
    /// before the first alert's (`before`: the exploit's first transaction is, as far as guardian
    /// knows, the one that raised it). `paused_in` is each chain's first block of the opening's
    /// pause: a head read after it landed (the pause is sent alongside that read, never after it)
    /// is taken back to the block before, the last the opening can have seen.
    pub(super) async fn opening_snapshots(
        &self,
        incident: &Incident,
        opened_at: BTreeMap<String, u64>,
        paused_in: &BTreeMap<String, (u64, u64)>,
    ) -> Vec<Snapshot> {
        let opened_at = before_the_pause(opened_at, paused_in);
        let mut at: BTreeMap<String, u64> = BTreeMap::new();
        for alert in incident.alerts.iter() {
            let Ok(Some(a)) = self.deployment.store.alert(*alert) else {
                continue;
            };
            let block = a.found.block_number.saturating_sub(1);
            at.entry(a.found.chain.clone())
                .and_modify(|b| *b = (*b).min(block))
                .or_insert(block);
        }
        let opened = snapshot_at(self.deployment, incident, "opened", &opened_at);
        if at.is_empty() {
            return vec![opened.await];
        }
        let (before, opened) = tokio::join!(
            snapshot_at(self.deployment, incident, "before", &at),
            opened
        );
        vec![before, opened]
    }

    /// Records a funds snapshot in the incident's timeline (an entry of kind `funds`).
    pub(super) fn record_snapshot(&self, id: i64, snap: &Snapshot) -> Result<(), IncidentError> {
        let details = serde_json::to_value(snap).unwrap_or_default();
        self.deployment
            .store
            .record(id, GUARDIAN, Some(("funds", details)), &[])?;
        Ok(())
    }

    /// Records where the exploit started (an `exploit` entry) and what the incident's contracts
    /// on its chain held in the block before (a `before` snapshot): the start of the durations
    /// and the funds at risk. A later record replaces an earlier one in the figures.
    /// Without `at`, the block's timestamp is read from the chain.
    pub async fn record_exploit(&self, id: i64, exploit: &Exploit) -> Result<(), IncidentError> {
        let incident = self.active(id)?;
        let chain = self
            .deployment
            .manifest
            .chains
            .iter()
            .find(|(_, c)| c.chain_id == exploit.chain_id)
            .map(|(name, _)| name.clone())
            .ok_or_else(|| {
                IncidentError::invalid(
                    "chain",
                    format!(
                        "chain id {} is not in the manifest: the exploit must be on one of its chains",
                        exploit.chain_id
                    ),
                )
            })?;
        let mut exploit = *exploit;
        if exploit.at.is_none()
            && let Some(client) = self.deployment.clients.get(&chain)
        {
            exploit.at = client
                .provider()
                .get_block_by_number(exploit.block.into())
                .await
                .ok()
                .flatten()
                .map(|b| b.header.timestamp as i64 * 1000);
        }
        let at = BTreeMap::from([(chain, exploit.block.saturating_sub(1))]);
        let before = snapshot_at(self.deployment, &incident, "before", &at).await;
        self.deployment.store.record(
            id,
            &self.actor,
            Some(("exploit", serde_json::to_value(exploit).unwrap_or_default())),
            &[],
        )?;
        self.record_snapshot(id, &before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_read_after_the_pause_landed_is_taken_back_to_the_block_before_it() {
        let heads = BTreeMap::from([("a".to_string(), 12), ("b".into(), 7), ("c".into(), 30)]);
        // a: read after its pause landed in 11; b: read before its pause in 9; c: not paused.
        let paused = BTreeMap::from([("a".to_string(), (11, 12)), ("b".into(), (9, 9))]);
        let at = before_the_pause(heads, &paused);
        assert_eq!(
            at,
            BTreeMap::from([("a".to_string(), 10), ("b".into(), 7), ("c".into(), 30)])
        );
    }
}
