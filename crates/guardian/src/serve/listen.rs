//! The server's own accept loop, in place of `axum::serve`, so that one slow or hostile client
//! cannot hold it: a deadline for each request's headers (which also closes idle keep-alive
//! connections) and for its body, a cap on connections per client and in all, and a deadline on
//! shutdown after which what is left is closed.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::Response,
};
use hyper::{server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{net::TcpListener, sync::watch, task::JoinSet};
use tower::Service as _;

use super::auth::error;
use crate::config::ServerSettings;

/// Who a connection or a request counts against: an IPv4 address, or the /64 of an IPv6 one
/// (one subscriber usually holds a whole /64, so its single addresses are free to them).
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// Connections open per client, released when a connection ends.
#[derive(Default)]
struct Open(Mutex<HashMap<IpAddr, usize>>);

/// One open connection of a client; dropping it releases the slot.
struct Slot {
    open: Arc<Open>,
    client: IpAddr,
}

impl Open {
    fn take(self: &Arc<Self>, client: IpAddr, cap: usize) -> Option<Slot> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(client).or_default();
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(Slot {
            open: self.clone(),
            client,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// Serves `app` on `listener` until `stop` turns true, within `limits`; then stops accepting,
/// lets each connection finish the request it is answering, and after `shutdown_secs` closes
/// whatever is left.
pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerSettings,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let open = Arc::new(Open::default());
    let (drain, draining) = watch::channel(false);
    let mut connections = JoinSet::new();
    let header_timeout = Duration::from_secs(limits.header_timeout_secs);
    loop {
        let (stream, peer) = tokio::select! {
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let client = client_key(peer.ip());
        if connections.len() >= limits.max_connections {
            tracing::warn!(%client, "connection refused: the server is at max_connections");
            continue;
        }
        let Some(slot) = open.take(client, limits.max_connections_per_client) else {
            tracing::debug!(%client, "connection refused: the client is at its cap");
            continue;
        };
        let app = app.clone();
        let draining = draining.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let _slot = slot;
            match tls {
                None => drive(stream, peer, app, header_timeout, draining).await,
                // The handshake gets the same deadline as a request's headers.
                Some(acceptor) => {
                    match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => drive(tls, peer, app, header_timeout, draining).await,
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = drain.send(true);
    let deadline = tokio::time::sleep(Duration::from_secs(limits.shutdown_secs));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = connections.join_next() => if next.is_none() { break },
            _ = &mut deadline => {
                tracing::warn!(
                    left = connections.len(),
                    "shutdown deadline passed: closing the connections left"
                );
                connections.abort_all();
                break;
            }
        }
    }
    Ok(())
}

/// Serves one connection's requests until it ends, or until the server drains.
async fn drive<S>(
    stream: S,
    peer: SocketAddr,
    app: Router,
    header_timeout: Duration,
    mut draining: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut app = app.clone();
        async move { app.call(request.map(Body::new)).await }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = async { let _ = draining.wait_for(|d| *d).await; } => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// The TLS acceptor of a PEM certificate chain and private key (`--tls-cert`, `--tls-key`).
pub(super) fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    crate::tls::install_provider();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: holds no certificate", cert.display()));
    }
    // The key's file is named, never quoted.
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("{}: not a PEM private key: {e}", key.display()))?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate and key do not make a TLS server: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// What [`read_body`] needs.
#[derive(Clone, Copy)]
pub(super) struct BodyLimits {
    pub(super) max_bytes: usize,
    pub(super) timeout: Duration,
}

/// Reads each request's whole body before its handler runs: a declared length over the limit is
/// answered 413 at once (before a byte of it is read), and a body that does not arrive within
/// the deadline 408, so a client dripping bytes holds nothing for long.
pub(super) async fn read_body(
    State(limits): State<BodyLimits>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body",
            &format!("the body is larger than {} bytes", limits.max_bytes),
        )
    };
    if declared.is_some_and(|n| n > limits.max_bytes as u64) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(limits.timeout, axum::body::to_bytes(body, limits.max_bytes)).await {
        Err(_) => error(
            StatusCode::REQUEST_TIMEOUT,
            "body",
            &format!(
                "the body did not arrive within {} s",
                limits.timeout.as_secs()
            ),
        ),
        Ok(Err(_)) => too_large(),
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    }
}

/// The client a request counts against: the peer, or, when the peer is one of
/// `trusted_proxies`, the nearest address in `X-Forwarded-For` that is not itself a trusted
/// proxy.
pub(crate) fn client_of(
    peer: SocketAddr,
    headers: &axum::http::HeaderMap,
    trusted_proxies: &[IpAddr],
) -> IpAddr {
    let mut client = peer.ip();
    if !trusted_proxies.contains(&client) {
        return client;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    // Read from the right: each proxy appends the address it received from.
    for hop in forwarded.into_iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !trusted_proxies.contains(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_its_64_and_an_ipv4_one_its_address() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let v4: IpAddr = "192.0.2.7".parse().expect("ip");
        assert_eq!(client_key(v4), v4);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("ip");
        assert_eq!(client_key(mapped), v4);
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.4".parse().expect("header"),
        );
        let from_proxy = SocketAddr::new(proxy, 40000);
        let from_elsewhere: SocketAddr = "192.0.2.1:40000".parse().expect("addr");
        // The proxy appended the address it received from: that is the client.
        assert_eq!(
            client_of(from_proxy, &headers, &[proxy]),
            "198.51.100.4".parse::<IpAddr>().expect("ip")
        );
        // From anyone else the header is the client's own claim, ignored.
        assert_eq!(
            client_of(from_elsewhere, &headers, &[proxy]),
            from_elsewhere.ip()
        );
        assert_eq!(client_of(from_proxy, &headers, &[]), proxy);
        // A chain of trusted proxies is walked through.
        let inner: IpAddr = "198.51.100.4".parse().expect("ip");
        assert_eq!(
            client_of(from_proxy, &headers, &[proxy, inner]),
            "203.0.113.9".parse::<IpAddr>().expect("ip")
        );
    }
}
