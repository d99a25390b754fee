//! Rewards from the chain (`guardian bounty assess`): for a critical or high report, a share of
//! the funds directly at risk — the balances of the report's fund-holding contracts, read at the
//! report's submission block where the node still keeps that state — priced by `[bounty]`,
//! never below `min_usd` and never above the tier's cap; for medium and low, the configured
//! fixed amount.

use std::collections::BTreeMap;

use alloy::{
    eips::{BlockId, BlockNumberOrTag},
    primitives::U256,
    providers::Provider,
};
use futures::future::join_all;
use serde::Serialize;

use super::{
    ReportView, Severity,
    price::{self, dollars, share_reward},
};
use crate::{
    chain::{ChainClient, ChainError},
    config::{BountySettings, ContractConfig},
    deployment::Deployment,
    funds::{Holding, read_holdings_at, show_amount},
    storage::StorageError,
};

/// The note every critical or high assessment carries: how pausable contracts are counted.
pub const ONE_ATTACK: &str = "each contract's balance counts once: its funds can be drained once before it is paused, repeated drains are not counted";

/// Why an assessment could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AssessError {
    /// No report has this id.
    #[error("no bounty report #{0} (`guardian bounty list` shows the reports)")]
    UnknownReport(i64),
    /// The stored severity is not one of the four.
    #[error("report #{id} has severity `{value}`, not critical, high, medium or low")]
    BadSeverity {
        /// The report.
        id: i64,
        /// What is stored.
        value: String,
    },
    /// A chain of an affected contract is not connected.
    #[error(
        "chain `{chain}` (of contract `{contract}`) cannot be reached ({reason}): the assessment needs its balances; check [chains.{chain}] rpc_urls"
    )]
    Unreachable {
        /// The chain.
        chain: String,
        /// An affected contract on it.
        contract: String,
        /// Why (URLs redacted).
        reason: String,
    },
    /// Reading the chain failed (at the latest block too).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The database refused.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Which severity an assessment uses, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Chosen {
    /// The severity.
    pub severity: Severity,
    /// `override` (`--severity`), `confirmed` (by the triage) or `claimed` (by the researcher).
    pub source: &'static str,
}

impl Chosen {
    /// The severity for report `report`: `over` if given, else the triage's confirmed one, else
    /// the researcher's claim.
    pub fn for_report(report: &ReportView, over: Option<Severity>) -> Result<Self, AssessError> {
        if let Some(severity) = over {
            return Ok(Self {
                severity,
                source: "override",
            });
        }
        let parse = |value: String| {
            value
                .parse::<Severity>()
                .map_err(|_| AssessError::BadSeverity {
                    id: report.id,
                    value,
                })
        };
        match report.triage.confirmed_severity.clone() {
            Some(value) => Ok(Self {
                severity: parse(value)?,
                source: "confirmed",
            }),
            None => Ok(Self {
                severity: parse(report.severity.clone())?,
                source: "claimed",
            }),
        }
    }
}

/// One asset of one affected contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssetLine {
    /// The chain's name.
    pub chain: String,
    /// The contract's manifest name.
    pub contract: String,
    /// `native`, or the token's address.
    pub asset: String,
    /// The asset's symbol.
    pub symbol: String,
    /// The balance in units (`5.0 ETH`).
    pub amount: String,
    /// The balance in base units, as a decimal string.
    pub raw: String,
    /// Its worth in USD; `null` when the asset has no price (then it counts 0).
    pub usd: Option<f64>,
    /// The USD price of one whole unit used, if any.
    pub price_usd: Option<f64>,
    /// Where the price came from: `feed 0x…`, `[bounty] native_usd` or `[bounty.token_usd]`.
    pub price_from: Option<String>,
}

/// Where one chain's balances were read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadAt {
    /// `submission` (the last block at or before the report's submission) or `now` (the node
    /// keeps no state that old, or the report predates the chain's blocks).
    pub at: &'static str,
    /// The block read.
    pub block: u64,
    /// That block's timestamp (Unix seconds).
    pub timestamp: u64,
}

