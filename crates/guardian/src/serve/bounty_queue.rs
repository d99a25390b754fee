//! The war room's bounty queue: the reports, newest first, each with its acknowledgement clock
//! (a viewer reads it); one report with its thread, possible duplicates and disclosure date (a
//! triager); and the triage decisions as forms, taken through the same path as `guardian bounty
//! DECISION` and the team API, recorded under the person's name.

use std::fmt::Write as _;

use alloy::primitives::B256;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{
    AppState,
    auth::{Triager, Viewer, error, internal},
    escape,
    pages::{Signed, ago, forbidden_page, layout, utc},
    session::SignedForm,
    team::{DecisionBody, decide_as, decision, read_report},
};
use crate::{
    bounty::{
        IMPACTS, ReportView, Severity, Status, StoredReport,
        similar::DuplicateCandidate,
        sla::report_clock,
        tokens::{Role, TokenHolder},
        triage::{CloseReason, Decision, disclosure},
    },
    config::BountySettings,
};

/// How many reports the queue shows at once.
const SHOWN: usize = 100;

/// The queue's filters.
#[derive(Debug, Default, Deserialize)]
pub(super) struct QueueQuery {
    status: Option<String>,
    before: Option<String>,
}

/// `GET /bounty/queue[?status=S][&before=N]` (viewer): the reports, newest first, with their
/// acknowledgement clocks; an overdue one stands out.
#[utoipa::path(get, path = "/bounty/queue", tag = "pages", params(("status" = Option<String>, Query, description = "reported, acknowledged, needs-info, confirmed, duplicate, closed, fixed or paid"), ("before" = Option<i64>, Query, description = "the reports numbered below this one (the next page)")), security(("session" = [])), responses((status = 200, description = "the reports, newest first, with their acknowledgement clocks", content_type = "text/html"), (status = 303, description = "not signed in: to /signin"), (status = 400, description = "a filter out of range")))]
pub(super) async fn queue(
    State(state): State<AppState>,
    who: Signed<Viewer>,
    Query(q): Query<QueueQuery>,
) -> Response {
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match Status::parse(s) {
            Some(s) => Some(s),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "status",
                    "`status` must be reported, acknowledged, needs-info, confirmed, duplicate, closed, fixed or paid",
                );
            }
        },
    };
    let before = match q.before.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(b) => match b.parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "before",
                    "`before` must be a report number",
                );
            }
        },
    };
    let store = state.store.clone();
    let read =
        tokio::task::spawn_blocking(move || store.bounty_reports_page(status, before, Some(SHOWN)))
            .await;
    let page = match read {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return internal("the reports could not be read", &e),
        Err(e) => return internal("the reports could not be read", &e),
    };
    let mut b = String::from("<h1>Bounty queue</h1>");
    filter_form(&mut b, status);
    queue_table(
        &mut b,
        &page.reports,
        &state.manifest.bounty,
        crate::storage::now_ms(),
    );
    if let Some(next) = page.next_before {
        let filter = status
            .map(|s| format!("&amp;status={}", s.as_str()))
            .unwrap_or_default();
        let _ = write!(
            b,
            "<p><a href=\"/bounty/queue?before={next}{filter}\">Older reports</a></p>"
        );
    }
    Html(layout(
        "Bounty queue · guardian",
        Some((&who.holder, &who.csrf)),
        &b,
    ))
    .into_response()
}

/// The status filter, keeping the one in use selected.
fn filter_form(b: &mut String, current: Option<Status>) {
    b.push_str("<form method=\"get\" action=\"/bounty/queue\"><label for=\"status\">Status</label><select id=\"status\" name=\"status\"><option value=\"\">any status</option>");
    for s in Status::ALL {
        let selected = if current == Some(s) { " selected" } else { "" };
        let _ = write!(b, "<option{selected}>{s}</option>");
    }
    b.push_str("</select><button type=\"submit\">Filter</button></form>");
}

