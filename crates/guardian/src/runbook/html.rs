//! The runbook as one self-contained HTML page (inline CSS, readable printed, no script and no
//! external asset), with the same sections as the Markdown. Every text goes through `escape`.

use std::fmt::Write as _;

use super::{Runbook, holdings_text, markdown::tag, paused_text, when};
use crate::{incident::report::escape, status::Severity};

const CSS: &str = "
body{font:14px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1a1a1a;max-width:1000px;margin:2em auto;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}h3{font-size:1.05em}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}code{font-family:Menlo,Consolas,monospace;font-size:.9em;word-break:break-all}
pre{background:#f6f6f6;border:1px solid #e3e3e3;padding:.4em .6em;margin:.3em 0 .6em;white-space:pre-wrap}
.muted{color:#666}.critical{color:#b71c1c;font-weight:bold}.warning{color:#ef6c00;font-weight:bold}.paused{color:#b71c1c;font-weight:bold}
li{margin:.2em 0}
@media print{body{margin:0;max-width:none;font-size:10pt}h2,h3{page-break-after:avoid}tr,pre{page-break-inside:avoid}th{background:#eee;-webkit-print-color-adjust:exact;print-color-adjust:exact}}
";

/// Escaped text with its `code` spans (between backticks) set as code.
fn inline(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in text.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", escape(part));
        } else {
            out.push_str(&escape(part));
        }
    }
    out
}

/// The runbook as one self-contained HTML document.
pub fn to_html(r: &Runbook) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Emergency runbook</title><style>{CSS}</style></head><body>\n<h1>Emergency runbook</h1>\n"
    );
    let _ = writeln!(
        o,
        "<p class=\"muted\">Made {} from <code>{}</code> and the chains as they were then. Make it again with <code>guardian runbook --format html --out RUNBOOK.html</code>.</p>",
        escape(&r.generated_at),
        escape(&r.manifest)
    );

    let _ = writeln!(o, "<h2>Findings: what would slow a response</h2>");
    if r.findings.is_empty() {
        let _ = writeln!(o, "<p>None.</p>");
    } else {
        let _ = writeln!(o, "<ul>");
        for f in &r.findings {
            let class = match f.severity {
                Severity::Critical => "critical",
                Severity::Warning => "warning",
            };
            let _ = write!(
                o,
                "<li><span class=\"{class}\">{}</span> <code>{}</code> ({}): {}<br>What to do: {}",
                tag(f.severity),
                escape(&f.subject),
                escape(f.kind),
                inline(&f.message),
                inline(&f.fix)
            );
            if let Some(c) = &f.command {
                let _ = write!(o, "<pre><code>{}</code></pre>", escape(&c.line()));
            }
            let _ = writeln!(o, "</li>");
        }
        let _ = writeln!(o, "</ul>");
    }
    if r.status_findings > 0 {
        let _ = writeln!(
            o,
            "<p><code>guardian status</code> has {} finding(s) of its own (role holders against the manifest, pause keys' funds, Safes' guards and modules): read them too.</p>",
            r.status_findings
        );
    }

    let _ = writeln!(o, "<h2>Contracts and who holds each role</h2>");
    for chain in &r.chains {
        let _ = writeln!(
            o,
            "<h3>Chain <code>{}</code> (id {})</h3>",
            escape(&chain.name),
            chain.chain_id
        );
        if let Some(e) = &chain.error {
            let _ = writeln!(
                o,
                "<p class=\"critical\">CANNOT BE READ: {}. The contracts are listed from the manifest; their state is unknown.</p>",
                escape(e)
            );
        }
        let _ = writeln!(
            o,
            "<table><tr><th>contract</th><th>kind</th><th>address</th><th>state</th><th>holds</th></tr>"
        );
        for c in &chain.contracts {
            let state = paused_text(c);
            let class = if state == "PAUSED" {
                " class=\"paused\""
            } else {
                ""
            };
            let holds = holdings_text(c);
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td{class}>{}</td><td>{}</td></tr>",
                escape(&c.name),
                c.kind,
                c.address,
                state,
                if holds.is_empty() {
                    "-".into()
                } else {
                    escape(&holds)
                }
            );
        }
        let _ = writeln!(o, "</table>");
        if chain.contracts.iter().any(|c| !c.roles.is_empty()) {
            let _ = writeln!(
                o,
                "<table><tr><th>contract</th><th>role</th><th>holders</th></tr>"
            );
        }
        for c in &chain.contracts {
            for role in &c.roles {
                let holders: Vec<String> =
                    role.holders.iter().map(|h| inline(&h.describe())).collect();
                let _ = writeln!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&c.name),
                    role.role.name(),
                    if holders.is_empty() {
                        "<strong class=\"critical\">nobody</strong>".into()
                    } else {
                        holders.join("<br>")
                    }
                );
            }
        }
        if chain.contracts.iter().any(|c| !c.roles.is_empty()) {
            let _ = writeln!(o, "</table>");
        }
        for s in &chain.safes {
            let _ = writeln!(o, "<p>{}</p>", inline(&s.describe()));
        }
    }

    let _ = writeln!(o, "<h2>What to run, level by level</h2>");
    let _ = writeln!(
        o,
        "<p>Set <code>ID</code> to the number that opening the incident prints (<code>ID=7</code>); every command after it uses <code>$ID</code>.</p>"
    );
    for level in r.levels.iter().rev() {
        let _ = writeln!(
            o,
            "<h3>Level {} ({}): {}</h3>\n<ol>",
            level.level,
            level.name,
            escape(level.when)
        );
        for s in &level.steps {
            let _ = write!(o, "<li>{}", inline(&s.text));
            if let Some(c) = &s.command {
                let _ = write!(o, "<pre><code>{}</code></pre>", escape(&c.line()));
            }
            let _ = writeln!(o, "</li>");
        }
        let _ = writeln!(o, "</ol>");
    }

    let _ = writeln!(o, "<h2>Contacts</h2>");
    if r.contacts.is_empty() {
        let _ = writeln!(o, "<p>None configured.</p>");
    } else {
        let _ = writeln!(
            o,
            "<table><tr><th>contact</th><th>channel</th><th>audiences</th><th>told from</th></tr>"
        );
        for c in &r.contacts {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&c.name),
                escape(&c.channel),
                escape(&c.audiences.join(", ")),
                escape(&c.min_severity)
            );
        }
        let _ = writeln!(o, "</table>");
    }

    let _ = writeln!(o, "<h2>Safe recipients</h2>");
    if r.safe_recipients.is_empty() {
        let _ = writeln!(
            o,
            "<p class=\"critical\">None: rescued funds have nowhere to go.</p>"
        );
    } else {
        let _ = writeln!(o, "<ul>");
        for (i, a) in r.safe_recipients.iter().enumerate() {
            let first = if i == 0 { " (used above)" } else { "" };
            let _ = writeln!(o, "<li><code>{a}</code>{first}</li>");
        }
        let _ = writeln!(o, "</ul>");
    }

    let _ = writeln!(o, "<h2>Last drill</h2>");
    match &r.drill {
        Some(d) => {
            let _ = writeln!(
                o,
                "<p>Drill {} by {}: <strong>{}</strong>, {}. {}</p>",
                d.id,
                escape(&d.actor),
                escape(&d.status),
                d.finished_at
                    .map(|t| format!("finished {}", when(t)))
                    .unwrap_or_else(|| format!("started {}, not finished", when(d.started_at))),
                escape(d.summary.as_deref().unwrap_or(""))
            );
        }
        None => {
            let _ = writeln!(
                o,
                "<p class=\"warning\">No drill recorded: run <code>guardian drill --fork</code>.</p>"
            );
        }
    }
    let _ = writeln!(o, "</body></html>");
    // The last line of defence: an endpoint's key inside a chain's error, say.
    crate::secret::redact(&o).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_become_code_and_the_rest_is_escaped() {
        assert_eq!(
            inline("key `a<b>` & more"),
            "key <code>a&lt;b&gt;</code> &amp; more"
        );
    }
}
