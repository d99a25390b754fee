//! The post-mortem as Markdown. Text from the records (titles, notes, evidence) is operator and
//! researcher input: it is escaped so that it can neither inject HTML (many Markdown renderers
//! pass raw HTML through) nor break a table.

use super::{
    FUNDS_COLUMNS, FUNDS_MEANING, MOVEMENT_COLUMNS, Report, Span, attacker_line, movement_cells,
    movements_source, show_ms,
};

/// Record text made safe inside Markdown, tables included: HTML metacharacters become entities,
/// `|` is escaped, line breaks become spaces.
pub(super) fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("\\|"),
            '\r' => {}
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// How the response times are measured, in one line.
pub const CLOCKS: &str = "Blocks count the chain's blocks between both ends; a time uses one clock, guardian's (local time) or the chain's (block timestamps), and a span from the chain to guardian's records is given in blocks only.";

/// A span for people: `3 blocks, 2.1 s (2100 ms)`.
pub fn show_span(s: &Option<Span>) -> String {
    let Some(s) = s else {
        return "not recorded".into();
    };
    let mut parts = Vec::new();
    if let Some(b) = s.blocks {
        parts.push(format!(
            "{b} block{} ({} {} → {})",
            if b == 1 { "" } else { "s" },
            s.chain.as_deref().unwrap_or("?"),
            s.from_block.unwrap_or_default(),
            s.to_block.unwrap_or_default()
        ));
    }
    if let Some(ms) = s.ms {
        parts.push(format!(
            "{} by {}",
            show_ms(ms),
            s.clock.as_deref().unwrap_or("one clock")
        ));
    }
    if parts.is_empty() {
        parts.push("not measurable from the records".into());
    }
    parts.join(", ")
}