/// The reports as a table, each row linking to its page.
fn queue_table(b: &mut String, reports: &[ReportView], settings: &BountySettings, now: i64) {
    if reports.is_empty() {
        b.push_str("<p>No reports.</p>");
        return;
    }
    b.push_str("<div class=\"wide\"><table><tr><th>Report</th><th>Public id</th><th>Title</th><th>Claimed severity</th><th>Status</th><th>Submitted</th><th>Acknowledgement</th></tr>");
    for r in reports {
        let _ = write!(
            b,
            "<tr id=\"report-{id}\"><td><a href=\"/bounty/queue/{id}\">{id}</a></td><td><code>{}</code></td><td><a href=\"/bounty/queue/{id}\">{}</a></td><td>{}</td><td>{}</td><td>{} UTC ({})</td>{}</tr>",
            escape(&r.public_id),
            escape(&r.title),
            escape(&r.severity),
            escape(&r.status),
            utc(r.submitted_at),
            ago(r.submitted_at, now),
            clock_cell(r, settings, now),
            id = r.id,
        );
    }
    b.push_str("</table></div>");
}

/// The acknowledgement clock as a cell: `due in 3h 12m`, `OVERDUE by 2h` (marked critical),
/// `acknowledged in 5h` or `clock stopped`, the deadline on hover.
fn clock_cell(r: &ReportView, settings: &BountySettings, now: i64) -> String {
    match report_clock(r, settings, now) {
        None => "<td class=\"clock\">-</td>".into(),
        Some(c) => format!(
            "<td class=\"clock{}\" title=\"deadline {} UTC\">{}</td>",
            if c.overdue { " critical" } else { "" },
            utc(c.due_at),
            escape(&c.human(r.submitted_at))
        ),
    }
}

/// `GET /bounty/queue/{id}` (triager): one report, its thread, clock, possible duplicates and
/// disclosure date, with the decisions the person's role may take.
#[utoipa::path(get, path = "/bounty/queue/{id}", tag = "pages", params(("id" = String, Path, description = "its number or its public id")), security(("session" = [])), responses((status = 200, description = "the report with its thread and the decisions' forms", content_type = "text/html"), (status = 303, description = "not signed in: to /signin"), (status = 403, description = "not a triager"), (status = 404, description = "no such report")))]
pub(super) async fn report(
    State(state): State<AppState>,
    who: Signed<Triager>,
    Path(id): Path<String>,
) -> Response {
    let (r, duplicates) = match read_report(&state, id.clone()).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return (
                StatusCode::NOT_FOUND,
                Html(layout(
                    "No such report · guardian",
                    Some((&who.holder, &who.csrf)),
                    &format!(
                        "<h1>No report {}</h1><p><a href=\"/bounty/queue\">The queue</a></p>",
                        escape(&id)
                    ),
                )),
            )
                .into_response();
        }
        Err(r) => return r,
    };
    let now = crate::storage::now_ms();
    let v = &r.view;
    let mut b = format!(
        "<h1>Report {} · {}</h1><p>{}</p>",
        v.id,
        escape(&v.status),
        escape(&v.title)
    );
    facts(&mut b, &r, &state.manifest.bounty, now);
    thread(&mut b, v, now);
    duplicates_table(&mut b, &duplicates, now);
    decision_forms(&mut b, v, &who.holder, &who.csrf);
    b.push_str("<p><a href=\"/bounty/queue\">The queue</a></p>");
    Html(layout(
        &format!("Report {} · guardian", v.id),
        Some((&who.holder, &who.csrf)),
        &b,
    ))
    .into_response()
}

