//! `guardian incident movements ID [--json]`: where an incident's funds went (a table), the
//! attacker's addresses with who first funded each, and where the figures were read from.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::{
    incident::{
        movements::{Movements, read},
        playbook::Responder,
    },
    output::{Table, print_json},
};

/// Prints incident `id`'s funds movements and attacker addresses, as JSON with `json`.
pub(super) async fn run(r: &Responder<'_>, id: i64, json: bool) -> anyhow::Result<ExitCode> {
    let incident = r.get(id)?;
    let m = read(r.deployment, &incident)
        .await
        .with_context(|| format!("reading where the funds of incident {id} went"))?;
    if json {
        print_json(&m);
    } else {
        print_human(&m);
    }
    Ok(ExitCode::SUCCESS)
}

/// The first and last characters of a hash or address: enough to tell them apart in a table.
fn short(text: &str) -> String {
    if text.len() <= 14 {
        return text.to_string();
    }
    format!("{}…{}", &text[..8], &text[text.len() - 4..])
}

fn print_human(m: &Movements) {
    if m.movements.is_empty() {
        println!(
            "incident {}: no funds left its contracts in its {} attack and {} rescue transactions",
            m.incident,
            m.attack_transactions.len(),
            m.rescue_transactions.len()
        );
    } else {
        let mut table = Table::new(["FROM", "TRANSACTION", "BLOCK", "AMOUNT", "TO", "STATUS"]);
        for row in &m.movements {
            table.row(vec![
                format!("{} ({})", row.contract, row.chain),
                short(&row.transaction.to_string()),
                row.block.to_string(),
                row.shown.clone(),
                row.to
                    .map_or_else(|| "unknown".to_string(), |a| a.to_string()),
                row.recovery.as_str().to_string(),
            ]);
        }
        print!("{table}");
    }
    if m.attack_transactions.is_empty() {
        println!(
            "no attack transaction is known: record the exploit's with `guardian incident exploit {} --tx HASH`",
            m.incident
        );
    }
    if m.attackers.is_empty() {
        println!("attacker's addresses: none known");
    } else {
        println!("attacker's addresses:");
        for a in &m.attackers {
            println!("  {} ({}, {}): {}", a.address, a.role, a.chain, a.funding);
        }
    }
    println!("source: {}", m.source.as_str());
    if let Some(at) = m.recorded_at {
        println!(
            "read from the incident's timeline, recorded at {}: its chain does not answer now",
            crate::incident::report::utc(at)
        );
    }
}
