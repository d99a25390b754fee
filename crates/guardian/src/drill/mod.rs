//! `guardian drill --fork`: the level-3 response rehearsed on a fork of each real chain, acting
//! as the real role holders, with nothing ever sent to the real chain; the result is recorded
//! in the journal as the last drill.
//!
//! Each chain is forked by anvil through a local send guard ([`proxy`]) that refuses every
//! send; on the fork the drill pauses every target in one block, checks it, rescues the funds
//! to the safe recipient, gives them back and unpauses ([`steps`]).

pub mod fork;
pub mod proxy;
pub mod steps;

use std::{collections::BTreeMap, path::PathBuf, time::Instant};

use alloy::primitives::{Address, TxHash};
use serde::Serialize;

use crate::{
    config::{ContractKind, Manifest},
    roles::Role,
    status::role_holders,
    storage::Store,
};
use fork::Fork;
use steps::Target;

/// How to run the drill.
#[derive(Debug, Clone)]
pub struct DrillOptions {
    /// The anvil binary that forks each chain.
    pub anvil: PathBuf,
    /// Only this chain (by its manifest name); every chain when `None`.
    pub chain: Option<String>,
}

/// Why the drill could not run at all (a step that fails is in the report instead).
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// `--chain` names no chain of the manifest.
    #[error("no chain `{0}` in the manifest")]
    UnknownChain(String),
    /// The drill's result could not be recorded.
    #[error("cannot record the drill in the journal: {0}")]
    Storage(#[from] crate::storage::StorageError),
}

/// What became of one contract in one step.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The contract's name in the manifest.
    pub contract: String,
    /// Whether it worked.
    pub ok: bool,
    /// What was done, or why it could not be.
    pub detail: String,
    /// The transaction on the fork, if one was sent.
    pub tx: Option<TxHash>,
}

impl Outcome {
    /// A contract for which the step worked.
    pub fn worked(contract: &str, detail: String) -> Self {
        Self {
            contract: contract.to_string(),
            ok: true,
            detail,
            tx: None,
        }
    }

    /// A contract for which the step did not work, with why.
    pub fn failed(contract: &str, why: String) -> Self {
        Self {
            contract: contract.to_string(),
            ok: false,
            detail: why,
            tx: None,
        }
    }
}

/// One step of the response on one fork.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// `fork`, `pause`, `paused in one block`, `rescue`, `return` or `unpause`.
    pub name: String,
    /// Whether every contract's outcome worked and nothing else failed.
    pub ok: bool,
    /// Milliseconds it took, on this machine's clock.
    pub ms: u64,
    /// The fork's block its transactions were mined in.
    pub block: Option<u64>,
    /// Per contract.
    pub outcomes: Vec<Outcome>,
    /// A failure of the step as a whole (the fork did not answer).
    pub error: Option<String>,
}

impl Step {
    /// A step not run yet.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            ok: false,
            ms: 0,
            block: None,
            outcomes: Vec::new(),
            error: None,
        }
    }

    /// Closes the step after `ms` milliseconds.
    pub fn finish(&mut self, ms: u64) {
        self.ms = ms;
        self.ok = self.error.is_none() && self.outcomes.iter().all(|o| o.ok);
    }
}

/// The drill on one chain.
#[derive(Debug, Clone, Serialize)]
pub struct ChainDrill {
    /// The chain's name in the manifest.
    pub chain: String,
    /// The real chain's block the fork started from.
    pub fork_block: Option<u64>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Sends the guard refused (none is expected: the drill sends only to the fork).
    pub refused_sends: usize,
}

impl ChainDrill {
    /// The same with every registered secret redacted from its texts: a revert or an error the
    /// real endpoint answered through the fork could quote its URL.
    fn redacted(mut self) -> Self {
        use crate::secret::redact;
        for step in &mut self.steps {
            if let Some(e) = &mut step.error {
                *e = redact(e).into_owned();
            }
            for o in &mut step.outcomes {
                o.detail = redact(&o.detail).into_owned();
            }
        }
        self
    }
}

/// The whole drill.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// Whether every step worked on every chain.
    pub ok: bool,
    /// The journal's action recording it.
    pub action_id: i64,
    /// The one line recorded in the journal.
    pub summary: String,
    /// Per chain.
    pub chains: Vec<ChainDrill>,
}

/// Runs the drill on every chain of `manifest` (or only `options.chain`) and records it in
/// `store` as a `drill` action by `operator`.
pub async fn run(
    manifest: &Manifest,
    store: &Store,
    operator: &str,
    options: &DrillOptions,
) -> Result<DrillReport, DrillError> {
    if let Some(c) = &options.chain
        && !manifest.chains.contains_key(c)
    {
        return Err(DrillError::UnknownChain(c.clone()));
    }
    let chains: Vec<(&String, &crate::config::ChainConfig)> = manifest
        .chains
        .iter()
        .filter(|(name, _)| options.chain.as_ref().is_none_or(|c| c == *name))
        .collect();
    let started = futures::future::join_all(chains.iter().map(|(name, cfg)| async move {
        let at = Instant::now();
        let fork = Fork::start(name, cfg, &options.anvil).await;
        (name.to_string(), fork, at.elapsed().as_millis() as u64)
    }))
    .await;
    let blocks: BTreeMap<&str, u64> = started
        .iter()
        .filter_map(|(name, fork, _)| fork.as_ref().ok().map(|f| (name.as_str(), f.block)))
        .collect();
    let params = serde_json::json!({"fork": true, "chains": blocks});
    let action_id = store.begin_action("drill", operator, Some("fire drill on a fork"), &params)?;
    let drills = futures::future::join_all(
        started
            .into_iter()
            .map(|(name, fork, ms)| drill_chain(manifest, name, fork, ms)),
    )
    .await
    .into_iter()
    .map(ChainDrill::redacted)
    .collect::<Vec<_>>();
    let summary = summarise(&drills);
    let ok = drills.iter().all(|d| d.steps.iter().all(|s| s.ok));
    store.finish_action(action_id, ok, &summary)?;
    Ok(DrillReport {
        ok,
        action_id,
        summary,
        chains: drills,
    })
}

