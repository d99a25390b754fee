//! `guardian token create`: a team API token for `guardian serve`, printed once.

use std::process::ExitCode;

use crate::{
    bounty::tokens::Role, chain::signer::process_env, config::manifest_path, deployment::db_path,
    operator::operator, output::print_json, storage::Store,
};

/// Team API tokens for `guardian serve` (/api/...): viewer reads reports, triager also reads
/// their threads (and will triage), admin may do everything. The token is printed once and
/// stored only as its SHA-256; send it as `Authorization: Bearer <token>`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    action: Action,
}

/// The token subcommands.
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Create a token and print it (once).
    Create {
        /// What it may do.
        #[arg(long, value_enum)]
        role: Role,
        /// Whose it is (default: the operator: --as, GUARDIAN_OPERATOR, or the OS user).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Who is creating it (default: GUARDIAN_OPERATOR, else the OS user).
        #[arg(long = "as", value_name = "NAME")]
        operator: Option<String>,
        /// Print {name, role, token} as JSON.
        #[arg(long)]
        json: bool,
    },
}

impl Args {
    /// Runs the subcommand.
    pub async fn run(self, ctx: &super::Context) -> anyhow::Result<ExitCode> {
        let Action::Create {
            role,
            name,
            operator: by,
            json,
        } = self.action;
        let path = manifest_path(ctx.config.clone());
        if !path.exists() {
            anyhow::bail!(
                "{} not found: run this beside the manifest (or --config FILE); the token is stored in its guardian.db",
                path.display()
            );
        }
        let store = Store::open(&db_path(&path))?;
        let by = operator(by.as_deref(), &process_env);
        let name = name.unwrap_or_else(|| by.clone());
        let token = store.create_api_token(&name, role, &by)?;
        if json {
            print_json(&serde_json::json!({"name": name, "role": role, "token": token}));
        } else {
            println!("{token}");
            eprintln!(
                "token for {name} ({}): shown once, stored only as its hash; send it as Authorization: Bearer <token>",
                role.as_str()
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
