//! `guardian incident affected ID [--csv|--json]`: the affected users of an incident as a table,
//! CSV or JSON; an export (CSV or JSON) is recorded in the timeline for the checklist.

use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use crate::{
    incident::{
        affected::{AffectedParty, Amount, Role, Source, affected, distinct_addresses},
        playbook::Responder,
    },
    output::{Table, print_json},
};

/// How the list is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// A table for people.
    Table,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// JSON.
    Json,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Csv => "csv",
            Self::Json => "json",
        }
    }
}

/// The JSON shape: the incident and its parties.
#[derive(Debug, Serialize)]
struct Listing<'a> {
    incident: i64,
    addresses: usize,
    parties: &'a [AffectedParty],
}

/// The CSV columns, in order.
const HEADER: [&str; 11] = [
    "address",
    "chain",
    "contract",
    "role",
    "detail",
    "at_stake_start",
    "at_stake_now",
    "start_block",
    "now_block",
    "start_source",
    "status",
];

/// Lists incident `id`'s affected parties in `format`; an export is recorded in its timeline.
pub(super) async fn run(r: &Responder<'_>, id: i64, format: Format) -> anyhow::Result<ExitCode> {
    let incident = r.get(id)?;
    let parties = affected(r.deployment, &incident)
        .await
        .with_context(|| format!("listing the affected users of incident {id}"))?;
    let addresses = distinct_addresses(&parties);
    match format {
        Format::Json => print_json(&Listing {
            incident: id,
            addresses,
            parties: &parties,
        }),
        Format::Csv => print!("{}", to_csv(&parties)),
        Format::Table => print_table(id, &parties, addresses),
    }
    if format != Format::Table {
        let details = serde_json::json!({ "addresses": addresses, "format": format.name() });
        r.deployment
            .store
            .record(id, &r.actor, Some(("affected-exported", details)), &[])
            .context("recording the export in the timeline")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn amounts(a: &[Amount]) -> String {
    a.iter().map(Amount::show).collect::<Vec<_>>().join("; ")
}

fn cells(p: &AffectedParty) -> [String; 11] {
    [
        p.address.to_string(),
        p.chain.clone(),
        p.contract.clone(),
        p.role.as_str().to_string(),
        p.detail.join(" "),
        amounts(&p.at_stake_start),
        amounts(&p.at_stake_now),
        p.start_block.to_string(),
        p.now_block.to_string(),
        match p.start_source {
            Source::State => "state",
            Source::Logs => "logs",
        }
        .to_string(),
        p.status.as_str().to_string(),
    ]
}

fn print_table(id: i64, parties: &[AffectedParty], addresses: usize) {
    if parties.is_empty() {
        println!("incident {id}: no document owners, token holders or escrow parties in scope");
        return;
    }
    let mut table = Table::new([
        "ADDRESS", "CONTRACT", "ROLE", "AT START", "NOW", "STATUS", "DETAIL",
    ]);
    for p in parties {
        let [address, _, contract, role, detail, start, now, .., status] = cells(p);
        let what = match p.role {
            Role::DocumentOwner => "documents",
            Role::TokenHolder => "tokens",
            Role::EscrowPayer | Role::EscrowPayee => "payments",
        };
        table.row(vec![
            address,
            format!("{contract} ({})", p.chain),
            role,
            start,
            now,
            status,
            format!("{what} {detail}"),
        ]);
    }
    print!("{table}");
    println!("{addresses} addresses, {} rows", parties.len());
    // The start amounts of an escrow come from logs when the node keeps no old state.
    let from_logs: std::collections::BTreeSet<_> = parties
        .iter()
        .filter(|p| p.start_source == Source::Logs && p.role.is_escrow())
        .map(|p| (p.contract.as_str(), p.start_block))
        .collect();
    for (contract, block) in from_logs {
        println!(
            "note: {contract}: the node keeps no state at block {block}; amounts at the start were read from its logs"
        );
    }
}

/// The parties as RFC 4180 CSV (CRLF line ends, header row). Written here rather than with a
/// crate: quoting one flat table is a dozen lines.
fn to_csv(parties: &[AffectedParty]) -> String {
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = String>| {
        let quoted: Vec<String> = cells.map(|c| quote(&c)).collect();
        out.push_str(&quoted.join(","));
        out.push_str("\r\n");
    };
    line(&mut HEADER.iter().map(|h| h.to_string()));
    for p in parties {
        line(&mut cells(p).into_iter());
    }
    out
}

/// One field, quoted when it holds a comma, a quote or a line break (quotes doubled).
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_as_rfc_4180_says() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("1.0 ETH; 2.0 TT"), "1.0 ETH; 2.0 TT");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
    }
}
