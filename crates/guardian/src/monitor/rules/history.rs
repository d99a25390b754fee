//! What a rule remembers block by block: the contributions its windows sum, and when each
//! scope last fired, both able to rewind after a reorg.

use std::collections::{BTreeMap, VecDeque};

/// The blocks after which each scope of a rule last fired, for its cooldown.
#[derive(Debug, Default)]
pub(super) struct Cooldowns {
    pub(super) fired: BTreeMap<String, Vec<u64>>,
}

impl Cooldowns {
    /// Whether `scope` may fire at `number`: it has not fired in the `cooldown` blocks before.
    pub(super) fn allows(&self, scope: &str, number: u64, cooldown: u64) -> bool {
        self.fired
            .get(scope)
            .and_then(|f| f.last())
            .is_none_or(|&last| number > last && number - last >= cooldown)
    }

    pub(super) fn record(&mut self, scope: &str, number: u64) {
        self.fired
            .entry(scope.to_string())
            .or_default()
            .push(number);
    }

    pub(super) fn rewind(&mut self, to: u64) {
        for fired in self.fired.values_mut() {
            fired.retain(|&n| n <= to);
        }
        self.fired.retain(|_, f| !f.is_empty());
    }

    pub(super) fn prune(&mut self, from: u64) {
        for fired in self.fired.values_mut() {
            // The last one stays: it is what the cooldown compares with.
            let keep = fired.iter().rposition(|&n| n < from).unwrap_or(0);
            fired.drain(..keep);
        }
    }
}

/// What some blocks contributed, in block order (blocks that contributed nothing may be absent).
#[derive(Debug, Clone)]
pub(super) struct Series<T> {
    pub(super) entries: VecDeque<(u64, T)>,
}

impl<T> Default for Series<T> {
    fn default() -> Self {
        Self {
            entries: VecDeque::new(),
        }
    }
}

impl<T> Series<T> {
    pub(super) fn push(&mut self, number: u64, value: T) {
        self.entries.push_back((number, value));
    }

    pub(super) fn last_block(&self) -> Option<u64> {
        self.entries.back().map(|(n, _)| *n)
    }

    pub(super) fn last(&self) -> Option<&T> {
        self.entries.back().map(|(_, v)| v)
    }

    pub(super) fn at(&self, number: u64) -> Option<&T> {
        self.entries
            .iter()
            .rev()
            .find(|(n, _)| *n == number)
            .map(|(_, v)| v)
    }

    /// Entries of blocks `from..=to`.
    pub(super) fn range(&self, from: u64, to: u64) -> impl Iterator<Item = &(u64, T)> {
        self.entries
            .iter()
            .skip_while(move |(n, _)| *n < from)
            .take_while(move |(n, _)| *n <= to)
    }

    /// The last entry at or before `number`.
    pub(super) fn at_or_before(&self, number: u64) -> Option<&(u64, T)> {
        self.entries.iter().rev().find(|(n, _)| *n <= number)
    }

    /// Drops the blocks after `to` (`None`: everything).
    pub(super) fn rewind(&mut self, to: Option<u64>) {
        match to {
            Some(to) => {
                while self.entries.back().is_some_and(|(n, _)| *n > to) {
                    self.entries.pop_back();
                }
            }
            None => self.entries.clear(),
        }
    }

    /// Drops the blocks before `from`.
    pub(super) fn prune(&mut self, from: u64) {
        while self.entries.front().is_some_and(|(n, _)| *n < from) {
            self.entries.pop_front();
        }
    }
}
