//! An incident's war room as a page: its contracts and what its pauses changed, its tasks and
//! checklist, the Safe proposals waiting for signatures, its timeline (new entries arrive
//! live), and the controls of the person's role: a responder notes and pauses (the affected
//! contracts or everything: a reason and a confirmation; pausing is the safe direction).

use std::fmt::Write as _;

use super::{
    escape,
    pages::{ago, utc},
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
    b.push_str("<h2>Contracts</h2><table><tr><th>Contract</th><th>Affected</th><th>Paused by this incident</th></tr>");
    let mut names: Vec<&String> = i.contracts.iter().collect();
    for p in &room.paused {
        if !names.contains(&p) {
            names.push(p);
        }
    }
    for n in names {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(n),
            if i.contracts.contains(n) { "yes" } else { "-" },
            if room.paused.contains(n) {
                "paused"
            } else {
                "-"
            }
        );
    }
    b.push_str("</table>");
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
        let state = match (&t.done_by, acts) {
            (Some(d), _) => format!("(done by {})", escape(d)),
            (None, true) => format!(
                "<form method=\"post\" action=\"/incidents/{}/task\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"task\" value=\"{}\"><button type=\"submit\" aria-label=\"Mark done: {}\">Mark done</button></form>",
                i.id,
                escape(csrf),
                escape(&t.id),
                escape(&t.title)
            ),
            (None, false) => "(open)".into(),
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
    if holder.role.allows(Role::Admin) && i.status.active() {
        for (what, label) in [
            ("resolve", "Resolve (the harm is over)"),
            ("close", "Close (its checklist complete)"),
        ] {
            let _ = write!(
                b,
                "<form method=\"post\" action=\"/incidents/{id}/{what}\" id=\"{what}-form\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><label for=\"{what}-confirm\">{label}: type the incident's number, {id}, to confirm</label><input type=\"text\" id=\"{what}-confirm\" name=\"confirm\" inputmode=\"numeric\" required><button type=\"submit\">{}</button></form>",
                if what == "resolve" {
                    "Resolve"
                } else {
                    "Close"
                },
                id = i.id,
                csrf = escape(csrf)
            );
        }
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
