//! The bounty desk's HTML: the program page (`GET /bounty`) with its form, and the pages the
//! form and a report's view answer with. No JavaScript, no external asset; every text from the
//! manifest or a researcher goes through [`escape`].

use std::fmt::Write as _;

use axum::{extract::State, response::Html};

use super::{AppState, escape};
use crate::{
    bounty::{FieldError, ReportView, Severity},
    config::Manifest,
};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
code{background:#f3f3f3;padding:0 .2rem}label{display:block;margin-top:.8rem;font-weight:600}
input,select,textarea{width:100%;box-sizing:border-box;font:inherit}textarea{min-height:8rem}
.errors{border:1px solid #b00;padding:.5rem 1rem;color:#700}.token{font-family:monospace;word-break:break-all;background:#ffd}";

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n",
        escape(title)
    )
}

fn usd(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("${out}")
}

/// `GET /bounty`: the program page.
#[utoipa::path(get, path = "/bounty", tag = "bounty", responses((status = 200, description = "the program: scope, rewards, how to report", content_type = "text/html")))]
pub(super) async fn page(State(state): State<AppState>) -> Html<String> {
    Html(program(&state.manifest))
}

/// The program page for `manifest`.
pub(crate) fn program(manifest: &Manifest) -> String {
    let email = escape(manifest.bounty_security_email());
    let mut b = String::new();
    b.push_str("<h1>Bug bounty</h1>\n<p>Found a vulnerability in our contracts? Report it here for a reward. Do not test against mainnet funds, do not publish before the disclosure policy below allows it, and report through this page or by e-mail, not in public channels.</p>\n");
    b.push_str("<h2>Scope</h2>\n<table><tr><th>Contract</th><th>Chain</th><th>Chain id</th><th>Address</th></tr>\n");
    for c in &manifest.contracts {
        let chain_id = manifest
            .chains
            .get(c.chain())
            .map(|ch| ch.chain_id.to_string())
            .unwrap_or_default();
        let _ = writeln!(
            b,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            escape(c.name()),
            escape(c.chain()),
            chain_id,
            c.address.to_checksum(None)
        );
    }
    b.push_str("</table>\n<h2>Rewards</h2>\n<table><tr><th>Severity</th><th>Up to</th><th>Impacts (use the id in a report)</th></tr>\n");
    for s in Severity::ALL {
        let impacts: String = s
            .impacts()
            .map(|i| format!("<li><code>{}</code>: {}</li>", i.id, escape(i.description)))
            .collect();
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td><ul>{impacts}</ul></td></tr>",
            s.as_str(),
            usd(s.cap_usd())
        );
    }
    b.push_str("</table>\n<p>Critical and high rewards are 10&nbsp;% of the funds directly at risk, up to the tier's cap; the team confirms the severity.</p>\n");
    b.push_str("<h2>What a report must contain</h2>\n<ul><li>a one-line title;</li><li>the severity and one impact id you claim (from the table above);</li><li>the affected contracts, by the names in the scope table;</li><li>a description of the vulnerability and its impact;</li><li>a proof of concept (required for critical and high): the steps or code that reproduce it on a local fork;</li><li>how to reach you, and optionally the address (0x...) a reward should go to.</li></ul>\n");
    let _ = writeln!(
        b,
        "<h2>Disclosure policy</h2>\n<p>Keep the vulnerability confidential until it is fixed and the reward is paid, or until 90 days after we confirm it, whichever comes first; then you may publish. We acknowledge critical reports within {} hours and the others within {} hours.</p>",
        manifest.bounty.ack_hours_critical, manifest.bounty.ack_hours_other
    );
    let _ = writeln!(
        b,
        "<h2>Contact</h2>\n<p>Security e-mail: <a href=\"mailto:{email}\">{email}</a>. The API: <code>POST /bounty/reports</code> with a JSON body of the fields below; <code>GET /bounty/reports/ID</code> (the id its answer gives) with <code>Authorization: Bearer TOKEN</code> for the status.</p>"
    );
    b.push_str("<h2>Report</h2>\n<form method=\"post\" action=\"/bounty/reports\" accept-charset=\"utf-8\">\n<label for=\"title\">Title</label><input id=\"title\" name=\"title\" required maxlength=\"200\">\n<label for=\"severity\">Severity</label><select id=\"severity\" name=\"severity\">");
    for s in Severity::ALL {
        let _ = write!(b, "<option value=\"{0}\">{0}</option>", s.as_str());
    }
    // The impacts grouped by severity, in the order of the severities: the first pair (the
    // form's default) is consistent, and each impact shows the severity it must be claimed with.
    b.push_str(
        "</select>\n<label for=\"impact\">Impact (one of the chosen severity's group)</label><select id=\"impact\" name=\"impact\">",
    );
    for s in Severity::ALL {
        let _ = write!(b, "<optgroup label=\"{}\">", s.as_str());
        for i in s.impacts() {
            let _ = write!(
                b,
                "<option value=\"{0}\">{1}: {0}</option>",
                i.id,
                s.as_str()
            );
        }
        b.push_str("</optgroup>");
    }
    b.push_str("</select>\n<label for=\"contracts\">Contracts (names, comma-separated)</label><input id=\"contracts\" name=\"contracts\" required>\n<label for=\"description\">Description</label><textarea id=\"description\" name=\"description\" required></textarea>\n<label for=\"proof_of_concept\">Proof of concept (encrypted before it is stored)</label><textarea id=\"proof_of_concept\" name=\"proof_of_concept\"></textarea>\n<label for=\"contact\">Contact (e-mail or handle)</label><input id=\"contact\" name=\"contact\" required maxlength=\"200\">\n<label for=\"payout_address\">Payout address (optional)</label><input id=\"payout_address\" name=\"payout_address\" placeholder=\"0x...\">\n<label for=\"credit_as\">Credit me in the post-mortem as (optional; empty: no credit)</label><input id=\"credit_as\" name=\"credit_as\" maxlength=\"100\">\n<p><button type=\"submit\">Send the report</button></p>\n</form>\n");
    layout("Bug bounty", &b)
}

