//! `guardian status`: what the chains say, differences from the manifest first.

use std::process::ExitCode;

use crate::{
    chain::signer::process_env,
    config::manifest_path,
    deployment::Deployment,
    output::{Table, emit},
    status::{self, Severity},
};

/// Show every contract's paused state, balances, implementation and role holders, with every
/// difference from the manifest's [roles] first. Exit code 1 if a chain is unreachable or a
/// role has an unexpected holder.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// Reads and prints the status.
    pub async fn run(self, ctx: &super::Context) -> anyhow::Result<ExitCode> {
        let path = manifest_path(ctx.config.clone());
        let deployment = Deployment::open(&path, None, &process_env).await?;
        let report = status::read(&deployment).await;
        Ok(emit(&report, self.json, report.ok(), print_human))
    }
}

fn print_human(report: &status::StatusReport) {
    print_monitors(report);
    print_safes(report);
    if report.findings.is_empty() {
        println!("findings: none (role holders match the manifest)\n");
    } else {
        println!("FINDINGS");
        for f in &report.findings {
            let tag = match f.severity {
                Severity::Critical => "CRITICAL",
                Severity::Warning => "warning ",
            };
            println!("  {tag}  {}", f.message);
        }
        println!();
    }
    let mut t = Table::new([
        "CHAIN",
        "NAME",
        "KIND",
        "ADDRESS",
        "PAUSED",
        "BALANCES",
        "IMPLEMENTATION",
    ]);
    for c in &report.contracts {
        let paused = match (c.paused, &c.error) {
            (Some(true), _) => "PAUSED".to_string(),
            (Some(false), _) => "no".to_string(),
            (None, Some(_)) => "?".to_string(),
            (None, None) => "-".to_string(),
        };
        let balances = c
            .balances
            .iter()
            .map(crate::funds::Holding::describe)
            .collect::<Vec<_>>()
            .join(", ");
        t.row(vec![
            c.chain.clone(),
            c.name.clone(),
            c.kind.to_string(),
            c.address.to_string(),
            paused,
            if balances.is_empty() {
                "-".into()
            } else {
                balances
            },
            match c.implementation {
                Some(a) => a.to_string(),
                None if !c.upgradeable => "not upgradeable".into(),
                None => "-".into(),
            },
        ]);
    }
    println!("{t}");
    let mut r = Table::new(["NAME", "ROLE", "HOLDERS"]);
    for c in &report.contracts {
        for (role, holders) in &c.roles {
            let list = holders
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            r.row(vec![
                c.name.clone(),
                role.name().into(),
                if list.is_empty() {
                    "(none)".into()
                } else {
                    list
                },
            ]);
        }
    }
    println!("{r}");
    let mut s = Table::new(["SIGNER", "ADDRESS", "HOLDS"]);
    for signer in &report.signers {
        let mut by_role: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for (contract, roles) in &signer.holds {
            for role in roles {
                by_role.entry(role.name()).or_default().push(contract);
            }
        }
        let holds = by_role
            .iter()
            .map(|(role, cs)| format!("{role} on {}", cs.join(" ")))
            .collect::<Vec<_>>()
            .join("; ");
        s.row(vec![
            signer.signer.clone(),
            signer.address.to_string(),
            if holds.is_empty() {
                "nothing".into()
            } else {
                holds
            },
        ]);
    }
    println!("{s}");
}

/// Who follows each chain (`[ha]`).
fn print_monitors(report: &status::StatusReport) {
    if report.monitors.is_empty() {
        return;
    }
    let mut t = Table::new(["CHAIN", "HOLDER", "EPOCH", "LEASE", "CURSOR", "LAG"]);
    for m in &report.monitors {
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        t.row(vec![
            m.chain.clone(),
            m.holder.clone().unwrap_or_else(|| "NOBODY".into()),
            opt(m.epoch.map(|e| e.to_string())),
            opt(m.lease_left_ms.map(|l| {
                if l > 0 {
                    format!("{l} ms left")
                } else {
                    format!("lapsed {} ms ago", -l)
                }
            })),
            opt(m.cursor.map(|c| c.to_string())),
            opt(m.lag.map(|l| l.to_string())),
        ]);
    }
    println!("MONITORS\n{t}");
}

/// The Safes that hold roles, as they are on each chain.
fn print_safes(report: &status::StatusReport) {
    if report.safes.is_empty() {
        return;
    }
    let mut t = Table::new([
        "CHAIN",
        "SIGNER",
        "SAFE",
        "VERSION",
        "THRESHOLD",
        "NONCE",
        "GUARD",
        "MODULES",
        "ROLES",
    ]);
    for s in &report.safes {
        let roles = s
            .holds
            .iter()
            .map(|(c, r)| {
                let names: Vec<&str> = r.iter().map(|r| r.name()).collect();
                format!("{c}: {}", names.join(" "))
            })
            .collect::<Vec<_>>()
            .join("; ");
        let (address, version, threshold, nonce, guard, modules) = match &s.info {
            Some(i) => (
                i.address.to_string(),
                i.version.clone(),
                format!("{} of {}", i.threshold, i.owners.len()),
                i.nonce.to_string(),
                if i.guard.is_zero() {
                    "none".to_string()
                } else {
                    i.guard.to_string()
                },
                i.modules.len().to_string(),
            ),
            None => (
                "-".into(),
                format!("UNREADABLE: {}", s.error.as_deref().unwrap_or("?")),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ),
        };
        t.row(vec![
            s.chain.clone(),
            s.signer.clone(),
            address,
            version,
            threshold,
            nonce,
            guard,
            modules,
            if roles.is_empty() {
                "none".into()
            } else {
                roles
            },
        ]);
    }
    println!("SAFES\n{t}");
}
