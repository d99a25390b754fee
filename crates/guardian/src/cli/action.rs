//! What every action command (pause, unpause, withdraw, replenish, upgrade, revoke) shares: its
//! flags, and opening the deployment under the incident the action is recorded in.

use crate::deployment::Deployment;

/// The flags every action command takes.
#[derive(Debug, clap::Args)]
pub struct ActionFlags {
    /// Sign with this signer (default: whichever configured signer holds the role).
    #[arg(long, value_name = "NAME")]
    pub signer: Option<String>,
    /// Show what would be sent, send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Why (recorded with the action).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub(super) incident: super::incident::UnderIncident,
}

impl ActionFlags {
    /// Opens the deployment (only `chain`'s endpoints, when given) and checks the incident the
    /// action is to be recorded under, before anything is read from a chain.
    pub async fn open(
        &self,
        ctx: &super::Context,
        chain: Option<&str>,
    ) -> anyhow::Result<Deployment> {
        let deployment = ctx.deployment(chain).await?;
        self.incident.check(&deployment)?;
        Ok(deployment)
    }

    /// Records the action in the incident named by `--incident`, if any.
    pub fn record(&self, deployment: &Deployment, action_id: i64) -> anyhow::Result<()> {
        self.incident.record(deployment, action_id, self.dry_run)?;
        Ok(())
    }
}
