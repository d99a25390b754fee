//! `guardian incident report ID`: reads the incident's records (timeline, alerts, journal) and
//! the war room from the chain, writes the post-mortem as Markdown or HTML, and records the
//! written file (path, format, sha256) in the timeline: the evidence of "post-mortem published".

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;

use super::Done;
use crate::{
    incident::{
        playbook::Responder,
        report::{generate, record_written, to_html, to_markdown},
    },
    output::print_json,
};

/// The post-mortem's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Format {
    /// Markdown.
    Md,
    /// One self-contained HTML file (inline CSS and SVG chart, no external asset).
    Html,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Self::Md => "md",
            Self::Html => "html",
        }
    }
}

/// Generates the post-mortem of incident `id`; with `out`, writes it there and records it.
pub(super) async fn run(
    r: &Responder<'_>,
    id: i64,
    format: Format,
    out: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<Done> {
    // The checklist as the records prove it now, as `incident show` has it.
    r.tick_proven(&r.get(id)?).await?;
    let report = generate(r.deployment, id, None).await?;
    let text = match format {
        Format::Md => to_markdown(&report),
        Format::Html => to_html(&report),
    };
    if json {
        print_json(&report);
    } else if out.is_none() {
        print!("{text}");
    }
    let Some(out) = out else {
        return Ok(Done::Printed(ExitCode::SUCCESS));
    };
    std::fs::write(&out, &text).with_context(|| format!("writing {}", out.display()))?;
    let path = std::path::absolute(&out).unwrap_or(out);
    let sha256 = record_written(
        &r.deployment.store,
        id,
        &r.actor,
        &path,
        format.as_str(),
        &text,
    )?;
    // The written report proves "post-mortem published".
    r.tick_proven(&r.get(id)?).await?;
    if !json {
        println!(
            "post-mortem of incident {id} written to {} (sha256 {sha256})",
            path.display()
        );
    }
    Ok(Done::Printed(ExitCode::SUCCESS))
}
