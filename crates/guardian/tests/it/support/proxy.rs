//! A JSON-RPC endpoint in front of anvil that counts what crosses it, and can refuse batches and
//! long `eth_getLogs` ranges the way some hosted endpoints do.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use alloy::transports::http::reqwest;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

/// What the proxy does with a batch (a JSON array of requests).
#[derive(Clone, Copy, Debug)]
pub enum Batches {
    /// Forward it like any request.
    Forward,
    /// Answer HTTP 413, as endpoints with a batch size limit do.
    RefuseWithStatus,
    /// Answer HTTP 200 with one JSON-RPC error object instead of an array.
    RefuseWithErrorObject,
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

/// Starts a proxy on a free port in front of `upstream`.
pub async fn start(upstream: &str, batches: Batches) -> Proxy {
    start_with(upstream, batches, None).await
}

/// Like [`start`], refusing `eth_getLogs` over more than `max_log_range` blocks (or up to
/// `latest`), as hosted endpoints do.
pub async fn start_with(upstream: &str, batches: Batches, max_log_range: Option<u64>) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let counts = Arc::new(Counts::default());
    let (seen, upstream) = (counts.clone(), upstream.to_string());
    let task = tokio::spawn(async move {
        let client = reqwest::Client::new();
        while let Ok((socket, _)) = listener.accept().await {
            let (client, upstream, seen) = (client.clone(), upstream.clone(), seen.clone());
            tokio::spawn(serve(
                socket,
                client,
                upstream,
                seen,
                batches,
                max_log_range,
            ));
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
    batches: Batches,
    max_log_range: Option<u64>,
) {
    let mut reader = BufReader::new(socket);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
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
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let is_batch = body.first() == Some(&b'[');
        let mut too_long = None;
        if !is_batch && let Ok(single) = serde_json::from_slice::<serde_json::Value>(&body) {
            let method = single["method"].as_str().unwrap_or("?").to_string();
            if let Some(max) = max_log_range
                && method == "eth_getLogs"
                && log_range(&single["params"][0]).is_none_or(|r| r > max)
            {
                seen.refused_logs.fetch_add(1, Ordering::SeqCst);
                too_long = Some(format!(
                    r#"{{"jsonrpc":"2.0","id":{},"error":{{"code":-32005,"message":"block range is limited to {max} blocks"}}}}"#,
                    single["id"]
                ));
            }
            seen.singles.lock().expect("lock").push(method);
        }
        let (status, answer) = match (is_batch, batches) {
            _ if too_long.is_some() => ("200 OK", too_long.unwrap_or_default().into_bytes()),
            (true, Batches::RefuseWithStatus) => {
                seen.refused.fetch_add(1, Ordering::SeqCst);
                (
                    "413 Payload Too Large",
                    b"batch requests are not allowed".to_vec(),
                )
            }
            (true, Batches::RefuseWithErrorObject) => {
                seen.refused.fetch_add(1, Ordering::SeqCst);
                (
                    "200 OK",
                    br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"batch requests are not supported"}}"#
                        .to_vec(),
                )
            }
            _ => {
                if is_batch {
                    seen.batches.fetch_add(1, Ordering::SeqCst);
                }
                let answer = client
                    .post(&upstream)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("anvil answers");
                ("200 OK", answer.bytes().await.expect("body").to_vec())
            }
        };
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

/// The number of blocks an `eth_getLogs` filter spans, if both ends are block numbers.
fn log_range(filter: &serde_json::Value) -> Option<u64> {
    let block = |key: &str| {
        let hex = filter[key].as_str()?.strip_prefix("0x")?;
        u64::from_str_radix(hex, 16).ok()
    };
    Some(block("toBlock")?.checked_sub(block("fromBlock")?)? + 1)
}
