//! `guardian bounty list` and `guardian bounty show`: the team reads reports from the database
//! beside the manifest; `show` decrypts the proof of concept with `GUARDIAN_BOUNTY_KEY`. Every
//! stored text is printed through [`terminal_safe`] or [`terminal_line`]: a report written
//! before control characters were refused still cannot act on the team's terminal.

use std::process::ExitCode;

use serde_json::json;

use crate::{
    bounty::{ReportView, Status, StoredReport, crypto, sla, triage::disclosure},
    chain::signer::process_env,
    config::{Manifest, manifest_path},
    deployment::store_location,
    incident::report::utc,
    output::{print_json, terminal_line, terminal_safe},
    storage::{Store, now_ms},
};

/// Report `r`'s acknowledgement clock now.
fn clock_of(r: &ReportView, manifest: &Manifest, now: i64) -> Option<sla::Clock> {
    sla::report_clock(r, &manifest.bounty, now)
}

/// The variable holding the team's age secret.
pub const KEY_VAR: &str = "GUARDIAN_BOUNTY_KEY";

/// `guardian bounty list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only reports in this status.
    #[arg(long, value_enum)]
    status: Option<Status>,
    /// Only the newest N (default: all).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    limit: Option<u32>,
    /// Print {"reports": [...]} as JSON.
    #[arg(long)]
    json: bool,
}

/// `guardian bounty show ID`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The report: its number, or the public id its researcher knows it by.
    id: String,
    /// Print it as JSON (the proof of concept decrypted, when the key is set).
    #[arg(long)]
    json: bool,
}

/// The manifest and the database beside it.
pub(super) fn desk(ctx: &crate::cli::Context) -> anyhow::Result<(Manifest, Store)> {
    let path = manifest_path(ctx.config.clone());
    let manifest = Manifest::load_with_env(&path, &process_env)?;
    let db = store_location(&path, Some(&manifest), &process_env);
    if !db.exists() {
        anyhow::bail!(
            "{db} does not exist: no report has been received yet (guardian serve takes them)"
        );
    }
    let store = Store::open_at(&db)?;
    Ok((manifest, store))
}

