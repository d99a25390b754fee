//! WebSocket endpoints (`ws://`, `wss://`): a connection that checks certificates like `https://`
//! does, for requests through the failover transport and for subscriptions.

use std::time::Duration;

use alloy::{
    providers::RootProvider,
    pubsub::{ConnectionHandle, PubSubConnect},
    rpc::client::RpcClient,
    transports::{
        TransportErrorKind, TransportResult,
        ws::{WsBackend, WsConnect},
    },
};
use tokio_tungstenite::{Connector, tungstenite::client::IntoClientRequest};

use super::transport::redact;
use crate::secret::RpcUrl;
use crate::tls;

/// How often an idle connection is pinged to find out it is dead.
const KEEPALIVE: Duration = Duration::from_secs(10);

/// Connects to one WebSocket endpoint; alloy reconnects through it when the connection drops.
#[derive(Clone, Debug)]
pub struct WsEndpoint {
    url: RpcUrl,
}

impl WsEndpoint {
    /// A connector for `url` (a `ws://` or `wss://` URL).
    pub fn new(url: &RpcUrl) -> Self {
        Self { url: url.clone() }
    }
}

impl PubSubConnect for WsEndpoint {
    fn is_local(&self) -> bool {
        self.url.is_loopback()
    }

    async fn connect(&self) -> TransportResult<ConnectionHandle> {
        // alloy's own connector trusts only a built-in list of CAs; this one uses the same
        // settings as https:// (platform store, SSL_CERT_FILE).
        let (config, problem) = tls::client_config();
        let fail = |e: &dyn std::fmt::Display| {
            let mut message = redact(&e.to_string(), &self.url);
            tls::advise(&mut message, problem.as_deref());
            TransportErrorKind::custom_str(&message)
        };
        // WsConnect turns a user:password in the URL into an Authorization header.
        let request = WsConnect::new(self.url.expose().as_str())
            .into_client_request()
            .map_err(|e| fail(&e))?;
        let connector = (self.url.expose().scheme() == "wss")
            .then(|| Connector::Rustls(std::sync::Arc::new(config)));
        // Nagle's algorithm off (TCP_NODELAY), as reqwest has it for https://: a request written
        // in more than one segment does not wait for the node's delayed ACK.
        let (socket, _) =
            tokio_tungstenite::connect_async_tls_with_config(request, None, true, connector)
                .await
                .map_err(|e| fail(&e))?;
        let (handle, interface) = ConnectionHandle::new();
        WsBackend::from_socket(socket, interface, KEEPALIVE).spawn();
        Ok(handle)
    }
}

/// Whether `url` is a WebSocket endpoint (`ws://` or `wss://`).
pub fn is_websocket(url: &RpcUrl) -> bool {
    matches!(url.expose().scheme(), "ws" | "wss")
}

/// A provider on one WebSocket endpoint that can subscribe (`eth_subscribe`), e.g. to new heads
/// with `subscribe_blocks`.
pub async fn pubsub_provider(url: &RpcUrl) -> TransportResult<RootProvider> {
    if !is_websocket(url) {
        return Err(TransportErrorKind::custom_str(&format!(
            "{url} is not a WebSocket endpoint: subscriptions need a ws:// or wss:// URL"
        )));
    }
    let client = RpcClient::connect_pubsub(WsEndpoint::new(url)).await?;
    Ok(RootProvider::new(client))
}
