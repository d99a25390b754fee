//! The index behind the duplicate scan: each report's trigram set, stored with the report (or on
//! the first scan, for reports an older build stored) as a sorted list of integers, and the
//! search for the earlier reports that reach [`DUPLICATE_THRESHOLD`].
//!
//! The bound that lets most reports go unread: for trigram sets `A` (the report's, `a`
//! trigrams) and `B` (an earlier one's, `b`) sharing `s`, the Jaccard index is
//! `s / (a + b - s)`. As `s ≤ min(a, b)`, the union `a + b - s` is at least `max(a, b)`, so a
//! score of at least `t` needs `s ≥ t·(a + b - s) ≥ t·max(a, b)`: at least `⌈t·max(a, b)⌉`
//! shared trigrams, which `min(a, b)` must allow, so `t·a ≤ b ≤ a/t`. The reports of another
//! size are not read; the bound is taken a hair looser than exact ([`SLACK`]), so floating
//! point cannot drop a report that scores the threshold. For the others the shared trigrams
//! are counted by merging the two sorted lists, which gives the exact Jaccard index: the one
//! `trigram_similarity` computes from the texts, since the stored sets are theirs.

use std::cmp::Ordering;

use super::{DUPLICATE_THRESHOLD, compared_text, trigrams};
use crate::storage::{
    StorageError, Store,
    sql::{Conn, OptionalExt as _, SqlResult, params},
};

/// How much looser than exact the bounds are taken: far more than floating point's error on
/// these sizes, far less than one trigram.
const SLACK: f64 = 1e-6;

/// A trigram as one integer: each character's code point (at most 0x10FFFF, 21 bits) in its
/// own 21 bits, so two trigrams share a number only if they are the same.
fn encode(t: [char; 3]) -> i64 {
    (i64::from(u32::from(t[0])) << 42)
        | (i64::from(u32::from(t[1])) << 21)
        | i64::from(u32::from(t[2]))
}

/// The sorted trigram numbers of `text` (a report's title and description, as the scan
/// compares them).
fn trigram_numbers(text: &str) -> Vec<i64> {
    let mut numbers: Vec<i64> = trigrams(text).into_iter().map(encode).collect();
    numbers.sort_unstable();
    numbers
}

/// A stored list back into numbers.
fn decode(blob: &[u8]) -> Vec<i64> {
    blob.chunks_exact(8)
        .map(|chunk| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            i64::from_le_bytes(bytes)
        })
        .collect()
}

/// How many numbers two sorted lists share.
fn shared(a: &[i64], b: &[i64]) -> i64 {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// Writes report `id`'s trigram set (of `title` and `description`), replacing what was indexed
/// of it before; inside the caller's transaction.
pub(crate) fn index_report(c: &Conn<'_>, id: i64, title: &str, description: &str) -> SqlResult<()> {
    let numbers = trigram_numbers(&compared_text(title, description));
    let blob: Vec<u8> = numbers.iter().flat_map(|n| n.to_le_bytes()).collect();
    c.execute(
        "INSERT INTO bounty_trigram_sets (report_id, trigram_count, trigrams)
         VALUES (?1, ?2, ?3)
         ON CONFLICT (report_id) DO UPDATE SET trigram_count = excluded.trigram_count,
             trigrams = excluded.trigrams",
        params![id, numbers.len() as i64, blob],
    )?;
    Ok(())
}

/// The reports without a trigram set.
const UNINDEXED: &str = "SELECT id FROM bounty_reports AS r
    WHERE NOT EXISTS (SELECT 1 FROM bounty_trigram_sets AS s WHERE s.report_id = r.id)";

impl Store {
    /// Indexes the reports not indexed yet (those an older build stored, or inserted by hand),
    /// in one transaction; how many.
    pub(super) fn index_unindexed_reports(&self) -> Result<usize, StorageError> {
        let pending: Vec<i64> = self.with(|c| c.query_map(UNINDEXED, params![], |r| r.get(0)))?;
        if pending.is_empty() {
            return Ok(0);
        }
        self.write(|tx| {
            let mut indexed = 0;
            for id in pending {
                // Another process may have indexed it meanwhile.
                let text: Option<(String, String)> = tx
                    .query_row(
                        "SELECT title, description FROM bounty_reports AS r WHERE id = ?1
                         AND NOT EXISTS (SELECT 1 FROM bounty_trigram_sets AS s
                                         WHERE s.report_id = r.id)",
                        params![id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                if let Some((title, description)) = text {
                    index_report(tx, id, &title, &description)?;
                    indexed += 1;
                }
            }
            Ok(indexed)
        })
    }

    /// The reports before `id` with effective impact `impact`, naming one of `contracts`, whose
    /// trigram sets are at least [`DUPLICATE_THRESHOLD`] alike with the one of `text` (report
    /// `id`'s, as compared), each with its similarity: the Jaccard index of the two sets, from
    /// the count of trigrams they share, which is [`super::trigram_similarity`] of the two
    /// texts (the stored sets are the sets of the stored texts). In no particular order.
    pub(super) fn duplicate_candidates(
        &self,
        id: i64,
        impact: &str,
        contracts: &[String],
        text: &str,
    ) -> Result<Vec<(i64, f64)>, StorageError> {
        let t = DUPLICATE_THRESHOLD;
        let mine = trigram_numbers(text);
        let size = mine.len() as i64;
        let a = size as f64;
        let earlier: Vec<(i64, String, Option<i64>)> = self.with(|c| {
            c.query_map(
                "SELECT r.id, r.contracts, s.trigram_count FROM bounty_reports AS r
                 LEFT JOIN bounty_trigram_sets AS s ON s.report_id = r.id
                 WHERE r.id < ?1 AND COALESCE(r.confirmed_impact, r.impact) = ?2",
                params![id, impact],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })?;
        // Of a size that could reach the threshold (or not indexed: a report inserted by hand
        // since this scan indexed the others, read from its text).
        let sized: Vec<(i64, Option<i64>)> = earlier
            .into_iter()
            .filter(|(_, named, _)| {
                serde_json::from_str::<Vec<String>>(named)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| contracts.contains(c))
            })
            .filter(|&(_, _, count)| {
                count.is_none_or(|b| {
                    let b = b as f64;
                    b >= t * a - SLACK && a >= t * b - SLACK
                })
            })
            .map(|(other, _, count)| (other, count))
            .collect();
        self.with(|c| {
            let mut found = Vec::new();
            for (other, count) in sized {
                let theirs = match count {
                    Some(_) => decode(&c.query_row(
                        "SELECT trigrams FROM bounty_trigram_sets WHERE report_id = ?1",
                        params![other],
                        |r| r.get::<Vec<u8>>(0),
                    )?),
                    None => c.query_row(
                        "SELECT title, description FROM bounty_reports WHERE id = ?1",
                        params![other],
                        |r| {
                            let (title, description): (String, String) = (r.get(0)?, r.get(1)?);
                            Ok(trigram_numbers(&compared_text(&title, &description)))
                        },
                    )?,
                };
                let (b, s) = (theirs.len() as i64, shared(&mine, &theirs));
                let union = size + b - s;
                // Two empty sets are alike (1), as trigram_similarity has it.
                let similarity = if union == 0 {
                    1.0
                } else {
                    s as f64 / union as f64
                };
                if similarity >= t {
                    found.push((other, similarity));
                }
            }
            Ok(found)
        })
    }
}
