//! The drill's script, step by step, through the same library calls the commands use: the buggy
//! release, the exploit, the automatic level 3 incident, then rescue, fix, return, resume,
//! checklist and post-mortem.

use std::time::Duration;

use alloy::{
    primitives::{U256, utils::parse_ether},
    providers::{Provider, ProviderBuilder},
};
use bindings::{PaymentEscrow, drill::PaymentEscrowBuggy};
use serde_json::json;

use super::{DemoError, DemoOptions, DemoReport, Progress, at, scene::Scene};
use crate::{
    config::ContractKind,
    deployment::Deployment,
    funds::read_holdings,
    incident::{
        Incident,
        playbook::{Responder, record_action},
        report::Exploit,
    },
    notify::Contacts,
    response::{
        replenish::{self, ReplenishRequest},
        upgrade::{self, Implementation, UpgradeRequest},
        withdraw::{self, Amount, Asset, WithdrawRequest},
    },
};

/// The victims (dev accounts), the merchant they pay, and the attacker.
pub(super) const VICTIMS: [u32; 3] = [5, 6, 7];
pub(super) const MERCHANT: u32 = 8;
pub(super) const ATTACKER: u32 = 9;
/// Attacker transactions after the first.
const RETRIES: usize = 3;

/// Switches a local chain to a block every `secs` seconds.
pub(super) async fn interval_mining(url: &url::Url, secs: u64) -> Result<(), DemoError> {
    let p = ProviderBuilder::new().connect_http(url.clone());
    p.raw_request::<_, serde_json::Value>("evm_setIntervalMining".into(), (secs,))
        .await
        .map_err(at("setting 1 s blocks"))?;
    Ok(())
}

pub(super) fn contract<'a>(
    d: &'a Deployment,
    chain: &str,
    kind: ContractKind,
) -> Result<&'a crate::config::ContractConfig, DemoError> {
    d.manifest
        .contracts
        .iter()
        .find(|c| c.chain() == chain && c.kind == kind)
        .ok_or_else(|| DemoError::Step {
            step: "reading the manifest",
            message: format!("no {kind:?} on {chain}"),
        })
}

