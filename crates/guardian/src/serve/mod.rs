//! `guardian serve`: the HTTP server (axum) for researchers' reports, the bounty page now and the
//! team's dashboard later. The router, its shared state, the per-address rate limit, the
//! security headers every answer carries, and the one HTML `escape` every page goes through.

mod act;
mod api;
mod auth;
mod bounty_page;
mod bounty_queue;
mod history;
mod incident_page;
mod limits;
mod listen;
mod live;
mod pages;
mod readout;
mod reports;
mod session;
mod team;
mod warroom;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderValue, header},
    response::Response,
};
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    bounty::{BountyError, crypto::TeamKey},
    chain::signer::process_env,
    config::Manifest,
    notify::{Contacts, Outbox},
    storage::Store,
};

/// The address `guardian serve` listens on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The bounty desk is not configured (no or a bad team key).
    #[error(transparent)]
    Bounty(#[from] BountyError),
    /// The address could not be bound.
    #[error(
        "cannot listen on {addr}: {source} (is another server on that port? pass --listen ADDR)"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be used.
    #[error("cannot serve HTTPS: {0}")]
    Tls(String),
}

/// Where and how `guardian serve` listens.
#[derive(Debug, Clone)]
pub struct Listen {
    /// The public address: the bounty desk (and the team's pages too, without `team`).
    pub public: SocketAddr,
    /// The team's own address (`--team-listen`): its pages and API are served there only.
    pub team: Option<SocketAddr>,
    /// HTTPS on both, from a PEM certificate chain and private key (`--tls-cert`, `--tls-key`).
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Arc<Store>,
    pub(crate) manifest: Arc<Manifest>,
    pub(crate) team_key: TeamKey,
    pub(crate) limits: Arc<limits::PostLimits>,
    /// The manifest's file, for the team's decisions that act on chains (a confirmed critical
    /// report's incident); `None` when the server was started from a manifest in memory.
    pub(crate) manifest_path: Option<Arc<PathBuf>>,
    /// The manifest's contacts: the team hears of each new report.
    pub(crate) contacts: Arc<Contacts>,
    /// What is new in the records, for the pages' live streams.
    pub(crate) feed: Arc<live::Feed>,
}

/// A running server.
pub struct Server {
    /// The address it listens on (the real port when 0 was asked for).
    pub addr: SocketAddr,
    /// The address of the team's pages and API (`addr` unless they have their own).
    pub team_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Stops accepting, finishes the requests in flight, and returns.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        for task in self.tasks {
            task.await.unwrap_or(Ok(()))?;
        }
        Ok(())
    }

    /// Runs until `shutdown` resolves, then stops gracefully.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        shutdown.await;
        self.stop().await
    }
}

/// The manifest's `[bounty] team_public_key`, or why the server cannot start without it.
pub fn team_key(manifest: &Manifest) -> Result<TeamKey, BountyError> {
    match manifest.bounty.team_public_key.as_deref().map(str::trim) {
        None | Some("") => Err(BountyError::NoTeamKey),
        Some(key) => TeamKey::parse(key),
    }
}

/// Checks the manifest's `[bounty]`, binds `listen` and serves in a background task. This is
/// the one way the server starts (`guardian serve` and the tests alike).
pub async fn start(
    manifest: Manifest,
    store: Arc<Store>,
    listen: SocketAddr,
) -> Result<Server, ServeError> {
    start_with(manifest, None, store, listen).await
}

/// [`start`], with the manifest's file: the team API's decisions then open the deployment it
/// describes (a confirmed critical report pauses through its incident).
pub async fn start_with(
    manifest: Manifest,
    manifest_path: Option<PathBuf>,
    store: Arc<Store>,
    listen: SocketAddr,
) -> Result<Server, ServeError> {
    let listen = Listen {
        public: listen,
        team: None,
        tls: None,
    };
    start_listening(manifest, manifest_path, store, &listen).await
}

/// Binds a listener on `addr`.
async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), ServeError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr, source })?;
    Ok((listener, bound))
}

/// [`start_with`], listening as `listen` says.
pub async fn start_listening(
    manifest: Manifest,
    manifest_path: Option<PathBuf>,
    store: Arc<Store>,
    listen: &Listen,
) -> Result<Server, ServeError> {
    let tls = match &listen.tls {
        Some((cert, key)) => Some(listen::tls_acceptor(cert, key).map_err(ServeError::Tls)?),
        None => None,
    };
    let team_key = team_key(&manifest)?;
    let limits_of_posts = Arc::new(limits::PostLimits::new(&manifest.bounty));
    let max_body = manifest.bounty.max_body_bytes;
    let limits = manifest.server.clone();
    let contacts = Arc::new(Contacts::load(&manifest, &process_env));
    let store_for_outbox = store.clone();
    let (stop, stopped) = watch::channel(false);
    let feed = live::Feed::start(store.clone(), stopped.clone());
    let state = AppState {
        feed,
        store,
        manifest: Arc::new(manifest),
        team_key,
        limits: limits_of_posts,
        manifest_path: manifest_path.map(Arc::new),
        contacts: contacts.clone(),
    };
    let body = listen::BodyLimits {
        max_bytes: max_body,
        timeout: Duration::from_secs(limits.body_timeout_secs),
    };
    let (listener, addr) = bind(listen.public).await?;
    let team = match listen.team {
        Some(a) => Some(bind(a).await?),
        None => None,
    };
    // The notices the server queues (a new report, a decision taken through the team API) are
    // delivered while it runs; what is left is delivered by the next guardian process.
    if contacts.iter().next().is_some()
        && let Ok(outbox) = Outbox::new(store_for_outbox, contacts.clone())
    {
        let mut until = stop.subscribe();
        tokio::spawn(outbox.run(async move {
            let _ = until.wait_for(|s| *s).await;
        }));
    }
    let mut tasks = Vec::new();
    let team_addr = match team {
        Some((team_listener, team_addr)) => {
            let public = layered(api::public_routes(), state.clone(), body);
            let team_app = layered(api::team_routes(), state, body);
            tasks.push(tokio::spawn(listen::serve(
                listener,
                public,
                limits.clone(),
                tls.clone(),
                stopped.clone(),
            )));
            tasks.push(tokio::spawn(listen::serve(
                team_listener,
                team_app,
                limits,
                tls,
                stopped,
            )));
            team_addr
        }
        None => {
            let app = layered(api::public_routes().merge(api::team_routes()), state, body);
            tasks.push(tokio::spawn(listen::serve(
                listener, app, limits, tls, stopped,
            )));
            addr
        }
    };
    tracing::info!(%addr, %team_addr, "serving the bounty desk and the war room");
    Ok(Server {
        addr,
        team_addr,
        stop,
        tasks,
    })
}

/// `routes` with the limits and headers every answer gets.
fn layered(routes: Router<AppState>, state: AppState, body: listen::BodyLimits) -> Router {
    routes
        .layer(DefaultBodyLimit::max(body.max_bytes))
        .layer(axum::middleware::from_fn_with_state(
            body,
            listen::read_body,
        ))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Every answer: no sniffing a JSON answer into HTML, no script but the server's own, no external
/// asset, no framing.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_makes_markup_inert() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }
}
