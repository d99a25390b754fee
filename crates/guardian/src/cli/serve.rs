//! `guardian serve`: the HTTP server for the bug bounty desk (the team's dashboard later).

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

use anyhow::Context as _;

use crate::{
    config::{Manifest, env::process_env, manifest_path},
    deployment::store_location,
    serve,
    storage::Store,
};

/// Serve the bug bounty desk: the program page (GET /bounty), researchers' reports
/// (POST /bounty/reports) and their follow-up (GET/POST /bounty/reports/ID with the token as a
/// bearer token). Needs [bounty] team_public_key (`guardian bounty keygen`); reports go to
/// guardian.db beside the manifest. Runs until Ctrl-C.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to listen on.
    #[arg(long, value_name = "ADDR", default_value = serve::DEFAULT_LISTEN)]
    listen: SocketAddr,
}

impl Args {
    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run(self, ctx: &super::Context) -> anyhow::Result<ExitCode> {
        let path = manifest_path(ctx.config.clone());
        let manifest = Manifest::load(&path)?;
        // Before the database is created: a desk that cannot encrypt must not start at all.
        serve::team_key(&manifest)?;
        let db = store_location(&path, Some(&manifest), &process_env);
        let store = Arc::new(Store::open_at(&db).with_context(|| format!("cannot open {db}"))?);
        let server = serve::start_with(manifest, Some(path), store, self.listen).await?;
        println!(
            "serving the bug bounty desk on http://{}/bounty",
            server.addr
        );
        server
            .run_until(super::monitor::shutdown_signal())
            .await
            .context("the server stopped with an error")?;
        Ok(ExitCode::SUCCESS)
    }
}