/// A report's reward, with how it was reached.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    /// The report.
    pub report_id: i64,
    /// The severity used.
    pub severity: Severity,
    /// Where it came from: `override`, `confirmed` or `claimed`.
    pub severity_source: &'static str,
    /// The USD worth of the affected contracts' balances (critical and high; `null` otherwise).
    pub at_risk_usd: Option<f64>,
    /// The share of the funds at risk paid, in percent.
    pub share_percent: u32,
    /// The floor for critical and high, in USD.
    pub min_usd: u64,
    /// The tier's cap, in USD.
    pub cap_usd: u64,
    /// The reward, in USD (whole cents).
    pub reward_usd: f64,
    /// What set the reward: `share` (of the funds at risk), `min_usd`, `cap`, or `fixed`
    /// (`[bounty] medium_usd`/`low_usd`).
    pub rule: &'static str,
    /// Every asset of every affected fund-holding contract.
    pub assets: Vec<AssetLine>,
    /// Per chain, where the balances were read.
    pub read_at: BTreeMap<String, ReadAt>,
    /// How the amount at risk is counted.
    pub notes: Vec<String>,
    /// What the team should check or configure (unpriced assets, state no longer kept, ...).
    pub warnings: Vec<String>,
}

/// Assesses `report`'s reward at `chosen` severity.
///
/// Critical and high: the balances (native coin and the manifest's `tokens`) of the report's
/// fund-holding contracts, read at the last block whose timestamp is at or before the report's
/// submission — or at the latest block where the node no longer keeps that state, and
/// `read_at` says which — priced by `[bounty.price_feeds]` (read on chain at the same block),
/// else `[bounty] native_usd`, `[bounty.native_usd_by_chain]` and `[bounty.token_usd]`. An asset without a price is listed with `usd: null`, counts 0 and
/// raises a warning naming the setting (a price is never guessed). Each contract's balance
/// counts once: the contracts are pausable, so an attack drains a balance once before the pause
/// stops it, and repeated drains are not counted. The reward is `share_percent` of the sum, at
/// least `min_usd`, at most the tier's cap.
///
/// Medium and low: `[bounty] medium_usd` / `low_usd`, at most the tier's cap; nothing is read.
pub async fn assess(
    deployment: &Deployment,
    report: &ReportView,
    chosen: Chosen,
) -> Result<Assessment, AssessError> {
    let settings = &deployment.manifest.bounty;
    let severity = chosen.severity;
    let cap_usd = severity.cap_usd();
    let mut assessment = Assessment {
        report_id: report.id,
        severity,
        severity_source: chosen.source,
        at_risk_usd: None,
        share_percent: settings.share_percent,
        min_usd: settings.min_usd,
        cap_usd,
        reward_usd: 0.0,
        rule: "fixed",
        assets: Vec::new(),
        read_at: BTreeMap::new(),
        notes: Vec::new(),
        warnings: Vec::new(),
    };
    if matches!(report.status.as_str(), "closed" | "duplicate") {
        assessment.warnings.push(format!(
            "report #{} is {}: no reward is due unless the team reopens it",
            report.id, report.status
        ));
    }
    let fixed = match severity {
        Severity::Medium => Some(settings.medium_usd),
        Severity::Low => Some(settings.low_usd),
        Severity::Critical | Severity::High => None,
    };
    if let Some(amount) = fixed {
        assessment.reward_usd = amount.min(cap_usd) as f64;
        assessment.notes.push(format!(
            "{severity} reports are paid a fixed amount ([bounty] {severity}_usd), not a share of the funds at risk"
        ));
        return Ok(assessment);
    }

    // The affected fund-holding contracts, by chain.
    let mut by_chain: BTreeMap<&str, Vec<&ContractConfig>> = BTreeMap::new();
    for name in &report.contracts {
        match deployment
            .manifest
            .contracts
            .iter()
            .find(|c| c.name() == name)
        {
            None => assessment.warnings.push(format!(
                "contract `{name}` is no longer in the manifest: not counted"
            )),
            Some(c) if !c.kind.holds_funds() => assessment
                .notes
                .push(format!("`{name}` ({}) holds no funds: not counted", c.kind)),
            Some(c) => by_chain.entry(c.chain()).or_default().push(c),
        }
    }
    if by_chain.is_empty() {
        assessment.warnings.push(
            "the report names no fund-holding contract: nothing is counted at risk".to_string(),
        );
    }
    let mut reads = Vec::new();
    for (chain, contracts) in &by_chain {
        let Some(client) = deployment.clients.get(*chain) else {
            return Err(AssessError::Unreachable {
                chain: chain.to_string(),
                contract: contracts
                    .first()
                    .map(|c| c.name())
                    .unwrap_or_default()
                    .to_string(),
                reason: deployment
                    .unreachable
                    .get(*chain)
                    .map_or_else(|| "not connected".to_string(), |e| e.to_string()),
            });
        };
        reads.push(read_chain(client, contracts, report.submitted_at));
    }
    let mut total = U256::ZERO;
    for read in join_all(reads).await {
        let (client, at, holdings, warning) = read?;
        assessment.warnings.extend(warning);
        for (contract, holding) in holdings {
            let (line, micro) = line(
                settings,
                client,
                &at,
                contract,
                &holding,
                &mut assessment.warnings,
            )
            .await;
            total = total.saturating_add(micro.unwrap_or_default());
            assessment.assets.push(line);
        }
        assessment.read_at.insert(client.name.clone(), at);
    }
    assessment.notes.push(ONE_ATTACK.to_string());
    let (reward, rule) = share_reward(total, settings.share_percent, settings.min_usd, cap_usd);
    assessment.at_risk_usd = Some(dollars(total));
    assessment.reward_usd = dollars(reward);
    assessment.rule = rule;
    Ok(assessment)
}

