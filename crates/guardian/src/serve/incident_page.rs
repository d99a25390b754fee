//! An incident's war room as a page: its contracts and what its pauses changed, its tasks and
//! checklist, the Safe proposals waiting for signatures, its timeline (new entries arrive
//! live), and the controls of the person's role: a responder notes and pauses (the affected
//! contracts or everything: a reason and a confirmation; pausing is the safe direction).

use std::fmt::Write as _;

use super::{
    escape,
    pages::{ago, short_address, utc},
    warroom::Room,
};
use crate::bounty::tokens::{Role, TokenHolder};

/// The page's body.
pub(super) fn render(room: &Room, holder: &TokenHolder, csrf: &str) -> String {
    let i = &room.incident;
    let now = crate::storage::now_ms();
    let mut b = format!(
        "<h1>Incident {} · level {} · {}</h1><p>{}</p><p>Opened by {} {} ({} UTC){}</p>",
        i.id,
        i.level,
        i.status,
        escape(&i.title),
        escape(&i.opened_by),
        ago(i.opened_at, now),
        utc(i.opened_at),
        i.commander
            .as_deref()
            .map(|c| format!(" · commander {}", escape(c)))
            .unwrap_or_default()
    );
    contracts_table(&mut b, room);
    funds_table(&mut b, room);
    let _ = write!(
        b,
        "<p><a href=\"/incidents/{0}/affected\">Affected addresses</a> (read from the chain when opened) · <a href=\"/incidents/{0}/report\">Report</a> (the post-mortem as it stands)</p>",
        i.id
    );
    if let Some(last) = room.timeline.iter().rev().find(|e| e.kind == "pause") {
        let _ = write!(
            b,
            "<p id=\"last-pause\">A pause was sent by {} {} ({} UTC): {}.</p>",
            escape(&last.actor),
            ago(last.at, now),
            utc(last.at),
            escape(
                last.details["summary"]
                    .as_str()
                    .unwrap_or("see the timeline")
            )
        );
    }
    if holder.role.allows(Role::Responder) && i.status.active() {
        let _ = write!(
            b,
            "<section class=\"danger\" aria-labelledby=\"pause-h\"><h2 id=\"pause-h\">Pause</h2><form method=\"post\" action=\"/incidents/{id}/pause\" id=\"pause-form\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><fieldset><legend>What to pause</legend><label><input type=\"radio\" name=\"scope\" value=\"affected\" checked> the affected contracts</label><label><input type=\"radio\" name=\"scope\" value=\"all\"> everything, on every chain</label></fieldset><label for=\"pause-reason\">Reason (recorded with your name)</label><input type=\"text\" id=\"pause-reason\" name=\"reason\" required><label><input type=\"checkbox\" name=\"confirm\" value=\"yes\" required> I confirm: pause now</label><button type=\"submit\" id=\"pause-button\">Pause</button></form></section>",
            id = i.id,
            csrf = escape(csrf)
        );
        if i.level < 3 {
            let levels: String = (i.level + 1..=3)
                .map(|l| format!("<option value=\"{l}\">level {l}</option>"))
                .collect();
            let _ = write!(
                b,
                "<form method=\"post\" action=\"/incidents/{id}/escalate\" id=\"escalate-form\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><label for=\"level\">Escalate (the level's playbook runs at once: level 2 pauses the affected contracts, level 3 everything)</label><select id=\"level\" name=\"level\">{levels}</select><button type=\"submit\">Escalate</button></form>",
                id = i.id,
                csrf = escape(csrf)
            );
        }
        let _ = write!(
            b,
            "<form method=\"post\" action=\"/incidents/{id}/note\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><label for=\"note\">Add a note</label><input type=\"text\" id=\"note\" name=\"text\" required><button type=\"submit\">Add note</button></form>",
            id = i.id,
            csrf = escape(csrf)
        );
    }
    b.push_str("<h2>Safe proposals waiting</h2>");
    if room.proposals.is_empty() {
        b.push_str("<p>None.</p>");
    } else {
        b.push_str(
            "<table><tr><th>Proposal</th><th>Chain</th><th>What</th><th>Confirmations</th></tr>",
        );
        for p in &room.proposals {
            let who: Vec<String> = p
                .confirmations
                .iter()
                .map(|c| format!("{} ({})", c.owner, escape(&c.via)))
                .collect();
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td data-proposal=\"{}\">{}: {}</td></tr>",
                p.proposal.id,
                escape(&p.proposal.chain),
                escape(&p.proposal.title),
                p.proposal.id,
                p.confirmations.len(),
                who.join(", ")
            );
        }
        b.push_str("</table>");
    }
    let acts = holder.role.allows(Role::Responder) && i.status.active();
    b.push_str("<h2>Tasks</h2><ul>");
    for t in &i.tasks {
        let owner = t.owner.as_deref().map_or_else(
            || "no owner".to_string(),
            |o| format!("owner {}", escape(o)),
        );
        let state = match (&t.done_by, acts) {
            (Some(d), _) => format!("(done by {})", escape(d)),
            (None, true) => {
                let take = if t.owner.as_deref() == Some(holder.name.as_str()) {
                    String::new()
                } else {
                    format!(
                        " <button type=\"submit\" name=\"take\" value=\"yes\" aria-label=\"Take on: {}\">Take it</button>",
                        escape(&t.title)
                    )
                };
                format!(
                    "({owner}) <form method=\"post\" action=\"/incidents/{}/task\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"task\" value=\"{}\"><button type=\"submit\" aria-label=\"Mark done: {}\">Mark done</button>{take}</form>",
                    i.id,
                    escape(csrf),
                    escape(&t.id),
                    escape(&t.title)
                )
            }
            (None, false) => format!("(open, {owner})"),
        };
        let _ = write!(
            b,
            "<li data-task=\"{}\">{} {state}</li>",
            escape(&t.id),
            escape(&t.title)
        );
    }
    b.push_str("</ul><h2>Checklist</h2><ul>");
    for c in &i.checklist {
        let _ = write!(
            b,
            "<li>{}: {}</li>",
            escape(&c.title),
            match (&c.ticked_by, &c.evidence) {
                (Some(by), e) => format!(
                    "ticked by {}{}",
                    escape(by),
                    e.as_deref()
                        .map(|e| format!(" — {}", escape(e)))
                        .unwrap_or_default()
                ),
                (None, _) => "open".into(),
            }
        );
    }
    b.push_str("</ul>");
    if i.status.active() {
        typed_forms(&mut b, i.id, holder.role, csrf);
    }
    let _ = write!(
        b,
        "<h2>Timeline</h2><div class=\"wide\"><table><thead><tr><th>When (UTC)</th><th>Who</th><th>What</th><th>Details</th></tr></thead><tbody id=\"timeline-body\" data-incident=\"{}\">",
        i.id
    );
    for e in room.timeline.iter().rev() {
        let _ = write!(
            b,
            "<tr data-entry=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            e.id,
            utc(e.at),
            escape(&e.actor),
            escape(&e.kind),
            escape(&e.details.to_string())
        );
    }
    b.push_str("</tbody></table></div>");
    b
}

