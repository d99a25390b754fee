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
            let count: u64 = w.counts.range(start, number).map(|(_, (n, _))| n).sum();
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
                tx_hashes: unique(
                    w.counts
                        .range(start, number)
                        .flat_map(|(_, (_, h))| h.iter().copied()),
                ),
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

#[cfg(test)]
mod tests {
    use alloy::{primitives::B256, sol_types::SolEvent};
    use bindings::DocumentRegistry::{DocumentRegistered, Paused};

    use crate::monitor::{
        block::BlockData,
        rules::testing::{ESCROW, REGISTRY, block, engine, feed, log, tx},
    };

    const BURST: &str = r#"
[[rules]]
name = "registration-burst"
kind = "rate"
contracts = ["registry"]
event = "DocumentRegistered"
window_blocks = 3
threshold = 5
severity = "warning"
"#;

    /// Block `number` (fork `fork`) in which the registry registers `n` documents.
    fn registrations(number: u64, fork: u8, n: u64) -> BlockData {
        let mut b = block(number, fork);
        b.logs = (0..n)
            .map(|i| log(REGISTRY, DocumentRegistered::SIGNATURE_HASH, tx(number, i)))
            .collect();
        b
    }

    /// `blocks` blocks from `from` with `n` registrations each.
    fn steady(from: u64, blocks: u64, n: u64) -> Vec<BlockData> {
        (from..from + blocks)
            .map(|i| registrations(i, 0, n))
            .collect()
    }

    #[test]
    fn a_burst_fires_and_normal_traffic_does_not() {
        let mut rules = engine(BURST);
        assert!(!rules.needs_transactions());
        assert!(feed(&mut rules, &steady(1, 10, 1)).is_empty(), "1 a block");
        // Other events and other contracts' registrations do not count.
        let mut noise = block(11, 0);
        noise.logs = (0..10)
            .flat_map(|i| {
                [
                    log(REGISTRY, Paused::SIGNATURE_HASH, tx(11, i)),
                    log(ESCROW, DocumentRegistered::SIGNATURE_HASH, tx(11, 100 + i)),
                ]
            })
            .collect();
        assert!(rules.on_block(&noise).is_empty());
        let alerts = rules.on_block(&registrations(12, 0, 6));
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!(
            a.summary,
            "registry: 7 DocumentRegistered in 3 blocks (threshold 5)"
        );
        assert_eq!(
            (a.rule.as_str(), a.kind.as_str(), a.block_number),
            ("registration-burst", "rate", 12)
        );
        assert_eq!(
            (a.contract.as_deref(), a.address),
            (Some("registry"), Some(REGISTRY))
        );
        assert_eq!(a.dedup_key, "registration-burst:registry:10");
        assert_eq!(a.tx_hashes.len(), 7);
        assert_eq!(a.evidence["count"], 7);
        assert_eq!(a.evidence["window_start"], 10);
        assert_eq!(a.evidence["affected"][0], "registry");
        assert_eq!(a.block_hash, block(12, 0).hash);
    }

    #[test]
    fn any_event_counts_when_none_is_named() {
        let mut rules = engine(&BURST.replace("event = \"DocumentRegistered\"\n", ""));
        let mut b = block(1, 0);
        b.logs = (0..6)
            .map(|i| log(REGISTRY, Paused::SIGNATURE_HASH, tx(1, i)))
            .collect();
        let alerts = rules.on_block(&b);
        assert_eq!(alerts.len(), 1);
        assert_eq!(
            alerts[0].summary,
            "registry: 6 events in 3 blocks (threshold 5)"
        );
    }

    const BASELINE: &str = r#"
[[rules]]
name = "spike"
kind = "rate"
event = "DocumentRegistered"
window_blocks = 2
baseline_factor = 3.0
baseline_windows = 4
severity = "high"
"#;

