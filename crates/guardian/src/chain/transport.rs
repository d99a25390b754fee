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
    primitives::{Bytes, keccak256},
    pubsub::{PubSubConnect, PubSubFrontend},
    rpc::json_rpc::{
        Id, RequestPacket, Response, ResponsePacket, ResponsePayload, SerializedRequest,
    },
    transports::{TransportError, TransportErrorKind, TransportFut, http::Http},
};
use futures::stream::{FuturesUnordered, StreamExt};
use tower::Service;

use super::{tls, ws::WsEndpoint};
use crate::secret::RpcUrl;

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

/// What an error answer says about the request it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// It is about the request (a revert, a nonce, a bad argument): the answer, never retried.
    Final,
    /// It is about the endpoint (a rate limit, an internal error, a node behind the chain): the
    /// next endpoint is asked, and after all of them the request is asked again.
    Retry,
    /// A broadcast the node already has: it was accepted.
    AlreadyKnown,
}

/// Classifies a JSON-RPC error answer to `method`.
pub fn classify(method: &str, code: i64, message: &str) -> ErrorClass {
    let m = message.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| m.contains(w));
    if method == "eth_sendRawTransaction"
        && (has(&["already known", "alreadyknown", "already imported"])
            || (m.contains("known transaction") && !m.contains("unknown transaction")))
    {
        return ErrorClass::AlreadyKnown;
    }
    // About the request: another endpoint would say the same.
    if code == 3
        || code == -32602
        || has(&[
            "revert",
            "nonce too low",
            "nonce too high",
            "nonce has already been used",
            "replacement transaction underpriced",
            "transaction underpriced",
            "insufficient funds",
            "intrinsic gas",
            "gas required exceeds",
            "exceeds block gas limit",
            "invalid argument",
            "invalid params",
            "block range",
            "range is too large",
            "range too large",
            "query returned more than",
        ])
    {
        return ErrorClass::Final;
    }
    // About the endpoint: rate limits (-32005, Alchemy's 429, QuickNode's -32007, -32016), an
    // internal error, a node that has not caught up or has pruned the state, a timeout.
    if matches!(code, -32005 | -32603 | 429 | -32007 | -32016 | -32002)
        || has(&[
            "rate limit",
            "ratelimit",
            "too many requests",
            "request limit",
            "limit exceeded",
            "limit reached",
            "compute units",
            "capacity",
            "header not found",
            "missing trie node",
            "block not found",
            "unknown block",
            "timeout",
            "timed out",
            "internal error",
            "temporarily",
            "unavailable",
            "try again",
            "overloaded",
            "busy",
        ])
    {
        return ErrorClass::Retry;
    }
    ErrorClass::Final
}

