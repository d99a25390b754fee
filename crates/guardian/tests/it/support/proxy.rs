//! A JSON-RPC endpoint in front of anvil that counts what crosses it, and can misbehave the way
//! hosted endpoints do: refuse batches, refuse long `eth_getLogs` ranges, answer slowly, answer
//! every request (or the first few) with a rate-limit error, answer a broadcast it passed on
//! with "already known", or lack methods (answer them "method not found").

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use alloy::transports::http::reqwest;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

/// What the proxy does with a batch (a JSON array of requests).
#[derive(Clone, Copy, Debug, Default)]
pub enum Batches {
    /// Forward it like any request.
    #[default]
    Forward,
    /// Answer HTTP 413, as endpoints with a batch size limit do.
    RefuseWithStatus,
    /// Answer HTTP 200 with one JSON-RPC error object instead of an array.
    RefuseWithErrorObject,
    /// Answer as geth does when a batch is over its limit: an array with one error, for the first
    /// call only.
    RefuseLikeGeth,
}

/// How the proxy behaves.
#[derive(Clone, Copy, Debug, Default)]
pub struct Behaviour {
    /// What it does with batches.
    pub batches: Batches,
    /// Refuse `eth_getLogs` over more than this many blocks (or up to `latest`).
    pub max_log_range: Option<u64>,
    /// Wait this long before forwarding each request.
    pub delay: Option<Duration>,
    /// Answer every request at once with a JSON-RPC rate-limit error (HTTP 429).
    pub rate_limited: bool,
    /// Answer this many requests (the first ones) with a JSON-RPC rate-limit error in an HTTP 200
    /// answer, as Infura and geth do (`usize::MAX`: every request).
    pub rate_limit_first: usize,
    /// Pass each `eth_sendRawTransaction` on, then answer it with "already known", as a node that
    /// had the transaction from another peer does.
    pub already_known: bool,
    /// Answer these methods with -32601 "method not found", as a node without them does.
    pub missing_methods: &'static [&'static str],
    /// Answer `debug_traceCall` and `eth_simulateV1` with a failed simulation, except for calls to
    /// the zero address (what a capability probe sends): a node whose simulations fail.
    pub failing_simulations: bool,
}

/// What the proxy has seen.
#[derive(Default, Debug)]
pub struct Counts {
    /// Batches forwarded to anvil.
    pub batches: AtomicUsize,
    /// Batches refused.
    pub refused: AtomicUsize,
    /// `eth_getLogs` requests refused for their range.
    pub refused_logs: AtomicUsize,
    /// Requests answered with a rate-limit error.
    pub rate_limited: AtomicUsize,
    /// Every request that reached the proxy, whatever it answered.
    pub requests: AtomicUsize,
    /// The method of every request that was not a batch, in order.
    pub singles: std::sync::Mutex<Vec<String>>,
}

impl Counts {
    /// One counter's value.
    pub fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }
}

/// A running proxy; it stops when dropped.
pub struct Proxy {
    /// Its URL.
    pub url: String,
    /// What it has seen so far.
    pub counts: Arc<Counts>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a proxy on a free port in front of `upstream`, treating batches as `batches` says.
pub async fn start(upstream: &str, batches: Batches) -> Proxy {
    start_with(
        upstream,
        Behaviour {
            batches,
            ..Behaviour::default()
        },
    )
    .await
}

/// Starts a proxy on a free port in front of `upstream`.
pub async fn start_with(upstream: &str, behaviour: Behaviour) -> Proxy {
    guardian::tls::install_provider();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let counts = Arc::new(Counts::default());
    let (seen, upstream) = (counts.clone(), upstream.to_string());
    let task = tokio::spawn(async move {
        let client = reqwest::Client::new();
        while let Ok((socket, _)) = listener.accept().await {
            let (client, upstream, seen) = (client.clone(), upstream.clone(), seen.clone());
            tokio::spawn(serve(socket, client, upstream, seen, behaviour));
        }
    });
    Proxy { url, counts, task }
}

/// Serves one keep-alive connection until the client closes it.
async fn serve(
    socket: TcpStream,
    client: reqwest::Client,
    upstream: String,
    seen: Arc<Counts>,
    behaviour: Behaviour,
) {
    let mut reader = BufReader::new(socket);
    loop {
        let Some(body) = read_request(&mut reader).await else {
            return;
        };
        let (status, answer) = answer(&body, &client, &upstream, &seen, behaviour).await;
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        let socket = reader.get_mut();
        if socket.write_all(head.as_bytes()).await.is_err()
            || socket.write_all(&answer).await.is_err()
        {
            return;
        }
    }
}

/// The body of the next HTTP request on the connection, or `None` when it closed.
async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await.ok()?;
    Some(body)
}

