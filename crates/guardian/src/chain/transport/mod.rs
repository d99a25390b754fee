//! A JSON-RPC transport over several endpoints (HTTP or WebSocket) in order of preference.
//!
//! A dead endpoint costs nothing but a refused connection; a hanging one costs the hedge delay
//! (a quarter of the request timeout unless configured), after which the next endpoint is asked
//! as well. The endpoint that answered is tried first from then on, so later requests do not pay
//! for the dead one again.
//!
//! An error answer that says nothing about the request itself (a rate limit, an internal error, a
//! node that lags behind) moves the request on to the next endpoint; once every endpoint has
//! given such an answer, the request is asked again after a short jittered pause, within a
//! budget well under a second. An answer about the request (a revert, a nonce, a bad argument) is
//! returned at once. In a batch, only the calls that got such an answer are asked again; the
//! others keep their answers.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use alloy::{
    pubsub::{PubSubConnect, PubSubFrontend},
    rpc::json_rpc::{RequestPacket, ResponsePacket},
    transports::{TransportError, TransportErrorKind, TransportFut, http::Http},
};
use futures::stream::{FuturesUnordered, StreamExt};
use tower::Service;

mod calls;
mod classify;

pub use classify::{ErrorClass, classify};

use self::{calls::Calls, classify::retryable_failure};
use super::ws::WsEndpoint;
use crate::secret::RpcUrl;
use crate::tls;

type HttpClient = alloy::transports::http::reqwest::Client;

/// Endpoints of one chain, tried in order starting from the last one that answered.
#[derive(Clone)]
pub struct FailoverTransport {
    inner: Arc<Inner>,
}

struct Inner {
    endpoints: Vec<(RpcUrl, Endpoint)>,
    timeout: Duration,
    hedge_after: Duration,
    preferred: AtomicUsize,
    /// Why certificates cannot be checked, when the trusted ones could not be loaded.
    tls_problem: Option<String>,
}

/// One endpoint: HTTP(S), or a WebSocket connected on first use.
enum Endpoint {
    Http(Http<HttpClient>),
    Ws(WsEndpoint, tokio::sync::Mutex<Option<PubSubFrontend>>),
}

impl Endpoint {
    /// Sends `req` to this endpoint.
    async fn call(&self, req: RequestPacket) -> Result<ResponsePacket, TransportError> {
        match self {
            Self::Http(http) => http.clone().call(req).await,
            Self::Ws(connect, frontend) => {
                let mut front = {
                    let mut slot = frontend.lock().await;
                    match slot.as_ref() {
                        Some(f) => f.clone(),
                        None => {
                            let f = connect.clone().into_service().await?;
                            *slot = Some(f.clone());
                            f
                        }
                    }
                };
                let answer = front.call(req).await;
                if let Err(TransportError::Transport(TransportErrorKind::BackendGone)) = &answer {
                    // The connection is gone for good: connect afresh next time.
                    *frontend.lock().await = None;
                }
                answer
            }
        }
    }
}

/// A failure to build the transport.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client: {0}")]
pub struct TransportSetupError(String);

impl FailoverTransport {
    /// A transport over `urls` (at least one) with a per-request `timeout`; the next endpoint is
    /// asked too when one has not answered within `hedge_after`.
    pub fn new(
        urls: &[RpcUrl],
        timeout: Duration,
        hedge_after: Duration,
    ) -> Result<Self, TransportSetupError> {
        let (tls, tls_problem) = tls::client_config();
        let client = HttpClient::builder()
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| TransportSetupError(e.to_string()))?;
        let endpoints = urls
            .iter()
            .map(|u| {
                let endpoint = if super::ws::is_websocket(u) {
                    Endpoint::Ws(WsEndpoint::new(u), tokio::sync::Mutex::new(None))
                } else {
                    Endpoint::Http(Http::with_client(client.clone(), u.expose().clone()))
                };
                (u.clone(), endpoint)
            })
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                endpoints,
                timeout,
                hedge_after,
                preferred: AtomicUsize::new(0),
                tls_problem,
            }),
        })
    }

    /// The endpoint currently tried first.
    pub fn preferred(&self) -> &RpcUrl {
        let i = self.inner.preferred.load(Ordering::Relaxed);
        &self.inner.endpoints[i].0
    }
}

/// The first pause before a request is asked again; each next one doubles.
const BACKOFF: Duration = Duration::from_millis(40);
/// The most time spent pausing between rounds for one request.
const BACKOFF_BUDGET: Duration = Duration::from_millis(600);

/// A pause of about `base` (between half and one and a half times it), different each time so
/// that many requests refused together do not come back together.
fn jitter(base: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // Each RandomState is seeded afresh: a random number without a dependency.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .map_or(0, |d| d.as_nanos()),
    );
    let r = (h.finish() % 1000) as u32;
    base / 2 + base * r / 1000
}

impl Inner {
    /// Tries the endpoints from the preferred one on. An endpoint that fails, or answers with an
    /// error about itself, moves on to the next at once; one that has not answered within the
    /// hedge delay gets the next one asked too, while it keeps its own timeout. The first
    /// answer to each call wins, and its endpoint becomes preferred. After a round in which
    /// every endpoint failed for reasons worth retrying, the open calls are asked again after a
    /// pause, within [`BACKOFF_BUDGET`].
    async fn request(
        self: Arc<Self>,
        req: RequestPacket,
    ) -> Result<ResponsePacket, TransportError> {
        let n = self.endpoints.len();
        let mut calls = Calls::new(req);
        let mut failures: Vec<String> = Vec::new();
        let mut paused = Duration::ZERO;
        let mut pause = BACKOFF;
        loop {
            let round = self.round(&mut calls, &mut failures).await;
            if calls.open().is_empty() || !round {
                break;
            }
            let wait = jitter(pause);
            if paused + wait > BACKOFF_BUDGET {
                break;
            }
            tracing::debug!(
                endpoints = n,
                "every endpoint refused for now; asking again in {wait:?}"
            );
            tokio::time::sleep(wait).await;
            paused += wait;
            pause *= 2;
        }
        if let Some(answer) = calls.into_answer() {
            return Ok(answer);
        }
        Err(TransportErrorKind::custom_str(&format!(
            "no RPC endpoint answered ({})",
            failures.join("; ")
        )))
    }