/// Plays the drill on `deployment` while the monitor follows it.
pub(super) async fn play(
    d: &Deployment,
    contacts: &Contacts,
    opts: &DemoOptions,
    progress: &Progress,
) -> Result<DemoReport, DemoError> {
    let chain = d.manifest.chains.keys().next().cloned().unwrap_or_default();
    let client = d.clients.get(&chain).ok_or_else(|| DemoError::Step {
        step: "connecting",
        message: format!("chain {chain} unreachable"),
    })?;
    let escrow = contract(d, &chain, ContractKind::PaymentEscrow)?;
    let registry = contract(d, &chain, ContractKind::DocumentRegistry)?;
    let scene = Scene::new(client_url(d, &chain)?, registry.address, escrow.address);
    let mut report = DemoReport {
        chain: chain.clone(),
        chain_id: client.chain_id,
        ..DemoReport::default()
    };

    progress.step("ordinary traffic: registrations, deposits, a release");
    let deposits = scene
        .traffic(&VICTIMS, MERCHANT)
        .await
        .map_err(at("ordinary traffic"))?;
    progress.done(&format!(
        "ordinary traffic: {} users escrowed {} for a merchant; a small invoice was paid",
        VICTIMS.len(),
        eth(deposits)
    ));

    progress.step("a routine release of the escrow ships a bug");
    let shipped = upgrade::run(
        d,
        &UpgradeRequest {
            contract: escrow.name().to_string(),
            implementation: Implementation::InitCode(PaymentEscrowBuggy::BYTECODE.clone()),
            chain: None,
            signer: None,
            dry_run: false,
            reason: Some(
                "routine release of the escrow (it carries a bug: release() forgets to settle)"
                    .into(),
            ),
        },
        &|_| {},
    )
    .await
    .map_err(at("shipping the buggy release"))?;
    let shipped_block = match &shipped.proposal {
        Some(p) => {
            super::multisig::sign_and_execute(d, p.id, &opts.operator)
                .await?
                .block
        }
        None => shipped
            .transactions
            .last()
            .map(|t| t.block)
            .unwrap_or_default(),
    };
    progress.done(&format!(
        "escrow upgraded to a release whose release() pays without settling (block {shipped_block}{})",
        if shipped.proposal.is_some() {
            ", proposed to the Safe and signed by two owners"
        } else {
            ""
        }
    ));

    progress.step("the attacker prepares: a document and a drainer contract");
    let drainer = scene
        .prepare_attacker(ATTACKER)
        .await
        .map_err(at("the attacker's preparation"))?;

    let ws = d
        .manifest
        .chains
        .get(&chain)
        .and_then(|c| c.rpc_urls.iter().find(|u| u.expose().scheme() == "ws"))
        .ok_or_else(|| DemoError::Step {
            step: "connecting",
            message: format!("no ws endpoint for {chain}"),
        })?;
    let arrivals = super::scene::Arrivals::watch(ws)
        .await
        .map_err(at("watching new heads"))?;

    progress.step("EXPLOIT: the attacker drains the escrow, one transaction per block");
    let first = scene
        .first_strike(ATTACKER, drainer)
        .await
        .map_err(at("the exploit"))?;
    report.exploit_block = first.block;
    progress.done(&format!(
        "exploit's first transaction mined in block {} ({}): {} releases of one payment",
        first.block,
        if first.reverted {
            "reverted"
        } else {
            "it worked"
        },
        super::scene::ROUNDS
    ));
    // The attacker keeps going, one transaction per block, while the monitor answers.
    let attacking = async {
        let mut txs = vec![first.clone()];
        for _ in 0..RETRIES {
            match scene.strike_again(ATTACKER, drainer).await {
                Ok(tx) => txs.push(tx),
                Err(e) => {
                    tracing::warn!("attacker: {e}");
                    break;
                }
            }
        }
        txs
    };
    let responding = wait_for_incident(d, first.block, progress);
    let (txs, incident) = tokio::join!(attacking, responding);
    report.attacker_txs = txs;
    let incident = incident?;
    report.incident = Some(incident.id);
    // Times start when the exploit's block reached the node (else when the attacker saw it).
    let start = arrivals.of(first.block).unwrap_or(first.seen_at);
    let figures = pause_figures(d, &incident, client.chain_id, start)?;
    report.alert_block = figures.alert_block;
    report.paused_block = figures.paused_block;
    report.detect_ms = figures.detect_ms;
    report.pause_ms = figures.pause_ms;
    report.pause_sent_ms = figures.sent_ms;
    for tx in report.attacker_txs.iter().skip(1) {
        let line = format!(
            "attacker's next transaction (block {}): {}",
            tx.block,
            if tx.reverted {
                format!("reverted {}", tx.error.as_deref().unwrap_or(""))
            } else {
                "IT WORKED".to_string()
            }
        );
        if tx.reverted {
            progress.done(&line)
        } else {
            progress.warn(&line)
        }
    }
    // The drainer holds what it took; beyond the attacker's own deposit, that is what others lost.
    let taken = scene.balance(drainer, None).await.map_err(at("balances"))?;
    let deposit = parse_ether(super::scene::ATTACK_DEPOSIT_ETH).unwrap_or_default();
    let measured_lost = taken.saturating_sub(deposit);

    let operator = opts.operator.clone();
    let r = Responder {
        deployment: d,
        contacts,
        actor: operator.clone(),
        signer: None,
        outbid: None,
    };
    let id = incident.id;
    // Where the exploit started, as the drill knows it: the start of the durations, and the
    // block before it is where the funds at risk are read.
    r.record_exploit(
        id,
        &Exploit {
            chain_id: client.chain_id,
            block: first.block,
            at: None,
            tx: Some(first.hash),
        },
    )
    .await
    .map_err(at("recording the exploit"))?;
    let _ = r.task_done(id, "coordinate-with-security-partners");

    progress.step("rescuing what is left to the safe address");
    let rescued = if opts.safe {
        super::multisig::rescue(d, id, escrow, &operator, progress).await?
    } else {
        rescue(d, id, escrow, &operator, progress).await?
    };

    progress.step("shipping the fix by upgrade and verifying it");
    let fix = upgrade::run(
        d,
        &UpgradeRequest {
            contract: escrow.name().to_string(),
            implementation: Implementation::InitCode(PaymentEscrow::BYTECODE.clone()),
            chain: None,
            signer: None,
            dry_run: false,
            reason: Some(format!(
                "incident {id}: fix release() (settle before paying)"
            )),
        },
        &|_| {},
    )
    .await
    .map_err(at("the fix"))?;
    record_action(&d.store, id, &operator, fix.action_id).map_err(at("recording the fix"))?;
    let passed = fix.checks.iter().filter(|c| c.ok).count();
    let verified = match &fix.proposal {
        Some(p) => {
            let done = super::multisig::under_incident(d, id, p, &operator).await?;
            let slot = client
                .provider()
                .get_storage_at(escrow.address, crate::status::IMPLEMENTATION_SLOT.into())
                .await
                .map_err(at("reading the implementation"))?;
            format!(
                "the Safe executed proposal {} in block {}: the implementation slot holds {}",
                p.id,
                done.block,
                alloy::primitives::Address::from_word(slot.into())
            )
        }
        None => format!(
            "implementation slot holds {}; {passed} of {} upgrade checks passed (paused state, roles and balances unchanged)",
            fix.implementation
                .map(|a| a.to_string())
                .unwrap_or_default(),
            fix.checks.len()
        ),
    };
    r.verify_fix(id, &verified)
        .map_err(at("recording the verification"))?;
    let _ = r.task_done(id, "develop-and-test-fix");
    progress.done(&format!("fix shipped and verified: {verified}"));

    progress.step("returning the funds so the escrow holds what it owes");
    let holdings = read_holdings(client, escrow)
        .await
        .map_err(at("reading the escrow"))?;
    let short = holdings
        .iter()
        .find(|h| h.token.is_none())
        .map(|h| h.shortfall())
        .unwrap_or_default();
    let returned = replenish::run(
        d,
        &ReplenishRequest {
            contract: escrow.name().to_string(),
            token: None,
            amount: alloy::primitives::utils::format_ether(short),
            signer: Some("safe".into()),
            dry_run: false,
            reason: Some(format!(
                "incident {id}: return the rescued funds and cover the loss"
            )),
        },
    )
    .await
    .map_err(at("returning the funds"))?;
    record_action(&d.store, id, &operator, returned.action_id)
        .map_err(at("recording the return"))?;
    progress.done(&format!(
        "returned {} (the rescue plus {} from the treasury): the escrow is solvent",
        eth(short),
        eth(short.saturating_sub(rescued))
    ));

    progress.step("identifying and telling the affected users");
    let parties = crate::incident::affected::affected(d, &r.get(id).map_err(at("incident"))?)
        .await
        .map_err(at("listing the affected users"))?;
    let list = opts.dir.join("affected.json");
    std::fs::write(
        &list,
        serde_json::to_string_pretty(&parties).unwrap_or_default(),
    )
    .map_err(at("writing the affected list"))?;
    let addresses = crate::incident::affected::distinct_addresses(&parties);
    d.store
        .record(
            id,
            &operator,
            Some((
                "affected-exported",
                json!({"addresses": addresses, "format": "json"}),
            )),
            &[],
        )
        .map_err(at("recording the affected list"))?;
    r.notify(id, "users", None)
        .await
        .map_err(at("telling the users"))?;
    let _ = r.task_done(id, "communicate-with-affected-users");
    progress.done(&format!(
        "{addresses} affected addresses listed ({}) and told",
        list.display()
    ));

    progress.step("resuming everything the incident paused");
    let resumed = r.unpause(id, None).await.map_err(at("resuming"))?;
    let _ = r.task_done(id, "deploy-fix-and-unpause");
    progress.done(&format!(
        "{} contracts resumed on every chain",
        resumed
            .targets
            .iter()
            .filter(|t| t.paused == Some(false))
            .count()
    ));

    // The chains end with the drill: where the funds went is read now and kept as evidence.
    // Evidence only: a read that fails is reported, and the drill goes on.
    progress.step("tracing where the funds went");
    let incident = r.get(id).map_err(at("incident"))?;
    match crate::incident::movements::read(d, &incident).await {
        Ok(moves) => {
            d.store
                .record(
                    id,
                    &operator,
                    Some((
                        crate::incident::movements::KIND,
                        serde_json::to_value(&moves).unwrap_or_default(),
                    )),
                    &[],
                )
                .map_err(at("recording the funds movements"))?;
            progress.done(&format!(
                "{} movements out of the incident's contracts ({}), {} attacker addresses",
                moves.movements.len(),
                moves.source.as_str(),
                moves.attackers.len()
            ));
        }
        Err(e) => progress.warn(&format!("where the funds went could not be read: {e}")),
    }

    super::closing::close(d, &r, &mut report, opts, shipped_block, progress).await?;
    report.check_lost(measured_lost);
    judge(&mut report);
    Ok(report)
}

