//! How `guardian incident` prints for people: the list, the war room, a playbook's result. The
//! title and the timeline's details may carry a bug bounty report's text (a confirmed report
//! opens an incident named after it): they are printed through [`terminal_line`].

use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use super::Done;

use super::super::history::utc;
use crate::{
    incident::{
        Entry, Incident, Integrity, level_name,
        playbook::{PlaybookRun, Responder},
        report::{CLOCKS, Durations, FUNDS_COLUMNS, FUNDS_MEANING, Funds, Report, show_span},
        warroom::ContractState,
    },
    output::{Table, print_json, terminal_line},
    response::pause::Outcome,
};

/// Everything `incident show` shows.
#[derive(Debug, Serialize)]
pub(super) struct View<'a> {
    #[serde(flatten)]
    pub incident: &'a Incident,
    /// Each contract in scope, as the chain and the records have it.
    pub contracts: &'a [ContractState],
    /// The timeline, oldest first.
    pub timeline: &'a [Entry],
    /// Whether the timeline is as written.
    pub integrity: &'a Integrity,
    /// The figures, as the report has them (one definition of each): funds per contract and
    /// asset, then each chain's totals, how they were read, and the response's durations.
    pub figures: Figures<'a>,
    /// Its Safe proposals still pending: what waits on which signers.
    pub proposals: &'a [crate::response::safe::ProposalState],
    /// The manifest's chains by id, to name them in the timeline.
    #[serde(skip)]
    pub chains: std::collections::BTreeMap<u64, String>,
}

/// The report's figures that `incident show` shows.
#[derive(Debug, Serialize)]
pub(super) struct Figures<'a> {
    /// Per contract and asset.
    pub funds: &'a [Funds],
    /// Summed per chain and asset.
    pub funds_total: &'a [Funds],
    /// Which block each figure was read in.
    pub funds_basis: &'a [String],
    /// Time to detect, pause, rescue, resume.
    pub durations: &'a Durations,
}

impl<'a> Figures<'a> {
    pub fn of(r: &'a Report) -> Self {
        Self {
            funds: &r.funds,
            funds_total: &r.funds_total,
            funds_basis: &r.funds_basis,
            durations: &r.durations,
        }
    }
}

fn print_figures(f: &Figures<'_>) {
    if !f.funds.is_empty() {
        let mut t = Table::new(FUNDS_COLUMNS);
        for row in f.funds.iter().chain(f.funds_total) {
            t.row(row.cells().to_vec());
        }
        println!("\nfunds:\n{t}");
        println!("{FUNDS_MEANING}");
        for b in f.funds_basis {
            println!("  {b}");
        }
    }
    println!("\nresponse times ({CLOCKS}):");
    for (name, s) in f.durations.named() {
        println!("  {name}: {}", show_span(s));
    }
}

pub(super) fn print_list(list: &[Incident]) {
    if list.is_empty() {
        println!("no incidents (guardian incident list --all shows closed ones too)");
        return;
    }
    let mut t = Table::new([
        "ID",
        "LEVEL",
        "STATUS",
        "OPENED (UTC)",
        "COMMANDER",
        "TITLE",
    ]);
    for i in list {
        t.row(vec![
            i.id.to_string(),
            format!("{} {}", i.level, level_name(i.level)),
            i.status.to_string(),
            utc(i.opened_at),
            i.commander.clone().unwrap_or_else(|| "-".into()),
            terminal_line(&i.title),
        ]);
    }
    println!("{t}");
}

pub(super) fn print_run(incident: &Incident, run: &PlaybookRun) {
    println!(
        "incident {} · level {} ({}) · {}",
        incident.id,
        incident.level,
        level_name(incident.level),
        incident.status
    );
    if let Some(p) = &run.pause {
        for t in &p.targets {
            let what = match t.outcome {
                Outcome::Changed => "paused".to_string(),
                Outcome::AlreadyDone => "already paused".to_string(),
                Outcome::WouldChange => "would pause".to_string(),
                Outcome::Failed => format!("NOT PAUSED: {}", t.error.as_deref().unwrap_or("?")),
                Outcome::Proposed => format!(
                    "proposed ({})",
                    t.via.as_deref().unwrap_or("through a Safe")
                ),
            };
            println!(
                "  {}/{}: {what}{}",
                t.chain,
                t.name,
                t.block.map(|b| format!(" (block {b})")).unwrap_or_default()
            );
        }
    }
    if let Some(e) = &run.pause_error {
        println!("  the pause could not be done: {e}");
    }
    for p in &run.proposals {
        println!(
            "  rescue prepared for the Safe's owners: proposal {} on {} ({} of {} to sign)",
            p.id,
            p.chain,
            p.threshold,
            p.owners.len()
        );
        crate::cli::safe::print_proposal(p);
    }
    if !run.notified.is_empty() {
        println!("  told: {}", run.notified.join(", "));
    }
    for t in incident.open_tasks() {
        println!("  task {}: {}", t.id, t.title);
    }
    println!("next: guardian incident show {}", incident.id);
}