/// The HTTP status and body to answer `body` with.
async fn answer(
    body: &[u8],
    client: &reqwest::Client,
    upstream: &str,
    seen: &Counts,
    behaviour: Behaviour,
) -> (&'static str, Vec<u8>) {
    let parsed = serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default();
    let error = |id: &serde_json::Value, code: i64, message: &str| serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    let seen_before = seen.requests.fetch_add(1, Ordering::SeqCst);
    if seen_before < behaviour.rate_limit_first {
        seen.rate_limited.fetch_add(1, Ordering::SeqCst);
        let limited =
            |r: &serde_json::Value| error(&r["id"], -32005, "project ID request rate exceeded");
        let body = match &parsed {
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(limited).collect())
            }
            single => limited(single),
        };
        return ("200 OK", body.to_string().into_bytes());
    }
    if behaviour.rate_limited {
        seen.rate_limited.fetch_add(1, Ordering::SeqCst);
        let body = match &parsed {
            serde_json::Value::Array(items) => serde_json::Value::Array(
                items
                    .iter()
                    .map(|r| error(&r["id"], 429, "too many requests"))
                    .collect(),
            ),
            single => error(&single["id"], 429, "too many requests"),
        };
        return ("429 Too Many Requests", body.to_string().into_bytes());
    }
    if let serde_json::Value::Array(items) = &parsed {
        match behaviour.batches {
            Batches::Forward => {
                seen.batches.fetch_add(1, Ordering::SeqCst);
            }
            Batches::RefuseWithStatus => {
                seen.refused.fetch_add(1, Ordering::SeqCst);
                return (
                    "413 Payload Too Large",
                    b"batch requests are not allowed".to_vec(),
                );
            }
            Batches::RefuseWithErrorObject => {
                seen.refused.fetch_add(1, Ordering::SeqCst);
                let body = error(
                    &serde_json::Value::Null,
                    -32600,
                    "batches are not supported",
                );
                return ("200 OK", body.to_string().into_bytes());
            }
            Batches::RefuseLikeGeth => {
                seen.refused.fetch_add(1, Ordering::SeqCst);
                let first = items.first().map(|r| r["id"].clone()).unwrap_or_default();
                let body = serde_json::json!([error(&first, -32600, "batch too large")]);
                return ("200 OK", body.to_string().into_bytes());
            }
        }
    } else {
        let method = parsed["method"].as_str().unwrap_or("?").to_string();
        if let Some(max) = behaviour.max_log_range
            && method == "eth_getLogs"
            && log_range(&parsed["params"][0]).is_none_or(|r| r > max)
        {
            seen.refused_logs.fetch_add(1, Ordering::SeqCst);
            let message = format!("block range is limited to {max} blocks");
            let body = error(&parsed["id"], -32005, &message);
            return ("200 OK", body.to_string().into_bytes());
        }
        if behaviour.missing_methods.contains(&method.as_str()) {
            let message = format!("the method {method} does not exist/is not available");
            let body = error(&parsed["id"], -32601, &message);
            return ("200 OK", body.to_string().into_bytes());
        }
        if behaviour.failing_simulations
            && matches!(method.as_str(), "debug_traceCall" | "eth_simulateV1")
            && !parsed["params"]
                .to_string()
                .contains("\"to\":\"0x0000000000000000000000000000000000000000\"")
        {
            let body = error(
                &parsed["id"],
                -32000,
                "insufficient funds for gas * price + value",
            );
            return ("200 OK", body.to_string().into_bytes());
        }
        seen.singles.lock().expect("lock").push(method);
    }
    if let Some(delay) = behaviour.delay {
        tokio::time::sleep(delay).await;
    }
    let answer = client
        .post(upstream)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .expect("anvil answers");
    let answer = answer.bytes().await.expect("body").to_vec();
    if behaviour.already_known && parsed["method"] == "eth_sendRawTransaction" {
        let body = error(&parsed["id"], -32000, "already known");
        return ("200 OK", body.to_string().into_bytes());
    }
    ("200 OK", answer)
}

/// The number of blocks an `eth_getLogs` filter spans, if both ends are block numbers.
fn log_range(filter: &serde_json::Value) -> Option<u64> {
    // A query by block hash is one block, which capped endpoints answer (the follower's reads).
    if filter["blockHash"].is_string() {
        return Some(1);
    }
    let block = |key: &str| {
        let hex = filter[key].as_str()?.strip_prefix("0x")?;
        u64::from_str_radix(hex, 16).ok()
    };
    Some(block("toBlock")?.checked_sub(block("fromBlock")?)? + 1)
}
