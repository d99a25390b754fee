//! The report of `cargo run --release -p bench -- pause`: the tables and the text of docs/performance.md.

use std::{fmt::Write as _, time::Duration};

use guardian::config::RpcSettings;

use super::{Method, Row, Sample, median, secs, shorten};

/// `a` or `a–b` for the smallest and largest of some numbers; `-` for none.
pub(super) fn range(values: impl Iterator<Item = u64>) -> String {
    let values: Vec<u64> = values.collect();
    match (values.iter().min(), values.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
        (Some(lo), Some(hi)) => format!("{lo}–{hi}"),
        _ => "-".into(),
    }
}

/// A markdown table with padded columns (readable as plain text too).
pub fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// The full results table.
pub fn results_table(rows: &[Row], block_time: Duration) -> String {
    let header = [
        "chains",
        "N per chain",
        "targets",
        "method",
        "txs",
        "runs",
        "wall median (s)",
        "wall max (s)",
        "sending at (s)",
        "blocks spanned",
        "first block after start",
        "load avg (max)",
        "anvils running (max)",
        "target met",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let ok: Vec<&Sample> = r.ok_samples().collect();
            let opt = |d: Option<Duration>| d.map(secs).unwrap_or_else(|| "-".into());
            vec![
                r.chains.to_string(),
                r.per_chain.to_string(),
                (r.per_chain * r.chains as usize).to_string(),
                r.method.label().to_string(),
                range(r.samples.iter().map(|s| s.transactions as u64)),
                r.samples.len().to_string(),
                opt(r.median_wall()),
                opt(r.max_wall()),
                opt(median(ok.iter().filter_map(|s| s.sending_at).collect())),
                range(ok.iter().filter_map(|s| s.spanned)),
                range(ok.iter().filter_map(|s| s.offset)),
                r.samples
                    .iter()
                    .filter_map(|s| s.machine.map(|m| m.load))
                    .reduce(f64::max)
                    .map_or("-".into(), |l| format!("{l:.1}")),
                r.samples
                    .iter()
                    .filter_map(|s| s.machine.map(|m| m.anvils as u64))
                    .max()
                    .map_or("-".into(), |a| a.to_string()),
                r.verdict(block_time),
            ]
        })
        .collect();
    markdown_table(&header, &cells)
}

/// Guardian against the script, and what a dead first endpoint adds, per (chains, N).
pub fn summary_table(rows: &[Row]) -> String {
    let find = |chains: u32, n: usize, m: Method| {
        rows.iter()
            .find(|r| r.chains == chains && r.per_chain == n && r.method == m)
            .and_then(Row::median_wall)
    };
    let mut keys: Vec<(u32, usize)> = rows
        .iter()
        .filter(|r| r.method == Method::Guardian)
        .map(|r| (r.chains, r.per_chain))
        .collect();
    keys.sort();
    keys.dedup();
    let opt = |d: Option<Duration>| d.map(secs).unwrap_or_else(|| "-".into());
    let extra = |base: Option<Duration>, dead: Option<Duration>| match (base, dead) {
        (Some(b), Some(d)) => format!("{:+.2}", d.as_secs_f64() - b.as_secs_f64()),
        _ => "-".into(),
    };
    let cells: Vec<Vec<String>> = keys
        .into_iter()
        .map(|(c, n)| {
            let guardian = find(c, n, Method::Guardian);
            let script = find(c, n, Method::Script);
            vec![
                c.to_string(),
                n.to_string(),
                opt(guardian),
                opt(script),
                match (guardian, script) {
                    (Some(g), Some(s)) if !g.is_zero() => {
                        format!("{:.0}×", s.as_secs_f64() / g.as_secs_f64())
                    }
                    _ => "-".into(),
                },
                extra(guardian, find(c, n, Method::GuardianRefused)),
                extra(guardian, find(c, n, Method::GuardianHanging)),
            ]
        })
        .collect();
    markdown_table(
        &[
            "chains",
            "N per chain",
            "guardian (s, median)",
            "script (s)",
            "script / guardian",
            "1st RPC refuses (+s)",
            "1st RPC hangs (+s)",
        ],
        &cells,
    )
}

/// What the report says about where it was measured.
#[derive(Debug, Clone)]
pub struct Environment {
    /// The command that produced the report.
    pub command: String,
    /// When it ran (UTC).
    pub date: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// `uname -m`.
    pub arch: String,
    /// The CPU model, if known.
    pub cpu_model: Option<String>,
    /// `anvil --version`, first line.
    pub anvil: String,
    /// Seconds between blocks.
    pub block_time: Duration,
    /// Evenly spread runs per guardian row (one more runs just before a block).
    pub runs: usize,
    /// How long before a block the last run starts.
    pub margin: Duration,
    /// The request timeout in the dead-endpoint runs.
    pub dead_timeout: Duration,
    /// How long the whole benchmark took.
    pub total: Duration,
}

