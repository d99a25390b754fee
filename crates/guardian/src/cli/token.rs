//! `guardian token create|list|revoke`: the team API tokens of `guardian serve`.

use std::process::ExitCode;

use crate::{
    bounty::tokens::{Role, TokenInfo},
    chain::signer::process_env,
    config::manifest_path,
    deployment::store_location,
    operator::identified,
    output::{Table, print_json},
    storage::{Store, now_ms},
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
        /// The person it is for: every change made with it is recorded under this name.
        #[arg(long, value_name = "PERSON")]
        name: String,
        /// How long it works: 90m, 12h, 30d, 2w (default: until revoked).
        #[arg(long, value_name = "DURATION", value_parser = parse_lifetime)]
        expires_in: Option<i64>,
        /// Who is creating it (default: GUARDIAN_OPERATOR, else the OS user).
        #[arg(long = "as", value_name = "NAME")]
        operator: Option<String>,
        /// Print {name, role, token, expires_at} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the tokens: number, name, role, state, expiry and last use (never the token).
    List {
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its number (from `guardian token list`): it answers 401 from then on.
    Revoke {
        /// The token's number.
        id: i64,
        /// Who is revoking it (default: GUARDIAN_OPERATOR, else the OS user).
        #[arg(long = "as", value_name = "NAME")]
        operator: Option<String>,
    },
}

fn parse_lifetime(text: &str) -> Result<i64, String> {
    match super::alerts::duration_ms(text) {
        Some(ms) if ms > 0 => Ok(ms),
        _ => Err(format!(
            "`{text}` is not a duration such as 90m, 12h, 30d or 2w"
        )),
    }
}

impl Args {
    /// Runs the subcommand.
    pub async fn run(self, ctx: &super::Context) -> anyhow::Result<ExitCode> {
        let path = manifest_path(ctx.config.clone());
        if !path.exists() {
            anyhow::bail!(
                "{} not found: run this beside the manifest (or --config FILE); the tokens are kept in its guardian.db",
                path.display()
            );
        }
        let manifest = crate::config::Manifest::load_with_env(&path, &process_env)?;
        let store = Store::open_at(&store_location(&path, Some(&manifest), &process_env))?;
        match self.action {
            Action::Create {
                role,
                name,
                expires_in,
                operator: by,
                json,
            } => {
                let by = identified(by.as_deref(), &process_env)?;
                let name = name.trim().to_string();
                if name.is_empty() {
                    anyhow::bail!("--name must name the person the token is for");
                }
                let expires_at = expires_in.map(|ms| now_ms().saturating_add(ms));
                let token = store.create_api_token(&name, role, &by, expires_at)?;
                if json {
                    print_json(&serde_json::json!({
                        "name": name, "role": role, "token": token, "expires_at": expires_at,
                    }));
                } else {
                    println!("{token}");
                    let until = expires_at.map_or("until revoked".to_string(), |t| {
                        format!("until {} UTC", super::history::utc(t))
                    });
                    eprintln!(
                        "token for {name} ({}), valid {until}: shown once, stored only as its hash; send it as Authorization: Bearer <token>",
                        role.as_str()
                    );
                }
            }
            Action::List { json } => {
                let tokens = store.api_tokens(now_ms())?;
                if json {
                    print_json(&serde_json::json!({ "tokens": tokens }));
                } else if tokens.is_empty() {
                    println!(
                        "no tokens (guardian token create --role viewer|responder|triager|admin --name PERSON)"
                    );
                } else {
                    print!("{}", table(&tokens));
                }
            }
            Action::Revoke { id, operator: by } => {
                let by = identified(by.as_deref(), &process_env)?;
                store.revoke_api_token(id, &by, now_ms())?;
                println!("token {id} revoked: it answers 401 from now on");
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn table(tokens: &[TokenInfo]) -> Table {
    let time = |t: Option<i64>| t.map_or("-".to_string(), super::history::utc);
    let mut t = Table::new([
        "ID",
        "NAME",
        "ROLE",
        "STATE",
        "CREATED (UTC)",
        "BY",
        "EXPIRES (UTC)",
        "LAST USED (UTC)",
    ]);
    for k in tokens {
        let state = match (&k.revoked_by, k.state) {
            (Some(by), "revoked") => format!("revoked by {by}"),
            (_, state) => state.to_string(),
        };
        t.row(vec![
            k.id.to_string(),
            k.name.clone(),
            k.role.as_str().to_string(),
            state,
            super::history::utc(k.created_at),
            k.created_by.clone(),
            time(k.expires_at),
            time(k.last_used_at),
        ]);
    }
    t
}