impl ListArgs {
    /// Runs it.
    pub fn run(self, ctx: &crate::cli::Context) -> anyhow::Result<ExitCode> {
        let (manifest, store) = desk(ctx)?;
        let now = now_ms();
        let limit = self.limit.map(|n| n as usize);
        let page = store.bounty_reports_page(self.status, None, limit)?;
        let reports = page.reports;
        if self.json {
            let rows: Vec<_> = reports
                .iter()
                .map(|r| crate::bounty::listing(r, &manifest.bounty, now))
                .collect();
            print_json(&json!({ "reports": rows }));
            return Ok(ExitCode::SUCCESS);
        }
        if reports.is_empty() {
            println!("no reports");
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{:>4}  {:<12}  {:<9}  {:<20}  {:<26}  {:<24}  TITLE",
            "ID", "STATUS", "SEVERITY", "SUBMITTED", "CLOCK", "CONTRACTS"
        );
        for r in &reports {
            let severity = r
                .triage
                .confirmed_severity
                .clone()
                .unwrap_or_else(|| format!("{}?", r.severity));
            let clock = clock_of(r, &manifest, now)
                .map(|c| c.human(r.submitted_at))
                .unwrap_or_default();
            println!(
                "{:>4}  {:<12}  {:<9}  {:<20}  {:<26}  {:<24}  {}",
                r.id,
                terminal_line(&r.status),
                terminal_line(&severity),
                utc(r.submitted_at).trim_end_matches(" UTC"),
                clock,
                terminal_line(&r.contracts.join(",")),
                terminal_line(&r.title)
            );
        }
        println!("(severity with ? is the researcher's claim, not yet confirmed)");
        if page.next_before.is_some() {
            println!(
                "(the newest {} shown; more with a larger --limit)",
                reports.len()
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The proof of concept in clear, or why not.
fn proof_of_concept(report: &StoredReport) -> Result<Option<String>, String> {
    let Some(cipher) = &report.poc_age else {
        return Ok(None);
    };
    let Some(secret) = process_env(KEY_VAR).filter(|s| !s.trim().is_empty()) else {
        return Err(format!(
            "encrypted: set {KEY_VAR} (the secret from guardian bounty keygen) to read it"
        ));
    };
    crypto::decrypt(secret.trim(), cipher)
        .map(Some)
        .map_err(|e| e.to_string())
}

impl ShowArgs {
    /// Runs it.
    pub fn run(self, ctx: &crate::cli::Context) -> anyhow::Result<ExitCode> {
        let (manifest, store) = desk(ctx)?;
        let number = match self.id.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => store.bounty_report_number(&self.id)?,
        };
        let report = number
            .map(|n| store.bounty_report(n))
            .transpose()?
            .flatten()
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no bounty report {} (guardian bounty list)",
                    terminal_line(&self.id)
                )
            })?;
        let poc = proof_of_concept(&report);
        let disclosure = disclosure(&report.view);
        let duplicates = store.possible_duplicates(report.id)?;
        let v = &report.view;
        let clock = clock_of(v, &manifest, now_ms());
        if self.json {
            print_json(&json!({
                "report": v,
                "incident": v.triage.incident_id,
                "proof_of_concept": poc.as_ref().ok().cloned().flatten(),
                "proof_of_concept_error": poc.as_ref().err(),
                "disclosure": disclosure,
                "clock": clock,
                "possible_duplicates": duplicates,
            }));
        } else {
            let line = |t: &str| terminal_line(t);
            let opt_line = |t: &Option<String>| t.as_deref().map(terminal_line);
            println!("report #{}: {}", v.id, line(&v.title));
            println!("public id:   {} (the researcher's)", line(&v.public_id));
            println!("status:      {}", line(&v.status));
            println!("claimed:     {} / {}", line(&v.severity), line(&v.impact));
            if let (Some(s), Some(i)) = (
                opt_line(&v.triage.confirmed_severity),
                opt_line(&v.triage.confirmed_impact),
            ) {
                println!("confirmed:   {s} / {i}");
            }
            println!("contracts:   {}", line(&v.contracts.join(", ")));
            println!("submitted:   {}", utc(v.submitted_at));
            if let Some(c) = &clock {
                println!("clock:       {}", c.human(v.submitted_at));
            }
            println!("contact:     {}", line(&v.contact));
            if let Some(a) = opt_line(&v.payout_address) {
                println!("payout to:   {a}");
            }
            println!(
                "credit:      {}",
                opt_line(&v.credit_as).unwrap_or_else(|| "(not to be named)".into())
            );
            if let Some(of) = v.triage.duplicate_of {
                println!("duplicate of: #{of}");
            }
            if let (Some(r), Some(e)) = (&v.triage.close_reason, &v.triage.close_evidence) {
                println!("closed:      {}: {}", line(r), terminal_safe(e));
            }
            if let Some(i) = v.triage.incident_id {
                println!("incident:    {i} (guardian incident show {i})");
            }
            if let (Some(usd), Some(tx)) = (v.triage.reward_usd, opt_line(&v.triage.paid_tx)) {
                println!("paid:        ${usd} in {tx}");
            }
            match disclosure.may_publish_from {
                Some(at) => println!("disclosure:  from {} ({})", utc(at), disclosure.rule),
                None => println!("disclosure:  {}", disclosure.rule),
            }
            for d in &duplicates {
                println!(
                    "possible duplicate of #{} ({}, {:.0}% similar): {} (guardian bounty duplicate {} --of {})",
                    d.id,
                    line(&d.status),
                    d.similarity * 100.0,
                    line(&d.title),
                    v.id,
                    d.id
                );
            }
            println!("\ndescription:\n{}", terminal_safe(&v.description));
            match &poc {
                Ok(Some(text)) => println!("\nproof of concept:\n{}", terminal_safe(text)),
                Ok(None) => println!("\nproof of concept: none given"),
                Err(why) => println!("\nproof of concept: {}", terminal_safe(why)),
            }
            println!("\nthread:");
            for e in &v.thread {
                let what = match (opt_line(&e.status), e.message.as_deref().map(terminal_safe)) {
                    (Some(s), Some(m)) => format!("-> {s}: {m}"),
                    (Some(s), None) => format!("-> {s}"),
                    (None, Some(m)) => m,
                    (None, None) => String::new(),
                };
                println!("  {}  {}  {what}", utc(e.at), line(&e.author));
            }
        }
        // A key that does not open the proof is an error worth a non-zero exit; a missing key
        // is not (a viewer may read the rest).
        Ok(match poc {
            Err(_) if process_env(KEY_VAR).is_some() => ExitCode::FAILURE,
            _ => ExitCode::SUCCESS,
        })
    }
}
