//! `guardian incident report ID`: reads the incident's records (timeline, alerts, journal) and
//! the war room from the chain, writes the post-mortem as Markdown or HTML, and records the
//! written file (path, format, sha256) in the timeline: the evidence of "post-mortem published".

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Done;
use crate::{
    incident::{
        playbook::Responder,
        report::{Records, build, to_html, to_markdown},
        warroom,
    },
    output::print_json,
    storage::now_ms,
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
    let store = &r.deployment.store;
    let incident = r.get(id)?;
    // The checklist as the records prove it now, as `incident show` has it.
    r.tick_proven(&incident).await?;
    let incident = r.get(id)?;
    let (timeline, integrity) = store.timeline(id)?;
    let alerts = incident
        .alerts
        .iter()
        .filter_map(|a| store.alert(*a).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    let actions: Vec<_> = store
        .actions()?
        .into_iter()
        .filter(|a| incident.actions.contains(&a.id))
        .collect();
    let mut transactions = Vec::new();
    for a in &actions {
        transactions.extend(store.transactions(a.id)?);
    }
    let contracts = match warroom::states(r.deployment, &incident).await {
        Ok(states) => states,
        Err(e) => {
            eprintln!(
                "warning: the war room could not be read; the report lists no contract states: {e}"
            );
            Vec::new()
        }
    };
    let chains = r
        .deployment
        .manifest
        .chains
        .iter()
        .map(|(name, c)| (c.chain_id, name.clone()))
        .collect();
    let report = build(&Records {
        incident: &incident,
        timeline: &timeline,
        integrity: &integrity,
        alerts: &alerts,
        actions: &actions,
        transactions: &transactions,
        contracts: &contracts,
        chains: &chains,
        exploit: None,
        now: now_ms(),
    });
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
    let sha256: String = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    store.record(
        id,
        &r.actor,
        Some((
            "report",
            json!({"path": path.display().to_string(), "format": format.as_str(), "sha256": sha256}),
        )),
        &[],
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
