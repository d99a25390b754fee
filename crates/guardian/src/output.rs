//! Output for people (aligned tables, text others wrote made safe for a terminal) and for
//! programs (`--json`).

use std::fmt::Write as _;

/// A plain text table with a header row; columns are padded to their widest cell.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new<const N: usize>(header: [&str; N]) -> Self {
        Self {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether it has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(cell.chars().count());
                }
            }
        }
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let width = widths.get(i).copied().unwrap_or(0);
                let _ = write!(line, "{cell:<width$}  ");
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// Prints `value` as JSON when `json`, else the human way; the exit code says whether `ok`.
pub fn emit<T: serde::Serialize>(
    value: &T,
    json: bool,
    ok: bool,
    human: impl FnOnce(&T),
) -> std::process::ExitCode {
    if json {
        print_json(value);
    } else {
        human(value);
    }
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot serialise output: {e}"),
    }
}

/// Whether `c` would act on a terminal, or hide or reorder text, rather than show: a control
/// character (C0, DEL, C1), a bidi control (U+061C, U+200E, U+200F, U+202A–U+202E,
/// U+2066–U+2069), or a zero-width or invisible one (U+00AD, U+180E, U+200B–U+200D, U+2028,
/// U+2029, U+2060–U+2064, U+FEFF, U+FFF9–U+FFFB, the tags U+E0000–U+E007F). Written by hand,
/// without a Unicode table.
fn acts_on_terminal(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{00AD}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200D}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{2060}'..='\u{2064}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

fn escaped(text: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if acts_on_terminal(c) && !keep(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` (someone else's: a researcher's report, a stored message) made safe to print on a
/// terminal: printable text, newline and tab as they are; every other control character, bidi
/// control and invisible character shown as its escape (ESC as the text `\u{1b}`, U+202E as
/// `\u{202e}`) instead of acting.
pub fn terminal_safe(text: &str) -> String {
    escaped(text, |c| matches!(c, '\n' | '\t'))
}

/// [`terminal_safe`] for one line (a title, a table cell): newline and tab are escaped too, so
/// the text cannot start a line of its own.
pub fn terminal_line(text: &str) -> String {
    escaped(text, |_| false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_columns_to_the_widest_cell() {
        let mut t = Table::new(["NAME", "GAS"]);
        t.row(vec!["registry".into(), "1".into()]);
        t.row(vec!["x".into(), "123456".into()]);
        assert_eq!(
            t.to_string(),
            "NAME      GAS\nregistry  1\nx         123456\n"
        );
    }

    #[test]
    fn terminal_safe_shows_what_would_act_on_the_terminal() {
        assert_eq!(
            terminal_safe("\u{1b}[2J\u{1b}[H\u{1b}[31mFAKE: report confirmed"),
            "\\u{1b}[2J\\u{1b}[H\\u{1b}[31mFAKE: report confirmed"
        );
        for (raw, shown) in [
            ("bell\u{7}", "bell\\u{7}"),
            ("nul\0", "nul\\u{0}"),
            ("over\rwrite", "over\\u{d}write"),
            ("del\u{7f}", "del\\u{7f}"),
            ("csi\u{9b}", "csi\\u{9b}"),
            ("evil\u{202E}txt.exe", "evil\\u{202e}txt.exe"),
            ("zero\u{200B}width", "zero\\u{200b}width"),
            (
                "\u{2066}\u{200F}\u{FEFF}\u{AD}",
                "\\u{2066}\\u{200f}\\u{feff}\\u{ad}",
            ),
        ] {
            assert_eq!(terminal_safe(raw), shown, "{raw:?}");
        }
        let ordinary = "Escrow pays twice: é, 日本, <b>&amp;</b>\nline two\tcolumn";
        assert_eq!(terminal_safe(ordinary), ordinary);
        assert_eq!(
            terminal_line("one\ntwo\tthree é"),
            "one\\u{a}two\\u{9}three é"
        );
    }
}
