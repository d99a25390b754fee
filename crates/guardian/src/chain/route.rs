//! Where a signed transaction goes. Routine sends go to the chain's public endpoints. An
//! emergency pause also goes to the private endpoints of `[chains.NAME] private_send_urls` (a
//! builder or a protection RPC), or only to them with `private_only` until
//! `private_fallback_blocks` blocks pass without it: an attacker watching the public mempool for
//! a pause cannot answer one it never sees.

use alloy::{
    primitives::{Bytes, TxHash},
    providers::{Provider, RootProvider},
    rpc::client::RpcClient,
};
use futures::future::join_all;

use super::{ChainClient, FailoverTransport};
use crate::{
    config::{ChainConfig, FeeMarket, RpcSettings},
    secret::RpcUrl,
};

/// The name under which the chain's own endpoints appear in the journal.
pub const PUBLIC: &str = "public";

/// How one chain's transactions are priced and where its emergency transactions are sent.
#[derive(Clone, Debug, Default)]
pub struct SendRoute {
    /// How transactions are priced.
    pub fee_market: FeeMarket,
    /// The private endpoints, each with the name it has in the journal (no secret in it).
    pub private: Vec<PrivateEndpoint>,
    /// Whether an emergency pause waits for `fallback_blocks` before it goes public.
    pub private_only: bool,
    /// Blocks a private-only transaction may wait before it is sent publicly too.
    pub fallback_blocks: u64,
}

/// One private endpoint.
#[derive(Clone, Debug)]
pub struct PrivateEndpoint {
    /// `private http://host:port/…`: the URL with its secret parts hidden.
    pub name: String,
    provider: RootProvider,
}

impl SendRoute {
    /// The route `[chains.NAME]` describes.
    pub fn from_config(chain: &ChainConfig, settings: &RpcSettings) -> Result<Self, String> {
        let private = chain
            .private_send_urls
            .iter()
            .map(|url| private_endpoint(url, settings))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            fee_market: chain.fee_market,
            private,
            private_only: chain.private_only && !chain.private_send_urls.is_empty(),
            fallback_blocks: chain.private_fallback_blocks,
        })
    }
}

fn private_endpoint(url: &RpcUrl, settings: &RpcSettings) -> Result<PrivateEndpoint, String> {
    let transport = FailoverTransport::new(
        std::slice::from_ref(url),
        settings.request_timeout(),
        settings.request_timeout(),
    )
    .map_err(|e| e.to_string())?;
    Ok(PrivateEndpoint {
        name: format!("private {url}"),
        provider: RootProvider::new(RpcClient::new(transport, url.is_loopback())),
    })
}

/// What one endpoint answered to one broadcast: `Ok` when it took the transaction.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The endpoint's journal name ([`PUBLIC`] or a private endpoint's).
    pub endpoint: String,
    /// The hash broadcast.
    pub tx_hash: TxHash,
    /// `Ok` or the endpoint's refusal (secrets redacted).
    pub result: Result<(), String>,
}

/// Sends `raw` to every private endpoint of the route at once.
pub(super) async fn send_private(client: &ChainClient, raw: &Bytes, hash: TxHash) -> Vec<Answer> {
    join_all(client.route.private.iter().map(|p| async move {
        let result = match p.provider.send_raw_transaction(raw).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("already known") => Ok(()),
            Err(e) => Err(crate::secret::redact(&e.to_string()).into_owned()),
        };
        if let Err(e) = &result {
            tracing::warn!(chain = %client.name, endpoint = %p.name, "private send refused: {e}");
        }
        Answer {
            endpoint: p.name.clone(),
            tx_hash: hash,
            result,
        }
    }))
    .await
}