/// The answer to the form: the report's public id and follow-up token, shown this once.
pub(crate) fn submitted(public_id: &str, token: &str, title: &str) -> String {
    let id = escape(public_id);
    let body = format!(
        "<h1>Report received</h1>\n<p>{}</p>\n<p>Its id: <code class=\"report-id\">{id}</code></p>\n<p>Your follow-up token, shown only this once (we keep only its hash): copy it now.</p>\n<p class=\"token\">{}</p>\n<p>Read the status and the team's questions with <code>curl -H 'Authorization: Bearer TOKEN' /bounty/reports/{id}</code>; reply with a POST of <code>{{\"message\": \"...\"}}</code> to the same address.</p>",
        escape(title),
        escape(token)
    );
    layout("Report received", &body)
}

/// The answer to a bad form: each bad field and what is wrong with it.
pub(crate) fn errors(errors: &[FieldError]) -> String {
    let items: String = errors
        .iter()
        .map(|e| {
            format!(
                "<li><code>{}</code> {}</li>",
                escape(&e.field),
                escape(&e.message)
            )
        })
        .collect();
    layout(
        "Report not accepted",
        &format!(
            "<h1>Report not accepted</h1>\n<div class=\"errors\"><ul>{items}</ul></div>\n<p>Go back, correct these fields and send it again.</p>"
        ),
    )
}