/// Rescues what is left in `escrow` to the first safe recipient with a key of the manifest, as
/// `guardian withdraw` does, under incident `id`. What was moved.
async fn rescue(
    d: &Deployment,
    id: i64,
    escrow: &crate::config::ContractConfig,
    operator: &str,
    progress: &Progress,
) -> Result<U256, DemoError> {
    let safe = *d
        .manifest
        .emergency
        .safe_recipients
        .first()
        .ok_or_else(|| DemoError::Step {
            step: "rescue",
            message: "no safe recipient".into(),
        })?;
    let rescue = withdraw::run(
        d,
        &WithdrawRequest {
            contract: Some(escrow.name().to_string()),
            asset: Asset::Everything,
            amount: Amount::All,
            to: safe,
            signer: None,
            dry_run: false,
            reason: Some(format!("incident {id}: rescue the escrow's funds")),
        },
    )
    .await
    .map_err(at("rescue"))?;
    record_action(&d.store, id, operator, rescue.action_id).map_err(at("recording the rescue"))?;
    let rescued: U256 = rescue
        .movements
        .iter()
        .filter(|m| m.token.is_none())
        .map(|m| m.amount)
        .sum();
    progress.done(&format!(
        "rescued {} to the safe address {safe}",
        eth(rescued)
    ));
    Ok(rescued)
}

