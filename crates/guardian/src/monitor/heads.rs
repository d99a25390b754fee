//! A follower's wake-ups: the `newHeads` subscription on a chain's WebSocket endpoints, how
//! often the chain is polled beside it, and the stop signal.

use alloy::providers::Provider;
use tokio::sync::watch;

use crate::{chain::ws, secret::RpcUrl};

/// A live `newHeads` subscription, with the provider that keeps its connection open.
pub(super) struct Heads {
    _provider: alloy::providers::RootProvider,
    sub: alloy::pubsub::Subscription<alloy::rpc::types::Header>,
}

/// With a subscription, the chain is still polled this many times less often, in case the
/// subscription goes quiet without closing.
pub(super) const POLL_FACTOR_WITH_SUBSCRIPTION: u32 = 10;

/// How long after a failed or closed subscription the next attempt waits.
pub(super) const RESUBSCRIBE_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// A `newHeads` subscription on the first of chain `name`'s WebSocket endpoints that takes one.
pub(super) async fn subscribe(name: &str, ws_urls: &[RpcUrl]) -> Option<Heads> {
    for url in ws_urls {
        let provider = match ws::pubsub_provider(url).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(chain = %name, "cannot subscribe to new heads at {url}: {e}");
                continue;
            }
        };
        match provider.subscribe_blocks().await {
            Ok(sub) => {
                tracing::info!(chain = %name, "following new heads through {url}");
                return Some(Heads {
                    _provider: provider,
                    sub,
                });
            }
            Err(e) => {
                tracing::warn!(chain = %name, "eth_subscribe newHeads refused at {url}: {e}");
            }
        }
    }
    None
}

pub(super) fn stopped(stop: Option<&watch::Receiver<bool>>) -> bool {
    stop.is_some_and(|rx| *rx.borrow())
}

/// Waits for the stop signal to change; never, without one (or once its sender is gone).
pub(super) async fn changed(stop: &mut Option<watch::Receiver<bool>>) {
    match stop {
        Some(rx) => {
            if rx.changed().await.is_err() {
                // Nobody can ask for a stop any more: stop waiting for one.
                *stop = None;
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// Waits for the next head of the subscription; `false` when it closed. Never, without one.
pub(super) async fn next_head(heads: &mut Option<Heads>) -> bool {
    match heads {
        Some(h) => match h.sub.recv().await {
            Ok(_) => true,
            // Heads missed while a block was processed: the next sync reads them all anyway.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => false,
        },
        None => std::future::pending().await,
    }
}
