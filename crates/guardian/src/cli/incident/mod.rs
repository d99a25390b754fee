//! `guardian incident`: open an incident at level 1–3 (its playbook runs at once), follow it in
//! the war room, and take it to closed through its tasks and the post-incident checklist.

mod affected;
mod exploit;
mod movements;
mod report;
mod show;

use std::{process::ExitCode, sync::Arc};

use anyhow::Context as _;
use serde::Serialize;

use crate::{
    chain::signer::process_env,
    config::manifest_path,
    deployment::{Deployment, store_location},
    incident::{
        Incident, NewIncident,
        playbook::{PlaybookRun, Responder},
    },
    notify::{Contacts, Outbox},
    operator::{identified, operator},
    output::print_json,
    storage::Store,
};

/// Incidents: open one at level 1 (minor), 2 (moderate: pauses the affected contracts) or 3
/// (critical: pauses everything on every chain and activates the emergency team), then follow it
/// with show, note, task, escalate, resolve and close. Every entry names the operator (--as, else
/// GUARDIAN_OPERATOR, else the OS user).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    action: Action,
    /// Who is acting (default: GUARDIAN_OPERATOR, else the OS user).
    #[arg(long = "as", value_name = "NAME", global = true)]
    operator: Option<String>,
    /// Print the result as JSON.
    #[arg(long, global = true)]
    json: bool,
}

/// The incident subcommands.
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Open an incident; its level's playbook runs at once. Prints its id.
    Open(OpenArgs),
    /// List incidents, newest first (active ones unless --all).
    List {
        /// Closed and resolved ones too.
        #[arg(long)]
        all: bool,
    },
    /// The war room: status, each affected contract's state, open tasks, checklist, timeline.
    Show {
        /// The incident's id.
        id: i64,
    },
    /// Add a note to the timeline.
    Note {
        /// The incident's id.
        id: i64,
        /// The note.
        text: String,
    },
    /// Mark a task done (`incident task ID TASK done`) or give it an owner (`incident task ID
    /// TASK take [--owner NAME]`, the operator unless named).
    Task {
        /// The incident's id.
        id: i64,
        /// The task's id, as `incident show` lists it (`investigate-root-cause`).
        task: String,
        /// `done` or `take`.
        #[arg(value_parser = ["done", "take"])]
        state: String,
        /// Who takes it (with `take`; the operator unless named).
        #[arg(long)]
        owner: Option<String>,
    },
    /// Raise the level; the higher level's actions run at once (level 2 pauses the affected
    /// contracts, level 3 everything).
    Escalate {
        /// The incident's id.
        id: i64,
        /// The new level (higher than the current one).
        #[arg(long, value_parser = clap::value_parser!(u8).range(2..=3))]
        level: u8,
        /// Sign the pause with this signer (default: whichever holds the role).
        #[arg(long, value_name = "NAME")]
        signer: Option<String>,
    },
    /// Say the harm has stopped (set automatically when every affected contract is paused).
    Mitigate {
        /// The incident's id.
        id: i64,
    },
    /// Record how the fix was verified (with the upgrade, it proves "fix deployed and verified").
    VerifyFix {
        /// The incident's id.
        id: i64,
        /// How it was verified.
        #[arg(long, value_name = "TEXT")]
        note: String,
    },
    /// Attest a checklist item the records cannot prove (root cause, audit of the fix, ...).
    Check {
        /// The incident's id.
        id: i64,
        /// The item's id, as `incident show` lists it (`root-cause-documented`).
        item: String,
        /// What proves it: a text or a URL.
        #[arg(long, value_name = "TEXT|URL")]
        evidence: String,
    },
    /// Unpause the contracts this incident paused: once the fix is deployed and verified (else
    /// --force --reason) and every escrow among them holds what it owes.
    Unpause {
        /// The incident's id.
        id: i64,
        /// Unpause before the fix is verified (needs --reason, which is recorded).
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why, for the record (with --force).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Sign with this signer (default: whichever holds the role).
        #[arg(long, value_name = "NAME")]
        signer: Option<String>,
    },
    /// Tell one audience (team, partners, users, public) through the contacts that have it:
    /// a template naming the [incident] contacts, or --message FILE. Level 1 never tells users;
    /// the public hears only after mitigation.
    Notify {
        /// The incident's id.
        id: i64,
        /// Who is told.
        #[arg(long, value_parser = ["team", "partners", "users", "public"])]
        audience: String,
        /// The message's lines, from this file (default: the audience's template).
        #[arg(long, value_name = "FILE")]
        message: Option<std::path::PathBuf>,
    },
    /// Mark it resolved: fixed and resumed (level 2 and 3 must be mitigated first).
    Resolve {
        /// The incident's id.
        id: i64,
    },
    /// Every document owner, token holder and escrow payer/payee of the affected contracts, with
    /// what they had at stake at the incident's start and now. An export (--csv, --json) is
    /// recorded for the checklist.
    Affected {
        /// The incident's id.
        id: i64,
        /// Print RFC 4180 CSV (with a header row).
        #[arg(long)]
        csv: bool,
    },
    /// Where the funds went: every transfer out of its contracts in the attack transactions and
    /// its rescues, the attacker's addresses with who first funded each, and the source read.
    Movements {
        /// The incident's id.
        id: i64,
    },
    /// Record where the exploit started (its first transaction): the start of "time to detect",
    /// and the block before it is where the funds at risk are read.
    Exploit {
        /// The incident's id.
        id: i64,
        /// The exploit's first transaction.
        #[arg(long)]
        tx: alloy::primitives::TxHash,
        /// The chain it is on (default: the chain that knows it).
        #[arg(long)]
        chain: Option<String>,
    },
    /// Print what to send to others: `--format seal911`, the first message to an emergency
    /// responder network (protocol, chains, attack transactions, funds, what is paused, people;
    /// never a webhook or any secret).
    Export {
        /// The incident's id.
        id: i64,
        /// What to print.
        #[arg(long, value_enum)]
        format: exploit::ExportFormat,
    },
    /// Add to the post-mortem's review: a step of the "why" chain (`why`), what went well
    /// (`went-well`), what went wrong (`went-wrong`), where we were lucky (`lucky`), or a
    /// follow-up action (`action`, with --owner and --due).
    Review {
        /// The incident's id.
        id: i64,
        /// The section.
        #[arg(value_enum)]
        section: show::ReviewSection,
        /// What to say.
        text: String,
        /// An action's owner (default: the operator).
        #[arg(long)]
        owner: Option<String>,
        /// An action's due date, YYYY-MM-DD.
        #[arg(long)]
        due: Option<String>,
    },
    /// Close it and publish its final post-mortem. Level 2 and 3 need the post-incident
    /// checklist complete; what the records prove is ticked automatically, the rest is listed
    /// with the command that satisfies it.
    Close {
        /// The incident's id.
        id: i64,
        /// md or html (with --out).
        #[arg(long, value_enum, default_value = "md")]
        format: report::Format,
        /// Also write the published post-mortem to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
    /// Write the post-mortem (Markdown or one self-contained HTML file). Of a closed incident,
    /// the one published with its closing; of an open one, a draft, and with --out the file is
    /// recorded in the timeline.
    Report {
        /// The incident's id.
        id: i64,
        /// md or html.
        #[arg(long, value_enum, default_value = "md")]
        format: report::Format,
        /// Write it to this file (default: print it).
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
    },
}