/// The whole docs/performance.md.
pub fn render_report(env: &Environment, rows: &[Row]) -> String {
    let bt = env.block_time;
    let limit = bt.mul_f64(1.5);
    let mut doc = String::new();
    let _ = write!(
        doc,
        "# Performance: pausing many contracts at once\n\n\
         Generated by `cargo run --release -p bench -- pause`; do not edit by hand, run the command again.\n\n\
         ```sh\n{}\n```\n\n\
         - Date: {} (UTC); whole benchmark: {:.1} min\n\
         - Machine: {} CPU(s), {}{}\n\
         - Chains: {}, {} s interval mining (switched on after deploying with automine)\n\
         - Target: every contract paused within **one block** and at most **1.5 × block time = {} s** after the command starts\n\n",
        env.command,
        env.date,
        env.total.as_secs_f64() / 60.0,
        env.cpus,
        env.arch,
        env.cpu_model
            .as_deref()
            .map(|m| format!(", {m}"))
            .unwrap_or_default(),
        env.anvil,
        bt.as_secs(),
        secs(limit),
    );
    let _ = write!(
        doc,
        "## How to read this\n\n\
         *N per chain* contracts are paused on each chain (on 3 chains, N = 200 is 600 contracts). \
         *Wall time* runs from the start of the command (before the manifest is read and the \
         endpoints are connected) until every target has been re-read as paused. Each guardian row \
         is {total} runs, started at moments spread over the block interval (right after a \
         block{phases}, and {margin} ms before the next block; on 3 chains the moments are taken on \
         the first chain, the others mine on their own clocks), because where in the interval a \
         command starts decides how long it waits for the next block. The last run is the worst \
         case: a command that is not ready within {margin} ms misses that block and waits a whole \
         interval more, so *wall max* is about one block time plus guardian's own preparation. \
         *Sending at* is when guardian had read every target and checked roles and began to sign \
         and send. *Blocks spanned* counts blocks from the first to the last transaction of the \
         run on one chain (the worst chain); 1 means everything landed in a single block. *First \
         block after start* is that block counted from the chain head when the command started: 1 \
         is the next block, 2 means guardian was not ready before the next block was mined and \
         waited for the one after. The script is the way a hand-written script pauses: for each \
         chain in turn, for each contract, send `pause()`, wait for its receipt, then the next; it \
         runs once, starting right after a block. In the dead-endpoint rows each chain's \
         `rpc_urls` is `[dead, real]` with `request_timeout_ms = {dead}` (so the real endpoint \
         is asked as well after {hedge} ms of silence): *refuses* is a closed port, *hangs* is a \
         socket that accepts the connection and never answers. Requests go out in JSON-RPC \
         batches of up to {batch}. *Target met* \
         is *yes* only when every run of the row spanned one block and took at most {limit} s. \
         *Load avg* and *anvils running* are read after each run: the machine has {cpus} CPU(s), \
         and the benchmark's own anvils are one per chain, so a much higher load or more anvils \
         mean something else was competing for the machine during that row.\n\n",
        total = env.runs + 1,
        margin = env.margin.as_millis(),
        phases = phases_text(env.runs),
        dead = env.dead_timeout.as_millis(),
        hedge = env.dead_timeout.as_millis() / 4,
        batch = RpcSettings::default().batch_size,
        limit = secs(limit),
        cpus = env.cpus,
    );
    doc.push_str("## Summary\n\n");
    doc.push_str(&summary_table(rows));
    doc.push_str("\n## All rows\n\n");
    doc.push_str(&results_table(rows, bt));
    doc.push_str("\n## Result against the target\n\n");
    let judged: Vec<&Row> = rows
        .iter()
        .filter(|r| r.meets_target(bt).is_some())
        .collect();
    let missed: Vec<&Row> = judged
        .iter()
        .copied()
        .filter(|r| r.meets_target(bt) == Some(false))
        .collect();
    if missed.is_empty() {
        let _ = writeln!(
            doc,
            "Every guardian row ({} rows) met the target: one block, at most {} s.",
            judged.len(),
            secs(limit)
        );
    } else {
        let _ = writeln!(
            doc,
            "{} of {} guardian rows missed the target:\n",
            missed.len(),
            judged.len()
        );
        for r in missed {
            let _ = writeln!(
                doc,
                "- {} chain(s), N = {}, {}: {} (wall median {} s, max {} s)",
                r.chains,
                r.per_chain,
                r.method.label(),
                r.verdict(bt).trim_start_matches("**no**: "),
                r.median_wall().map(secs).unwrap_or_else(|| "-".into()),
                r.max_wall().map(secs).unwrap_or_else(|| "-".into()),
            );
        }
    }
    let failures: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.samples.iter().filter_map(move |s| {
                s.failure.as_ref().map(|f| {
                    format!(
                        "- {} chain(s), N = {}, {}: {}",
                        r.chains,
                        r.per_chain,
                        r.method.label(),
                        shorten(f, 400)
                    )
                })
            })
        })
        .collect();
    if !failures.is_empty() {
        let _ = write!(doc, "\nFailed runs:\n\n{}\n", failures.join("\n"));
    }
    let discarded: usize = rows.iter().map(|r| r.discarded).sum();
    if discarded > 0 {
        let _ = write!(
            doc,
            "\n{discarded} run(s) were thrown away and measured again because a chain mined faster \
             than its interval during them (anvil working off blocks queued while it automined the \
             deployment).\n"
        );
    }
    doc
}