/// Waits until the monitor has opened an incident and its pause went out.
async fn wait_for_incident(
    d: &Deployment,
    exploit_block: u64,
    progress: &Progress,
) -> Result<Incident, DemoError> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut told = false;
    loop {
        let list = d.store.incidents(false).map_err(at("reading incidents"))?;
        if let Some(i) = list.into_iter().find(|i| !i.actions.is_empty()) {
            let alert = i
                .alerts
                .first()
                .and_then(|a| d.store.alert(*a).ok().flatten());
            progress.done(&format!(
                "detected: alert {} ({}) from block {} (the exploit's block is {exploit_block})",
                alert.as_ref().map(|a| a.id).unwrap_or_default(),
                alert.as_ref().map(|a| a.found.rule.as_str()).unwrap_or("?"),
                alert
                    .as_ref()
                    .map(|a| a.found.block_number)
                    .unwrap_or_default(),
            ));
            progress.done(&format!(
                "incident {} opened at level {} by guardian itself; pause of every contract on every chain sent",
                i.id, i.level
            ));
            return Ok(i);
        }
        if !told {
            progress.step("the monitor is looking at the exploit's block ...");
            told = true;
        }
        if std::time::Instant::now() > deadline {
            return Err(DemoError::Step {
                step: "detection",
                message: "no incident was opened within 60 s of the exploit".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

struct PauseFigures {
    alert_block: Option<u64>,
    sent_ms: Option<i64>,
    paused_block: Option<u64>,
    detect_ms: Option<i64>,
    pause_ms: Option<i64>,
}

/// The alert's block, the pause's block on the exploit's chain and the times to each, from the
/// records.
fn pause_figures(
    d: &Deployment,
    incident: &Incident,
    chain_id: u64,
    start: i64,
) -> Result<PauseFigures, DemoError> {
    let alert = incident
        .alerts
        .first()
        .and_then(|a| d.store.alert(*a).ok().flatten());
    let mut pause_tx = None;
    for action in &incident.actions {
        for tx in d
            .store
            .transactions(*action)
            .map_err(at("reading the journal"))?
        {
            if tx.chain_id == chain_id && tx.block_number.is_some() && pause_tx.is_none() {
                pause_tx = Some(tx);
            }
        }
    }
    Ok(PauseFigures {
        alert_block: alert.as_ref().map(|a| a.found.block_number),
        paused_block: pause_tx.as_ref().and_then(|t| t.block_number),
        detect_ms: alert.as_ref().map(|a| (a.detected_at - start).max(0)),
        sent_ms: pause_tx.as_ref().map(|t| (t.sent_at - start).max(0)),
        pause_ms: pause_tx
            .as_ref()
            .and_then(|t| t.mined_at)
            .map(|m| (m - start).max(0)),
    })
}

/// Whether the drill went as it must, with each shortfall named.
fn judge(report: &mut DemoReport) {
    let mut problems = std::mem::take(&mut report.problems);
    if report.paused_block != Some(report.exploit_block + 1) {
        problems.push(format!(
            "paused in block {:?}, not in the block after the exploit's first ({})",
            report.paused_block,
            report.exploit_block + 1
        ));
    }
    if report.attacker_txs.len() < 2 || report.attacker_txs.iter().skip(1).any(|t| !t.reverted) {
        problems.push("an attacker transaction after the pause did not revert".into());
    }
    let wei = |s: &str| s.parse::<U256>().unwrap_or_default();
    if wei(&report.lost_wei) >= wei(&report.rescued_wei) {
        problems.push(format!(
            "lost {} wei, not less than the {} wei rescued",
            report.lost_wei, report.rescued_wei
        ));
    }
    if !report.closed {
        problems.push("the incident was not closed".into());
    }
    report.ok = problems.is_empty();
    report.problems = problems;
}

/// The HTTP endpoint of `chain` from the manifest.
pub(super) fn client_url(d: &Deployment, chain: &str) -> Result<url::Url, DemoError> {
    d.manifest
        .chains
        .get(chain)
        .and_then(|c| {
            c.rpc_urls
                .iter()
                .find(|u| u.expose().scheme().starts_with("http"))
        })
        .map(|u| u.expose().clone())
        .ok_or_else(|| DemoError::Step {
            step: "connecting",
            message: format!("no http endpoint for {chain}"),
        })
}

/// Wei for people: `13.0 ETH`.
pub(super) fn eth(wei: U256) -> String {
    crate::funds::show_amount(wei, 18, crate::funds::NATIVE_SYMBOL)
}
