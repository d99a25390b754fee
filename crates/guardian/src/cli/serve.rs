//! `guardian serve`: the HTTP server for the bug bounty desk (the team's dashboard later).

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

use anyhow::Context as _;

use crate::{
    config::{Manifest, env::process_env, manifest_path},
    deployment::{Deployment, store_location},
    monitor::MonitorOptions,
    notify::Contacts,
    serve,
    service::Service,
    storage::Store,
};

/// Serve the bug bounty desk (the program page GET /bounty, researchers' reports and their
/// follow-up) and the team's war room (sign in at /signin with a team token: the overview,
/// alerts and incident pages, live; the team API under /api). Needs [bounty] team_public_key
/// (`guardian bounty keygen`); records go to the manifest's database. Runs until Ctrl-C.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address to listen on (the public bounty desk; the team's pages too, unless
    /// --team-listen gives them their own).
    #[arg(long, value_name = "ADDR", default_value = serve::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Serve the team's pages and API on this address only, apart from the public desk.
    #[arg(long, value_name = "ADDR")]
    team_listen: Option<SocketAddr>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The certificate's PEM private key (with --tls-cert).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Run the monitor in this process too (as `guardian monitor` does: rules, contacts, the
    /// automatic response; with [ha], it takes chain leases like any other instance), so one
    /// process serves a small team.
    #[arg(long)]
    monitor: bool,
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
        let listen = serve::Listen {
            public: self.listen,
            team: self.team_listen,
            tls: self.tls_cert.zip(self.tls_key),
        };
        let scheme = if listen.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let server = serve::start_listening(manifest, Some(path.clone()), store, &listen).await?;
        println!(
            "serving the bug bounty desk on {scheme}://{}/bounty and the war room on {scheme}://{}/",
            server.addr, server.team_addr
        );
        if !self.monitor {
            server
                .run_until(super::monitor::shutdown_signal())
                .await
                .context("the server stopped with an error")?;
            return Ok(ExitCode::SUCCESS);
        }
        // The monitor runs until the server stops (Ctrl-C or SIGTERM), then delivers what is due.
        let deployment = Deployment::open(&path, None, &process_env).await?;
        let rules = crate::monitor::configured_rules(&deployment).await?;
        let ha = super::monitor::ha_of(&deployment, false)?;
        let contacts = Arc::new(Contacts::load(&deployment.manifest, &process_env));
        let service = Service::new(&deployment, contacts)
            .await?
            .monitor(MonitorOptions {
                rules,
                ha,
                ..MonitorOptions::default()
            })
            .delivering()?
            .bounty_clock();
        println!("monitoring every chain in this process");
        let serving = async {
            if let Err(e) = server.run_until(super::monitor::shutdown_signal()).await {
                tracing::error!("the server stopped with an error: {e}");
            }
        };
        let ran = service.run(None, |_, _| {}, serving).await;
        Ok(if ran.ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}