    /// Asks every endpoint at most once, from the preferred one on, until every call is settled.
    /// Returns whether the calls still open are worth asking again: every endpoint that left
    /// them open did so for a reason that may pass.
    async fn round(&self, calls: &mut Calls, failures: &mut Vec<String>) -> bool {
        let n = self.endpoints.len();
        let start = self.preferred.load(Ordering::Relaxed);
        let mut retryable = true;
        let mut asking = FuturesUnordered::new();
        let attempt = |k: usize, asked: Vec<usize>, packet: RequestPacket| {
            let i = (start + k) % n;
            // The last endpoint in the cycle has no next one to fall back to: a slow answer
            // from it (a busy node) is still better than none.
            let limit = if k + 1 == n {
                last_resort(self.timeout)
            } else {
                self.timeout
            };
            let endpoint = &self.endpoints[i].1;
            async move {
                let answer = tokio::time::timeout(limit, endpoint.call(packet)).await;
                (i, asked, limit, answer)
            }
        };
        let open = calls.open();
        asking.push(attempt(0, open.clone(), calls.packet(&open)));
        let mut next = 1;
        loop {
            let hedge = tokio::time::sleep(self.hedge_after);
            tokio::select! {
                Some((i, asked, limit, answer)) = asking.next() => {
                    let url = &self.endpoints[i].0;
                    match answer {
                        Ok(Ok(resp)) => {
                            let (retry, settled) = calls.absorb(&asked, resp);
                            if settled && i != start {
                                self.preferred.store(i, Ordering::Relaxed);
                                tracing::warn!(endpoint = %url, "switched to a fallback RPC endpoint");
                            }
                            if retry {
                                tracing::debug!(endpoint = %url, "endpoint refused for now (rate limit or lag)");
                                note(failures, format!("{url}: refused for now"));
                            }
                        }
                        Ok(Err(e)) => {
                            let why = self.describe(&e, url);
                            // A certificate will not be trusted a moment later either.
                            retryable &= retryable_failure(&e) && !tls::is_certificate_error(&why);
                            note(failures, format!("{url}: {why}"));
                        }
                        Err(_) => {
                            retryable = false;
                            note(failures, format!("{url}: no answer within {limit:?}"));
                        }
                    }
                    let open = calls.open();
                    if open.is_empty() {
                        return false;
                    }
                    if next < n {
                        asking.push(attempt(next, open.clone(), calls.packet(&open)));
                        next += 1;
                    } else if asking.is_empty() {
                        return retryable;
                    }
                }
                () = hedge, if next < n => {
                    let open = calls.open();
                    asking.push(attempt(next, open.clone(), calls.packet(&open)));
                    next += 1;
                }
                else => return retryable,
            }
        }
    }

    /// What went wrong, with every cause, and no URL path or query.
    fn describe(&self, e: &TransportError, url: &RpcUrl) -> String {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            let text = s.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = s.source();
        }
        let mut message = redact(&message, url);
        tls::advise(&mut message, self.tls_problem.as_deref());
        message
    }
}

/// Records why an endpoint failed, once however many rounds it failed the same way.
fn note(failures: &mut Vec<String>, failure: String) {
    if !failures.contains(&failure) {
        failures.push(failure);
    }
}

/// How long the last endpoint of a cycle may take: four timeouts, at least five seconds.
fn last_resort(timeout: Duration) -> Duration {
    (timeout * 4).max(Duration::from_secs(5))
}

/// Removes the full URL (which may hold an API key) from an error message, and its path, query
/// and password wherever else they appear (a library may print the URL in its own way).
pub(super) fn redact(message: &str, url: &RpcUrl) -> String {
    let full = url.expose().as_str();
    let mut out = message
        .replace(full, &url.to_string())
        .replace(full.trim_end_matches('/'), &url.to_string());
    let u = url.expose();
    let path = u.path().trim_end_matches('/');
    for secret in [Some(path), u.query(), u.password()].into_iter().flatten() {
        if !secret.is_empty() {
            out = out.replace(secret, "…");
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_the_path_and_query_however_they_are_printed() {
        let url: RpcUrl = "wss://eth.example.org/v2/KEY1?token=KEY2"
            .parse()
            .expect("url");
        let message = "URL error: Unable to connect to wss://eth.example.org:443/v2/KEY1?token=KEY2 \
                       (request for wss://eth.example.org/v2/KEY1?token=KEY2)";
        let out = redact(message, &url);
        assert!(!out.contains("KEY1") && !out.contains("KEY2"), "{out}");
        assert!(out.contains("wss://eth.example.org/…"), "{out}");
    }

    #[test]
    fn jitter_stays_within_half_and_one_and_a_half_times() {
        for _ in 0..100 {
            let j = jitter(Duration::from_millis(100));
            assert!(j >= Duration::from_millis(50) && j < Duration::from_millis(150));
        }
    }
}