/// `guardian incident open`.
#[derive(Debug, clap::Args)]
struct OpenArgs {
    /// 1 (minor), 2 (moderate) or 3 (critical).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=3))]
    level: u8,
    /// One line saying what is happening.
    #[arg(long, value_name = "T")]
    title: String,
    /// The affected contracts, by manifest name (needed for level 2).
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    contracts: Vec<String>,
    /// The alert that started it (linked to the incident).
    #[arg(long, value_name = "ID")]
    from_alert: Option<i64>,
    /// Who leads the response.
    #[arg(long, value_name = "NAME")]
    commander: Option<String>,
    /// Sign the pause with this signer (default: whichever holds the role).
    #[arg(long, value_name = "NAME")]
    signer: Option<String>,
}

/// What a subcommand did.
enum Done {
    /// It changed an incident (and ran a playbook, for open and escalate).
    Changed(Box<(Incident, Option<PlaybookRun>)>),
    /// It printed what was asked, with this exit code.
    Printed(ExitCode),
}

/// An incident with what the command's playbook did.
#[derive(Debug, Serialize)]
struct WithRun {
    #[serde(flatten)]
    incident: Incident,
    #[serde(skip_serializing_if = "Option::is_none")]
    playbook: Option<PlaybookRun>,
}

impl Args {
    /// Runs the subcommand.
    pub async fn run(self, ctx: &super::Context) -> anyhow::Result<ExitCode> {
        let path = manifest_path(ctx.config.clone());
        let deployment = Deployment::open(&path, None, &process_env).await?;
        let contacts = Arc::new(Contacts::load(&deployment.manifest, &process_env));
        let signer = match &self.action {
            Action::Open(o) => o.signer.clone(),
            Action::Escalate { signer, .. } | Action::Unpause { signer, .. } => signer.clone(),
            _ => None,
        };
        let responder = Responder {
            deployment: &deployment,
            contacts: &contacts,
            actor: identified(self.operator.as_deref(), &process_env)?,
            signer,
            outbid: None,
        };
        let json = self.json;
        let outcome = self.act(&responder).await;
        // Whatever the command queued is sent before it exits; what fails stays owed and is
        // retried by the next guardian process (the monitor, or any incident command).
        deliver(&path, contacts.clone(), &deployment).await;
        let (incident, run) = match outcome? {
            Done::Changed(both) => *both,
            Done::Printed(code) => return Ok(code),
        };
        let ok = run
            .as_ref()
            .is_none_or(|r| r.pause_error.is_none() && r.pause.as_ref().is_none_or(|p| p.ok()));
        if json {
            print_json(&WithRun {
                incident: deployment.store.incident(incident.id)?.unwrap_or(incident),
                playbook: run,
            });
        } else if let Some(run) = &run {
            show::print_run(&incident, run);
        } else {
            println!(
                "incident {} · level {} · {}",
                incident.id, incident.level, incident.status
            );
        }
        Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }

