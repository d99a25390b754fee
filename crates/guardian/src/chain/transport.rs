//! A JSON-RPC transport over several endpoints in order of preference.
//!
//! A dead or hanging endpoint costs at most one request timeout; after that the endpoint that
//! answered is tried first, so later requests do not pay for the dead one again.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use alloy::{
    rpc::json_rpc::{RequestPacket, ResponsePacket},
    transports::{TransportError, TransportErrorKind, TransportFut, http::Http},
};
use tower::Service;

use crate::secret::RpcUrl;

/// Endpoints of one chain, tried in order starting from the last one that answered.
#[derive(Clone)]
pub struct FailoverTransport {
    inner: Arc<Inner>,
}

struct Inner {
    endpoints: Vec<(RpcUrl, Http<alloy::transports::http::reqwest::Client>)>,
    timeout: Duration,
    preferred: AtomicUsize,
}

impl FailoverTransport {
    /// A transport over `urls` (at least one) with a per-request `timeout`.
    pub fn new(urls: &[RpcUrl], timeout: Duration) -> Self {
        let client = alloy::transports::http::reqwest::Client::new();
        let endpoints = urls
            .iter()
            .map(|u| {
                (
                    u.clone(),
                    Http::with_client(client.clone(), u.expose().clone()),
                )
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                endpoints,
                timeout,
                preferred: AtomicUsize::new(0),
            }),
        }
    }

    /// The endpoint currently tried first.
    pub fn preferred(&self) -> &RpcUrl {
        let i = self.inner.preferred.load(Ordering::Relaxed);
        &self.inner.endpoints[i].0
    }
}

impl Inner {
    async fn request(
        self: Arc<Self>,
        req: RequestPacket,
    ) -> Result<ResponsePacket, TransportError> {
        let n = self.endpoints.len();
        let start = self.preferred.load(Ordering::Relaxed);
        let mut failures = Vec::with_capacity(n);
        for k in 0..n {
            let i = (start + k) % n;
            let (url, http) = &self.endpoints[i];
            let mut http = http.clone();
            // The last endpoint in the cycle has no next one to fall back to: a slow answer
            // from it (a busy node) is still better than none.
            let limit = if k + 1 == n {
                last_resort(self.timeout)
            } else {
                self.timeout
            };
            match tokio::time::timeout(limit, http.call(req.clone())).await {
                Ok(Ok(resp)) => {
                    if i != start {
                        self.preferred.store(i, Ordering::Relaxed);
                        tracing::warn!(endpoint = %url, "switched to a fallback RPC endpoint");
                    }
                    return Ok(resp);
                }
                Ok(Err(e)) => failures.push(format!("{url}: {}", redact(&e.to_string(), url))),
                Err(_) => failures.push(format!("{url}: no answer within {limit:?}")),
            }
        }
        Err(TransportErrorKind::custom_str(&format!(
            "no RPC endpoint answered ({})",
            failures.join("; ")
        )))
    }
}

/// How long the last endpoint of a cycle may take: four timeouts, at least five seconds.
fn last_resort(timeout: Duration) -> Duration {
    (timeout * 4).max(Duration::from_secs(5))
}

/// Removes the full URL (which may hold an API key) from an error message.
fn redact(message: &str, url: &RpcUrl) -> String {
    let full = url.expose().as_str();
    message
        .replace(full, &url.to_string())
        .replace(full.trim_end_matches('/'), &url.to_string())
}

impl Service<RequestPacket> for FailoverTransport {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: RequestPacket) -> Self::Future {
        Box::pin(self.inner.clone().request(req))
    }
}
