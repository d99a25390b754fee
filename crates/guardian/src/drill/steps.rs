//! The level-3 response rehearsed on one fork, step by step: pause everything (one block),
//! check every target paused in that block, rescue funds to the safe recipient, give them
//! back, unpause. Each step says what worked, what did not and why, and how long it took.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Instant,
};

use alloy::{
    eips::BlockId,
    primitives::{Address, B256, Bytes, U256},
    sol_types::SolCall,
};
use bindings::{
    EmergencyBrake,
    interfaces::{IERC20Metadata, IIntegraVault, IPausable},
};

use super::{
    Outcome, Step,
    fork::{Actor, Fork, Planned, Tx},
};
use crate::{config::ContractConfig, funds::Holding, roles::Role};

/// A contract of the fork with its role holders, as its role events tell them.
pub struct Target<'a> {
    /// The manifest's entry.
    pub contract: &'a ContractConfig,
    /// Role id → holders.
    pub holders: BTreeMap<B256, BTreeSet<Address>>,
}

impl Target<'_> {
    fn holders_of(&self, role: Role) -> Vec<Address> {
        self.holders
            .get(&role.id())
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// Funds rescued by the drill, to be given back.
pub struct Rescued {
    contract: String,
    address: Address,
    token: Option<Address>,
    amount: U256,
    shown: String,
}

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// The first holder of `role` the drill can act as directly (an account before a Safe), or why
/// there is none.
async fn direct(fork: &Fork, holders: &[Address], role: Role, what: &str) -> Result<Actor, String> {
    if holders.is_empty() {
        return Err(format!(
            "no account holds {}: nobody can {what} it",
            role.name()
        ));
    }
    let mut actors = Vec::new();
    for h in holders {
        actors.push(fork.actor(*h).await);
    }
    actors.sort_by_key(|a| match a {
        Actor::Account(_) => 0,
        Actor::Safe { .. } => 1,
        Actor::Contract(_) => 2,
    });
    match actors.into_iter().next() {
        Some(a @ (Actor::Account(_) | Actor::Safe { .. })) => Ok(a),
        _ => Err(format!(
            "{} is held only by contracts the drill cannot act as ({}): nobody it can drive can {what} it",
            role.name(),
            holders
                .iter()
                .map(Address::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// How to pause `target`: its own pauser, else the brake holding `PAUSER_ROLE` on it through its
/// `GUARDIAN_ROLE` holder; the call and in words who makes it.
async fn pause_route(
    fork: &Fork,
    target: &Target<'_>,
    brakes: &BTreeMap<Address, Vec<Address>>,
) -> Result<(Planned, String), String> {
    let pausers = target.holders_of(Role::Pauser);
    let (brake_holders, others): (Vec<Address>, Vec<Address>) = pausers
        .iter()
        .copied()
        .partition(|p| brakes.contains_key(p));
    let own = direct(fork, &others, Role::Pauser, "pause").await;
    if let Ok(actor) = own {
        let words = format!("by {} (PAUSER_ROLE)", actor.describe());
        let call = Planned {
            actor,
            to: target.contract.address,
            value: U256::ZERO,
            data: IPausable::pauseCall {}.abi_encode().into(),
            before: Vec::new(),
        };
        return Ok((call, words));
    }
    for brake in &brake_holders {
        if let Ok(actor) = direct(fork, &brakes[brake], Role::Guardian, "pull").await {
            let words = format!(
                "through the brake {brake} by {} (GUARDIAN_ROLE)",
                actor.describe()
            );
            let data = EmergencyBrake::pauseTargetsCall {
                list: vec![target.contract.address],
            }
            .abi_encode();
            let call = Planned {
                actor,
                to: *brake,
                value: U256::ZERO,
                data: data.into(),
                before: Vec::new(),
            };
            return Ok((call, words));
        }
    }
    if pausers.is_empty() {
        return Err("no account holds PAUSER_ROLE: nobody can pause it".into());
    }
    match own {
        Err(why) if brake_holders.is_empty() => Err(why),
        _ => Err(format!(
            "PAUSER_ROLE is held by the brake ({}) whose GUARDIAN_ROLE no account the drill can act as holds{}",
            brake_holders
                .iter()
                .map(Address::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            if others.is_empty() {
                String::new()
            } else {
                " and by contracts it cannot act as".into()
            }
        )),
    }
}

/// Runs `plans` in one block of the fork and records in `step` one outcome per call (or the
/// fork's failure as a whole); returns the `items` (one per call, in order) whose call worked.
async fn run_in_one_block<T>(
    fork: &mut Fork,
    step: &mut Step,
    plans: &[Planned],
    names: Vec<(String, String)>,
    items: Vec<T>,
) -> Vec<T> {
    let mut worked = Vec::new();
    match fork.run(plans).await {
        Ok((block, sent)) => {
            step.block = block;
            let items = items
                .into_iter()
                .map(Some)
                .chain(std::iter::repeat_with(|| None));
            for (((contract, words), s), item) in names.into_iter().zip(sent).zip(items) {
                let ok = s.error.is_none();
                if ok && let Some(item) = item {
                    worked.push(item);
                }
                step.outcomes.push(Outcome {
                    contract,
                    ok,
                    detail: s.error.unwrap_or(words),
                    tx: s.tx,
                });
            }
        }
        Err(e) => step.error = Some(e),
    }
    worked
}

/// Sends every pause it can and mines them in ONE block; the step, that block, and the targets
/// whose pause was mined.
pub async fn pause(
    fork: &mut Fork,
    targets: &[Target<'_>],
    brakes: &BTreeMap<Address, Vec<Address>>,
) -> (Step, Option<u64>, Vec<usize>) {
    let started = Instant::now();
    let mut step = Step::new("pause");
    let mut plans = Vec::new();
    let mut names = Vec::new();
    let mut index = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        match pause_route(fork, t, brakes).await {
            Ok((plan, words)) => {
                plans.push(plan);
                names.push((t.contract.name().to_string(), format!("paused {words}")));
                index.push(i);
            }
            Err(why) => step.outcomes.push(Outcome::failed(t.contract.name(), why)),
        }
    }
    let sent_targets = run_in_one_block(fork, &mut step, &plans, names, index).await;
    step.finish(ms(started));
    let block = step.block;
    (step, block, sent_targets)
}

/// Reads `paused()` of every paused target at `block`: all must be paused in that one block.
pub async fn verify(fork: &Fork, targets: &[Target<'_>], sent: &[usize], block: u64) -> Step {
    let started = Instant::now();
    let mut step = Step::new("paused in one block");
    step.block = Some(block);
    for i in sent {
        let c = targets[*i].contract;
        let paused = IPausable::new(c.address, fork.client.provider())
            .paused()
            .block(BlockId::number(block))
            .call()
            .await;
        step.outcomes.push(match paused {
            Ok(true) => Outcome::worked(c.name(), format!("paused at block {block}")),
            Ok(false) => Outcome::failed(c.name(), format!("not paused at block {block}")),
            Err(e) => Outcome::failed(c.name(), format!("cannot read paused(): {e}")),
        });
    }
    step.finish(ms(started));
    step
}

/// Rescues every fund-holding contract's funds to `recipient` as its `EMERGENCY_ROLE` holder.
pub async fn rescue(
    fork: &mut Fork,
    targets: &[Target<'_>],
    recipient: Option<Address>,
) -> (Step, Vec<Rescued>) {
    let started = Instant::now();
    let mut step = Step::new("rescue");
    let mut plans = Vec::new();
    let mut names = Vec::new();
    let mut pending = Vec::new();
    for t in targets.iter().filter(|t| t.contract.kind.holds_funds()) {
        let c = t.contract;
        let Some(to) = recipient else {
            step.outcomes.push(Outcome::failed(
                c.name(),
                "no safe recipient in [emergency] safe_recipients: nowhere to rescue funds to"
                    .into(),
            ));
            continue;
        };
        let holdings: Vec<Holding> = match crate::funds::read_holdings(&fork.client, c).await {
            Ok(h) => h.into_iter().filter(|h| !h.amount.is_zero()).collect(),
            Err(e) => {
                step.outcomes.push(Outcome::failed(
                    c.name(),
                    format!("cannot read its funds: {e}"),
                ));
                continue;
            }
        };
        if holdings.is_empty() {
            step.outcomes
                .push(Outcome::worked(c.name(), "holds nothing to rescue".into()));
            continue;
        }
        let actor = match direct(
            fork,
            &t.holders_of(Role::Emergency),
            Role::Emergency,
            "rescue from",
        )
        .await
        {
            Ok(a) => a,
            Err(why) => {
                step.outcomes.push(Outcome::failed(c.name(), why));
                continue;
            }
        };
        for h in holdings {
            let shown = h.show(h.amount);
            let data = IIntegraVault::emergencyWithdrawCall {
                token: h.token.unwrap_or(Address::ZERO),
                recipient: to,
                amount: h.amount,
            }
            .abi_encode();
            names.push((
                c.name().to_string(),
                format!(
                    "rescued {shown} to {to} as {} (EMERGENCY_ROLE)",
                    actor.describe()
                ),
            ));
            plans.push(Planned {
                actor: actor.clone(),
                to: c.address,
                value: U256::ZERO,
                data: data.into(),
                before: Vec::new(),
            });
            pending.push(Rescued {
                contract: c.name().to_string(),
                address: c.address,
                token: h.token,
                amount: h.amount,
                shown,
            });
        }
    }
    let rescued = run_in_one_block(fork, &mut step, &plans, names, pending).await;
    step.finish(ms(started));
    (step, rescued)
}

/// Gives every rescued amount back with `replenish`, from the safe recipient (impersonated).
pub async fn give_back(fork: &mut Fork, rescued: &[Rescued], recipient: Option<Address>) -> Step {
    let started = Instant::now();
    let mut step = Step::new("return");
    let Some(from) = recipient else {
        step.finish(ms(started));
        return step;
    };
    let mut plans = Vec::new();
    let mut names = Vec::new();
    for r in rescued {
        let data = IIntegraVault::replenishCall {
            token: r.token.unwrap_or(Address::ZERO),
            amount: r.amount,
        }
        .abi_encode();
        let before = match r.token {
            None => Vec::new(),
            Some(token) => {
                let approve = IERC20Metadata::approveCall {
                    spender: r.address,
                    value: r.amount,
                }
                .abi_encode();
                vec![Tx {
                    from,
                    to: token,
                    value: U256::ZERO,
                    data: Bytes::from(approve),
                }]
            }
        };
        names.push((
            r.contract.clone(),
            format!("returned {} from {from}", r.shown),
        ));
        plans.push(Planned {
            actor: Actor::Account(from),
            to: r.address,
            value: if r.token.is_none() {
                r.amount
            } else {
                U256::ZERO
            },
            data: data.into(),
            before,
        });
    }
    run_in_one_block(fork, &mut step, &plans, names, Vec::<()>::new()).await;
    step.finish(ms(started));
    step
}

/// Unpauses every target the drill paused, as its `PAUSER_ROLE` holder (the brake cannot).
pub async fn unpause(
    fork: &mut Fork,
    targets: &[Target<'_>],
    paused: &[usize],
    brakes: &BTreeMap<Address, Vec<Address>>,
) -> Step {
    let started = Instant::now();
    let mut step = Step::new("unpause");
    let mut plans = Vec::new();
    let mut names = Vec::new();
    for i in paused {
        let t = &targets[*i];
        let (held_by_brake, pausers): (Vec<Address>, Vec<Address>) = t
            .holders_of(Role::Pauser)
            .into_iter()
            .partition(|p| brakes.contains_key(p));
        if pausers.is_empty() && !held_by_brake.is_empty() {
            step.outcomes.push(Outcome::failed(
                t.contract.name(),
                "only the brake holds PAUSER_ROLE, and a brake can only pause: nobody can unpause it"
                    .into(),
            ));
            continue;
        }
        match direct(fork, &pausers, Role::Pauser, "unpause").await {
            Ok(actor) => {
                names.push((
                    t.contract.name().to_string(),
                    format!("unpaused by {} (PAUSER_ROLE)", actor.describe()),
                ));
                plans.push(Planned {
                    actor,
                    to: t.contract.address,
                    value: U256::ZERO,
                    data: IPausable::unpauseCall {}.abi_encode().into(),
                    before: Vec::new(),
                });
            }
            Err(why) => step.outcomes.push(Outcome::failed(t.contract.name(), why)),
        }
    }
    run_in_one_block(fork, &mut step, &plans, names, Vec::<()>::new()).await;
    step.finish(ms(started));
    step
}