/// "¼, ½ and ¾ of the way through it" style text for `runs` evenly spread phases.
fn phases_text(runs: usize) -> String {
    let rest: Vec<String> = (1..runs.max(1)).map(|k| format!("{k}/{runs}")).collect();
    match rest.as_slice() {
        [] => String::new(),
        [one] => format!(", {one} of the way through it"),
        [init @ .., last] => format!(", {} and {last} of the way through it", init.join(", ")),
    }
}

/// A calendar date and time from seconds since the Unix epoch: `YYYY-MM-DD HH:MM`.
pub fn utc_datetime(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    // Days to civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// `old` (a report) with the section under `heading` replaced by `section` (which starts with
/// the heading), or `section` added when it has none; every other section is kept. A section
/// ends at the next `# ` or `## ` heading outside a code block (a `# ` part written by hand, or
/// by `bench -- congestion`, which owns everything from its heading on, follows the `## `
/// sections); a new section goes before the first `# ` heading after the first line, else at
/// the end.
pub fn replace_section(old: &str, heading: &str, section: &str) -> String {
    let section = section.trim_end();
    let (before, after) = match old.find(heading) {
        Some(at) => {
            let end = next_heading(old, at + heading.len(), false).unwrap_or(old.len());
            (&old[..at], &old[end..])
        }
        None => {
            let at = next_heading(old, 1, true).unwrap_or(old.len());
            (&old[..at], &old[at..])
        }
    };
    let before = before.trim_end();
    let mut out = String::new();
    if !before.is_empty() {
        out.push_str(before);
        out.push_str("\n\n");
    }
    out.push_str(section);
    out.push('\n');
    let after = after.trim();
    if !after.is_empty() {
        out.push('\n');
        out.push_str(after);
        out.push('\n');
    }
    out
}

/// Where the first line at or after `from` that starts a `# ` heading (or, unless `top_only`,
/// a `## ` heading) begins, skipping fenced code blocks.
fn next_heading(text: &str, from: usize, top_only: bool) -> Option<usize> {
    let mut fenced = false;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let start = at;
        at += line.len();
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if start < from || fenced {
            continue;
        }
        if line.starts_with("# ") || (!top_only && line.starts_with("## ")) {
            return Some(start);
        }
    }
    None
}

#[cfg(test)]
mod section_tests {
    use super::replace_section;

    #[test]
    fn a_section_is_replaced_or_appended_and_the_others_kept() {
        let old = "# R\n\nintro\n\n## A\n\nold a\n\n## B\n\nold b\n";
        assert_eq!(
            replace_section(old, "## A", "## A\n\nnew a\n"),
            "# R\n\nintro\n\n## A\n\nnew a\n\n## B\n\nold b\n"
        );
        assert_eq!(
            replace_section(old, "## B", "## B\n\nnew b"),
            "# R\n\nintro\n\n## A\n\nold a\n\n## B\n\nnew b\n"
        );
        assert_eq!(
            replace_section(old, "## C", "## C\n\nc"),
            format!("{}\n## C\n\nc\n", old)
        );
    }

    #[test]
    fn a_section_stops_at_a_top_heading_and_a_new_one_goes_before_it() {
        let old = "# R\n\n## A\n\nold a\n```sh\n# not a heading\n```\n\n# Later\n\ntext\n";
        assert_eq!(
            replace_section(old, "## A", "## A\n\nnew a"),
            "# R\n\n## A\n\nnew a\n\n# Later\n\ntext\n"
        );
        assert_eq!(
            replace_section(old, "## N", "## N\n\nn"),
            "# R\n\n## A\n\nold a\n```sh\n# not a heading\n```\n\n## N\n\nn\n\n# Later\n\ntext\n"
        );
    }
}