/// The war-room table: each contract in the incident's scope and where it stands.
fn contracts_table(b: &mut String, room: &Room) {
    b.push_str("<h2>Contracts</h2><div class=\"wide\"><table><tr><th>Contract</th><th>Chain</th><th>Address</th><th>Stands</th><th>Paused</th><th>Funds rescued</th><th>Fixed</th><th>Resumed</th></tr>");
    let yes = |v: bool| if v { "yes" } else { "-" };
    for c in &room.contracts {
        let s = &c.state;
        let paused = match (s.paused, c.read_at) {
            (Some(p), Some(block)) => format!("{} (block {block})", if p { "yes" } else { "no" }),
            (Some(true), None) => "sent by this incident, not read since".into(),
            (_, _) => "not read yet".into(),
        };
        let _ = write!(
            b,
            "<tr data-contract=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"state\">{}</td><td>{paused}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&s.name),
            escape(&s.name),
            escape(&s.chain),
            short_address(&s.address),
            s.state,
            yes(s.rescued),
            yes(s.fixed),
            yes(s.resumed)
        );
    }
    b.push_str("</table></div>");
}

/// The funds at risk, lost, rescued, returned and still short: the report's figures.
fn funds_table(b: &mut String, room: &Room) {
    use crate::incident::report::{FUNDS_COLUMNS, FUNDS_MEANING};
    b.push_str("<h2>Funds</h2>");
    let f = &room.funds;
    if f.rows.is_empty() {
        b.push_str("<p>No snapshot recorded (the incident names no fund-holding contract).</p>");
        return;
    }
    b.push_str("<div class=\"wide\"><table><tr>");
    for c in FUNDS_COLUMNS {
        let _ = write!(b, "<th>{c}</th>");
    }
    b.push_str("</tr>");
    for row in f.rows.iter().chain(&f.totals) {
        b.push_str("<tr>");
        for c in row.cells() {
            let _ = write!(b, "<td>{}</td>", escape(&c));
        }
        b.push_str("</tr>");
    }
    let _ = write!(
        b,
        "</table></div><p class=\"muted\">{}</p><ul class=\"muted\">",
        escape(FUNDS_MEANING)
    );
    for line in &f.basis {
        let _ = write!(b, "<li>{}</li>", escape(line));
    }
    b.push_str("</ul>");
}

/// The changes confirmed by typing the incident's number again, those `role` allows: propose
/// the rescue (responder), resume, resolve, close (admin).
fn typed_forms(b: &mut String, id: i64, role: Role, csrf: &str) {
    let forms = [
        (
            Role::Responder,
            "rescue",
            "Propose the rescue to the Safe (each whole balance of the fund holders this incident paused, to the first safe recipient; nothing moves until the owners sign)",
            "Propose rescue",
        ),
        (
            Role::Admin,
            "unpause",
            "Resume what this incident paused (after the fix is verified and no escrow is short; proposed to the Safe where it holds the role)",
            "Resume",
        ),
        (
            Role::Admin,
            "resolve",
            "Resolve (the harm is over)",
            "Resolve",
        ),
        (
            Role::Admin,
            "close",
            "Close (its checklist complete)",
            "Close",
        ),
    ];
    for (needs, what, label, button) in forms {
        if !role.allows(needs) {
            continue;
        }
        let _ = write!(
            b,
            "<form method=\"post\" action=\"/incidents/{id}/{what}\" id=\"{what}-form\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><label for=\"{what}-confirm\">{label}: type the incident's number, {id}, to confirm</label><input type=\"text\" id=\"{what}-confirm\" name=\"confirm\" inputmode=\"numeric\" autocomplete=\"off\" required><button type=\"submit\">{button}</button></form>",
            csrf = escape(csrf)
        );
    }
}
