//! The runbook as Markdown: findings first, then the contracts and their role holders, the
//! levels' commands, the contacts, the safe recipients and the last drill.

use std::fmt::Write as _;

use super::{Runbook, holdings_text, paused_text, when};
use crate::status::Severity;

/// A table cell: a `|` would end it.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The severity as a tag.
pub(super) fn tag(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::Warning => "warning",
    }
}

/// The runbook as Markdown.
pub fn to_markdown(r: &Runbook) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Emergency runbook\n");
    let _ = writeln!(
        o,
        "Made {} from `{}` and the chains as they were then. Make it again with `guardian runbook --out RUNBOOK.md`.\n",
        r.generated_at, r.manifest
    );

    let _ = writeln!(o, "## Findings: what would slow a response\n");
    if r.findings.is_empty() {
        let _ = writeln!(o, "None.\n");
    }
    for f in &r.findings {
        let _ = writeln!(
            o,
            "- **{}** `{}` ({}): {}",
            tag(f.severity),
            f.subject,
            f.kind,
            f.message
        );
        let _ = writeln!(o, "  - What to do: {}", f.fix);
        if let Some(c) = &f.command {
            let _ = writeln!(o, "  - `{}`", c.line());
        }
    }
    if !r.findings.is_empty() {
        o.push('\n');
    }
    if r.status_findings > 0 {
        let _ = writeln!(
            o,
            "`guardian status` has {} finding(s) of its own (role holders against the manifest, pause keys' funds, Safes' guards and modules): read them too.\n",
            r.status_findings
        );
    }

    let _ = writeln!(o, "## Contracts and who holds each role\n");
    for chain in &r.chains {
        let _ = writeln!(o, "### Chain `{}` (id {})\n", chain.name, chain.chain_id);
        if let Some(e) = &chain.error {
            let _ = writeln!(
                o,
                "**CANNOT BE READ**: {e}. The contracts are listed from the manifest; their state is unknown.\n"
            );
        }
        let _ = writeln!(o, "| contract | kind | address | state | holds |");
        let _ = writeln!(o, "| --- | --- | --- | --- | --- |");
        for c in &chain.contracts {
            let holds = holdings_text(c);
            let _ = writeln!(
                o,
                "| {} | {} | `{}` | {} | {} |",
                cell(&c.name),
                c.kind,
                c.address,
                paused_text(c),
                if holds.is_empty() {
                    "-".into()
                } else {
                    cell(&holds)
                }
            );
        }
        o.push('\n');
        if chain.contracts.iter().any(|c| !c.roles.is_empty()) {
            let _ = writeln!(o, "| contract | role | holders |");
            let _ = writeln!(o, "| --- | --- | --- |");
        }
        for c in &chain.contracts {
            for role in &c.roles {
                let holders: Vec<String> = role.holders.iter().map(|h| h.describe()).collect();
                let _ = writeln!(
                    o,
                    "| {} | {} | {} |",
                    cell(&c.name),
                    role.role.name(),
                    if holders.is_empty() {
                        "**nobody**".into()
                    } else {
                        cell(&holders.join("; "))
                    }
                );
            }
        }
        for s in &chain.safes {
            let _ = writeln!(o, "\n{}", s.describe());
        }
        o.push('\n');
    }

    let _ = writeln!(o, "## What to run, level by level\n");
    let _ = writeln!(
        o,
        "Set `ID` to the number that opening the incident prints (`ID=7`); every command after it uses `$ID`.\n"
    );
    for level in r.levels.iter().rev() {
        let _ = writeln!(
            o,
            "### Level {} ({}): {}\n",
            level.level, level.name, level.when
        );
        for (i, s) in level.steps.iter().enumerate() {
            let _ = writeln!(o, "{}. {}", i + 1, s.text);
            if let Some(c) = &s.command {
                let _ = writeln!(o, "\n   ```sh\n   {}\n   ```\n", c.line());
            }
        }
        o.push('\n');
    }

    let _ = writeln!(o, "## Contacts\n");
    if r.contacts.is_empty() {
        let _ = writeln!(o, "None configured.\n");
    } else {
        let _ = writeln!(o, "| contact | channel | audiences | told from |");
        let _ = writeln!(o, "| --- | --- | --- | --- |");
        for c in &r.contacts {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                cell(&c.name),
                c.channel,
                cell(&c.audiences.join(", ")),
                c.min_severity
            );
        }
        o.push('\n');
    }

    let _ = writeln!(o, "## Safe recipients\n");
    if r.safe_recipients.is_empty() {
        let _ = writeln!(o, "None: rescued funds have nowhere to go.\n");
    }
    for (i, a) in r.safe_recipients.iter().enumerate() {
        let first = if i == 0 { " (used above)" } else { "" };
        let _ = writeln!(o, "- `{a}`{first}");
    }
    if !r.safe_recipients.is_empty() {
        o.push('\n');
    }

    let _ = writeln!(o, "## Last drill\n");
    match &r.drill {
        Some(d) => {
            let _ = writeln!(
                o,
                "Drill {} by {}: **{}**, {}. {}\n",
                d.id,
                d.actor,
                d.status,
                d.finished_at
                    .map(|t| format!("finished {}", when(t)))
                    .unwrap_or_else(|| format!("started {}, not finished", when(d.started_at))),
                d.summary.as_deref().unwrap_or("")
            );
        }
        None => {
            let _ = writeln!(o, "No drill recorded: run `guardian drill --fork`.\n");
        }
    }
    // The last line of defence: an endpoint's key inside a chain's error, say.
    crate::secret::redact(&o).into_owned()
}
