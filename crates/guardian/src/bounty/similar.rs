//! Possible duplicates of a bounty report: earlier reports on a shared contract with the same
//! impact whose text is alike (trigram similarity of title and description). They are shown to
//! the triager beside the report, never closed automatically.
//!
//! The similarity is written here rather than taken from a crate: it is twenty lines (Jaccard
//! over character trigrams, as PostgreSQL's `pg_trgm` does it), and the text-similarity crates
//! bring edit distances we do not use.
//!
//! The scan does not split and score every earlier report's text: each report's trigram set is
//! kept ([`index`]) when it is stored, and only the reports of a size that could reach the
//! threshold have their shared trigrams counted, from those sets. [`trigram_similarity`] stays
//! the definition: the stored sets are the ones it computes, and the answer is the one scoring
//! every report's text would give.

mod index;

use std::collections::HashSet;

use serde::Serialize;

use crate::storage::{
    StorageError, Store,
    sql::{OptionalExt as _, SqlResult, params},
};

pub(crate) use index::index_report;

/// The similarity at which an earlier report is flagged. Chosen by testing (the texts in this
/// file's tests): a reworded copy of a report scores 0.54; different findings on the same
/// contract and impact 0.19, and 0.26 for another bug in the very same function (the field's
/// shared vocabulary: "withdraw", "escrow", "attacker", "depositors"). A one-line report of the
/// same finding as a long one scores low (0.18): the flag helps the triager, it does not
/// replace reading.
pub const DUPLICATE_THRESHOLD: f64 = 0.35;

/// The trigrams of `text` lowercased, each run of characters other than letters and digits
/// made one space, and padded with a space at each end.
fn trigrams(text: &str) -> HashSet<[char; 3]> {
    let mut normalized = vec![' '];
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            normalized.push(c);
        } else if normalized.last() != Some(&' ') {
            normalized.push(' ');
        }
    }
    if normalized.last() != Some(&' ') {
        normalized.push(' ');
    }
    normalized.windows(3).map(|w| [w[0], w[1], w[2]]).collect()
}

/// How alike `a` and `b` are, from 0 (no trigram in common) to 1 (the same trigrams): the
/// Jaccard index of their sets of character trigrams, after normalization (lowercase,
/// punctuation and whitespace runs made one space, padded). Two texts with no letters or
/// digits at all are alike (1).
pub fn trigram_similarity(a: &str, b: &str) -> f64 {
    let (a, b) = (trigrams(a), trigrams(b));
    let union = a.union(&b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(&b).count() as f64 / union as f64
}

/// An earlier report that may describe the same finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DuplicateCandidate {
    /// Its id.
    pub id: i64,
    /// Its title (the researcher's text: escape it wherever markup is rendered).
    pub title: String,
    /// Where it stands.
    pub status: String,
    /// When it was submitted (Unix milliseconds).
    pub submitted_at: i64,
    /// How alike the two texts are (title and description), 0 to 1.
    pub similarity: f64,
}

/// The text of a report that is compared: its title and description.
fn compared_text(title: &str, description: &str) -> String {
    format!("{title}\n{description}")
}

/// What the scan reads of the report whose duplicates are sought.
struct Subject {
    text: String,
    impact: String,
    contracts: Vec<String>,
}

impl Store {
    /// The reports before report `id` (lower ids) that name at least one of its contracts, have
    /// the same impact (the confirmed one where the team set it, else the claimed one) and whose
    /// title and description are at least [`DUPLICATE_THRESHOLD`] alike; most similar first.
    /// Empty for an unknown id.
    ///
    /// Reports stored by an older build are indexed first, once; then the similarities come from
    /// the index (see the `index` module).
    pub fn possible_duplicates(&self, id: i64) -> Result<Vec<DuplicateCandidate>, StorageError> {
        self.index_unindexed_reports()?;
        let subject = self.with(|c| {
            c.query_row(
                "SELECT title, description, COALESCE(confirmed_impact, impact), contracts
                 FROM bounty_reports WHERE id = ?1",
                params![id],
                |r| {
                    let (title, description): (String, String) = (r.get(0)?, r.get(1)?);
                    let contracts: String = r.get(3)?;
                    Ok(Subject {
                        text: compared_text(&title, &description),
                        impact: r.get(2)?,
                        contracts: serde_json::from_str(&contracts).unwrap_or_default(),
                    })
                },
            )
            .optional()
        })?;
        let Some(subject) = subject else {
            return Ok(Vec::new());
        };
        let candidates =
            self.duplicate_candidates(id, &subject.impact, &subject.contracts, &subject.text)?;
        let mut found: Vec<DuplicateCandidate> = self.with(|c| {
            candidates
                .into_iter()
                .map(|(candidate, similarity)| {
                    c.query_row(
                        "SELECT title, status, submitted_at FROM bounty_reports WHERE id = ?1",
                        params![candidate],
                        |r| {
                            Ok(DuplicateCandidate {
                                id: candidate,
                                title: r.get(0)?,
                                status: r.get(1)?,
                                submitted_at: r.get(2)?,
                                similarity,
                            })
                        },
                    )
                })
                .collect::<SqlResult<Vec<_>>>()
        })?;
        found.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then(a.id.cmp(&b.id)));
        Ok(found)
    }
}

#[cfg(test)]
mod tests;
