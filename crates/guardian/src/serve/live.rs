//! `GET /api/events`: what is new, as server-sent events, for every open page: `alert` (a new
//! alert), `timeline` (a new entry of any incident's timeline: a pause mined, a note, a Safe
//! step) and `confirmation` (a Safe proposal's confirmations changed). The records are the
//! source, whichever process wrote them (the monitor in another process or on another machine):
//! one reader ([`Feed`]) reads the rows newer than what it handed on, every [`POLL`], for every
//! open stream. A comment every 15 s keeps proxies from closing a quiet stream. And `/assets/live.js`, the pages' one script, which puts
//! each event where it belongs.

use std::{collections::BTreeMap, convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::State,
    http::header,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use serde_json::json;
use tokio::sync::{broadcast, watch};

use super::{
    AppState,
    auth::{Team, Viewer},
};
use crate::storage::{StorageError, Store, sql::params};

/// How often the feed reads the records.
pub const POLL: Duration = Duration::from_millis(50);

/// Where a stream is: the newest alert and timeline entry it sent, and each proposal's count.
#[derive(Debug, Clone, Default)]
struct Mark {
    alert: i64,
    entry: i64,
    confirmations: BTreeMap<i64, i64>,
}

fn confirmation_counts(store: &Store) -> Result<BTreeMap<i64, i64>, StorageError> {
    let rows: Vec<(i64, i64)> = store.with(|c| {
        c.query_map(
            "SELECT proposal_id, COUNT(*) FROM safe_confirmations GROUP BY proposal_id",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    })?;
    Ok(rows.into_iter().collect())
}

/// The records as they are now: where a new stream starts.
fn now_mark(store: &Store) -> Result<Mark, StorageError> {
    let max = |sql: &str| -> Result<i64, StorageError> {
        store
            .with(|c| c.query_row(sql, params![], |r| r.get::<Option<i64>>(0)))
            .map(Option::unwrap_or_default)
    };
    Ok(Mark {
        alert: max("SELECT MAX(id) FROM alerts")?,
        entry: max("SELECT MAX(id) FROM timeline")?,
        confirmations: confirmation_counts(store)?,
    })
}

/// The events newer than `mark`, and the mark after them.
/// An event for the streams: its kind and its JSON.
type News = (&'static str, String);

fn news(store: &Store, mark: &Mark) -> Result<(Vec<News>, Mark), StorageError> {
    let mut next = mark.clone();
    let mut events = Vec::new();
    let ids: Vec<i64> = store.with(|c| {
        c.query_map(
            "SELECT id FROM alerts WHERE id > ?1 ORDER BY id LIMIT 100",
            params![mark.alert],
            |r| r.get(0),
        )
    })?;
    for id in ids {
        next.alert = next.alert.max(id);
        if let Some(a) = store.alert(id)? {
            let data = json!({
                "id": a.id, "severity": format!("{:?}", a.found.severity).to_lowercase(),
                "rule": a.found.rule, "chain": a.found.chain, "block": a.found.block_number,
                "summary": a.found.summary, "detected_at": a.detected_at,
            });
            events.push(("alert", data.to_string()));
        }
    }
    let entries: Vec<(i64, i64, i64, String, String, String)> = store.with(|c| {
        c.query_map(
            "SELECT id, incident_id, at, actor, kind, details FROM timeline WHERE id > ?1 ORDER BY id LIMIT 200",
            params![mark.entry],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
    })?;
    for (id, incident, at, actor, kind, details) in entries {
        next.entry = next.entry.max(id);
        let data = json!({"id": id, "incident": incident, "at": at, "actor": actor,
            "kind": kind, "details": details});
        events.push(("timeline", data.to_string()));
    }
    let counts = confirmation_counts(store)?;
    for (proposal, n) in &counts {
        if mark.confirmations.get(proposal) != Some(n) {
            let data = json!({"proposal": proposal, "confirmations": n});
            events.push(("confirmation", data.to_string()));
        }
    }
    next.confirmations = counts;
    Ok((events, next))
}

/// The one reader of the records for every open stream: it reads what is new every [`POLL`]
/// (while anyone listens) and hands it to each stream, so fifty open pages cost the database
/// what one does.
pub(crate) struct Feed {
    tx: broadcast::Sender<Arc<Vec<News>>>,
    /// What was handed on so far; `None` while nobody listens. A new stream sets it (when
    /// unset) before it says `ready`, so whatever is written after `ready` reaches it.
    mark: std::sync::Mutex<Option<Mark>>,
    store: Arc<Store>,
}

impl Feed {
    /// Starts the reader on `store`; it stops when `stop` turns true.
    pub(crate) fn start(store: Arc<Store>, mut stop: watch::Receiver<bool>) -> Arc<Self> {
        let (tx, _) = broadcast::channel(256);
        let feed = Arc::new(Self {
            tx,
            mark: std::sync::Mutex::new(None),
            store,
        });
        let this = feed.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    () = tokio::time::sleep(POLL) => {}
                }
                let this = this.clone();
                let read = tokio::task::spawn_blocking(move || this.read_once()).await;
                match read {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!("the live feed could not read the records: {e}"),
                    Err(e) => tracing::warn!("the live feed could not read the records: {e}"),
                }
            }
        });
        feed
    }

    /// One read: what is new since the mark, handed to every stream. The lock is held from the
    /// count of listeners to the new mark, so a stream that subscribes meanwhile either finds
    /// the mark set (and gets this batch) or sets it itself.
    fn read_once(&self) -> Result<(), StorageError> {
        let mut mark = self.mark.lock().unwrap_or_else(|p| p.into_inner());
        if self.tx.receiver_count() == 0 {
            // Nobody listens: the next listener starts from the records as they are then.
            *mark = None;
            return Ok(());
        }
        let (events, next) = match mark.as_ref() {
            None => (Vec::new(), now_mark(&self.store)?),
            Some(m) => news(&self.store, m)?,
        };
        *mark = Some(next);
        if !events.is_empty() {
            let _ = self.tx.send(Arc::new(events));
        }
        Ok(())
    }

    /// A new listener: subscribed first, then the mark set if nobody listened, so nothing
    /// written from here on is missed.
    fn subscribe(&self) -> Result<broadcast::Receiver<Arc<Vec<News>>>, StorageError> {
        let rx = self.tx.subscribe();
        let mut mark = self.mark.lock().unwrap_or_else(|p| p.into_inner());
        if mark.is_none() {
            *mark = Some(now_mark(&self.store)?);
        }
        Ok(rx)
    }
}

