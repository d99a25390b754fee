//! The post-mortem's timeline as an inline SVG chart (no script, no external asset).

use std::fmt::Write as _;

use super::{Line, html::escape};

/// The chart's lanes: a category, its label and its color.
const LANES: &[(&str, &str, &str)] = &[
    ("alert", "alerts", "#c62828"),
    ("pause", "pause", "#ef6c00"),
    ("withdrawal", "withdrawals", "#6a1b9a"),
    ("upgrade", "upgrade / fix", "#1565c0"),
    ("replenish", "replenish", "#00838f"),
    ("unpause", "unpause", "#2e7d32"),
    ("failure", "failures", "#b71c1c"),
    ("notification", "notifications", "#757575"),
    ("note", "notes, tasks, checklist", "#5d4037"),
    ("record", "other records", "#9e9e9e"),
];

/// Offsets on the axis, with their labels.
const TICKS: &[(i64, &str)] = &[
    (1_000, "+1 s"),
    (10_000, "+10 s"),
    (60_000, "+1 min"),
    (600_000, "+10 min"),
    (3_600_000, "+1 h"),
    (36_000_000, "+10 h"),
    (86_400_000, "+1 d"),
    (864_000_000, "+10 d"),
];

/// The timeline on a time axis: one lane per category present, a dot per entry (its text as the
/// tooltip), the first entry of each response lane labelled with its offset. The axis is
/// logarithmic in the time since the first entry: an incident's first seconds (alert, pause)
/// and its later days (fix, unpause) both stay readable.
pub(super) fn chart(lines: &[Line]) -> String {
    const W: f64 = 960.0;
    const LEFT: f64 = 170.0;
    const RIGHT: f64 = 20.0;
    const LANE: f64 = 30.0;
    const TOP: f64 = 10.0;
    // Milliseconds below which the scale is nearly linear.
    const KNEE: f64 = 100.0;
    let lanes: Vec<_> = LANES
        .iter()
        .filter(|(c, _, _)| lines.iter().any(|l| l.category == *c))
        .collect();
    let (Some(t0), Some(t1)) = (
        lines.iter().map(|l| l.at_ms).min(),
        lines.iter().map(|l| l.at_ms).max(),
    ) else {
        return "<p>No entries.</p>".into();
    };
    let scale = |dt: i64| (1.0 + dt.max(0) as f64 / KNEE).ln();
    let full = scale(t1 - t0).max(f64::MIN_POSITIVE);
    let x = |dt: i64| LEFT + scale(dt) / full * (W - LEFT - RIGHT);
    let height = TOP + LANE * lanes.len() as f64 + 50.0;
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg viewBox=\"0 0 {W} {height}\" role=\"img\" \
         aria-label=\"incident timeline\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    for (n, (category, label, color)) in lanes.iter().enumerate() {
        let y = TOP + LANE * n as f64 + LANE / 2.0;
        let _ = write!(
            o,
            "<text x=\"8\" y=\"{:.1}\" fill=\"{color}\">{label}</text>\
             <line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/>",
            y + 4.0,
            W - RIGHT
        );
        let mut first = true;
        for l in lines.iter().filter(|l| l.category == *category) {
            let cx = x(l.at_ms - t0);
            let _ = write!(
                o,
                "<circle cx=\"{cx:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"{color}\" fill-opacity=\"0.8\">\
                 <title>{} {} — {}</title></circle>",
                l.at,
                escape(&l.kind),
                escape(&l.text)
            );
            if first && !matches!(*category, "note" | "record" | "notification") {
                // Right of its dot, or left of it in the chart's right half, so that it is
                // never cut at the edge.
                let (lx, anchor) = if cx > (LEFT + W - RIGHT) / 2.0 {
                    (cx - 7.0, "end")
                } else {
                    (cx + 7.0, "start")
                };
                let _ = write!(
                    o,
                    "<text x=\"{lx:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"{color}\" text-anchor=\"{anchor}\">+{}</text>",
                    y - 6.0,
                    escape(&super::show_ms(l.at_ms - t0))
                );
            }
            first = false;
        }
    }
    let axis = TOP + LANE * lanes.len() as f64 + 6.0;
    let _ = write!(
        o,
        "<line x1=\"{LEFT}\" y1=\"{axis:.1}\" x2=\"{:.1}\" y2=\"{axis:.1}\" stroke=\"#333\"/>",
        W - RIGHT
    );
    for (dt, label) in TICKS.iter().filter(|(dt, _)| *dt < t1 - t0) {
        let tx = x(*dt);
        let _ = write!(
            o,
            "<line x1=\"{tx:.1}\" y1=\"{axis:.1}\" x2=\"{tx:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>\
             <text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">{label}</text>",
            axis + 4.0,
            axis + 15.0
        );
    }
    let _ = writeln!(
        o,
        "<text x=\"{LEFT}\" y=\"{:.1}\">{}</text>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#666\">time since the first entry, logarithmic; {}</text></svg>",
        axis + 30.0,
        super::utc(t0),
        W - RIGHT,
        axis + 30.0,
        super::utc(t1),
        (LEFT + W - RIGHT) / 2.0,
        axis + 44.0,
        escape(&format!("span {}", super::show_ms(t1 - t0)))
    );
    o
}
