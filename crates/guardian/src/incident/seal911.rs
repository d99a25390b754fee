//! The first message a team sends to an emergency responder network (the Security Alliance's
//! SEAL 911): who the protocol is, the chains, the attack's transactions, the funds at risk,
//! what is paused and the people to talk to. Made from the report's figures, so it says what
//! the post-mortem will; it never names a webhook, an endpoint or any secret.

use std::fmt::Write as _;

use super::report::Report;
use crate::config::{Channel, Manifest};

/// The message for incident `report.incident`, plain text, ready to paste.
pub fn first_message(report: &Report, manifest: &Manifest) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "SEAL 911: {} incident {}, level {} ({}), {}: {}",
        manifest.incident.protocol,
        report.incident,
        report.level,
        report.level_name,
        report.status,
        report.title
    );
    let _ = writeln!(o, "Opened {} by {}.", report.opened_at, report.opened_by);

    let chains: Vec<String> = manifest
        .chains
        .iter()
        .map(|(name, c)| format!("{name} (chain id {})", c.chain_id))
        .collect();
    let _ = writeln!(o, "\nChains: {}", chains.join(", "));

    let _ = writeln!(o, "\nAttack transactions:");
    let mut any = false;
    let chain_name = |id: u64| {
        manifest
            .chains
            .iter()
            .find(|(_, c)| c.chain_id == id)
            .map_or_else(|| format!("chain {id}"), |(n, _)| n.clone())
    };
    if let Some(x) = &report.exploit
        && let Some(tx) = x.tx
    {
        let _ = writeln!(
            o,
            "- {} {tx} (block {}): the exploit's first transaction",
            chain_name(x.chain_id),
            x.block
        );
        any = true;
    }
    for a in &report.alerts {
        for tx in &a.transactions {
            if report
                .exploit
                .and_then(|x| x.tx)
                .is_some_and(|x| x.to_string() == *tx)
            {
                continue;
            }
            let _ = writeln!(
                o,
                "- {} {tx} (block {}): raised alert {} ({}, {})",
                a.chain, a.block, a.id, a.rule, a.severity
            );
            any = true;
        }
    }
    if !any {
        let _ = writeln!(o, "- none recorded yet");
    }

    let _ = writeln!(o, "\nFunds (as the post-mortem defines them):");
    if report.funds_total.is_empty() {
        let _ = writeln!(o, "- no fund-holding contract in scope, or none read yet");
    }
    for f in &report.funds_total {
        let _ = writeln!(
            o,
            "- {} {}: at risk {}{}, lost {}, rescued {}, still short {}",
            f.chain,
            f.symbol,
            f.at_risk.shown,
            f.owed
                .as_ref()
                .map(|w| format!(" (owed {})", w.shown))
                .unwrap_or_default(),
            f.lost.shown,
            f.rescued.shown,
            f.still_short.shown
        );
    }

    let _ = writeln!(o, "\nContracts:");
    for c in &report.contracts {
        let _ = writeln!(
            o,
            "- {} on {} at {}: {}, {}",
            c.name,
            c.chain,
            c.address,
            c.state,
            match c.paused {
                Some(true) => "PAUSED",
                Some(false) => "not paused",
                None => "paused state unknown",
            }
        );
    }
    if report.contracts.is_empty() {
        let _ = writeln!(o, "- the war room could not be read");
    }

    let _ = writeln!(o, "\nPeople to talk to:");
    if let Some(c) = &report.commander {
        let _ = writeln!(o, "- incident commander: {c}");
    }
    let _ = writeln!(o, "- security e-mail: {}", manifest.incident.security_email);
    let _ = writeln!(o, "- hotline: {}", manifest.incident.hotline);
    // People reached by e-mail, by name and address; other channels are machines (webhooks,
    // bots) whose addresses are secrets, named only.
    for c in &manifest.contacts {
        if let (Channel::Email, Some(to)) = (c.channel, &c.to) {
            let _ = writeln!(o, "- {}: {}", c.name.get_ref(), to.join(", "));
        }
    }
    o
}
