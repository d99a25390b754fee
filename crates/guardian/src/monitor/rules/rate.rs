//! `rate`: how many times a contract emitted an event (or any event) in the window, against a
//! threshold and against a multiple of its rolling baseline.

use alloy::primitives::{B256, TxHash};
use serde_json::json;

use super::{At, Finding, Series, Target, unique};
use crate::config::{RuleConfig, rules::event_selectors};

/// A `rate` rule on one chain.
#[derive(Debug)]
pub(super) struct Rate {
    event: Option<String>,
    threshold: Option<u64>,
    factor: Option<f64>,
    baseline_windows: u64,
    targets: Vec<Watched>,
}

/// One contract a `rate` rule counts events of.
#[derive(Debug)]
struct Watched {
    target: Target,
    /// The event's topic-0 hashes; empty for any event.
    selectors: Vec<B256>,
    /// Per block with events: how many, and in which transactions.
    counts: Series<(u64, Vec<TxHash>)>,
}

impl Rate {
    pub(super) fn new(config: &RuleConfig, targets: &[Target]) -> Self {
        let event = config.event().map(str::to_string);
        Self {
            threshold: config.threshold.as_ref().map(|t| *t.get_ref()),
            factor: config.baseline_factor.as_ref().map(|f| *f.get_ref()),
            baseline_windows: config.baseline_windows(),
            targets: targets
                .iter()
                .map(|t| Watched {
                    target: t.clone(),
                    selectors: event
                        .as_deref()
                        .map(|e| event_selectors(t.kind, e))
                        .unwrap_or_default(),
                    counts: Series::default(),
                })
                .collect(),
            event,
        }
    }

    /// Blocks read back from the current one: the window, and the baseline's windows before it.
    pub(super) fn horizon(&self, window: u64) -> u64 {
        match self.factor {
            Some(_) => window * (self.baseline_windows + 1),
            None => window,
        }
    }

    pub(super) fn on_block(&mut self, at: &At<'_>) -> Vec<Finding> {
        let number = at.block.number;
        let window = at.meta.window;
        let start = at.window_start();
        let mut found = Vec::new();
        for w in &mut self.targets {
            let hashes: Vec<TxHash> = at
                .block
                .logs
                .iter()
                .filter(|l| !l.removed && l.address() == w.target.address)
                .filter(|l| {
                    w.selectors.is_empty() || l.topic0().is_some_and(|t| w.selectors.contains(t))
                })
                .map(|l| l.transaction_hash.unwrap_or_default())
                .collect();
            if !hashes.is_empty() {
                w.counts.push(number, (hashes.len() as u64, unique(hashes)));
            }
            let in_window = w.counts.range(start, number);
            let (count, txs) = in_window.fold((0u64, Vec::new()), |(c, mut t), (_, (n, h))| {
                t.extend(h.iter().copied());
                (c + n, t)
            });
            if count == 0 {
                continue;
            }
            // The baseline: the mean count of the `baseline_windows` windows right before this one,
            // once they have all been seen.
            let baseline = self.factor.map(|_| {
                let span = window * self.baseline_windows;
                let from = start.checked_sub(span);
                match from.filter(|f| *f >= at.first) {
                    Some(from) => {
                        let total: u64 = w.counts.range(from, start - 1).map(|(_, (n, _))| n).sum();
                        Ok(total as f64 / self.baseline_windows as f64)
                    }
                    None => Err(start.saturating_sub(at.first)),
                }
            });
            let over_threshold = self.threshold.is_some_and(|t| count > t);
            // At least one event per window: one event after silence is not a spike.
            let over_baseline = match (self.factor, &baseline) {
                (Some(f), Some(Ok(mean))) => count as f64 > f * mean.max(1.0),
                _ => false,
            };
            if !over_threshold && !over_baseline {
                continue;
            }
            let what = self.event.as_deref().unwrap_or("events");
            let mut why = Vec::new();
            if let Some(t) = self.threshold.filter(|_| over_threshold) {
                why.push(format!("threshold {t}"));
            }
            if let (Some(f), Some(Ok(mean))) = (self.factor.filter(|_| over_baseline), &baseline) {
                why.push(format!("{f}× baseline {mean:.1}"));
            }
            let (baseline_value, baseline_note) = match &baseline {
                Some(Ok(mean)) => (json!(mean), None),
                Some(Err(seen)) => (
                    json!(null),
                    Some(format!(
                        "not enough history for a baseline: {seen} of {} blocks before the window seen",
                        window * self.baseline_windows
                    )),
                ),
                None => (json!(null), None),
            };
            found.push(Finding {
                scope: w.target.name.clone(),
                contract: Some((w.target.name.clone(), w.target.address)),
                affected: vec![w.target.name.clone()],
                summary: format!(
                    "{}: {count} {what} in {window} blocks ({})",
                    w.target.name,
                    why.join(", ")
                ),
                evidence: json!({
                    "count": count,
                    "event": self.event,
                    "threshold": self.threshold,
                    "baseline": baseline_value,
                    "baseline_factor": self.factor,
                    "baseline_windows": self.factor.map(|_| self.baseline_windows),
                    "baseline_note": baseline_note,
                    "over_threshold": over_threshold,
                    "over_baseline": over_baseline,
                }),
                tx_hashes: unique(txs),
            });
        }
        found
    }

    pub(super) fn rewind(&mut self, to: Option<u64>) {
        for w in &mut self.targets {
            w.counts.rewind(to);
        }
    }

    pub(super) fn prune(&mut self, from: u64) {
        for w in &mut self.targets {
            w.counts.prune(from);
        }
    }
}
