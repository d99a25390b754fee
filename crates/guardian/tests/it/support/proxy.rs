//! A JSON-RPC endpoint in front of anvil that counts what crosses it, and can refuse batches the
//! way some hosted endpoints do.

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
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let counts = Arc::new(Counts::default());
    let (seen, upstream) = (counts.clone(), upstream.to_string());
    let task = tokio::spawn(async move {
        let client = reqwest::Client::new();
        while let Ok((socket, _)) = listener.accept().await {
            let (client, upstream, seen) = (client.clone(), upstream.clone(), seen.clone());
            tokio::spawn(serve(socket, client, upstream, seen, batches));
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
        if !is_batch && let Ok(single) = serde_json::from_slice::<serde_json::Value>(&body) {
            let method = single["method"].as_str().unwrap_or("?").to_string();
            seen.singles.lock().expect("lock").push(method);
        }
        let (status, answer) = match (is_batch, batches) {
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
