//! `guardian db migrate`: the records of an SQLite file copied into PostgreSQL.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context as _;

use crate::{
    config::{DATABASE_URL_VAR, env::process_env, manifest_path},
    deployment::db_path,
    incident::Integrity,
    output::Table,
    storage::Store,
};

/// The database: copy an SQLite file's records into PostgreSQL.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    action: Action,
}

/// The db subcommands.
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Write what `guardian pause` journalled locally (guardian-offline.db beside the manifest)
    /// while the PostgreSQL database was unreachable into the database, then set the file
    /// aside. Any command that opens the database does it too.
    Sync,
    /// Copy every record of an SQLite file into the empty PostgreSQL database named by
    /// GUARDIAN_DATABASE_URL (never on the command line: it may hold a password), then check
    /// every incident timeline's hash chain there. A target that holds records is refused.
    Migrate {
        /// The SQLite file (default: guardian.db beside the manifest).
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
    },
}

impl Args {
    /// Runs the subcommand.
    pub async fn run(self, ctx: &super::Context) -> anyhow::Result<ExitCode> {
        let from = match self.action {
            Action::Migrate { from } => from,
            Action::Sync => return sync(ctx),
        };
        let from = from.unwrap_or_else(|| db_path(&manifest_path(ctx.config.clone())));
        let Some(url) = process_env(DATABASE_URL_VAR).filter(|u| !u.trim().is_empty()) else {
            anyhow::bail!(
                "{DATABASE_URL_VAR} is not set: export it as postgres://USER:PASSWORD@HOST:PORT/DATABASE (the target, an empty database); nothing was copied"
            );
        };
        let url = crate::secret::Secret::new(url);
        if !from.exists() {
            anyhow::bail!(
                "{} does not exist: name the SQLite file with --from FILE",
                from.display()
            );
        }
        let source =
            Store::open(&from).with_context(|| format!("cannot open {}", from.display()))?;
        let target = Store::connect(url.expose())?;
        let copied = tokio::task::spawn_blocking(move || {
            let copied = source.copy_into(&target);
            (copied, target)
        })
        .await
        .context("the copy stopped")?;
        let (copied, target) = copied;
        let copied = copied?;
        let mut table = Table::new(["TABLE", "ROWS"]);
        for (name, rows) in &copied.tables {
            table.row(vec![name.clone(), rows.to_string()]);
        }
        print!("{table}");
        println!(
            "copied {} records from {} into {}",
            copied.rows(),
            from.display(),
            crate::storage::Location::Url(url)
        );
        let mut broken = 0;
        let incidents = target.incidents(false)?;
        for incident in &incidents {
            match target.timeline(incident.id)?.1 {
                Integrity::Intact { .. } => {}
                Integrity::Altered { entry, problem } => {
                    broken += 1;
                    eprintln!(
                        "error: incident {}: timeline entry {entry}: {problem}",
                        incident.id
                    );
                }
            }
        }
        if broken > 0 {
            eprintln!(
                "error: {broken} incident timeline(s) do not verify in the copy: drop the target database, check the source with `guardian incident show`, and migrate again"
            );
            return Ok(ExitCode::FAILURE);
        }
        println!(
            "verified: the hash chains of all {} incident timelines are intact",
            incidents.len()
        );
        Ok(ExitCode::SUCCESS)
    }
}

/// `guardian db sync`.
fn sync(ctx: &super::Context) -> anyhow::Result<ExitCode> {
    let path = manifest_path(ctx.config.clone());
    let offline = crate::deployment::offline_path(&path);
    if !offline.exists() {
        println!(
            "nothing to sync: no offline journal at {}",
            offline.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let manifest = crate::config::Manifest::load_with_env(&path, &process_env)?;
    let location = crate::deployment::store_location(&path, Some(&manifest), &process_env);
    if !matches!(location, crate::storage::Location::Url(_)) {
        anyhow::bail!(
            "no PostgreSQL database is configured ([storage] url or {DATABASE_URL_VAR}): {} has nowhere to go",
            offline.display()
        );
    }
    // Opening the database absorbs the offline journal and sets the file aside.
    crate::deployment::open_store(&path, &location, false)?;
    println!("the offline journal is in {location} now");
    Ok(ExitCode::SUCCESS)
}
