//! The one check every researcher's text goes through, a submission's fields and a thread's
//! replies alike: `\r\n` becomes `\n` (the page's form posts `\r\n` line endings), then any
//! control character left but newline and tab refuses the text. A control character in a
//! report could repaint the team's terminal (`ESC [2J`), ring it, or hide text behind a carriage
//! return; the team's side escapes what older rows hold ([`crate::output::terminal_safe`]).

use super::FieldError;

/// What a text with a control character is told.
pub const CONTROL_CHARACTERS: &str =
    "contains control characters (only newline and tab are allowed)";

/// `value` with its `\r\n` line endings made `\n`, or the error naming `field` when it still
/// holds a control character (Unicode category Cc: C0, DEL, C1; `\r` alone included) other
/// than newline and tab.
pub fn researcher_text(field: &str, value: &str) -> Result<String, FieldError> {
    let value = value.replace("\r\n", "\n");
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(FieldError::new(field, CONTROL_CHARACTERS));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_becomes_lf_and_only_newline_and_tab_pass() {
        assert_eq!(
            researcher_text("message", "one\r\ntwo\r\n\tthree").expect("clean"),
            "one\ntwo\n\tthree"
        );
        assert_eq!(
            researcher_text("title", "Escrow paie deux fois: 日本").expect("clean"),
            "Escrow paie deux fois: 日本"
        );
        for bad in [
            "\u{1b}[2J\u{1b}[H\u{1b}[31mFAKE: report confirmed",
            "nul\0byte",
            "bell\u{7}",
            "lone\rreturn",
            "del\u{7f}",
            "c1\u{9b}31m",
            "\r\r\n",
        ] {
            let e = researcher_text("message", bad).expect_err(bad);
            assert_eq!(e.field, "message", "{bad:?}");
            assert_eq!(e.message, CONTROL_CHARACTERS, "{bad:?}");
        }
    }
}
