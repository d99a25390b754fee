//! The team's pages, rendered on the server (they work without JavaScript; one small script of
//! the server's own, `/assets/live.js`, adds what arrives live): the overview, the alerts and an
//! incident's war room. Reading them needs a signed-in viewer; each control is there only for
//! the roles it is for, and the route behind it checks the role again.

use std::fmt::Write as _;

use axum::{
    extract::{FromRequestParts, Path, Query, State},
    http::{StatusCode, request::Parts},
    response::{Html, IntoResponse, Redirect, Response},
};

use super::{
    AppState,
    auth::{Needs, Viewer, internal},
    escape,
    warroom::{self, Overview},
};
use crate::bounty::tokens::{Role, TokenHolder};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;line-height:1.45;color:#1b1b1b}
header{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center;padding:.5rem 1rem;background:#16222e;color:#fff}
header a{color:#fff}header form{margin:0}main{padding:0 1rem 2rem;max-width:80rem;overflow-wrap:anywhere}pre{white-space:pre-wrap}
table{border-collapse:collapse;display:block;overflow-x:auto;max-width:100%;margin:.5rem 0 1rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top;overflow-wrap:normal}
.wide{overflow-x:auto}code{background:#f3f3f3;padding:0 .2rem}.critical{color:#a00;font-weight:600}.warning{color:#8a5a00}
.fresh{font-size:.9rem;color:#ccd}label{display:block;margin-top:.6rem;font-weight:600}input[type=text]{width:100%;max-width:30rem;box-sizing:border-box;font:inherit}
button{font:inherit;margin-top:.5rem}form.inline{display:inline}.errors{border:1px solid #b00;padding:.5rem 1rem;color:#700}.danger{border:2px solid #a00;padding:.5rem 1rem;margin:1rem 0}";

/// A page of the team's: `who` (with the session's CSRF value) adds the header with the
/// person's name, the navigation, the live feed's state and the sign-out button.
pub(super) fn layout(title: &str, who: Option<(&TokenHolder, &str)>, body: &str) -> String {
    let header = match who {
        Some((holder, csrf)) => format!(
            "<header><strong>guardian</strong><nav><a href=\"/\">Overview</a> · <a href=\"/alerts\">Alerts</a> · <a href=\"/history\">History</a> · <a href=\"/bounty/queue\">Bounty</a></nav><span class=\"fresh\">rendered {} UTC · live feed: <span id=\"feed\">off (no script)</span></span><span>{} ({})</span><form method=\"post\" action=\"/signout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Sign out</button></form></header>",
            utc(crate::storage::now_ms()),
            escape(&holder.name),
            holder.role.as_str(),
            escape(csrf)
        ),
        None => String::new(),
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style><script src=\"/assets/live.js\" defer></script></head><body>{header}<main>\n{body}\n</main></body></html>\n",
        escape(title)
    )
}

/// Unix milliseconds as `2026-12-07 14:03:09` (UTC).
pub(super) fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// `ms` ago, for people (`42 s ago`, `3 min ago`).
pub(super) fn ago(ms: i64, now: i64) -> String {
    let s = (now - ms).max(0) / 1000;
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// An address shortened, the whole of it on hover, with a button that copies it (the live
/// script's; without it the full address is still in the title and the page's JSON).
pub(super) fn short_address(a: &alloy::primitives::Address) -> String {
    let full = a.to_checksum(None);
    format!(
        "<code title=\"{full}\">{}…{}</code> <button type=\"button\" class=\"copy\" data-copy=\"{full}\" aria-label=\"Copy {full}\">copy</button>",
        &full[..8],
        &full[full.len() - 4..]
    )
}

/// The page a signed-in person gets for a control beyond their role.
pub(super) fn forbidden_page(needed: Role, holder: &TokenHolder) -> Response {
    (
        StatusCode::FORBIDDEN,
        Html(layout(
            "Not allowed · guardian",
            None,
            &format!(
                "<h1>Not allowed</h1><p>This needs the {} role; {} signs in as {}.</p><p><a href=\"/\">Back to the overview</a></p>",
                needed.as_str(),
                escape(&holder.name),
                holder.role.as_str()
            ),
        )),
    )
        .into_response()
}

/// A page request from a signed-in person whose role allows `R`; anyone else is sent to sign
/// in (or told their role is too low).
pub(super) struct Signed<R: Needs> {
    pub(super) holder: TokenHolder,
    pub(super) csrf: String,
    needs: std::marker::PhantomData<R>,
}

impl<R: Needs> FromRequestParts<AppState> for Signed<R> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match super::session::live(state, &parts.headers).await? {
            None => Err(Redirect::to("/signin").into_response()),
            Some(l) if !l.holder.role.allows(R::ROLE) => Err(forbidden_page(R::ROLE, &l.holder)),
            Some(l) => Ok(Self {
                holder: l.holder,
                csrf: l.csrf,
                needs: std::marker::PhantomData,
            }),
        }
    }
}

/// Reads the overview off the async threads.
async fn overview_of(state: &AppState) -> Result<Overview, Response> {
    let s = state.clone();
    tokio::task::spawn_blocking(move || warroom::overview(&s.store, &s.manifest))
        .await
        .map_err(|e| internal("the overview could not be read", &e))?
        .map_err(|e| internal("the overview could not be read", &e))
}

/// `GET /`: every chain as the monitor last read it, every contract, the open incidents and the
/// latest alerts.
#[utoipa::path(get, path = "/", tag = "pages", security(("session" = [])), responses((status = 200, description = "every chain, contract, open incident and the latest alerts", content_type = "text/html"), (status = 303, description = "not signed in: to /signin")))]
pub(super) async fn overview(State(state): State<AppState>, who: Signed<Viewer>) -> Response {
    let o = match overview_of(&state).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let now = crate::storage::now_ms();
    let mut b = String::from(
        "<h1>Overview</h1>\n<h2>Chains</h2><div class=\"wide\"><table><tr><th>Chain</th><th>Chain id</th><th>Last block seen</th><th>Seen</th><th>Head · lag</th><th>Monitored by</th></tr>",
    );
    for c in &o.chains {
        let _ = write!(
            b,
            "<tr data-chain=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"lag\">{}</td><td>{}</td></tr>",
            escape(&c.name),
            escape(&c.name),
            c.chain_id,
            c.block.map_or("none yet".into(), |n| n.to_string()),
            c.seen_at.map_or(
                "never: is a monitor running? (guardian monitor)".into(),
                |t| format!("{} ({} UTC)", ago(t, now), utc(t))
            ),
            match (c.head, c.lag) {
                (Some(h), Some(0)) => format!("{h} · in step"),
                (Some(h), Some(1)) => format!("{h} · 1 block behind"),
                (Some(h), Some(l)) =>
                    format!("{h} · <strong class=\"critical\">{l} blocks behind</strong>"),
                (Some(h), None) => format!("{h} · -"),
                (None, _) => "not read yet".into(),
            },
            escape(c.monitor.as_deref().unwrap_or("a monitor without [ha]")),
        );
    }
    b.push_str("</table></div><h2>Contracts</h2><div class=\"wide\"><table><tr><th>Contract</th><th>Chain</th><th>Kind</th><th>Address</th><th>Paused</th><th>Holds · owes</th><th>Read at</th><th>Role findings</th></tr>");
    for c in &o.contracts {
        let (paused, funds, read) = match &c.state {
            None => ("not read yet".to_string(), "-".to_string(), "-".to_string()),
            Some(s) => (
                match (s.paused, c.kind.is_pausable()) {
                    (Some(true), _) => "<strong class=\"critical\">paused</strong>".into(),
                    (Some(false), _) => "running".into(),
                    (None, true) => "not read yet".into(),
                    (None, false) => "-".into(),
                },
                funds_of(s.balances.as_ref()),
                format!(
                    "block {}{} ({})",
                    s.block,
                    o.chains
                        .iter()
                        .find(|ch| ch.name == c.chain)
                        .and_then(|ch| ch.head)
                        .map(|h| match h.saturating_sub(s.block) {
                            0 => ", the head".to_string(),
                            1 => ", 1 block ago".to_string(),
                            n => format!(", {n} blocks ago"),
                        })
                        .unwrap_or_default(),
                    ago(s.updated_at, now)
                ),
            ),
        };
        let _ = write!(
            b,
            "<tr data-contract=\"{}\"><td>{}</td><td>{}</td><td>{:?}</td><td>{}</td><td class=\"paused\">{paused}</td><td>{funds}</td><td>{read}</td><td class=\"roles\">{}</td></tr>",
            escape(&c.name),
            escape(&c.name),
            escape(&c.chain),
            c.kind,
            short_address(&c.address),
            role_findings(&c.role_findings)
        );
    }
    b.push_str("</table></div><h2>Open incidents</h2>");
    if o.incidents.is_empty() {
        b.push_str("<p>None.</p>");
    } else {
        b.push_str("<table><tr><th>Incident</th><th>Level</th><th>Status</th><th>Title</th><th>Opened</th></tr>");
        for i in &o.incidents {
            let _ = write!(
                b,
                "<tr><td><a href=\"/incidents/{0}\">{0}</a></td><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td></tr>",
                i.id,
                i.level,
                i.status,
                escape(&i.title),
                ago(i.opened_at, now)
            );
        }
        b.push_str("</table>");
    }
    b.push_str("<h2>Latest alerts</h2>");
    alerts_table(&mut b, &o.alerts, now);
    Html(layout(
        "Overview · guardian",
        Some((&who.holder, &who.csrf)),
        &b,
    ))
    .into_response()
}

/// A contract's balances as the monitor recorded them: each asset's amount, and what it owes
/// (an escrow short of it marked).
fn funds_of(balances: Option<&serde_json::Value>) -> String {
    let Some(list) = balances.and_then(|b| b.as_array()) else {
        return "-".into();
    };
    list.iter()
        .map(|b| {
            let asset = b["token"].as_str().map_or("native".to_string(), |t| {
                format!(
                    "<code title=\"{0}\">{1}…</code>",
                    escape(t),
                    escape(&t[..t.len().min(8)])
                )
            });
            let amount = b["amount"].as_str().unwrap_or("?");
            let number = |s: &str| alloy::primitives::U256::from_str_radix(s, 10).ok();
            // In units with the symbol when the monitor read the asset's, else base units.
            let units = |s: &str| match (number(s), b["symbol"].as_str(), b["decimals"].as_u64()) {
                (Some(n), Some(symbol), Some(d)) => {
                    crate::funds::show_amount(n, u8::try_from(d).unwrap_or(0), symbol)
                }
                _ => format!("{s} (base units)"),
            };
            let asset = if b["symbol"].is_string() {
                String::new()
            } else {
                format!("{asset}: ")
            };
            match b["owed"].as_str() {
                Some(owed) => {
                    let short =
                        matches!((number(amount), number(owed)), (Some(a), Some(o)) if a < o);
                    format!(
                        "{asset}{} · owes {}{}",
                        escape(&units(amount)),
                        escape(&units(owed)),
                        if short {
                            " <strong class=\"critical\">short</strong>"
                        } else {
                            ""
                        }
                    )
                }
                None => format!("{asset}{}", escape(&units(amount))),
            }
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

/// A contract's role findings: each alert linked, or `none`.
fn role_findings(found: &[super::warroom::RoleFinding]) -> String {
    if found.is_empty() {
        return "none".into();
    }
    found
        .iter()
        .map(|f| {
            format!(
                "<a href=\"/alerts/{0}\" class=\"critical\">alert {0}</a>: {1}",
                f.alert,
                escape(&f.summary)
            )
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

/// The alerts as a table whose body the live script adds new rows to.
fn alerts_table(b: &mut String, alerts: &[crate::alert::Alert], now: i64) {
    b.push_str("<div class=\"wide\"><table><thead><tr><th>Alert</th><th>Severity</th><th>Rule</th><th>Chain</th><th>Block</th><th>What</th><th>When</th></tr></thead><tbody id=\"alerts-body\">");
    for a in alerts {
        let sev = format!("{:?}", a.found.severity).to_lowercase();
        let _ = write!(
            b,
            "<tr data-alert=\"{}\"><td><a href=\"/alerts/{}\">{}</a></td><td class=\"{sev}\">{sev}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            a.id,
            a.id,
            a.id,
            escape(&a.found.rule),
            escape(&a.found.chain),
            a.found.block_number,
            escape(&a.found.summary),
            ago(a.detected_at, now)
        );
    }
    b.push_str("</tbody></table></div>");
}

/// `GET /alerts[?severity=&rule=&chain=&contract=&hours=]`: the latest alerts, filtered; new ones
/// appear live.
#[utoipa::path(get, path = "/alerts", tag = "pages", params(("severity" = Option<String>, Query, description = "at least: info, warning, critical"), ("rule" = Option<String>, Query), ("chain" = Option<String>, Query), ("contract" = Option<String>, Query, description = "its name in the manifest"), ("hours" = Option<f64>, Query, description = "detected in the last this many hours")), security(("session" = [])), responses((status = 200, description = "the alerts, new ones live", content_type = "text/html"), (status = 303, description = "not signed in: to /signin")))]
pub(super) async fn alerts(
    State(state): State<AppState>,
    who: Signed<Viewer>,
    Query(q): Query<warroom::AlertSelection>,
) -> Response {
    let s = state.clone();
    let q = q.cleaned();
    let filter = q.clone();
    let read =
        tokio::task::spawn_blocking(move || warroom::alerts(&s.store, &s.manifest, &filter, 200))
            .await;
    let list = match read {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return internal("the alerts could not be read", &e),
        Err(e) => return internal("the alerts could not be read", &e),
    };
    let now = crate::storage::now_ms();
    let v = |o: &Option<String>| escape(o.as_deref().unwrap_or(""));
    let mut b = format!(
        "<h1>Alerts</h1><form method=\"get\" action=\"/alerts\"><label for=\"severity\">At least</label><select id=\"severity\" name=\"severity\"><option value=\"\">any severity</option><option{}>info</option><option{}>warning</option><option{}>critical</option></select><label for=\"rule\">Rule</label><input type=\"text\" id=\"rule\" name=\"rule\" value=\"{}\"><label for=\"chain\">Chain</label><input type=\"text\" id=\"chain\" name=\"chain\" value=\"{}\"><label for=\"contract\">Contract</label><input type=\"text\" id=\"contract\" name=\"contract\" value=\"{}\"><label for=\"hours\">In the last (hours)</label><input type=\"number\" id=\"hours\" name=\"hours\" min=\"0\" step=\"any\" value=\"{}\"><button type=\"submit\">Filter</button></form>",
        selected(&q.severity, "info"),
        selected(&q.severity, "warning"),
        selected(&q.severity, "critical"),
        v(&q.rule),
        v(&q.chain),
        v(&q.contract),
        v(&q.hours)
    );
    alerts_table(&mut b, &list, now);
    Html(layout(
        "Alerts · guardian",
        Some((&who.holder, &who.csrf)),
        &b,
    ))
    .into_response()
}

/// `GET /alerts/{id}`: one alert, with its evidence (where the notifications' links lead).
#[utoipa::path(get, path = "/alerts/{id}", tag = "pages", params(("id" = i64, Path, description = "the alert's number")), security(("session" = [])), responses((status = 200, description = "one alert with its evidence", content_type = "text/html"), (status = 303, description = "not signed in: to /signin")))]
pub(super) async fn alert(
    State(state): State<AppState>,
    who: Signed<Viewer>,
    Path(id): Path<i64>,
) -> Response {
    let store = state.store.clone();
    let read = tokio::task::spawn_blocking(move || store.alert(id)).await;
    let a = match read {
        Ok(Ok(Some(a))) => a,
        Ok(Ok(None)) => {
            return (
                StatusCode::NOT_FOUND,
                Html(layout(
                    "No such alert · guardian",
                    Some((&who.holder, &who.csrf)),
                    &format!("<h1>No alert {id}</h1>"),
                )),
            )
                .into_response();
        }
        Ok(Err(e)) => return internal("the alert could not be read", &e),
        Err(e) => return internal("the alert could not be read", &e),
    };
    let f = &a.found;
    let now = crate::storage::now_ms();
    let txs: Vec<String> = f
        .tx_hashes
        .iter()
        .map(|t| format!("<code>{t}</code>"))
        .collect();
    let body = format!(
        "<h1>Alert {id}</h1><table><tr><th>Severity</th><td>{:?}</td></tr><tr><th>Rule</th><td>{}</td></tr><tr><th>Chain</th><td>{} ({})</td></tr><tr><th>Contract</th><td>{}</td></tr><tr><th>Block</th><td>{} <code>{}</code></td></tr><tr><th>What</th><td>{}</td></tr><tr><th>Transactions</th><td>{}</td></tr><tr><th>Detected</th><td>{} ({} UTC)</td></tr><tr><th>Status</th><td>{:?}</td></tr><tr><th>Acknowledged</th><td id=\"ack\">{}</td></tr><tr><th>Evidence</th><td><code>{}</code></td></tr></table>{}<p><a href=\"/alerts\">All alerts</a></p>",
        f.severity,
        escape(&f.rule),
        escape(&f.chain),
        f.chain_id,
        escape(f.contract.as_deref().unwrap_or("-")),
        f.block_number,
        f.block_hash,
        escape(&f.summary),
        txs.join(" "),
        ago(a.detected_at, now),
        utc(a.detected_at),
        a.status,
        a.acknowledged
            .as_ref()
            .map(|k| format!(
                "by {} {}{}",
                escape(&k.by),
                ago(k.at, now),
                k.note
                    .as_deref()
                    .map(|n| format!(": {}", escape(n)))
                    .unwrap_or_default()
            ))
            .unwrap_or_else(|| "not yet".into()),
        escape(&f.evidence.to_string()),
        if who.holder.role.allows(Role::Responder) {
            format!(
                "<form method=\"post\" action=\"/alerts/{id}/ack\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><label for=\"ack-note\">Note (optional)</label><input type=\"text\" id=\"ack-note\" name=\"note\"><button type=\"submit\" id=\"ack-button\">Acknowledge</button></form>",
                escape(&who.csrf)
            )
        } else {
            String::new()
        }
    );
    Html(layout(
        &format!("Alert {id} · guardian"),
        Some((&who.holder, &who.csrf)),
        &body,
    ))
    .into_response()
}

fn selected(current: &Option<String>, value: &str) -> &'static str {
    if current.as_deref() == Some(value) {
        " selected"
    } else {
        ""
    }
}

/// `GET /incidents/{id}`: the war room of one incident.
#[utoipa::path(get, path = "/incidents/{id}", tag = "pages", params(("id" = i64, Path, description = "the incident's number")), security(("session" = [])), responses((status = 200, description = "the incident's war room", content_type = "text/html"), (status = 303, description = "not signed in: to /signin")))]
pub(super) async fn incident(
    State(state): State<AppState>,
    who: Signed<Viewer>,
    Path(id): Path<i64>,
) -> Response {
    let s = state.clone();
    let read =
        tokio::task::spawn_blocking(move || warroom::incident(&s.store, &s.manifest, id)).await;
    let room = match read {
        Ok(Ok(Some(r))) => r,
        Ok(Ok(None)) => {
            return (
                StatusCode::NOT_FOUND,
                Html(layout(
                    "No such incident · guardian",
                    Some((&who.holder, &who.csrf)),
                    &format!("<h1>No incident {id}</h1>"),
                )),
            )
                .into_response();
        }
        Ok(Err(e)) => return internal("the incident could not be read", &e),
        Err(e) => return internal("the incident could not be read", &e),
    };
    let body = super::incident_page::render(&room, &who.holder, &who.csrf);
    Html(layout(
        &format!("Incident {id} · guardian"),
        Some((&who.holder, &who.csrf)),
        &body,
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_utc_and_relative() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_796_652_189_000), "2026-12-07 14:03:09");
        assert_eq!(ago(1_000, 43_000), "42 s ago");
        assert_eq!(ago(0, 3 * 60_000), "3 min ago");
    }

    #[test]
    fn balances_read_in_units_and_a_short_escrow_is_marked() {
        let read = serde_json::json!([
            {"token": null, "amount": "1500000000000000000", "owed": "2000000000000000000",
             "symbol": "ETH", "decimals": 18},
            {"token": "0x5fc8d32690cc91d4c39d9d3abcbd16989f875707", "amount": "7"}
        ]);
        let shown = funds_of(Some(&read));
        assert!(shown.starts_with("1.5 ETH · owes 2.0 ETH"), "{shown}");
        assert!(shown.contains("short"), "{shown}");
        assert!(shown.contains("7 (base units)"), "no symbol read: {shown}");
    }
}
