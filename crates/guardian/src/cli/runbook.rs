//! `guardian runbook`: the team's one-page emergency runbook, from the manifest and the chains.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;

use crate::{chain::signer::process_env, deployment::Deployment, runbook};

/// The runbook's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown.
    Md,
    /// One self-contained HTML file (inline CSS, no script, no external asset).
    Html,
}

/// Write the team's one-page emergency runbook from the manifest and the chains as they are now:
/// what would slow a real response first (a contract no one can pause, a Safe whose threshold the
/// manifest's keys cannot meet, an escrow owing more than it holds, a chain that cannot be read,
/// no safe recipient, an audience no contact reaches), then who holds each role, the exact
/// commands of each incident level, the contacts (names and channels only, never a URL or a
/// secret), the safe recipients and the last drill. A chain that cannot be read is a finding, not
/// a failure. Exit code 1 when a finding is critical.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// md or html.
    #[arg(long, value_enum, default_value = "md")]
    format: Format,
    /// Write it to this file (default: print it).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print the runbook's contents as JSON instead.
    #[arg(long, conflicts_with = "format")]
    json: bool,
}

impl Args {
    /// Reads the deployment and writes the runbook.
    pub async fn run(self, ctx: &super::Context) -> anyhow::Result<ExitCode> {
        let deployment = Deployment::open(&ctx.manifest_path(), None, &process_env).await?;
        let book = runbook::read(&deployment).await;
        let text = if self.json {
            crate::secret::redact(&serde_json::to_string_pretty(&book)?).into_owned() + "\n"
        } else {
            match self.format {
                Format::Md => runbook::to_markdown(&book),
                Format::Html => runbook::to_html(&book),
            }
        };
        match &self.out {
            Some(path) => {
                std::fs::write(path, &text)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!(
                    "runbook written to {} ({} finding(s))",
                    path.display(),
                    book.findings.len()
                );
            }
            None => print!("{text}"),
        }
        Ok(if book.ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}
