//! `guardian incident report ID`: of a closed incident, the post-mortem published with its
//! closing; of an open one, reads the records (timeline, alerts, journal) and the war room from
//! the chain, writes the draft as Markdown or HTML, and records the written file (path, format,
//! sha256) in the timeline.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;

use super::Done;
use crate::{
    incident::{
        IncidentStatus,
        playbook::Responder,
        report::{digest, generate, published, record_written, to_html, to_markdown},
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
    let incident = r.get(id)?;
    if incident.status == IncidentStatus::Closed && !json {
        // Its record is final: the report published with the closing, never a new one.
        match out {
            Some(out) => write_published(r, id, format, &out)?,
            None => print!("{}", published_text(r, id, format)?),
        }
        return Ok(Done::Printed(ExitCode::SUCCESS));
    }
    if incident.status != IncidentStatus::Closed {
        // The checklist as the records prove it now, as `incident show` has it.
        r.tick_proven(&incident).await?;
    }
    let report = generate(r.deployment, id).await?;
    let text = match format {
        Format::Md => to_markdown(&report),
        Format::Html => to_html(&report),
    };
    if json {
        print_json(&report);
    } else if out.is_none() {
        print!("{text}");
    }
    let Some(out) = out.filter(|_| incident.status != IncidentStatus::Closed) else {
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

/// The report published with closed incident `id`'s closing, in `format`.
fn published_text(r: &Responder<'_>, id: i64, format: Format) -> anyhow::Result<String> {
    let p = published(&r.deployment.store, id)?.with_context(|| {
        format!(
            "incident {id} has no published post-mortem (it was closed before closing published one): guardian incident report {id} --json gives its figures"
        )
    })?;
    Ok(match format {
        Format::Md => p.markdown,
        Format::Html => p.html,
    })
}

/// Writes the report published with closed incident `id`'s closing to `out`.
pub(super) fn write_published(
    r: &Responder<'_>,
    id: i64,
    format: Format,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let text = published_text(r, id, format)?;
    std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "the post-mortem published with incident {id}'s closing written to {} (sha256 {})",
        out.display(),
        digest(&text)
    );
    Ok(())
}
