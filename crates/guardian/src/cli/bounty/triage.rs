//! The triage decisions from the command line: each command parses its flags into a
//! [`Decision`] and takes it through [`protocol::take`], the same path the team API uses.

use std::{process::ExitCode, sync::Arc};

use alloy::primitives::B256;

use crate::{
    bounty::{
        Severity,
        protocol::{self, Taken},
        triage::{CloseReason, Decision},
    },
    chain::signer::process_env,
    config::manifest_path,
    deployment::Deployment,
    incident::playbook::Responder,
    notify::Contacts,
    operator::identified,
    output::print_json,
    response::pause::Outcome,
};

/// What every decision command takes.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// Who decides (default: GUARDIAN_OPERATOR, else the OS user).
    #[arg(long = "as", value_name = "NAME")]
    operator: Option<String>,
    /// Print the transition (and the incident, for confirm) as JSON.
    #[arg(long)]
    json: bool,
}

/// `guardian bounty ack ID`.
#[derive(Debug, clap::Args)]
pub struct AckArgs {
    /// The report.
    id: i64,
    #[command(flatten)]
    common: Common,
}

/// `guardian bounty ask ID --message TEXT`.
#[derive(Debug, clap::Args)]
pub struct AskArgs {
    /// The report.
    id: i64,
    /// What the researcher should send (they see it in their thread, and by e-mail).
    #[arg(long, value_name = "TEXT")]
    message: String,
    #[command(flatten)]
    common: Common,
}

/// `guardian bounty confirm ID --severity S --impact I`.
#[derive(Debug, clap::Args)]
pub struct ConfirmArgs {
    /// The report.
    id: i64,
    /// The severity the team confirms (critical, high, medium, low).
    #[arg(long, value_parser = parse_severity)]
    severity: Severity,
    /// The impact id the team confirms (the ids are on the program page, /bounty).
    #[arg(long, value_name = "ID")]
    impact: String,
    /// Sign the incident's pause with this signer only (default: whichever holds the role).
    #[arg(long, value_name = "NAME")]
    signer: Option<String>,
    #[command(flatten)]
    common: Common,
}

/// `guardian bounty duplicate ID --of ID`.
#[derive(Debug, clap::Args)]
pub struct DuplicateArgs {
    /// The report.
    id: i64,
    /// The earlier report it duplicates.
    #[arg(long, value_name = "ID")]
    of: i64,
    #[command(flatten)]
    common: Common,
}

/// `guardian bounty close ID --reason R --evidence TEXT`.
#[derive(Debug, clap::Args)]
pub struct CloseArgs {
    /// The report.
    id: i64,
    /// Why it is closed.
    #[arg(long, value_enum)]
    reason: CloseReason,
    /// What shows the reason (the researcher reads it).
    #[arg(long, value_name = "TEXT")]
    evidence: String,
    #[command(flatten)]
    common: Common,
}

/// `guardian bounty fixed ID`.
#[derive(Debug, clap::Args)]
pub struct FixedArgs {
    /// The report.
    id: i64,
    #[command(flatten)]
    common: Common,
}

/// `guardian bounty pay ID --amount-usd N --tx HASH`.
#[derive(Debug, clap::Args)]
pub struct PayArgs {
    /// The report.
    id: i64,
    /// The reward paid, in US dollars (at most the confirmed severity's cap).
    #[arg(long, value_name = "N")]
    amount_usd: u64,
    /// The payment's transaction hash.
    #[arg(long, value_name = "HASH")]
    tx: B256,
    #[command(flatten)]
    common: Common,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse()
}

impl AckArgs {
    /// Runs it.
    pub async fn run(self, ctx: &crate::cli::Context) -> anyhow::Result<ExitCode> {
        take(ctx, self.id, Decision::Acknowledge, self.common, None).await
    }
}

impl AskArgs {
    /// Runs it.
    pub async fn run(self, ctx: &crate::cli::Context) -> anyhow::Result<ExitCode> {
        let decision = Decision::AskInfo {
            message: self.message,
        };
        take(ctx, self.id, decision, self.common, None).await
    }
}

impl ConfirmArgs {
    /// Runs it.
    pub async fn run(self, ctx: &crate::cli::Context) -> anyhow::Result<ExitCode> {
        let decision = Decision::Confirm {
            severity: self.severity,
            impact: self.impact,
        };
        take(ctx, self.id, decision, self.common, self.signer).await
    }
}

