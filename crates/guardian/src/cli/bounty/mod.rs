//! `guardian bounty`: the bug bounty desk from the command line: `keygen` for the team's key
//! pair, `list` and `show` to read reports, and the triage decisions (`ack`, `ask`, `confirm`,
//! `duplicate`, `close`, `fixed`, `pay`).

mod read;
mod triage;

mod assess;

use std::process::ExitCode;

use age::secrecy::ExposeSecret as _;

use crate::{bounty::crypto, output::print_json};

/// The bug bounty desk: read and triage researchers' reports, and make the team's key pair.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    action: Action,
}

/// The bounty subcommands.
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Make the team's age key pair: the public key goes in the manifest's [bounty]
    /// team_public_key, the secret in GUARDIAN_BOUNTY_KEY where the team reads reports (not on
    /// the server). The secret is printed to stdout only, never logged.
    Keygen(KeygenArgs),
    /// List the reports, newest first, with each acknowledgement clock.
    List(read::ListArgs),
    /// Show one report: the thread, the proof of concept (decrypted with GUARDIAN_BOUNTY_KEY),
    /// possible duplicates, and when the researcher may publish.
    Show(read::ShowArgs),
    /// Acknowledge a report: the team is reading it (stops its clock).
    Ack(triage::AckArgs),
    /// Ask the researcher for more information (needs-info).
    Ask(triage::AskArgs),
    /// Confirm a report with a severity and an impact; a critical one opens (or joins) a
    /// level-3 incident, a high one a level-2 incident on its contracts.
    Confirm(triage::ConfirmArgs),
    /// Mark a report a duplicate of an earlier one.
    Duplicate(triage::DuplicateArgs),
    /// Close a report without reward, with the reason and its evidence.
    Close(triage::CloseArgs),
    /// Mark a confirmed report fixed (the fix is deployed).
    Fixed(triage::FixedArgs),
    /// Record the reward paid for a fixed report.
    Pay(triage::PayArgs),
    /// A report's reward: for critical and high, [bounty] share_percent of what its fund-holding
    /// contracts held at submission (read on chain, priced by [bounty]), at least min_usd, at
    /// most the tier's cap; for medium and low, [bounty] medium_usd / low_usd.
    Assess(assess::Args),
}

/// `guardian bounty keygen`.
#[derive(Debug, clap::Args)]
struct KeygenArgs {
    /// Print {"team_public_key": ..., "secret_key": ...} as JSON.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// Runs the bounty subcommand.
    pub async fn run(self, ctx: &super::Context) -> anyhow::Result<ExitCode> {
        match self.action {
            Action::Keygen(args) => keygen(args),
            Action::List(args) => args.run(ctx),
            Action::Show(args) => args.run(ctx),
            Action::Ack(args) => args.run(ctx).await,
            Action::Ask(args) => args.run(ctx).await,
            Action::Confirm(args) => args.run(ctx).await,
            Action::Duplicate(args) => args.run(ctx).await,
            Action::Close(args) => args.run(ctx).await,
            Action::Fixed(args) => args.run(ctx).await,
            Action::Pay(args) => args.run(ctx).await,
            Action::Assess(args) => args.run(ctx).await,
        }
    }
}

fn keygen(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let pair = crypto::generate();
    let secret = pair.secret.expose_secret();
    if args.json {
        print_json(&serde_json::json!({
            "team_public_key": pair.public,
            "secret_key": secret,
        }));
    } else {
        println!("# Put in guardian.toml (public: the server encrypts proofs of concept to it):");
        println!("[bounty]");
        println!("team_public_key = \"{}\"", pair.public);
        println!();
        println!("# Keep where the team reads reports, never on the server or in the manifest:");
        println!("GUARDIAN_BOUNTY_KEY={secret}");
    }
    Ok(ExitCode::SUCCESS)
}
