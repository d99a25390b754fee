//! The post-mortem as one self-contained HTML file: inline CSS (readable printed), the timeline
//! as an inline SVG chart, no script and no external asset. Every text from the records goes
//! through [`escape`].

use std::fmt::Write as _;

use super::{
    FUNDS_COLUMNS, FUNDS_MEANING, MOVEMENT_COLUMNS, Report, attacker_line, markdown::show_span,
    movement_cells, movements_source,
};

/// Text made safe inside HTML content and quoted attribute values.
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

const CSS: &str = "
body{font:14px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1a1a1a;max-width:1000px;margin:2em auto;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}code{font-family:Menlo,Consolas,monospace;font-size:.9em;word-break:break-all}
.muted{color:#666}.altered{color:#b71c1c;font-weight:bold}.ok{color:#2e7d32}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:bold}dd{margin:0}
svg{width:100%;height:auto;border:1px solid #eee}
@media print{body{margin:0;max-width:none;font-size:10pt}h2{page-break-after:avoid}tr,svg{page-break-inside:avoid}th{background:#eee;-webkit-print-color-adjust:exact;print-color-adjust:exact}svg{border:none}}
";

/// The report as one self-contained HTML document.
pub fn to_html(r: &Report) -> String {
    let mut o = String::new();
    let e = |s: &str| escape(s);
    let opt = |s: &Option<String>, none: &str| s.as_deref().map(escape).unwrap_or(none.into());
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Post-mortem: incident {} — {}</title><style>{CSS}</style></head><body>\n",
        r.incident,
        e(&r.title)
    );
    let _ = write!(
        o,
        "<h1>Post-mortem: incident {} — {}</h1>\n<p class=\"muted\">generated {}</p>\n",
        r.incident,
        e(&r.title),
        r.generated_at
    );
    if let Some(notice) = super::draft_notice(r) {
        let _ = writeln!(
            o,
            "<p class=\"altered\"><strong>{}</strong></p>",
            e(&notice)
        );
    }
    let integrity = match &r.integrity {
        super::Integrity::Intact { entries } => {
            format!("<span class=\"ok\">{entries} entries, intact</span>")
        }
        super::Integrity::Altered { entry, problem } => format!(
            "<span class=\"altered\">ALTERED at entry {entry}: {}</span>",
            e(problem)
        ),
    };
    let _ = writeln!(
        o,
        "<h2>Summary</h2><dl><dt>Level</dt><dd>{} ({})</dd><dt>Status</dt><dd>{}</dd>\
         <dt>Commander</dt><dd>{}</dd><dt>Opened</dt><dd>{} by {}</dd><dt>Timeline</dt><dd>{integrity}</dd></dl>",
        r.level,
        r.level_name,
        e(&r.status),
        opt(&r.commander, "not named"),
        r.opened_at,
        e(&r.opened_by)
    );

    o.push_str("<h2>Level and its changes</h2><ul>");
    for l in &r.levels {
        let _ = match l.from {
            None => write!(
                o,
                "<li>{} — opened at level {} by {}</li>",
                l.at,
                l.to,
                e(&l.actor)
            ),
            Some(f) => write!(
                o,
                "<li>{} — level {f} → {} by {}</li>",
                l.at,
                l.to,
                e(&l.actor)
            ),
        };
    }
    let _ = write!(
        o,
        "</ul>\n<h2>Response times</h2><p>{}</p><table><tr><th>measure</th><th>from</th><th>to</th><th>duration</th></tr>",
        e(super::markdown::CLOCKS)
    );
    for (name, s) in r.durations.named() {
        let (from, to) = s
            .as_ref()
            .map(|s| (e(&s.from), e(&s.to)))
            .unwrap_or_else(|| ("-".into(), "-".into()));
        let _ = write!(
            o,
            "<tr><td>{name}</td><td>{from}</td><td>{to}</td><td>{}</td></tr>",
            e(&show_span(s))
        );
    }
    o.push_str("</table>\n<h2>Timeline chart</h2>\n");
    o.push_str(&super::chart::chart(&r.timeline));

    if !r.alerts.is_empty() {
        o.push_str("<h2>Alerts</h2><table><tr><th>id</th><th>rule</th><th>severity</th><th>chain</th><th>contract</th><th>block</th><th>detected</th><th>summary</th></tr>");
        for a in &r.alerts {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                a.id,
                e(&a.rule),
                e(&a.severity),
                e(&a.chain),
                opt(&a.contract, "-"),
                a.block,
                a.detected_at,
                e(&a.summary)
            );
        }
        o.push_str("</table>\n");
    }

    o.push_str("<h2>Affected contracts</h2>");
    if r.contracts.is_empty() {
        o.push_str("<p>The chain could not be read when the report was generated.</p>");
    } else {
        o.push_str("<table><tr><th>contract</th><th>chain</th><th>address</th><th>state</th><th>paused</th></tr>");
        for c in &r.contracts {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                e(&c.name),
                e(&c.chain),
                c.address,
                c.state,
                match c.paused {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "?",
                }
            );
        }
        o.push_str("</table>");
    }
    let _ = writeln!(
        o,
        "<p>Affected users: {}</p>",
        match r.affected_addresses {
            Some(n) => format!("{n} addresses exported"),
            None => format!(
                "not exported yet (<code>guardian incident affected {} --csv</code>)",
                r.incident
            ),
        }
    );

    let _ = write!(
        o,
        "<h2>Funds</h2><p class=\"muted\">{}</p>",
        e(FUNDS_MEANING)
    );
    if r.funds.is_empty() {
        o.push_str("<p>No fund-holding contract was in scope, or no snapshot was recorded.</p>");
    } else {
        o.push_str("<table><tr>");
        for c in FUNDS_COLUMNS {
            let _ = write!(o, "<th>{c}</th>");
        }
        o.push_str("</tr>");
        for f in r.funds.iter().chain(&r.funds_total) {
            o.push_str("<tr>");
            for (i, c) in f.cells().iter().enumerate() {
                if i == 0 && f.contract.is_none() {
                    o.push_str("<td><b>total</b></td>");
                } else {
                    let _ = write!(o, "<td>{}</td>", e(c));
                }
            }
            o.push_str("</tr>");
        }
        o.push_str("</table>\n<ul class=\"muted\">");
        for b in &r.funds_basis {
            let _ = write!(o, "<li>{}</li>", e(b));
        }
        o.push_str("</ul>\n");
    }

    o.push_str("<h2>Funds movements and the attacker's addresses</h2>");
    match &r.movements {
        None => {
            let _ = write!(
                o,
                "<p>Not read yet (<code>guardian incident movements {}</code>; closing the incident reads them).</p>",
                r.incident
            );
        }
        Some(m) => {
            let _ = write!(o, "<p class=\"muted\">{}</p>", e(&movements_source(m)));
            if !m.movements.is_empty() {
                o.push_str("<table><tr>");
                for c in MOVEMENT_COLUMNS {
                    let _ = write!(o, "<th>{c}</th>");
                }
                o.push_str("</tr>");
                for mv in &m.movements {
                    o.push_str("<tr>");
                    for c in movement_cells(mv) {
                        let _ = write!(o, "<td>{}</td>", e(&c));
                    }
                    o.push_str("</tr>");
                }
                o.push_str("</table>");
            }
            o.push_str("<ul>");
            for a in &m.attackers {
                let _ = write!(o, "<li>{}</li>", e(&attacker_line(a)));
            }
            o.push_str("</ul>\n");
        }
    }

    o.push_str("<h2>Root cause</h2>");
    match &r.root_cause.evidence {
        Some(ev) => {
            let _ = write!(
                o,
                "<p>{} <span class=\"muted\">(attested by {})</span></p>",
                e(ev),
                opt(&r.root_cause.by, "?")
            );
        }
        None => {
            let _ = write!(
                o,
                "<p>Not documented yet (<code>guardian incident check {} root-cause-documented --evidence TEXT|URL</code>).</p>",
                r.incident
            );
        }
    }
    if !r.root_cause.notes.is_empty() {
        o.push_str("<p>Notes:</p><ul>");
        for n in &r.root_cause.notes {
            let _ = write!(o, "<li>{} — {}: {}</li>", n.at, e(&n.actor), e(&n.text));
        }
        o.push_str("</ul>");
    }

    for (title, numbered, items) in r.review.sections() {
        let _ = write!(o, "\n<h2>{title}</h2>");
        if items.is_empty() {
            let _ = write!(
                o,
                "<p class=\"muted\">Nothing recorded (<code>guardian incident review {} {} TEXT</code>).</p>",
                r.incident,
                super::markdown::review_flag(title)
            );
            continue;
        }
        let tag = if numbered { "ol" } else { "ul" };
        let _ = write!(o, "<{tag}>");
        for item in &items {
            let _ = write!(o, "<li>{}</li>", e(item));
        }
        let _ = write!(o, "</{tag}>");
    }

    if !r.credits.is_empty() {
        o.push_str("\n<h2>Credits</h2><ul>");
        for c in &r.credits {
            let who = c
                .researcher
                .as_deref()
                .map(e)
                .unwrap_or_else(|| "a researcher who asked not to be named".into());
            let _ = write!(
                o,
                "<li>Found by {who}, through the bug bounty program: {} ({}), {}.</li>",
                e(&c.published_name()),
                e(&c.severity),
                e(&c.title)
            );
        }
        o.push_str("</ul>");
    }

    o.push_str("\n<h2>The fix</h2>");
    if r.fixes.is_empty() {
        o.push_str("<p>No upgrade was recorded under this incident.</p>");
    }
    for f in &r.fixes {
        let _ = write!(
            o,
            "<p>Upgrade (action {}) of {} to <code>{}</code>: {:?} — {}</p><ul>",
            f.action_id,
            opt(&f.contract, "?"),
            opt(&f.implementation, "?"),
            f.status,
            opt(&f.summary, "")
        );
        for t in &f.transactions {
            let _ = write!(
                o,
                "<li>{} on {}: <code>{}</code> block {} ({:?})</li>",
                e(&t.label),
                e(&t.chain),
                e(&t.hash),
                t.block.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
                t.status
            );
        }
        o.push_str("</ul>");
    }
    if !r.verifications.is_empty() {
        o.push_str("<ul>");
        for v in &r.verifications {
            let _ = write!(
                o,
                "<li>Verified {} by {}: {}</li>",
                v.at,
                e(&v.actor),
                e(&v.text)
            );
        }
        o.push_str("</ul>");
    }

    o.push_str("\n<h2>Checklist</h2><ul>");
    for c in &r.checklist {
        let _ = match (&c.ticked_by, &c.evidence) {
            (Some(by), Some(ev)) => write!(o, "<li>☑ {} — {}: {}</li>", e(&c.title), e(by), e(ev)),
            _ => write!(o, "<li>☐ {}</li>", e(&c.title)),
        };
    }
    o.push_str("</ul>\n<h2>Action items</h2><table><tr><th>task</th><th>what</th><th>owner</th><th>due</th><th>state</th></tr>");
    for a in &r.action_items {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&a.task),
            e(&a.title),
            opt(&a.owner, "unassigned"),
            opt(&a.due, "-"),
            match &a.done_at {
                Some(at) => format!("done {at}"),
                None => "open".into(),
            }
        );
    }
    o.push_str("</table>\n<h2>Timeline (UTC)</h2><table><tr><th>time</th><th>actor</th><th>kind</th><th>what</th></tr>");
    for l in &r.timeline {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            l.at,
            e(&l.actor),
            e(&l.kind),
            e(&l.text)
        );
    }
    o.push_str("</table>\n</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::{escape, to_html};
    use crate::incident::report::figures::tests::{fixture, report};

    #[test]
    fn escape_neutralises_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("plain 1.5 ETH → ok"), "plain 1.5 ETH → ok");
    }

    #[test]
    fn the_html_escapes_record_text_and_is_self_contained() {
        let mut f = fixture();
        f.incident.title = "drain <img src=x onerror=alert(1)>".into();
        let html = to_html(&report(&f, None));
        // The note's and the title's markup are shown as text, never run.
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; in release()"));
        // One file: no script, no external asset, the chart inline.
        // (Record text may say `src=`, but its quotes are escaped: no attribute can form.)
        assert!(!html.contains("src=\""));
        assert!(!html.contains("href=\""));
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(html.contains("<svg"));
        assert!(html.contains("@media print"));
        // Each response lane is drawn; the pause's offset is labelled.
        for lane in ["alerts", "pause", "withdrawals", "upgrade / fix", "unpause"] {
            assert!(html.contains(&format!(">{lane}</text>")), "lane {lane}");
        }
    }

    #[test]
    fn the_charts_offset_labels_stay_inside_it() {
        let html = to_html(&report(&fixture(), None));
        let labels: Vec<&str> = html.split("<text x=\"").skip(1).collect();
        let mut seen = 0;
        for l in labels {
            let Some((x, rest)) = l.split_once('"') else {
                continue;
            };
            let Some(text) = rest.split('>').nth(1).and_then(|t| t.split('<').next()) else {
                continue;
            };
            if !text.starts_with('+') {
                continue;
            }
            seen += 1;
            let x: f64 = x.parse().expect("x");
            // About 6 px a character at font-size 10.
            let width = 6.0 * text.chars().count() as f64;
            if rest.contains("text-anchor=\"end\"") {
                assert!(x - width >= 0.0, "{text} cut at the left: x {x}");
            } else {
                assert!(
                    x + width <= 960.0,
                    "{text} cut at the right: x {x}, width {width}"
                );
            }
        }
        assert!(seen > 0, "the offsets are labelled");
    }
}