/// Assesses report `id` (the function the CLI and the team API call): the severity is `over`
/// if given, else the confirmed one, else the claimed one (see [`Chosen::for_report`]).
pub async fn assess_report(
    deployment: &Deployment,
    id: i64,
    over: Option<Severity>,
) -> Result<Assessment, AssessError> {
    let report = deployment
        .store
        .bounty_report(id)?
        .ok_or(AssessError::UnknownReport(id))?;
    let chosen = Chosen::for_report(&report.view, over)?;
    assess(deployment, &report.view, chosen).await
}

/// One chain's reads: where, each contract's holdings, and a warning when the submission's
/// state was not available.
type ChainRead<'a> = (
    &'a ChainClient,
    ReadAt,
    Vec<(&'a ContractConfig, Holding)>,
    Option<String>,
);

/// Reads `contracts` (all on `client`'s chain) at the submission block, else at the head.
async fn read_chain<'a>(
    client: &'a ChainClient,
    contracts: &[&'a ContractConfig],
    submitted_at_ms: i64,
) -> Result<ChainRead<'a>, AssessError> {
    let head = client
        .provider()
        .get_block_number()
        .await
        .map_err(|e| client.rpc_err(e))?;
    let read_all = |block: u64| async move {
        let reads = join_all(
            contracts
                .iter()
                .map(|c| read_holdings_at(client, c, BlockId::number(block))),
        )
        .await;
        let mut out = Vec::new();
        for (c, read) in contracts.iter().zip(reads) {
            out.extend(read?.into_iter().map(|h| (*c, h)));
        }
        Ok::<_, ChainError>(out)
    };
    let warning = match submission_block(client, submitted_at_ms, head).await? {
        Some((block, timestamp)) => match read_all(block).await {
            Ok(holdings) => {
                let at = ReadAt {
                    at: "submission",
                    block,
                    timestamp,
                };
                return Ok((client, at, holdings, None));
            }
            Err(e) => {
                tracing::debug!(chain = %client.name, "balances at block {block} refused ({e}); reading the latest block");
                format!(
                    "chain `{}`: the node keeps no state at block {block} (the report's submission): balances read at block {head} (now); an archive node gives the balances at submission",
                    client.name
                )
            }
        },
        None => format!(
            "chain `{}`: no block at or before the report's submission: balances read at block {head} (now)",
            client.name
        ),
    };
    let holdings = read_all(head).await?;
    let (_, timestamp) = header(client, head).await?;
    let at = ReadAt {
        at: "now",
        block: head,
        timestamp,
    };
    Ok((client, at, holdings, Some(warning)))
}

/// Block `number`'s number and timestamp (Unix seconds).
async fn header(client: &ChainClient, number: u64) -> Result<(u64, u64), ChainError> {
    let block = client
        .provider()
        .get_block_by_number(BlockNumberOrTag::Number(number))
        .await
        .map_err(|e| client.rpc_err(e))?;
    // A block at or below the head the node reported is always there; if not, it is treated as
    // later than any time (the search then settles on an earlier block).
    Ok((number, block.map_or(u64::MAX, |b| b.header.timestamp)))
}