/// A report as its researcher sees it, with the thread.
pub(crate) fn report(view: &ReportView) -> String {
    let t = &view.triage;
    let mut facts = String::new();
    if let (Some(s), Some(i)) = (&t.confirmed_severity, &t.confirmed_impact) {
        let _ = write!(
            facts,
            "<tr><th>Confirmed</th><td>{} / {}</td></tr>",
            escape(s),
            escape(i)
        );
    }
    if let (Some(r), Some(e)) = (&t.close_reason, &t.close_evidence) {
        let _ = write!(
            facts,
            "<tr><th>Closed</th><td>{}: {}</td></tr>",
            escape(r),
            escape(e)
        );
    }
    if t.duplicate_of.is_some() {
        facts.push_str("<tr><th>Duplicate of</th><td>an earlier report</td></tr>");
    }
    if let (Some(usd), Some(tx)) = (t.reward_usd, &t.paid_tx) {
        let _ = write!(
            facts,
            "<tr><th>Reward</th><td>${usd} (transaction {})</td></tr>",
            escape(tx)
        );
    }
    let d = crate::bounty::triage::disclosure(view);
    let when = d
        .may_publish_from
        .map(|at| format!("from {}: ", crate::incident::report::utc(at)))
        .unwrap_or_default();
    let _ = write!(
        facts,
        "<tr><th>You may publish</th><td>{when}{}</td></tr>",
        escape(&d.rule)
    );
    let mut b = format!(
        "<h1>Report {}: {}</h1>\n<table><tr><th>Status</th><td>{}</td></tr><tr><th>Severity (claimed)</th><td>{}</td></tr><tr><th>Impact</th><td>{}</td></tr><tr><th>Contracts</th><td>{}</td></tr><tr><th>Contact</th><td>{}</td></tr><tr><th>Payout address</th><td>{}</td></tr>{facts}</table>\n<h2>Description</h2>\n<pre>{}</pre>\n<h2>Thread</h2>\n<ul>",
        escape(&view.public_id),
        escape(&view.title),
        escape(&view.status),
        escape(&view.severity),
        escape(&view.impact),
        escape(&view.contracts.join(", ")),
        escape(&view.contact),
        escape(view.payout_address.as_deref().unwrap_or("")),
        escape(&view.description),
    );
    for e in &view.thread {
        let what = match (&e.status, &e.message) {
            (_, Some(m)) => escape(m),
            (Some(s), None) => format!("status: {}", escape(s)),
            (None, None) => String::new(),
        };
        let _ = write!(b, "<li><b>{}</b>: {what}</li>", escape(&e.author));
    }
    b.push_str("</ul>");
    layout(&format!("Report {}", view.public_id), &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `<select>` named `name` of `page`: each option's value with its optgroup's label.
    fn options(page: &str, name: &str) -> Vec<(Option<String>, String)> {
        let start = page
            .find(&format!("<select id=\"{name}\" name=\"{name}\">"))
            .expect("select");
        let end = start + page[start..].find("</select>").expect("end");
        let mut group = None;
        let mut out = Vec::new();
        for tag in page[start..end].split('<').skip(1) {
            if let Some(rest) = tag.strip_prefix("optgroup label=\"") {
                group = rest.split('"').next().map(str::to_string);
            } else if let Some(rest) = tag.strip_prefix("option value=\"") {
                let value = rest.split('"').next().expect("value").to_string();
                out.push((group.clone(), value));
            }
        }
        out
    }

    #[test]
    fn the_form_offers_each_impact_under_its_severity_and_a_consistent_default() {
        let manifest = Manifest::parse(
            r#"
[chains.local]
chain_id = 31337
rpc_urls = ["http://127.0.0.1:1"]

[[contracts]]
name = "escrow"
chain = "local"
kind = "PaymentEscrow"
address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
"#,
            std::path::Path::new("guardian.toml"),
        )
        .expect("manifest");
        let page = program(&manifest);
        let impacts = options(&page, "impact");
        assert_eq!(impacts.len(), crate::bounty::IMPACTS.len());
        for (group, id) in &impacts {
            let impact = crate::bounty::impact_by_id(id).expect("a known impact");
            assert_eq!(group.as_deref(), Some(impact.severity.as_str()), "{id}");
        }
        // What the form sends untouched (each select's first option) is accepted.
        let severity = options(&page, "severity")[0].1.clone();
        let submission = crate::bounty::Submission {
            title: "t".into(),
            severity,
            impact: impacts[0].1.clone(),
            contracts: vec!["escrow".into()],
            description: "d".into(),
            proof_of_concept: "p".into(),
            contact: "c".into(),
            ..Default::default()
        };
        assert!(crate::bounty::validate(&submission, &["escrow"]).is_ok());
    }
}