/// The level-3 response on one fork (or why the fork could not start).
async fn drill_chain(
    manifest: &Manifest,
    chain: String,
    fork: Result<Fork, String>,
    fork_ms: u64,
) -> ChainDrill {
    let mut first = Step::new("fork");
    let mut fork = match fork {
        Ok(f) => f,
        Err(e) => {
            first.error = Some(crate::secret::redact(&e).into_owned());
            first.finish(fork_ms);
            return ChainDrill {
                chain,
                fork_block: None,
                steps: vec![first],
                refused_sends: 0,
            };
        }
    };
    first.block = Some(fork.block);
    first.outcomes.push(Outcome::worked(
        &chain,
        format!(
            "forked at block {} through the send guard {}",
            fork.block, fork.guard.url
        ),
    ));
    first.finish(fork_ms);
    let mut steps = vec![first];
    let contracts: Vec<_> = manifest
        .contracts
        .iter()
        .filter(|c| c.chain() == chain)
        .collect();
    // Every contract's role holders, as its role events on the real chain (read through the
    // fork) tell them.
    let mut targets = Vec::new();
    let mut brakes: BTreeMap<Address, Vec<Address>> = BTreeMap::new();
    let mut unreadable = Step::new("read roles");
    let read_at = Instant::now();
    for c in &contracts {
        if c.kind == ContractKind::TestToken {
            continue;
        }
        match role_holders(&fork.client, c.address, c.deployed_block.unwrap_or(0)).await {
            Ok(holders) if c.kind == ContractKind::EmergencyBrake => {
                let guardians = holders
                    .get(&Role::Guardian.id())
                    .map(|s| s.iter().copied().collect())
                    .unwrap_or_default();
                brakes.insert(c.address, guardians);
            }
            Ok(holders) if c.kind.is_pausable() => targets.push(Target {
                contract: c,
                holders,
            }),
            Ok(_) => {}
            Err(e) => unreadable.outcomes.push(Outcome::failed(
                c.name(),
                format!("cannot read its role holders: {e}"),
            )),
        }
    }
    if !unreadable.outcomes.is_empty() {
        unreadable.finish(read_at.elapsed().as_millis() as u64);
        steps.push(unreadable);
    }
    let (pause, block, paused) = steps::pause(&mut fork, &targets, &brakes).await;
    steps.push(pause);
    if let Some(block) = block {
        steps.push(steps::verify(&fork, &targets, &paused, block).await);
    }
    let recipient = manifest.emergency.safe_recipients.first().copied();
    let (rescue, rescued) = steps::rescue(&mut fork, &targets, recipient).await;
    steps.push(rescue);
    steps.push(steps::give_back(&mut fork, &rescued, recipient).await);
    steps.push(steps::unpause(&mut fork, &targets, &paused, &brakes).await);
    let refused_sends = fork.guard.counts.refused();
    let fork_block = Some(fork.block);
    fork.stop().await;
    ChainDrill {
        chain,
        fork_block,
        steps,
        refused_sends,
    }
}

/// One line for the journal: `fork of local at block 42: 5 of 6 steps worked; failed: pause
/// OwnershipTokenizer (no account holds PAUSER_ROLE: nobody can pause it)`.
pub fn summarise(drills: &[ChainDrill]) -> String {
    let forks: Vec<String> = drills
        .iter()
        .map(|d| match d.fork_block {
            Some(b) => format!("{} at block {b}", d.chain),
            None => format!("{} (not forked)", d.chain),
        })
        .collect();
    let steps: Vec<&Step> = drills.iter().flat_map(|d| &d.steps).collect();
    let worked = steps.iter().filter(|s| s.ok).count();
    let mut failed = Vec::new();
    for d in drills {
        for s in &d.steps {
            if let Some(e) = &s.error {
                failed.push(format!("{} on {} ({e})", s.name, d.chain));
            }
            for o in s.outcomes.iter().filter(|o| !o.ok) {
                failed.push(format!("{} {} ({})", s.name, o.contract, o.detail));
            }
        }
    }
    let mut line = format!(
        "fork of {}: {worked} of {} steps worked",
        forks.join(", "),
        steps.len()
    );
    if !failed.is_empty() {
        line.push_str("; failed: ");
        line.push_str(&failed.join("; "));
    }
    crate::secret::redact(&line).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_steps_and_names_each_failure_with_its_reason() {
        let mut pause = Step::new("pause");
        pause.outcomes.push(Outcome::failed(
            "OwnershipTokenizer",
            "no account holds PAUSER_ROLE: nobody can pause it".into(),
        ));
        pause
            .outcomes
            .push(Outcome::worked("DocumentRegistry", "paused".into()));
        pause.finish(3);
        let mut rescue = Step::new("rescue");
        rescue.finish(1);
        let drill = ChainDrill {
            chain: "devnet".into(),
            fork_block: Some(42),
            steps: vec![pause, rescue],
            refused_sends: 0,
        };
        assert_eq!(
            summarise(&[drill]),
            "fork of devnet at block 42: 1 of 2 steps worked; failed: pause OwnershipTokenizer (no account holds PAUSER_ROLE: nobody can pause it)"
        );
    }
}