/// The last block at or before `at_ms` (Unix milliseconds), with its timestamp, by binary search
/// over `0..=head`; `None` when even block 0 is later.
async fn submission_block(
    client: &ChainClient,
    at_ms: i64,
    head: u64,
) -> Result<Option<(u64, u64)>, ChainError> {
    let at = u64::try_from(at_ms.max(0)).unwrap_or_default() / 1000;
    let (_, head_ts) = header(client, head).await?;
    if head_ts <= at {
        return Ok(Some((head, head_ts)));
    }
    let (_, first_ts) = header(client, 0).await?;
    if first_ts > at {
        return Ok(None);
    }
    // Invariant: block lo is at or before `at`, block hi after it.
    let (mut lo, mut lo_ts, mut hi) = (0u64, first_ts, head);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let (_, ts) = header(client, mid).await?;
        if ts <= at {
            (lo, lo_ts) = (mid, ts);
        } else {
            hi = mid;
        }
    }
    Ok(Some((lo, lo_ts)))
}

/// `holding`'s line, and its worth in millionths of a dollar when it has a price. An empty
/// balance is worth 0 whatever the price, so it needs none (and raises no warning).
async fn line(
    settings: &BountySettings,
    client: &ChainClient,
    at: &ReadAt,
    contract: &ContractConfig,
    holding: &Holding,
    warnings: &mut Vec<String>,
) -> (AssetLine, Option<U256>) {
    let chain = client.name.as_str();
    let asset = holding
        .token
        .map_or_else(|| "native".to_string(), |t| t.to_checksum(None));
    // `funds::metadata` shows a token that did not answer symbol()/decimals() in base units: its
    // decimals are unknown, so no price per whole token applies.
    let unknown_units = holding.token.is_some() && holding.symbol.starts_with("units of ");
    let (micro, unit) = if holding.amount.is_zero() {
        (Some(U256::ZERO), None)
    } else if unknown_units {
        warnings.push(format!(
            "`{}` on chain `{chain}`: token {asset} did not answer symbol()/decimals(), its balance cannot be priced: counted as 0",
            contract.name()
        ));
        (None, None)
    } else {
        let unit =
            price::unit_price(settings, client, at.block, at.timestamp, holding, warnings).await;
        let micro = unit
            .as_ref()
            .map(|u| price::worth_micro(holding.amount, holding.decimals, u.micro));
        (micro, unit)
    };
    let line = AssetLine {
        chain: chain.to_string(),
        contract: contract.name().to_string(),
        asset,
        symbol: holding.symbol.clone(),
        amount: show_amount(holding.amount, holding.decimals, &holding.symbol),
        raw: holding.amount.to_string(),
        usd: micro.map(dollars),
        price_usd: unit.as_ref().map(|u| price::dollars_exact(u.micro)),
        price_from: unit.map(|u| u.from),
    };
    (line, micro)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Store, sql::params};

    #[test]
    fn the_confirmed_severity_is_read_when_the_triage_set_one() {
        for store in Store::each_backend() {
            let report = crate::bounty::validate(
                &crate::bounty::Submission {
                    title: "t".into(),
                    severity: "high".into(),
                    impact: "temporary-freezing-of-funds".into(),
                    contracts: vec!["escrow".into()],
                    description: "d".into(),
                    proof_of_concept: "p".into(),
                    contact: "c".into(),
                    ..Default::default()
                },
                &["escrow"],
            )
            .expect("valid");
            let id = store
                .insert_bounty_report(&report, None, "h", 1)
                .expect("insert");
            let view = store.bounty_report(id).expect("read").expect("some").view;
            let chosen = Chosen::for_report(&view, None).expect("chosen");
            assert_eq!(
                (chosen.severity, chosen.source),
                (Severity::High, "claimed")
            );
            store
                .with(|c| {
                    c.execute(
                        "UPDATE bounty_reports SET confirmed_severity = 'critical' WHERE id = ?1",
                        params![id],
                    )
                })
                .expect("confirm");
            let view = store.bounty_report(id).expect("read").expect("some").view;
            let chosen = Chosen::for_report(&view, None).expect("chosen");
            assert_eq!(
                (chosen.severity, chosen.source),
                (Severity::Critical, "confirmed")
            );
            let chosen = Chosen::for_report(&view, Some(Severity::Low)).expect("chosen");
            assert_eq!(
                (chosen.severity, chosen.source),
                (Severity::Low, "override")
            );
        }
    }
}