/// The report's fields, what the triage decided so far, its clock and its disclosure date.
fn facts(b: &mut String, r: &StoredReport, settings: &BountySettings, now: i64) {
    let v = &r.view;
    let t = &v.triage;
    let text = |o: &Option<String>| escape(o.as_deref().unwrap_or("-"));
    let when = |o: Option<i64>| {
        o.map_or("-".into(), |at| {
            format!("{} UTC ({})", utc(at), ago(at, now))
        })
    };
    let shown = disclosure(v);
    let _ = write!(
        b,
        "<div class=\"wide\"><table><tr><th>Public id</th><td><code>{}</code></td></tr><tr><th>Status</th><td>{}</td></tr><tr><th>Claimed</th><td>{} · {}</td></tr><tr><th>Confirmed</th><td>{} · {}</td></tr><tr><th>Contracts</th><td>{}</td></tr><tr><th>Submitted</th><td>{}</td></tr><tr><th>Acknowledgement</th>{}</tr><tr><th>Contact</th><td>{}</td></tr><tr><th>Payout address</th><td>{}</td></tr><tr><th>Credit as</th><td>{}</td></tr><tr><th>Proof of concept</th><td>{}</td></tr><tr><th>Duplicate of</th><td>{}</td></tr><tr><th>Closed because</th><td>{} {}</td></tr><tr><th>Incident</th><td>{}</td></tr><tr><th>Fixed</th><td>{}</td></tr><tr><th>Reward</th><td>{}{}</td></tr><tr><th>Disclosure</th><td>{}: {}</td></tr></table></div><h2>Description</h2><div class=\"wide\"><pre>{}</pre></div>",
        escape(&v.public_id),
        escape(&v.status),
        escape(&v.severity),
        escape(&v.impact),
        text(&t.confirmed_severity),
        text(&t.confirmed_impact),
        escape(&v.contracts.join(", ")),
        when(Some(v.submitted_at)),
        clock_cell(v, settings, now),
        escape(&v.contact),
        text(&v.payout_address),
        text(&v.credit_as),
        if r.poc_age.is_some() {
            format!(
                "encrypted: <code>guardian bounty show {}</code> decrypts it with the team's key",
                v.id
            )
        } else {
            "none".into()
        },
        t.duplicate_of.map_or("-".into(), |d| format!(
            "<a href=\"/bounty/queue/{d}\">report {d}</a>"
        )),
        text(&t.close_reason),
        escape(t.close_evidence.as_deref().unwrap_or("")),
        t.incident_id.map_or("-".into(), |i| format!(
            "<a href=\"/incidents/{i}\">incident {i}</a>"
        )),
        when(t.fixed_at),
        t.reward_usd.map_or("-".into(), |usd| format!("${usd}")),
        t.paid_tx
            .as_deref()
            .map(|tx| format!(" in <code>{}</code>", escape(tx)))
            .unwrap_or_default(),
        shown
            .may_publish_from
            .map_or("no date yet".into(), |at| format!("from {} UTC", utc(at))),
        escape(&shown.rule),
        escape(&v.description),
    );
}

/// The report's public thread, oldest first: its status changes and the messages.
fn thread(b: &mut String, v: &ReportView, now: i64) {
    b.push_str("<h2>Thread</h2>");
    if v.thread.is_empty() {
        b.push_str("<p>Nothing yet.</p>");
        return;
    }
    b.push_str("<div class=\"wide\"><table><tr><th>When</th><th>Who</th><th>What</th></tr>");
    for e in &v.thread {
        let status = e
            .status
            .as_deref()
            .map(|s| format!("<strong>→ {}</strong> ", escape(s)))
            .unwrap_or_default();
        let _ = write!(
            b,
            "<tr class=\"entry\"><td>{} UTC ({})</td><td>{}</td><td>{status}{}</td></tr>",
            utc(e.at),
            ago(e.at, now),
            escape(&e.author),
            escape(e.message.as_deref().unwrap_or(""))
        );
    }
    b.push_str("</table></div>");
}

/// Earlier reports that may describe the same finding, most similar first.
fn duplicates_table(b: &mut String, duplicates: &[DuplicateCandidate], now: i64) {
    b.push_str("<h2>Possible duplicates</h2>");
    if duplicates.is_empty() {
        b.push_str("<p>None found.</p>");
        return;
    }
    b.push_str("<table><tr><th>Report</th><th>Title</th><th>Status</th><th>Alike</th><th>Submitted</th></tr>");
    for d in duplicates {
        let _ = write!(
            b,
            "<tr><td><a href=\"/bounty/queue/{0}\">{0}</a></td><td>{1}</td><td>{2}</td><td>{3:.0}%</td><td>{4}</td></tr>",
            d.id,
            escape(&d.title),
            escape(&d.status),
            d.similarity * 100.0,
            ago(d.submitted_at, now)
        );
    }
    b.push_str("</table>");
}

/// One decision as a form: the protocol's decision (its path name and the statuses it may be
/// taken from come from it; the values in it are the form's to fill) and the form's inputs.
struct Choice {
    decision: Decision,
    label: &'static str,
    inputs: String,
}

