//! A JSON-RPC transport over several endpoints in order of preference.
//!
//! A dead endpoint costs nothing but a refused connection; a hanging one costs the hedge delay
//! (a quarter of the request timeout unless configured), after which the next endpoint is asked
//! as well. The endpoint that answered is tried first from then on, so later requests do not pay
//! for the dead one again.

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
use futures::stream::{FuturesUnordered, StreamExt};
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
    hedge_after: Duration,
    preferred: AtomicUsize,
}

impl FailoverTransport {
    /// A transport over `urls` (at least one) with a per-request `timeout`; the next endpoint is
    /// asked too when one has not answered within `hedge_after`.
    pub fn new(urls: &[RpcUrl], timeout: Duration, hedge_after: Duration) -> Self {
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
                hedge_after,
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
    /// Tries the endpoints from the preferred one on. An endpoint that fails moves on to the next
    /// at once; one that has not answered within the hedge delay gets the next one asked too,
    /// while it keeps its own timeout. The first answer wins, and its endpoint becomes preferred;
    /// an answer of errors only wins when no other endpoint is still being asked.
    async fn request(
        self: Arc<Self>,
        req: RequestPacket,
    ) -> Result<ResponsePacket, TransportError> {
        let n = self.endpoints.len();
        let start = self.preferred.load(Ordering::Relaxed);
        let mut failures = Vec::with_capacity(n);
        let mut asking = FuturesUnordered::new();
        let attempt = |k: usize| {
            let i = (start + k) % n;
            let mut http = self.endpoints[i].1.clone();
            // The last endpoint in the cycle has no next one to fall back to: a slow answer
            // from it (a busy node) is still better than none.
            let limit = if k + 1 == n {
                last_resort(self.timeout)
            } else {
                self.timeout
            };
            let req = req.clone();
            async move { (i, limit, tokio::time::timeout(limit, http.call(req)).await) }
        };
        asking.push(attempt(0));
        let mut next = 1;
        // An error answer (a rate limit, a node that lags) must not beat a real answer still on
        // its way from another endpoint: it is held while others are asked, and returned only if
        // nothing better arrives.
        let mut held: Option<ResponsePacket> = None;
        loop {
            let hedge = tokio::time::sleep(self.hedge_after);
            tokio::select! {
                Some((i, limit, answer)) = asking.next() => {
                    let url = &self.endpoints[i].0;
                    match answer {
                        Ok(Ok(resp)) if only_errors(&resp) => {
                            if asking.is_empty() {
                                return Ok(held.unwrap_or(resp));
                            }
                            held.get_or_insert(resp);
                            continue;
                        }
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
                    if next < n && held.is_none() {
                        asking.push(attempt(next));
                        next += 1;
                    } else if asking.is_empty() {
                        break;
                    }
                }
                () = hedge, if next < n && held.is_none() => {
                    asking.push(attempt(next));
                    next += 1;
                }
                else => break,
            }
        }
        if let Some(resp) = held {
            return Ok(resp);
        }
        Err(TransportErrorKind::custom_str(&format!(
            "no RPC endpoint answered ({})",
            failures.join("; ")
        )))
    }
}

/// Whether an answer holds nothing but JSON-RPC errors.
fn only_errors(resp: &ResponsePacket) -> bool {
    match resp {
        ResponsePacket::Single(r) => r.is_error(),
        ResponsePacket::Batch(rs) => !rs.is_empty() && rs.iter().all(|r| r.is_error()),
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