    async fn act(self, r: &Responder<'_>) -> anyhow::Result<Done> {
        let store = &r.deployment.store;
        let one = |i: Result<Incident, crate::incident::IncidentError>| -> anyhow::Result<_> {
            Ok(Done::Changed(Box::new((i?, None))))
        };
        match self.action {
            Action::Open(o) => {
                let run = r
                    .open(
                        NewIncident {
                            level: o.level,
                            title: o.title,
                            commander: o.commander,
                            contracts: o.contracts,
                            from_alert: o.from_alert,
                            evidence: None,
                        },
                        None,
                    )
                    .await?;
                Ok(Done::Changed(Box::new((r.get(run.incident)?, Some(run)))))
            }
            Action::Escalate { id, level, .. } => {
                let run = r.escalate(id, level, None).await?;
                Ok(Done::Changed(Box::new((r.get(id)?, Some(run)))))
            }
            Action::List { all } => {
                let list = store.incidents(!all)?;
                if self.json {
                    print_json(&list);
                } else {
                    show::print_list(&list);
                }
                Ok(Done::Printed(ExitCode::SUCCESS))
            }
            Action::Show { id } => show::run(r, id, self.json).await,
            Action::Review {
                id,
                section,
                text,
                owner,
                due,
            } => one(r.review(id, section.name(), &text, owner.as_deref(), due.as_deref())),
            Action::Note { id, text } => one(r.note(id, &text)),
            Action::Task {
                id,
                task,
                state,
                owner,
            } => match state.as_str() {
                "take" => one(r.take_task(id, &task, owner.as_deref())),
                _ => one(r.task_done(id, &task)),
            },
            Action::Mitigate { id } => one(r.mitigate(id)),
            Action::VerifyFix { id, note } => one(r.verify_fix(id, &note)),
            Action::Check { id, item, evidence } => one(r.check(id, &item, &evidence)),
            Action::Resolve { id } => one(r.resolve(id)),
            Action::Notify {
                id,
                audience,
                message,
            } => {
                let text = match &message {
                    Some(path) => Some(
                        std::fs::read_to_string(path)
                            .with_context(|| format!("reading {}", path.display()))?,
                    ),
                    None => None,
                };
                let told = r.notify(id, &audience, text.as_deref()).await?;
                if !self.json {
                    println!("queued for {}", told.join(", "));
                }
                Ok(Done::Changed(Box::new((r.get(id)?, None))))
            }
            Action::Unpause {
                id, force, reason, ..
            } => {
                let force = if force { reason.as_deref() } else { None };
                let report = r.unpause(id, force).await?;
                let ok = report.ok();
                if self.json {
                    print_json(&report);
                } else {
                    for t in &report.targets {
                        let result = match (t.outcome, t.paused) {
                            (crate::response::pause::Outcome::Proposed, _) => format!(
                                "still paused: proposed to the Safe's owners ({})",
                                t.via.as_deref().unwrap_or("a Safe")
                            ),
                            (_, Some(false)) => "resumed".into(),
                            (_, Some(true)) => "STILL PAUSED".into(),
                            (_, None) => "unknown".into(),
                        };
                        println!("  {}/{}: {result}", t.chain, t.name);
                    }
                    for p in &report.proposals {
                        super::safe::print_proposal(p);
                    }
                }
                Ok(Done::Printed(if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }))
            }
            Action::Close { id, format, out } => {
                let closed = r.close(id).await?;
                if let Some(out) = out {
                    report::write_published(r, id, format, &out)?;
                }
                Ok(Done::Changed(Box::new((closed, None))))
            }
            Action::Exploit { id, tx, chain } => {
                one(exploit::run(r, id, tx, chain.as_deref()).await)
            }
            Action::Export { id, format } => exploit::export(r, id, format, self.json).await,
            Action::Affected { id, csv } => {
                let format = match (csv, self.json) {
                    (true, true) => anyhow::bail!("--csv and --json: choose one"),
                    (true, false) => affected::Format::Csv,
                    (false, true) => affected::Format::Json,
                    (false, false) => affected::Format::Table,
                };
                Ok(Done::Printed(affected::run(r, id, format).await?))
            }
            Action::Movements { id } => Ok(Done::Printed(movements::run(r, id, self.json).await?)),
            Action::Report { id, format, out } => report::run(r, id, format, out, self.json).await,
        }
    }
}