impl DuplicateArgs {
    /// Runs it.
    pub async fn run(self, ctx: &crate::cli::Context) -> anyhow::Result<ExitCode> {
        let decision = Decision::Duplicate { of: self.of };
        take(ctx, self.id, decision, self.common, None).await
    }
}

impl CloseArgs {
    /// Runs it.
    pub async fn run(self, ctx: &crate::cli::Context) -> anyhow::Result<ExitCode> {
        let decision = Decision::Close {
            reason: self.reason,
            evidence: self.evidence,
        };
        take(ctx, self.id, decision, self.common, None).await
    }
}

impl FixedArgs {
    /// Runs it.
    pub async fn run(self, ctx: &crate::cli::Context) -> anyhow::Result<ExitCode> {
        take(ctx, self.id, Decision::Fixed, self.common, None).await
    }
}

impl PayArgs {
    /// Runs it.
    pub async fn run(self, ctx: &crate::cli::Context) -> anyhow::Result<ExitCode> {
        let decision = Decision::Pay {
            amount_usd: self.amount_usd,
            tx: self.tx,
        };
        take(ctx, self.id, decision, self.common, None).await
    }
}

/// Opens the deployment (its chains only when the decision may open an incident), takes the
/// decision, sends what it queued, and prints the outcome.
async fn take(
    ctx: &crate::cli::Context,
    id: i64,
    decision: Decision,
    common: Common,
    signer: Option<String>,
) -> anyhow::Result<ExitCode> {
    let path = manifest_path(ctx.config.clone());
    let chains: Option<&[String]> = match decision {
        Decision::Confirm { .. } => None,
        _ => Some(&[]),
    };
    let deployment = Deployment::open(&path, chains, &process_env).await?;
    let contacts = Arc::new(Contacts::load(&deployment.manifest, &process_env));
    let responder = Responder {
        deployment: &deployment,
        contacts: &contacts,
        actor: identified(common.operator.as_deref(), &process_env)?,
        signer,
        outbid: None,
    };
    let taken = protocol::take(&responder, id, &decision).await?;
    // The researcher's e-mail and the incident's messages go out before the command exits;
    // what fails stays in the outbox for the next guardian process.
    crate::cli::incident::deliver(&path, contacts.clone(), &deployment).await;
    if common.json {
        print_json(&taken);
    } else {
        print_taken(&taken);
    }
    // Exit 0 only if the incident the decision calls for is open and everything its level
    // pauses is paused, as for `guardian pause`.
    let incomplete = taken.incident_error.is_some()
        || taken.incident.as_ref().is_some_and(|e| {
            e.run.pause_error.is_some() || e.run.pause.as_ref().is_some_and(|p| !p.ok())
        });
    Ok(if incomplete {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_taken(t: &Taken) {
    let tr = &t.transition;
    println!(
        "report {}: {} -> {} (by {})",
        tr.report, tr.from, tr.to, tr.by
    );
    match (&tr.researcher_emailed_via[..], &tr.researcher_not_emailed) {
        ([], Some(why)) => println!("researcher: not e-mailed: {why}"),
        (via, _) => println!("researcher: e-mailed through {}", via.join(", ")),
    }
    if let Some(e) = &t.incident {
        let verb = if e.opened { "opened" } else { "joined" };
        println!(
            "incident {}: {verb} at level {} (guardian incident show {})",
            e.incident, e.run.level, e.incident
        );
        if let Some(p) = &e.run.pause {
            let count = |o: Outcome| p.targets.iter().filter(|t| t.outcome == o).count();
            println!(
                "pause: {} paused now, {} already paused, {} failed",
                count(Outcome::Changed),
                count(Outcome::AlreadyDone),
                count(Outcome::Failed)
            );
            for t in p.targets.iter().filter(|t| t.outcome == Outcome::Failed) {
                println!("  not paused: {} on {}", t.name, t.chain);
            }
        }
        if let Some(err) = &e.run.pause_error {
            println!("pause: not done: {err}");
        }
    }
    if let Some(err) = &t.incident_error {
        eprintln!(
            "error: the confirmation stands, but its incident could not be opened: {err}\nnext: guardian incident open --level N --contracts ... (the report is the evidence)"
        );
    }
}