/// `GET /api/events` (viewer).
#[utoipa::path(get, path = "/api/events", tag = "api", security(("bearer" = []), ("session" = [])), responses((status = 200, description = "server-sent events: `ready`, then `alert`, `timeline` and `confirmation`, each with its JSON", content_type = "text/event-stream"), (status = 401, description = "no valid token or session")))]
pub(super) async fn events(State(state): State<AppState>, _team: Team<Viewer>) -> Response {
    let feed = state.feed.clone();
    let rx = match tokio::task::spawn_blocking(move || feed.subscribe()).await {
        Ok(Ok(rx)) => rx,
        Ok(Err(e)) => {
            tracing::warn!("the live feed could not read the records: {e}");
            return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        Err(e) => {
            tracing::warn!("the live feed could not start: {e}");
            return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let ready = futures::stream::once(async { Ok(Event::default().event("ready").data("{}")) });
    let news = futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(batch) => {
                    let events: Vec<Result<Event, Infallible>> = batch
                        .iter()
                        .map(|(kind, data)| Ok(Event::default().event(*kind).data(data)))
                        .collect();
                    return Some((futures::stream::iter(events), rx));
                }
                // A page too slow to keep up misses some events; it still gets the next.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(futures::StreamExt::chain(
        ready,
        futures::StreamExt::flatten(news),
    ))
    .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
    .into_response()
}

/// The pages' script: the live feed's state in the header, new alerts atop the alerts tables,
/// new entries atop the open incident's timeline, Safe confirmations counted. Text only: every
/// value goes in through `textContent`.
const SCRIPT: &str = r#""use strict";
(function () {
  var feed = document.getElementById("feed");
  if (!feed || !window.EventSource) { return; }
  var last = Date.now();
  function say(text) { feed.textContent = text; }
  function row(cells, attr, value) {
    var tr = document.createElement("tr");
    tr.setAttribute(attr, value);
    cells.forEach(function (c) { var td = document.createElement("td"); td.textContent = c; tr.appendChild(td); });
    return tr;
  }
  var es = new EventSource("/api/events");
  es.onopen = function () { say("connected"); };
  es.onerror = function () { say("reconnecting (stale: guardian alerts and guardian incident show read the records directly)"); };
  es.addEventListener("ready", function () { say("connected"); });
  es.addEventListener("alert", function (e) {
    var a = JSON.parse(e.data); last = Date.now(); say("connected · last event: alert " + a.id);
    var body = document.getElementById("alerts-body");
    if (body && !document.querySelector('[data-alert="' + a.id + '"]')) { body.insertBefore(row([a.id, a.severity, a.rule, a.chain, a.block, a.summary, "just now"], "data-alert", a.id), body.firstChild); }
  });
  es.addEventListener("timeline", function (e) {
    var t = JSON.parse(e.data); last = Date.now(); say("connected · last event: " + t.kind + " on incident " + t.incident);
    var body = document.getElementById("timeline-body");
    if (body && body.getAttribute("data-incident") === String(t.incident) && !document.querySelector('[data-entry="' + t.id + '"]')) {
      body.insertBefore(row([new Date(t.at).toISOString().replace("T", " ").slice(0, 19), t.actor, t.kind, t.details], "data-entry", t.id), body.firstChild);
    }
  });
  es.addEventListener("confirmation", function (e) {
    var c = JSON.parse(e.data); last = Date.now(); say("connected · last event: a confirmation of proposal " + c.proposal);
    var cell = document.querySelector('[data-proposal="' + c.proposal + '"]');
    if (cell) { cell.textContent = c.confirmations + " confirmation(s), the latest just now"; }
  });
  document.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target.closest("[data-copy]") : null;
    if (el && navigator.clipboard) {
      navigator.clipboard.writeText(el.getAttribute("data-copy")).then(function () { el.textContent = "copied"; });
    }
  });
})();
"#;

/// `GET /assets/live.js`.
#[utoipa::path(get, path = "/assets/live.js", tag = "pages", responses((status = 200, description = "the pages' one script: the live feed", content_type = "text/javascript")))]
pub(super) async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}
