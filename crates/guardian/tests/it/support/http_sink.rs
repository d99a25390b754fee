//! A local HTTP server that records every request (method, path, headers, body) and answers
//! 200, or the statuses a test scripted for a path: what webhook, Discord, Slack, Telegram and
//! PagerDuty deliveries are sent to in tests.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST`, ...
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
}

impl Request {
    /// The first header with this (lowercase) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Request>,
    /// Statuses to answer, per path prefix, before answering 200.
    script: BTreeMap<String, VecDeque<u16>>,
    /// Whether error answers quote the request's path (as some servers do).
    echo_path: bool,
    /// How long to wait before answering, per path prefix.
    delays: BTreeMap<String, Duration>,
}

/// A running sink; it stops when dropped.
pub struct HttpSink {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpSink {
    /// Starts a sink on a free port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, shared.clone()));
            }
        });
        Self { url, state, task }
    }

    /// Answers the next requests to paths starting with `prefix` with `statuses`, in order,
    /// then 200 again.
    pub fn fail_next(&self, prefix: &str, statuses: &[u16]) {
        self.state
            .lock()
            .expect("lock")
            .script
            .entry(prefix.to_string())
            .or_default()
            .extend(statuses);
    }

    /// Answers requests to paths starting with `prefix` only after `delay`.
    pub fn slow(&self, prefix: &str, delay: Duration) {
        self.state
            .lock()
            .expect("lock")
            .delays
            .insert(prefix.to_string(), delay);
    }

    /// Makes error answers quote the request's path (which may hold a token).
    pub fn echo_path_in_errors(&self) {
        self.state.lock().expect("lock").echo_path = true;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().expect("lock").requests.clone()
    }

    /// The requests to paths starting with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .collect()
    }

    /// Waits (polling, up to 20 s) until `n` requests to `prefix` have arrived.
    pub async fn wait_for(&self, prefix: &str, n: usize) -> Vec<Request> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let seen = self.requests_to(prefix);
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "{n} requests to {prefix} never arrived: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Serves one keep-alive connection until the client closes it.
async fn serve(socket: TcpStream, state: Arc<Mutex<State>>) {
    let mut reader = BufReader::new(socket);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        let mut length = 0usize;
        loop {
            line.clear();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_string());
                if name == "content-length" {
                    length = value.parse().unwrap_or(0);
                }
                headers.push((name, value));
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let (status, answer, delay) = {
            let mut s = state.lock().expect("lock");
            let delay = s
                .delays
                .iter()
                .find(|(prefix, _)| path.starts_with(prefix.as_str()))
                .map(|(_, d)| *d);
            let scripted = s
                .script
                .iter_mut()
                .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
                .find_map(|(_, statuses)| statuses.pop_front());
            let status = scripted.unwrap_or(200);
            let answer = if status == 200 {
                r#"{"ok":true,"status":"success","result":{}}"#.to_string()
            } else if s.echo_path {
                format!(r#"{{"ok":false,"description":"no such endpoint {path}"}}"#)
            } else {
                r#"{"ok":false,"description":"try again later"}"#.to_string()
            };
            s.requests.push(Request {
                method,
                path,
                headers,
                body,
                status,
                at: Instant::now(),
            });
            (status, answer, delay)
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        let socket = reader.get_mut();
        if socket.write_all(head.as_bytes()).await.is_err()
            || socket.write_all(answer.as_bytes()).await.is_err()
        {
            return;
        }
    }
}