pub(super) fn print_view(v: &View<'_>) {
    let i = v.incident;
    println!(
        "incident {} · level {} ({}) · {} · commander {}",
        i.id,
        i.level,
        level_name(i.level),
        i.status,
        i.commander.as_deref().unwrap_or("not named")
    );
    println!("{}", terminal_line(&i.title));
    println!(
        "opened {} UTC by {}; alerts: {}",
        utc(i.opened_at),
        i.opened_by,
        if i.alerts.is_empty() {
            "none".to_string()
        } else {
            i.alerts
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    if !v.contracts.is_empty() {
        let mut t = Table::new(["CONTRACT", "CHAIN", "ADDRESS", "STATE", "PAUSED"]);
        for c in v.contracts {
            t.row(vec![
                c.name.clone(),
                c.chain.clone(),
                c.address.to_string(),
                c.state.to_string(),
                match c.paused {
                    Some(true) => "yes".into(),
                    Some(false) => "no".into(),
                    None => "?".into(),
                },
            ]);
        }
        println!("\n{t}");
    }
    print_figures(&v.figures);
    for p in v.proposals {
        println!(
            "\nwaiting on signers: Safe proposal {} on {} (nonce {}): {} — {} of {}, waiting for {}",
            p.proposal.id,
            p.proposal.chain,
            p.proposal.nonce,
            terminal_line(&p.proposal.title),
            p.confirmed.len(),
            p.threshold,
            p.waiting
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let open: Vec<_> = i.open_tasks().collect();
    println!(
        "\nopen tasks: {}",
        if open.is_empty() { "none" } else { "" }
    );
    for t in open {
        match &t.owner {
            Some(o) => println!("  {}: {} (owner {o})", t.id, t.title),
            None => println!(
                "  {}: {} (no owner: guardian incident task {} {} take)",
                t.id, t.title, i.id, t.id
            ),
        }
    }
    let required = if i.level >= 2 {
        "required to close"
    } else {
        "optional at level 1"
    };
    println!("\nchecklist ({required}):");
    for c in &i.checklist {
        match (&c.ticked_by, &c.evidence) {
            (Some(by), Some(ev)) => println!("  [x] {} — {by}: {ev}", c.id),
            _ => println!("  [ ] {}: {}", c.id, c.title),
        }
    }
    match v.integrity {
        Integrity::Intact { entries } => println!("\ntimeline ({entries} entries, intact):"),
        Integrity::Altered { entry, problem } => println!(
            "\ntimeline — ALTERED at entry {entry}: {problem}. The record cannot be trusted from there on:"
        ),
    }
    for e in v.timeline {
        println!(
            "  {} UTC  {:<10} {:<20} {}",
            utc(e.at),
            e.actor,
            e.kind,
            terminal_line(&crate::incident::report::tell(e, &v.chains))
        );
    }
}

/// `guardian incident show ID`: the war room, the figures and the timeline; exits 1 when the
/// record was altered.
pub(super) async fn run(r: &Responder<'_>, id: i64, json: bool) -> anyhow::Result<Done> {
    let store = &r.deployment.store;
    let incident = r.get(id)?;
    r.tick_proven(&incident).await?;
    let incident = r.get(id)?;
    let (timeline, integrity) = store.timeline(id)?;
    // The war room and the figures, as the report has them.
    let report = crate::incident::report::Gathered::read(r.deployment, &incident)
        .await?
        .report(&incident, &timeline, &integrity);
    // Its Safe proposals still pending, with who they wait for.
    let proposals: Vec<_> = if r.deployment.safes.is_empty() {
        Vec::new()
    } else {
        crate::response::safe::states(r.deployment, true)
            .await
            .context("reading the Safe proposals")?
            .into_iter()
            .filter(|p| p.proposal.incident_id == Some(id))
            .collect()
    };
    let view = View {
        incident: &incident,
        contracts: &report.contracts,
        timeline: &timeline,
        integrity: &integrity,
        figures: Figures::of(&report),
        proposals: &proposals,
        chains: r
            .deployment
            .manifest
            .chains
            .iter()
            .map(|(name, c)| (c.chain_id, name.clone()))
            .collect(),
    };
    if json {
        print_json(&view);
    } else {
        print_view(&view);
    }
    let intact = matches!(integrity, crate::incident::Integrity::Intact { .. });
    // An altered record is a finding: the exit code says so.
    Ok(Done::Printed(if intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }))
}

/// A section of the post-mortem's review (`incident review`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum ReviewSection {
    /// A step of the "why" chain: each the cause of the one before.
    Why,
    /// What went well.
    WentWell,
    /// What went wrong.
    WentWrong,
    /// Where we were lucky.
    Lucky,
    /// A follow-up action, with an owner and a due date.
    Action,
}

impl ReviewSection {
    /// Its name in the records.
    pub fn name(self) -> &'static str {
        match self {
            Self::Why => "why",
            Self::WentWell => "went-well",
            Self::WentWrong => "went-wrong",
            Self::Lucky => "lucky",
            Self::Action => "action",
        }
    }
}
