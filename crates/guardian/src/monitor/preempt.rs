//! `guardian monitor --mempool`: on each chain whose node offers it, pending transactions are
//! simulated and the pending rules ([`super::pending`]) run on their effect; an alert goes to the
//! dispatcher like any other, where a rule with `preempt = true` answers it with a pause priced to
//! be mined ahead of the pending transaction.

use std::{collections::BTreeMap, time::Duration};

use alloy::{eips::BlockNumberOrTag, providers::Provider};
use tokio::sync::{mpsc, watch};

use super::{MonitorEvent, pending::PendingRules};
use crate::{
    chain::ChainClient,
    deployment::Deployment,
    funds::read_holdings,
    mempool::{self, Capabilities, Simulator},
    secret::RpcUrl,
};

/// How often `txpool_content` is polled where the node offers no subscription.
pub const POLL: Duration = Duration::from_millis(100);

/// The chain's first WebSocket endpoint, if it has one.
pub fn ws_of(deployment: &Deployment, chain: &str) -> Option<RpcUrl> {
    deployment
        .manifest
        .chains
        .get(chain)?
        .rpc_urls
        .iter()
        .find(|u| matches!(u.expose().scheme(), "ws" | "wss"))
        .cloned()
}

/// Watches one chain's pending transactions until `stop`, sending an event per alert raised.
pub async fn watch_chain(
    deployment: &Deployment,
    client: &ChainClient,
    rules: PendingRules,
    caps: Capabilities,
    events: mpsc::UnboundedSender<MonitorEvent>,
    stop: watch::Receiver<bool>,
) {
    let Some(simulator) = caps.simulator else {
        return;
    };
    let ws = ws_of(deployment, &client.name);
    let mut pending = mempool::watch(client.clone(), ws, &caps, POLL, stop);
    let share_targets: Vec<_> = deployment
        .manifest
        .contracts
        .iter()
        .filter(|c| c.chain() == client.name && rules.share_targets().contains(&c.address))
        .collect();
    // Our own transactions (pauses, rescues) are not attacks: the block rules still see them.
    let ours: std::collections::BTreeSet<_> =
        deployment.signers.iter().map(|s| s.address()).collect();
    while let Some(tx) = pending.recv().await {
        if ours.contains(&tx.from) {
            continue;
        }
        // Without a call tree only direct calls can be told apart from the rest of the pool.
        if simulator != Simulator::TraceCall && !rules.touches(&tx, &mempool::Effect::default()) {
            continue;
        }
        let effect = match mempool::simulate(client, simulator, &tx).await {
            Ok(e) => e,
            Err(e) => {
                // Never act on a simulation that failed or is ambiguous.
                tracing::debug!(chain = %client.name, tx = %tx.hash, "not simulated: {e}");
                continue;
            }
        };
        if effect.reverted || !rules.touches(&tx, &effect) {
            continue;
        }
        let (head, held) = tokio::join!(
            client
                .provider()
                .get_block_by_number(BlockNumberOrTag::Latest),
            futures::future::join_all(
                share_targets
                    .iter()
                    .map(|c| async move { (c.address, read_holdings(client, c).await) })
            )
        );
        let Ok(Some(head)) = head else {
            continue;
        };
        let mut held_map = BTreeMap::new();
        for (address, holdings) in held {
            for h in holdings.into_iter().flatten() {
                held_map.insert((address, h.token), h.amount);
            }
        }
        let alerts = rules.evaluate(
            &tx,
            &effect,
            &held_map,
            (head.header.number, head.header.hash),
        );
        for a in alerts {
            match deployment.store.store_pending_alert(&a) {
                Ok(Some(stored)) => {
                    let _ = events.send(MonitorEvent::Raised(stored));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(chain = %client.name, "cannot store a pending alert: {e}"),
            }
        }
    }
}

/// One chain's mempool watch, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The chain.
    pub chain: String,
    /// What its node offers.
    pub capabilities: Capabilities,
    /// The rules pending transactions are checked against.
    pub rules: PendingRules,
}

/// Probes every reachable chain's node once for what `--mempool` needs and sets up its pending
/// rules. A chain whose node lacks a method is in the list with what it lacks (it is followed
/// block by block only).
pub async fn plan(deployment: &Deployment) -> Result<Vec<Plan>, super::rules::RuleError> {
    let expected = super::privileged::Expected::new(
        &deployment.manifest,
        deployment.signers.iter().map(|s| s.address()),
    );
    let mut plans = Vec::new();
    for (name, client) in &deployment.clients {
        let ws = ws_of(deployment, name);
        let capabilities = mempool::detect(client, ws.as_ref()).await;
        let tokens = super::rules::RuleEngine::tokens(&deployment.manifest, name);
        let units: BTreeMap<_, _> = futures::future::join_all(
            tokens
                .iter()
                .map(|t| async move { (*t, crate::funds::metadata(client, Some(*t)).await) }),
        )
        .await
        .into_iter()
        .collect();
        let rules = PendingRules::new(
            &deployment.manifest,
            name,
            client.chain_id,
            expected.clone(),
            |t| {
                units
                    .get(&t)
                    .cloned()
                    .unwrap_or_else(|| (format!("units of {t}"), 0))
            },
        )?;
        plans.push(Plan {
            chain: name.clone(),
            capabilities,
            rules,
        });
    }
    Ok(plans)
}