/// The report as Markdown.
pub fn to_markdown(r: &Report) -> String {
    let mut o = String::new();
    let mut line = |s: String| {
        o.push_str(&s);
        o.push('\n');
    };
    line(format!(
        "# Post-mortem: incident {} — {}\n",
        r.incident,
        md(&r.title)
    ));
    if let Some(notice) = super::draft_notice(r) {
        line(format!("> **{notice}**\n"));
    }
    line("## Summary\n".into());
    line(format!("- Level: {} ({})", r.level, r.level_name));
    line(format!("- Status: {}", r.status));
    line(format!(
        "- Commander: {}",
        r.commander
            .as_deref()
            .map(md)
            .unwrap_or_else(|| "not named".into())
    ));
    line(format!("- Opened: {} by {}", r.opened_at, md(&r.opened_by)));
    line(format!("- Report generated: {}", r.generated_at));
    line(format!(
        "- Timeline: {}\n",
        match &r.integrity {
            super::Integrity::Intact { entries } => format!("{entries} entries, intact"),
            super::Integrity::Altered { entry, problem } =>
                format!("**ALTERED** at entry {entry}: {}", md(problem)),
        }
    ));

    line("## Level and its changes\n".into());
    for l in &r.levels {
        line(match l.from {
            None => format!("- {} — opened at level {} by {}", l.at, l.to, md(&l.actor)),
            Some(f) => format!("- {} — level {f} → {} by {}", l.at, l.to, md(&l.actor)),
        });
    }
    line(String::new());

    line("## Response times\n".into());
    line(format!("{CLOCKS}\n"));
    line("| measure | from | to | duration |".into());
    line("|---|---|---|---|".into());
    for (name, s) in r.durations.named() {
        let (from, to) = s
            .as_ref()
            .map(|s| (md(&s.from), md(&s.to)))
            .unwrap_or_else(|| ("-".into(), "-".into()));
        line(format!("| {name} | {from} | {to} | {} |", show_span(s)));
    }
    line(String::new());

    if !r.alerts.is_empty() {
        line("## Alerts\n".into());
        line("| id | rule | severity | chain | contract | block | detected | summary |".into());
        line("|---|---|---|---|---|---|---|---|".into());
        for a in &r.alerts {
            line(format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                a.id,
                md(&a.rule),
                a.severity,
                md(&a.chain),
                a.contract.as_deref().map(md).unwrap_or_else(|| "-".into()),
                a.block,
                a.detected_at,
                md(&a.summary)
            ));
        }
        line(String::new());
    }

    line("## Affected contracts\n".into());
    if r.contracts.is_empty() {
        line("The chain could not be read when the report was generated.\n".into());
    } else {
        line("| contract | chain | address | state | paused |".into());
        line("|---|---|---|---|---|".into());
        for c in &r.contracts {
            line(format!(
                "| {} | {} | `{}` | {} | {} |",
                md(&c.name),
                md(&c.chain),
                c.address,
                c.state,
                match c.paused {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "?",
                }
            ));
        }
        line(String::new());
    }
    line(format!(
        "Affected users: {}\n",
        match r.affected_addresses {
            Some(n) => format!(
                "{n} addresses exported (guardian incident affected {})",
                r.incident
            ),
            None => format!(
                "not exported yet (guardian incident affected {} --csv)",
                r.incident
            ),
        }
    ));

    line("## Funds\n".into());
    line(format!("{FUNDS_MEANING}\n"));
    if r.funds.is_empty() {
        line("No fund-holding contract was in scope, or no snapshot was recorded.\n".into());
    } else {
        line(format!("| {} |", FUNDS_COLUMNS.join(" | ")));
        line(format!("|{}", "---|".repeat(FUNDS_COLUMNS.len())));
        for f in r.funds.iter().chain(&r.funds_total) {
            let mut cells = f.cells().map(|c| md(&c));
            if f.contract.is_none() {
                cells[0] = "**total**".into();
            }
            line(format!("| {} |", cells.join(" | ")));
        }
        line(String::new());
        for b in &r.funds_basis {
            line(format!("- {}", md(b)));
        }
        line(String::new());
    }

    line("## Funds movements and the attacker's addresses\n".into());
    match &r.movements {
        None => line(format!(
            "Not read yet (guardian incident movements {}; closing the incident reads them).\n",
            r.incident
        )),
        Some(m) => {
            line(format!("{}\n", md(&movements_source(m))));
            if !m.movements.is_empty() {
                line(format!("| {} |", MOVEMENT_COLUMNS.join(" | ")));
                line(format!("|{}", "---|".repeat(MOVEMENT_COLUMNS.len())));
                for mv in &m.movements {
                    line(format!(
                        "| {} |",
                        movement_cells(mv).map(|c| md(&c)).join(" | ")
                    ));
                }
                line(String::new());
            }
            for a in &m.attackers {
                line(format!("- {}", md(&attacker_line(a))));
            }
            line(String::new());
        }
    }

    line("## Root cause\n".into());
    match (&r.root_cause.evidence, &r.root_cause.by) {
        (Some(e), by) => line(format!(
            "{} (attested by {})\n",
            md(e),
            by.as_deref().map(md).unwrap_or_else(|| "?".into())
        )),
        _ => line(format!(
            "Not documented yet (guardian incident check {} root-cause-documented --evidence TEXT|URL).\n",
            r.incident
        )),
    }
    if !r.root_cause.notes.is_empty() {
        line("Notes:\n".into());
        for n in &r.root_cause.notes {
            line(format!("- {} — {}: {}", n.at, md(&n.actor), md(&n.text)));
        }
        line(String::new());
    }

    for (title, numbered, items) in r.review.sections() {
        line(format!("## {title}\n"));
        if items.is_empty() {
            line(format!(
                "Nothing recorded (guardian incident review {} {} TEXT).\n",
                r.incident,
                review_flag(title)
            ));
            continue;
        }
        for (n, item) in items.iter().enumerate() {
            match numbered {
                true => line(format!("{}. {}", n + 1, md(item))),
                false => line(format!("- {}", md(item))),
            }
        }
        line(String::new());
    }

    if !r.credits.is_empty() {
        line("## Credits\n".into());
        for c in &r.credits {
            let who = c
                .researcher
                .as_deref()
                .map(md)
                .unwrap_or_else(|| "a researcher who asked not to be named".into());
            line(format!(
                "- Found by {who}, through the bug bounty program: {} ({}), {}.",
                md(&c.published_name()),
                md(&c.severity),
                md(&c.title)
            ));
        }
        line(String::new());
    }

    line("## The fix\n".into());
    if r.fixes.is_empty() {
        line("No upgrade was recorded under this incident.".into());
    }
    for f in &r.fixes {
        line(format!(
            "- Upgrade (action {}) of {} to {}: {:?} — {}",
            f.action_id,
            f.contract.as_deref().map(md).unwrap_or_else(|| "?".into()),
            f.implementation
                .as_deref()
                .map(md)
                .unwrap_or_else(|| "?".into()),
            f.status,
            f.summary.as_deref().map(md).unwrap_or_default()
        ));
        for t in &f.transactions {
            line(format!(
                "  - {} on {}: `{}` block {} ({:?})",
                md(&t.label),
                md(&t.chain),
                t.hash,
                t.block.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
                t.status
            ));
        }
    }
    for v in &r.verifications {
        line(format!(
            "- Verified {} by {}: {}",
            v.at,
            md(&v.actor),
            md(&v.text)
        ));
    }
    line(String::new());

    line("## Checklist\n".into());
    for c in &r.checklist {
        line(match (&c.ticked_by, &c.evidence) {
            (Some(by), Some(ev)) => format!("- [x] {} — {}: {}", c.title, md(by), md(ev)),
            _ => format!("- [ ] {}", c.title),
        });
    }
    line(String::new());

    line("## Action items\n".into());
    line("| task | what | owner | due | state |".into());
    line("|---|---|---|---|---|".into());
    for a in &r.action_items {
        line(format!(
            "| {} | {} | {} | {} | {} |",
            a.task,
            md(&a.title),
            a.owner
                .as_deref()
                .map(md)
                .unwrap_or_else(|| "unassigned".into()),
            a.due.as_deref().map(md).unwrap_or_else(|| "-".into()),
            match &a.done_at {
                Some(at) => format!("done {at}"),
                None => "open".into(),
            }
        ));
    }
    line(String::new());

    line("## Timeline (UTC)\n".into());
    line("| time | actor | kind | what |".into());
    line("|---|---|---|---|".into());
    for l in &r.timeline {
        line(format!(
            "| {} | {} | {} | {} |",
            l.at,
            md(&l.actor),
            md(&l.kind),
            md(&l.text)
        ));
    }
    o
}

/// The `incident review` flag that adds to the section titled `title`.
pub(super) fn review_flag(title: &str) -> &'static str {
    match title {
        "Why it happened" => "why",
        "What went well" => "went-well",
        "What went wrong" => "went-wrong",
        "Where we were lucky" => "lucky",
        _ => "action",
    }
}

#[cfg(test)]
mod tests {
    use super::{md, to_markdown};
    use crate::incident::report::figures::tests::{fixture, report};

    #[test]
    fn record_text_cannot_inject_html_or_break_a_table() {
        assert_eq!(md("a|b\n<b>&"), "a\\|b &lt;b&gt;&amp;");
        let text = to_markdown(&report(&fixture(), None));
        assert!(!text.contains("<script"), "{text}");
        assert!(text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        // The figures a reader looks for.
        assert!(text.contains("| time to pause | alert 7 detected |"));
        assert!(text.contains("1 block (local 100 → 101), 1.0 s (1000 ms)"));
        assert!(
            text.contains(
                "| **total** | local | ETH | 10.0 ETH | 10.0 ETH | 3.0 ETH | 3.0 ETH | 2.0 ETH | 3.0 ETH |"
            ),
            "{text}"
        );
    }
}