/// One pass of the outbox (what is due now), then the finished deliveries into the timelines.
pub(in crate::cli) async fn deliver(
    path: &std::path::Path,
    contacts: Arc<Contacts>,
    deployment: &Deployment,
) {
    let sent = async {
        let store = Arc::new(Store::open_at(&store_location(
            path,
            Some(&deployment.manifest),
            &process_env,
        ))?);
        let outbox = Outbox::new(store, contacts)?;
        let stats = outbox.deliver_due().await;
        for f in &stats.failures {
            eprintln!(
                "warning: notification to {} failed, will be retried: {}",
                f.contact, f.error
            );
        }
        deployment.store.log_incident_deliveries()?;
        anyhow::Ok(())
    };
    if let Err(e) = sent.await {
        eprintln!("warning: notifications not sent now (they stay queued): {e:#}");
    }
}

/// `--incident ID` on the commands that act (pause, withdraw, replenish, upgrade, revoke): the
/// action is recorded in that incident's timeline, with its transactions.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct UnderIncident {
    /// Record this action in incident ID's timeline (checked before anything is sent).
    #[arg(long, value_name = "ID")]
    incident: Option<i64>,
}

impl UnderIncident {
    /// The incident named, if any.
    pub(super) fn id(&self) -> Option<i64> {
        self.incident
    }

    /// Refuses, before anything is sent, an incident that does not exist or is closed.
    pub(super) fn check(&self, deployment: &Deployment) -> anyhow::Result<()> {
        let Some(id) = self.incident else {
            return Ok(());
        };
        match deployment.store.incident(id)? {
            None => anyhow::bail!(
                "no incident {id} (guardian incident list shows them); nothing was sent"
            ),
            Some(i) if i.status == crate::incident::IncidentStatus::Closed => {
                anyhow::bail!("incident {id} is closed: its record is final; nothing was sent")
            }
            Some(_) => Ok(()),
        }
    }

    /// Writes action `action_id` (and its transactions) into the incident's timeline; a dry run
    /// is not an action of the incident.
    pub(super) fn record(
        &self,
        deployment: &Deployment,
        action_id: i64,
        dry_run: bool,
    ) -> anyhow::Result<()> {
        let Some(id) = self.incident else {
            return Ok(());
        };
        if dry_run {
            return Ok(());
        }
        let actor = operator(None, &process_env);
        crate::incident::playbook::record_action(&deployment.store, id, &actor, action_id)
            .with_context(|| format!("recording action {action_id} in incident {id}"))?;
        Ok(())
    }
}

/// After any other command: one pass of the outbox for what an earlier run still owes (a
/// notification that failed and waits for its retry), then the finished incident deliveries
/// into their timelines. Nothing happens without a database beside the manifest; a failure is
/// a warning, never the command's failure.
pub(super) async fn deliver_owed(config: Option<std::path::PathBuf>) {
    let path = crate::config::manifest_path(config);
    if !path.exists() {
        return;
    }
    let sent = async {
        let manifest = crate::config::Manifest::load_with_env(&path, &process_env)?;
        let db = store_location(&path, Some(&manifest), &process_env);
        if manifest.contacts.is_empty() || !db.exists() {
            return anyhow::Ok(());
        }
        // After the command's own work: a database that does not answer within a second is
        // left for the next command (an emergency pause journalled offline must not hang here).
        let store = Arc::new(match &db {
            crate::storage::Location::Url(url) => {
                Store::connect_within(url.expose(), Some(std::time::Duration::from_secs(1)))?
            }
            file => Store::open_at(file)?,
        });
        let contacts = Arc::new(Contacts::load(&manifest, &process_env));
        let stats = Outbox::new(store.clone(), contacts)?.deliver_due().await;
        for f in &stats.failures {
            eprintln!(
                "warning: notification to {} failed, will be retried: {}",
                f.contact, f.error
            );
        }
        store.log_incident_deliveries()?;
        anyhow::Ok(())
    };
    if let Err(e) = sent.await {
        tracing::debug!("owed notifications not sent now: {e:#}");
    }
}
