//! Endpoints that do not answer, to put in front of a chain: one that refuses connections and one
//! that accepts them and never replies.

use std::{
    io,
    net::TcpListener,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use guardian::secret::RpcUrl;

use super::BenchError;

/// A local endpoint that refuses connections: a port that was free a moment ago.
pub fn refused_endpoint() -> Result<RpcUrl, BenchError> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    local_url(port)
}

fn local_url(port: u16) -> Result<RpcUrl, BenchError> {
    format!("http://127.0.0.1:{port}")
        .parse()
        .map_err(|e: String| BenchError::Io(io::Error::other(e)))
}

/// A local endpoint that accepts every connection and never answers, until dropped.
pub struct HangingEndpoint {
    /// Its URL.
    pub url: RpcUrl,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HangingEndpoint {
    /// Starts listening on a free port.
    pub fn start() -> Result<Self, BenchError> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = local_url(listener.local_addr()?.port())?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            // Held open and never read: the client sees a connected socket that stays silent.
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((socket, _)) => held.push(socket),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(Self {
            url,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for HangingEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
