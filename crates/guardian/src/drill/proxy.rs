//! The drill's send guard: a JSON-RPC proxy on 127.0.0.1 in front of a chain's real endpoint
//! that forwards reads and refuses every `*_send*` method (`eth_sendRawTransaction`,
//! `eth_sendTransaction`, `eth_sendBundle`, …, alone or inside a batch) without forwarding it.
//!
//! The forked anvil is pointed at this proxy, so the real URL (which may hold an API key) never
//! appears on anvil's command line or in its logs, and nothing the fork does can reach the
//! real chain as a transaction.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::secret::RpcUrl;

/// The JSON-RPC error code of a refused send (a server error in the implementation range).
pub const REFUSED_CODE: i64 = -32099;

/// What the guard answers a refused send with.
pub const REFUSED_MESSAGE: &str =
    "refused by guardian drill: nothing is ever sent to the real chain";

/// Whether `method` sends something (a transaction, a bundle) rather than reads: its name after
/// the namespace starts with `send`, in any case (`eth_sendRawTransaction`, `mev_sendBundle`).
pub fn is_send(method: &str) -> bool {
    let name = method.split_once('_').map_or(method, |(_, rest)| rest);
    name.to_ascii_lowercase().starts_with("send")
}

/// Why the guard could not start.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// No local port could be bound.
    #[error("cannot listen on 127.0.0.1 for the drill's send guard: {0}")]
    Bind(std::io::Error),
    /// The HTTP client could not be built.
    #[error("cannot build the drill's HTTP client: {0}")]
    Client(String),
}

/// What the guard has seen.
#[derive(Debug, Default)]
pub struct GuardCounts {
    /// Requests (a batch counts once) forwarded to the real endpoint.
    pub forwarded: AtomicUsize,
    /// Send methods refused (each call of a batch counts).
    pub refused: AtomicUsize,
}

impl GuardCounts {
    /// How many send methods were refused so far.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// How many requests were forwarded so far.
    pub fn forwarded(&self) -> usize {
        self.forwarded.load(Ordering::SeqCst)
    }
}

/// A running send guard; it stops when dropped.
#[derive(Debug)]
pub struct SendGuard {
    /// Its local URL (`http://127.0.0.1:PORT`): no secret in it.
    pub url: String,
    /// What it has seen.
    pub counts: Arc<GuardCounts>,
    stop: watch::Sender<bool>,
}

impl Drop for SendGuard {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[derive(Clone)]
struct Shared {
    upstream: url::Url,
    client: reqwest::Client,
    counts: Arc<GuardCounts>,
}

impl SendGuard {
    /// Starts the guard on a free port of 127.0.0.1 in front of `upstream` (an http(s) URL).
    pub async fn start(upstream: &RpcUrl) -> Result<Self, GuardError> {
        crate::tls::install_provider();
        let (tls, _) = crate::tls::client_config();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| GuardError::Client(e.without_url().to_string()))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(GuardError::Bind)?;
        let url = format!(
            "http://{}",
            listener.local_addr().map_err(GuardError::Bind)?
        );
        let counts = Arc::new(GuardCounts::default());
        let shared = Shared {
            upstream: upstream.expose().clone(),
            client,
            counts: counts.clone(),
        };
        let app = Router::new().route("/", post(relay)).with_state(shared);
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
        });
        Ok(Self { url, counts, stop })
    }
}

/// The error answer for one refused call.
fn refusal(call: &Value) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": call.get("id").cloned().unwrap_or(Value::Null),
        "error": {"code": REFUSED_CODE, "message": REFUSED_MESSAGE},
    })
}

fn method_of(call: &Value) -> &str {
    call.get("method").and_then(Value::as_str).unwrap_or("")
}

/// Answers one HTTP request: refuses sends, forwards the rest.
async fn relay(State(shared): State<Shared>, body: Bytes) -> (StatusCode, String) {
    let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
        // Not JSON: the real endpoint has nothing to learn from it.
        let answer = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "parse error"}});
        return (StatusCode::OK, answer.to_string());
    };
    match parsed {
        Value::Array(calls) => {
            let (sends, reads): (Vec<Value>, Vec<Value>) =
                calls.into_iter().partition(|c| is_send(method_of(c)));
            shared
                .counts
                .refused
                .fetch_add(sends.len(), Ordering::SeqCst);
            let mut answers: Vec<Value> = sends.iter().map(refusal).collect();
            if !reads.is_empty() {
                let forwarded = forward(&shared, Value::Array(reads.clone())).await;
                match forwarded {
                    Ok(Value::Array(items)) => answers.extend(items),
                    Ok(other) => answers.push(other),
                    Err(message) => {
                        answers.extend(reads.iter().map(|c| upstream_error(c, &message)))
                    }
                }
            }
            (StatusCode::OK, Value::Array(answers).to_string())
        }
        call => {
            if is_send(method_of(&call)) {
                shared.counts.refused.fetch_add(1, Ordering::SeqCst);
                return (StatusCode::OK, refusal(&call).to_string());
            }
            match forward(&shared, call.clone()).await {
                Ok(answer) => (StatusCode::OK, answer.to_string()),
                Err(message) => (StatusCode::OK, upstream_error(&call, &message).to_string()),
            }
        }
    }
}