/// Every decision of the protocol, with the inputs each needs (the claimed severity and impact
/// offered first when confirming).
fn choices(v: &ReportView) -> Vec<Choice> {
    let option = |value: &str, current: &str| {
        let selected = if value == current { " selected" } else { "" };
        format!("<option{selected}>{}</option>", escape(value))
    };
    let severities: String = Severity::ALL
        .iter()
        .map(|s| option(s.as_str(), &v.severity))
        .collect();
    let impacts: String = IMPACTS.iter().map(|i| option(i.id, &v.impact)).collect();
    let reasons: String = CloseReason::ALL
        .iter()
        .map(|r| option(r.as_str(), ""))
        .collect();
    vec![
        Choice {
            decision: Decision::Acknowledge,
            label: "Acknowledge",
            inputs: String::new(),
        },
        Choice {
            decision: Decision::AskInfo {
                message: String::new(),
            },
            label: "Ask for more",
            inputs: "<label for=\"ask-message\">The question (the researcher reads it)</label><input type=\"text\" id=\"ask-message\" name=\"message\" required>".into(),
        },
        Choice {
            decision: Decision::Confirm {
                severity: Severity::Low,
                impact: String::new(),
            },
            label: "Confirm",
            inputs: format!(
                "<label for=\"confirm-severity\">Severity</label><select id=\"confirm-severity\" name=\"severity\">{severities}</select><label for=\"confirm-impact\">Impact</label><select id=\"confirm-impact\" name=\"impact\">{impacts}</select>"
            ),
        },
        Choice {
            decision: Decision::Duplicate { of: 0 },
            label: "Mark duplicate",
            inputs: "<label for=\"duplicate-of\">The earlier report's number</label><input type=\"number\" id=\"duplicate-of\" name=\"of\" min=\"1\" required>".into(),
        },
        Choice {
            decision: Decision::Close {
                reason: CloseReason::Spam,
                evidence: String::new(),
            },
            label: "Close",
            inputs: format!(
                "<label for=\"close-reason\">Reason</label><select id=\"close-reason\" name=\"reason\">{reasons}</select><label for=\"close-evidence\">Evidence (the researcher reads it)</label><input type=\"text\" id=\"close-evidence\" name=\"evidence\" required>"
            ),
        },
        Choice {
            decision: Decision::Fixed,
            label: "Mark fixed",
            inputs: String::new(),
        },
        Choice {
            decision: Decision::Pay {
                amount_usd: 0,
                tx: B256::ZERO,
            },
            label: "Record the payment",
            inputs: "<label for=\"pay-amount\">Amount (US dollars)</label><input type=\"number\" id=\"pay-amount\" name=\"amount_usd\" min=\"1\" required><label for=\"pay-tx\">The payment's transaction (0x…)</label><input type=\"text\" id=\"pay-tx\" name=\"tx\" required>".into(),
        },
    ]
}

/// The forms of the decisions `holder`'s role may take (paying needs an admin): those the
/// report's status allows first, the others folded away.
fn decision_forms(b: &mut String, v: &ReportView, holder: &TokenHolder, csrf: &str) {
    let status = Status::parse(&v.status);
    let (now, later): (Vec<Choice>, Vec<Choice>) = choices(v)
        .into_iter()
        .filter(|c| !matches!(c.decision, Decision::Pay { .. }) || holder.role.allows(Role::Admin))
        .partition(|c| status.is_some_and(|s| c.decision.from().contains(&s)));
    b.push_str("<h2>Decide</h2>");
    if now.is_empty() {
        b.push_str("<p>No decision of your role applies in this status.</p>");
    }
    for c in &now {
        decision_form(b, v.id, c, csrf);
    }
    if !later.is_empty() {
        let _ = write!(
            b,
            "<details><summary>Decisions not possible while {}</summary>",
            escape(&v.status)
        );
        for c in &later {
            decision_form(b, v.id, c, csrf);
        }
        b.push_str("</details>");
    }
}

