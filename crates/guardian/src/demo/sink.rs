//! The drill's notification sink: a local HTTP server (axum) standing in for the team's webhook
//! receiver. It checks each delivery's HMAC signature the way a receiver should, and keeps what
//! it got so the drill can show who was told what.

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::watch;

/// One delivery the sink accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The JSON body.
    pub body: serde_json::Value,
    /// Whether `X-Guardian-Signature` matched the body and timestamp.
    pub signed: bool,
}

#[derive(Clone)]
struct Shared {
    key: Arc<Vec<u8>>,
    got: Arc<Mutex<Vec<Received>>>,
}

/// A running sink.
pub struct Sink {
    /// Its base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
    stop: watch::Sender<bool>,
}

impl Sink {
    /// Starts the sink on a free local port; deliveries must be signed with `key`.
    pub async fn start(key: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let got = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            key: Arc::new(key.as_bytes().to_vec()),
            got: got.clone(),
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(shared);
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
        });
        Ok(Self { url, got, stop })
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn receive(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = match (
        header("x-guardian-timestamp"),
        header("x-guardian-signature"),
    ) {
        (Some(ts), Some(sig)) => verify(&s.key, ts, &body, sig),
        _ => false,
    };
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    s.got
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Received { body, signed });
    StatusCode::OK
}

/// Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `"<timestamp>.<body>"`.
fn verify(key: &[u8], timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = alloy::hex::decode(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return false;
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}