/// The error answer for a call the real endpoint did not answer.
fn upstream_error(call: &Value, message: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": call.get("id").cloned().unwrap_or(Value::Null),
        "error": {"code": -32603, "message": message},
    })
}

/// Sends `body` to the real endpoint; an error message never holds its URL.
async fn forward(shared: &Shared, body: Value) -> Result<Value, String> {
    shared.counts.forwarded.fetch_add(1, Ordering::SeqCst);
    let answer = shared
        .client
        .post(shared.upstream.clone())
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| {
            let e = e.without_url();
            crate::secret::redact(&format!("the real endpoint did not answer: {e}")).into_owned()
        })?;
    let status = answer.status();
    let text = answer.text().await.map_err(|e| {
        format!(
            "the real endpoint's answer was cut off: {}",
            e.without_url()
        )
    })?;
    serde_json::from_str(&text)
        .map_err(|_| format!("the real endpoint answered HTTP {status} without JSON-RPC"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_methods_are_recognised_in_any_namespace_and_case() {
        for m in [
            "eth_sendRawTransaction",
            "eth_sendTransaction",
            "eth_SendRawTransaction",
            "eth_sendBundle",
            "mev_sendBundle",
            "personal_sendTransaction",
        ] {
            assert!(is_send(m), "{m}");
        }
        for m in [
            "eth_call",
            "eth_getBalance",
            "eth_blockNumber",
            "net_version",
        ] {
            assert!(!is_send(m), "{m}");
        }
    }

    /// A real HTTP upstream that records every body it is sent and answers `0x2a`.
    async fn upstream() -> (String, Arc<std::sync::Mutex<Vec<Value>>>) {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let app = Router::new().route(
            "/{*key}",
            post(move |body: Bytes| {
                let log = log.clone();
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                    log.lock().expect("lock").push(v.clone());
                    let one =
                        |c: &Value| json!({"jsonrpc": "2.0", "id": c["id"], "result": "0x2a"});
                    match &v {
                        Value::Array(calls) => Value::Array(calls.iter().map(one).collect()),
                        c => one(c),
                    }
                    .to_string()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "http://{}/v3/drill-proxy-test-key",
            listener.local_addr().expect("addr")
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (url, seen)
    }

    async fn post_json(url: &str, body: Value) -> Value {
        let text = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("answer")
            .text()
            .await
            .expect("body");
        serde_json::from_str(&text).expect("json")
    }

    #[tokio::test]
    async fn refuses_sends_alone_and_in_batches_without_forwarding_them() {
        let (real, seen) = upstream().await;
        let guard = SendGuard::start(&real.parse().expect("url"))
            .await
            .expect("guard");

        let read = post_json(
            &guard.url,
            json!({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}),
        )
        .await;
        assert_eq!(read["result"], "0x2a");

        for method in ["eth_sendRawTransaction", "eth_sendTransaction"] {
            let answer = post_json(
                &guard.url,
                json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": ["0x00"]}),
            )
            .await;
            assert_eq!(answer["error"]["code"], REFUSED_CODE, "{answer}");
            assert_eq!(answer["id"], 7);
        }

        let batch = post_json(
            &guard.url,
            json!([
                {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                {"jsonrpc": "2.0", "id": 2, "method": "eth_sendRawTransaction", "params": ["0x00"]},
                {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": ["0x00", "latest"]},
            ]),
        )
        .await;
        let answers = batch.as_array().expect("batch answer");
        assert_eq!(answers.len(), 3);
        let by_id = |id: i64| answers.iter().find(|a| a["id"] == id).expect("answered");
        assert_eq!(by_id(1)["result"], "0x2a");
        assert_eq!(by_id(2)["error"]["code"], REFUSED_CODE);
        assert_eq!(by_id(3)["result"], "0x2a");

        // The real endpoint saw the reads, and not one send.
        let seen = seen.lock().expect("lock").clone();
        let text = serde_json::to_string(&seen).expect("json");
        assert!(!text.contains("eth_send"), "{text}");
        assert!(text.contains("eth_blockNumber") && text.contains("eth_getBalance"));
        assert_eq!(guard.counts.refused(), 3);
    }
}
