//! The drill's live display: a spinner on the step in hand (indicatif) and one line per step
//! done, on stderr; plain lines when stderr is not a terminal, nothing with `--json`.

use std::{io::IsTerminal, time::Duration};

use indicatif::{ProgressBar, ProgressStyle};

/// Where the drill reports its steps.
pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Progress {
    /// A display on stderr; `quiet` shows nothing (`--json`).
    pub fn new(quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Self { bar, quiet }
    }

    /// The step now in hand.
    pub fn step(&self, what: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(what.to_string()),
            None if !self.quiet => eprintln!("… {what}"),
            None => {}
        }
    }

    /// A line that stays: what a step achieved.
    pub fn done(&self, what: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("✓ {what}")),
            None if !self.quiet => eprintln!("✓ {what}"),
            None => {}
        }
    }

    /// A line that stays: something that went wrong, the drill goes on.
    pub fn warn(&self, what: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("✗ {what}")),
            None if !self.quiet => eprintln!("✗ {what}"),
            None => {}
        }
    }

    /// Clears the spinner.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