/// One decision's form, posting to `/bounty/queue/{id}/{decision}` with the page's CSRF value.
fn decision_form(b: &mut String, id: i64, c: &Choice, csrf: &str) {
    let verb = c.decision.verb();
    let from: Vec<&str> = c.decision.from().iter().map(|s| s.as_str()).collect();
    let _ = write!(
        b,
        "<form method=\"post\" action=\"/bounty/queue/{id}/{verb}\" id=\"decide-{verb}\"><fieldset><legend>{label}</legend><input type=\"hidden\" name=\"csrf\" value=\"{}\">{}<p>Possible while the report is {}.</p><button type=\"submit\">{label}</button></fieldset></form>",
        escape(csrf),
        c.inputs,
        from.join(", "),
        label = c.label,
    );
}

/// `POST /bounty/queue/{id}/{decision}` (a triager's form; `pay` an admin's): takes the decision
/// through the same path as `guardian bounty DECISION`, under the person's name, and goes back
/// to the report's page.
#[utoipa::path(post, path = "/bounty/queue/{id}/{decision}", tag = "pages", params(("id" = i64, Path, description = "the report's number"), ("decision" = String, Path, description = "ack, ask, confirm, duplicate, close, fixed or pay")), security(("session" = [])), request_body(content_type = "application/x-www-form-urlencoded", description = "the decision's fields (`message`; `severity`, `impact`; `of`; `reason`, `evidence`; `amount_usd`, `tx`); with the page's `csrf` value"), responses((status = 303, description = "done: back to the report's page"), (status = 403, description = "not a triager (pay: not an admin), or the CSRF value is missing or wrong"), (status = 404, description = "no such report"), (status = 409, description = "refused in the report's status"), (status = 422, description = "a field is missing or wrong")))]
pub(super) async fn decide_form(
    State(state): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    form: SignedForm<Triager>,
) -> Response {
    if name == "pay" && !form.holder.role.allows(Role::Admin) {
        return forbidden_page(Role::Admin, &form.holder);
    }
    let Ok(id) = id.parse::<i64>() else {
        return error(StatusCode::NOT_FOUND, "report", "no such report");
    };
    let body = match body_of(&form.fields) {
        Ok(b) => b,
        Err((field, message)) => return error(StatusCode::UNPROCESSABLE_ENTITY, field, &message),
    };
    let decision = match decision(&name, body) {
        Ok(d) => d,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, "decision", &e),
    };
    match decide_as(&state, form.holder.name.clone(), id, decision).await {
        Ok(_) => Redirect::to(&format!("/bounty/queue/{id}")).into_response(),
        Err(answer) => answer,
    }
}

/// The form's fields as the body of a decision: blank fields left out (so a missing one is
/// named), the numbers read as numbers. `Err` names the field that is wrong.
fn body_of(fields: &[(String, String)]) -> Result<DecisionBody, (&'static str, String)> {
    let mut body = serde_json::Map::new();
    for (name, value) in fields {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let value = match name.as_str() {
            "of" => value
                .parse::<i64>()
                .map(serde_json::Value::from)
                .map_err(|_| ("of", "`of` must be the earlier report's number".to_string()))?,
            "amount_usd" => value
                .parse::<u64>()
                .map(serde_json::Value::from)
                .map_err(|_| {
                    (
                        "amount_usd",
                        "`amount_usd` must be a whole number of US dollars".to_string(),
                    )
                })?,
            _ => serde_json::Value::from(value),
        };
        body.insert(name.clone(), value);
    }
    serde_json::from_value(serde_json::Value::Object(body)).map_err(|e| ("form", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_become_a_decision_with_numbers_read_and_blanks_named_as_missing() {
        let fields = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let body = body_of(&fields(&[("of", " 3 ")])).expect("body");
        assert_eq!(
            decision("duplicate", body).expect("decision"),
            Decision::Duplicate { of: 3 }
        );
        let body = body_of(&fields(&[("message", "  ")])).expect("body");
        assert_eq!(
            decision("ask", body).expect_err("blank"),
            "`message` is required"
        );
        assert_eq!(
            body_of(&fields(&[("amount_usd", "ten")]))
                .err()
                .map(|e| e.0),
            Some("amount_usd")
        );
        assert_eq!(
            body_of(&fields(&[("bogus", "x")])).err().map(|e| e.0),
            Some("form")
        );
    }
}