    #[test]
    fn a_spike_over_the_baseline_fires_and_a_steady_high_level_does_not() {
        // Quiet history: 2 a block, 4 a window; 3 × 4 = 12 is the limit.
        let mut rules = engine(BASELINE);
        assert!(feed(&mut rules, &steady(1, 20, 2)).is_empty());
        // 2 + 10 = 12 is not over it; the next block's 10 + 10 = 20 is.
        assert!(rules.on_block(&registrations(21, 0, 10)).is_empty());
        let alerts = rules.on_block(&registrations(22, 0, 10));
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(
            alerts[0].summary,
            "registry: 20 DocumentRegistered in 2 blocks (3× baseline 4.0)"
        );
        assert_eq!(alerts[0].evidence["baseline"], 4.0);
        assert_eq!(alerts[0].evidence["over_baseline"], true);

        // The same level from the start is the baseline itself.
        let mut rules = engine(BASELINE);
        assert!(feed(&mut rules, &steady(1, 40, 10)).is_empty());
    }

    #[test]
    fn no_baseline_verdict_before_enough_history() {
        // A spike in the first blocks: no baseline yet, so only the threshold can fire.
        let mut rules = engine(BASELINE);
        assert!(feed(&mut rules, &steady(1, 5, 50)).is_empty());
        let with_threshold = BASELINE.replace("severity", "threshold = 60\nseverity");
        let mut rules = engine(&with_threshold);
        let alerts = feed(&mut rules, &steady(1, 2, 50));
        assert_eq!(alerts.len(), 1);
        let e = &alerts[0].evidence;
        assert_eq!(e["baseline"], serde_json::Value::Null);
        assert_eq!(e["over_threshold"], true);
        let note = e["baseline_note"].as_str().expect("note");
        assert!(note.contains("not enough history"), "{note}");
    }

    #[test]
    fn one_event_after_silence_is_not_a_spike() {
        let mut rules = engine(BASELINE);
        assert!(feed(&mut rules, &steady(1, 20, 0)).is_empty());
        // The baseline counts at least 1 a window, so up to 3 in a window is quiet.
        assert!(rules.on_block(&registrations(21, 0, 1)).is_empty());
        assert!(
            rules.on_block(&registrations(22, 0, 2)).is_empty(),
            "3 ≤ 3 × 1"
        );
        assert!(
            rules.on_block(&registrations(23, 0, 1)).is_empty(),
            "3 ≤ 3 × 1"
        );
        assert_eq!(
            rules.on_block(&registrations(24, 0, 5)).len(),
            1,
            "6 > 3 × 1"
        );
    }

    #[test]
    fn the_cooldown_holds_back_repeats_and_a_window_never_fires_twice() {
        let every = BURST.replace("threshold = 5", "threshold = 0\ncooldown_blocks = 5");
        let mut rules = engine(&every);
        let fired: Vec<u64> = feed(&mut rules, &steady(1, 12, 1))
            .iter()
            .map(|a| a.block_number)
            .collect();
        assert_eq!(fired, [1, 6, 11]);
        // The same block again raises nothing.
        assert!(rules.on_block(&registrations(11, 0, 1)).is_empty());

        let none = BURST.replace("threshold = 5", "threshold = 0\ncooldown_blocks = 0");
        let mut rules = engine(&none);
        let alerts = feed(&mut rules, &steady(1, 4, 1));
        let keys: Vec<&str> = alerts.iter().map(|a| a.dedup_key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "registration-burst:registry:-1",
                "registration-burst:registry:0",
                "registration-burst:registry:1",
                "registration-burst:registry:2"
            ]
        );
        assert_eq!(alerts.len(), 4);
        for b in steady(1, 4, 1) {
            assert!(rules.on_block(&b).is_empty(), "block {} seen", b.number);
        }
    }

    #[test]
    fn a_rewind_drops_the_orphaned_blocks_and_their_alerts() {
        let mut rules = engine(BURST);
        assert!(feed(&mut rules, &steady(1, 10, 1)).is_empty());
        assert_eq!(rules.on_block(&registrations(11, 0, 6)).len(), 1);
        // The reorg replaces block 11 with a quiet one: nothing of the burst is left.
        rules.rewind(10);
        assert!(rules.on_block(&registrations(11, 1, 1)).is_empty());
        assert!(
            rules.on_block(&registrations(12, 1, 3)).is_empty(),
            "1 + 1 + 3"
        );
        // Another fork at 11 (no explicit rewind): its burst fires again, the orphaned alert's
        // cooldown is gone with it.
        let alerts = rules.on_block(&registrations(11, 2, 6));
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].block_hash, block(11, 2).hash);
        assert_eq!(alerts[0].evidence["count"], 8);
        assert_ne!(alerts[0].block_hash, B256::ZERO);
    }
}
