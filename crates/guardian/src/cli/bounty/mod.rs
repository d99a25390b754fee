//! `guardian bounty`: the bug bounty desk from the command line (`keygen` for now; the team's
//! triage commands come next).

mod assess;

use std::process::ExitCode;

use age::secrecy::ExposeSecret as _;

use crate::{bounty::crypto, output::print_json};

/// The bug bounty desk: `bounty keygen` makes the team's key pair for proofs of concept.
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
    pub async fn run(self, _ctx: &super::Context) -> anyhow::Result<ExitCode> {
        match self.action {
            Action::Keygen(args) => keygen(args),
            Action::Assess(args) => args.run(_ctx).await,
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