/// Whether a failure to get any answer from an endpoint is worth asking again after a pause: a
/// rate limit or server error by HTTP status, or a connection refused or reset.
fn retryable_failure(e: &TransportError) -> bool {
    match e {
        TransportError::Transport(kind) => match kind.as_http_error() {
            Some(http) => http.status == 429 || http.status >= 500,
            None => !matches!(
                kind,
                TransportErrorKind::MissingBatchResponse(_) | TransportErrorKind::BackendGone
            ),
        },
        _ => false,
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

/// The calls of one request, and what has been learnt about each.
struct Calls {
    batch: bool,
    calls: Vec<SerializedRequest>,
    /// Final answers, by position in `calls`.
    settled: Vec<Option<Response>>,
    /// The latest retryable error answer of each call not settled yet.
    fallback: Vec<Option<Response>>,
    /// Calls a batch answer left out with no retryable error in it: they stay unanswered.
    given_up: Vec<bool>,
}

impl Calls {
    fn new(req: RequestPacket) -> Self {
        let (batch, calls) = match req {
            RequestPacket::Single(r) => (false, vec![r]),
            RequestPacket::Batch(rs) => (true, rs),
        };
        let n = calls.len();
        Self {
            batch,
            calls,
            settled: vec![None; n],
            fallback: vec![None; n],
            given_up: vec![false; n],
        }
    }

    fn open(&self) -> Vec<usize> {
        (0..self.calls.len())
            .filter(|i| self.settled[*i].is_none() && !self.given_up[*i])
            .collect()
    }

    /// The request for the calls at `indexes`.
    fn packet(&self, indexes: &[usize]) -> RequestPacket {
        if self.batch {
            RequestPacket::Batch(indexes.iter().map(|i| self.calls[*i].clone()).collect())
        } else {
            RequestPacket::Single(self.calls[0].clone())
        }
    }

    fn position(&self, id: &Id) -> Option<usize> {
        self.calls.iter().position(|c| c.id() == id)
    }

    /// Takes in an endpoint's answer to the calls at `asked`. Returns whether it held an error
    /// worth asking elsewhere, and whether it settled any call.
    fn absorb(&mut self, asked: &[usize], answer: ResponsePacket) -> (bool, bool) {
        let responses = match answer {
            ResponsePacket::Single(r) if !self.batch => {
                vec![(0, r)]
            }
            // One error object for a whole batch (an endpoint refusing batches, or rate
            // limiting): every call asked gets it. A lone success answers none of them.
            ResponsePacket::Single(r) if matches!(r.payload, ResponsePayload::Failure(_)) => {
                asked.iter().map(|i| (*i, r.clone())).collect()
            }
            ResponsePacket::Single(_) => Vec::new(),
            ResponsePacket::Batch(rs) => rs
                .into_iter()
                .filter_map(|r| self.position(&r.id).map(|i| (i, r)))
                .collect(),
        };
        let mut retry = false;
        let mut settled_any = false;
        let mut answered = vec![false; self.calls.len()];
        for (i, mut r) in responses {
            if self.settled[i].is_some() {
                continue;
            }
            answered[i] = true;
            r.id = self.calls[i].id().clone();
            let class = match &r.payload {
                ResponsePayload::Success(_) => None,
                ResponsePayload::Failure(e) => {
                    Some(classify(self.calls[i].method(), e.code, &e.message))
                }
            };
            match class {
                None | Some(ErrorClass::Final) => {
                    self.settled[i] = Some(r);
                    settled_any = true;
                }
                Some(ErrorClass::AlreadyKnown) => {
                    if let Some(hash) = accepted(&self.calls[i]) {
                        r.payload = ResponsePayload::Success(hash);
                    }
                    self.settled[i] = Some(r);
                    settled_any = true;
                }
                Some(ErrorClass::Retry) => {
                    retry = true;
                    self.fallback[i] = Some(r);
                }
            }
        }
        if !retry {
            // A batch answer that leaves calls out for no retryable reason (geth's "batch too
            // large" answers the first call only): the caller sees them unanswered.
            for i in asked {
                if !answered[*i] && self.settled[*i].is_none() {
                    self.given_up[*i] = true;
                }
            }
        }
        (retry, settled_any)
    }

    /// The answer: the final one of each call, else its last retryable error; calls with
    /// neither are left out of a batch. `None` when no call has either.
    fn into_answer(self) -> Option<ResponsePacket> {
        let answers: Vec<Response> = self
            .settled
            .into_iter()
            .zip(self.fallback)
            .filter_map(|(s, f)| s.or(f))
            .collect();
        if answers.is_empty() {
            None
        } else if self.batch {
            Some(ResponsePacket::Batch(answers))
        } else {
            answers.into_iter().next().map(ResponsePacket::Single)
        }
    }
}

/// The success answer to a broadcast a node already had: the transaction's hash.
fn accepted(call: &SerializedRequest) -> Option<Box<serde_json::value::RawValue>> {
    let (raw,): (Bytes,) = serde_json::from_str(call.params()?.get()).ok()?;
    serde_json::value::to_raw_value(&keccak256(&raw)).ok()
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

    /// Real error answers, as nodes and hosted endpoints send them.
    const TABLE: &[(&str, i64, &str, ErrorClass)] = &[
        // Rate limits.
        (
            "eth_call",
            429,
            "Your app has exceeded its compute units per second capacity. If you have retries enabled, you can safely ignore this message.",
            ErrorClass::Retry,
        ),
        (
            "eth_blockNumber",
            -32005,
            "project ID request rate exceeded",
            ErrorClass::Retry,
        ),
        (
            "eth_call",
            -32005,
            "daily request count exceeded, request rate limited",
            ErrorClass::Retry,
        ),
        ("eth_call", -32005, "limit exceeded", ErrorClass::Retry),
        (
            "eth_getBalance",
            -32007,
            "15/second request limit reached - reduce calls per second or upgrade your account",
            ErrorClass::Retry,
        ),
        ("eth_chainId", 429, "too many requests", ErrorClass::Retry),
        // The endpoint, not the request.
        ("eth_call", -32603, "Internal error", ErrorClass::Retry),
        ("eth_call", -32000, "header not found", ErrorClass::Retry),
        (
            "eth_getBalance",
            -32000,
            "missing trie node 8a1b5c2d3e4f (path ) state 0x8a1b5c2d3e4f is not available",
            ErrorClass::Retry,
        ),
        (
            "eth_getLogs",
            -32000,
            "request timed out",
            ErrorClass::Retry,
        ),
        (
            "eth_call",
            -32000,
            "execution aborted (timeout = 5s)",
            ErrorClass::Retry,
        ),
        // The request itself.
        (
            "eth_call",
            3,
            "execution reverted: AccessControlUnauthorizedAccount",
            ErrorClass::Final,
        ),
        (
            "eth_estimateGas",
            -32000,
            "execution reverted",
            ErrorClass::Final,
        ),
        (
            "eth_call",
            -32603,
            "EVM error: execution reverted",
            ErrorClass::Final,
        ),
        (
            "eth_sendRawTransaction",
            -32000,
            "nonce too low: next nonce 5, tx nonce 4",
            ErrorClass::Final,
        ),
        (
            "eth_sendRawTransaction",
            -32003,
            "nonce too low",
            ErrorClass::Final,
        ),
        (
            "eth_sendRawTransaction",
            -32000,
            "replacement transaction underpriced",
            ErrorClass::Final,
        ),
        (
            "eth_sendRawTransaction",
            -32000,
            "insufficient funds for gas * price + value: balance 0, tx cost 1",
            ErrorClass::Final,
        ),
        (
            "eth_call",
            -32602,
            "invalid argument 0: hex string has length 3, want 40 for common.Address",
            ErrorClass::Final,
        ),
        (
            "eth_getLogs",
            -32005,
            "query returned more than 10000 results",
            ErrorClass::Final,
        ),
        (
            "eth_getLogs",
            -32600,
            "block range is limited to 1000 blocks",
            ErrorClass::Final,
        ),
        (
            "eth_getBlockReceipts",
            -32601,
            "the method eth_getBlockReceipts does not exist/is not available",
            ErrorClass::Final,
        ),
        ("eth_call", -32600, "batch too large", ErrorClass::Final),
        // A broadcast the node already has (geth, erigon, Parity/OpenEthereum, Nethermind).
        (
            "eth_sendRawTransaction",
            -32000,
            "already known",
            ErrorClass::AlreadyKnown,
        ),
        (
            "eth_sendRawTransaction",
            -32010,
            "Transaction with the same hash was already imported.",
            ErrorClass::AlreadyKnown,
        ),
        (
            "eth_sendRawTransaction",
            -32000,
            "known transaction: 0x5e7f",
            ErrorClass::AlreadyKnown,
        ),
        (
            "eth_sendRawTransaction",
            -32000,
            "AlreadyKnown",
            ErrorClass::AlreadyKnown,
        ),
        (
            "eth_getTransactionByHash",
            -32000,
            "unknown transaction",
            ErrorClass::Final,
        ),
        ("eth_call", -32000, "already known", ErrorClass::Final),
    ];

    #[test]
    fn errors_are_classified_like_nodes_mean_them() {
        for (method, code, message, expected) in TABLE {
            assert_eq!(
                classify(method, *code, message),
                *expected,
                "{method} {code} {message}"
            );
        }
    }

    #[test]
    fn http_status_failures_retry_only_for_rate_limits_and_server_errors() {
        for (status, retry) in [
            (429, true),
            (502, true),
            (503, true),
            (413, false),
            (401, false),
        ] {
            let e = TransportErrorKind::http_error(status, String::new());
            assert_eq!(retryable_failure(&e), retry, "{status}");
        }
    }

    #[test]
    fn already_known_answers_with_the_transactions_hash() {
        let raw = Bytes::from(vec![0x02, 0xf8, 0x01, 0x02]);
        let req = alloy::rpc::json_rpc::Request::new(
            "eth_sendRawTransaction",
            Id::Number(7),
            (raw.clone(),),
        )
        .serialize()
        .expect("serialize");
        let mut calls = Calls::new(RequestPacket::Single(req));
        let error = serde_json::from_str::<Response>(
            r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32000,"message":"already known"}}"#,
        )
        .expect("response");
        let (retry, settled) = calls.absorb(&[0], ResponsePacket::Single(error));
        assert!(!retry && settled);
        let Some(ResponsePacket::Single(answer)) = calls.into_answer() else {
            panic!("single")
        };
        let ResponsePayload::Success(hash) = answer.payload else {
            panic!("success")
        };
        assert_eq!(hash.get(), format!("\"{}\"", keccak256(&raw)));
    }

    #[test]
    fn a_batch_keeps_its_answers_and_asks_again_only_for_the_refused_calls() {
        let req = |id: u64| {
            alloy::rpc::json_rpc::Request::new("eth_blockNumber", Id::Number(id), ())
                .serialize()
                .expect("serialize")
        };
        let mut calls = Calls::new(RequestPacket::Batch(vec![req(1), req(2), req(3)]));
        let answer: ResponsePacket = serde_json::from_str(
            r#"[{"jsonrpc":"2.0","id":1,"result":"0x1"},
                {"jsonrpc":"2.0","id":2,"error":{"code":-32005,"message":"rate limit"}},
                {"jsonrpc":"2.0","id":3,"error":{"code":3,"message":"execution reverted"}}]"#,
        )
        .expect("answer");
        let (retry, settled) = calls.absorb(&[0, 1, 2], answer);
        assert!(retry && settled);
        assert_eq!(calls.open(), vec![1]);
        let RequestPacket::Batch(again) = calls.packet(&calls.open()) else {
            panic!("batch")
        };
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].id(), &Id::Number(2));
    }

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
