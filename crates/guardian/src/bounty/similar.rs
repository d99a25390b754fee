//! Possible duplicates of a bounty report: earlier reports on a shared contract with the same
//! impact whose text is alike (trigram similarity of title and description). They are shown to
//! the triager beside the report, never closed automatically.
//!
//! The similarity is written here rather than taken from a crate: it is twenty lines (Jaccard
//! over character trigrams, as PostgreSQL's `pg_trgm` does it), and the text-similarity crates
//! bring edit distances we do not use.

use std::collections::HashSet;

use rusqlite::params;
use serde::Serialize;

use crate::storage::{StorageError, Store};

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

/// What the comparison reads of a report.
struct Compared {
    id: i64,
    title: String,
    status: String,
    submitted_at: i64,
    text: String,
    impact: String,
    contracts: Vec<String>,
}

fn compared(r: &rusqlite::Row<'_>) -> rusqlite::Result<Compared> {
    let (title, description): (String, String) = (r.get(1)?, r.get(4)?);
    let (impact, confirmed): (String, Option<String>) = (r.get(5)?, r.get(6)?);
    let contracts: String = r.get(7)?;
    Ok(Compared {
        id: r.get(0)?,
        text: format!("{title}\n{description}"),
        title,
        status: r.get(2)?,
        submitted_at: r.get(3)?,
        // The team's confirmed impact, once set, replaces the researcher's claim.
        impact: confirmed.unwrap_or(impact),
        contracts: serde_json::from_str(&contracts).unwrap_or_default(),
    })
}

const COLUMNS: &str =
    "id, title, status, submitted_at, description, impact, confirmed_impact, contracts";

impl Store {
    /// The reports before report `id` (lower ids) that name at least one of its contracts, have
    /// the same impact (the confirmed one where the team set it, else the claimed one) and whose
    /// title and description are at least [`DUPLICATE_THRESHOLD`] alike; most similar first.
    /// Empty for an unknown id.
    pub fn possible_duplicates(&self, id: i64) -> Result<Vec<DuplicateCandidate>, StorageError> {
        let (report, earlier) = self.with(|c| {
            let report = c
                .query_row(
                    &format!("SELECT {COLUMNS} FROM bounty_reports WHERE id = ?1"),
                    params![id],
                    compared,
                )
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM bounty_reports WHERE id < ?1 ORDER BY id"
            ))?;
            let earlier = stmt
                .query_map(params![id], compared)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((report, earlier))
        })?;
        let Some(report) = report else {
            return Ok(Vec::new());
        };
        let mut found: Vec<DuplicateCandidate> = earlier
            .into_iter()
            .filter(|e| e.impact == report.impact)
            .filter(|e| e.contracts.iter().any(|c| report.contracts.contains(c)))
            .filter_map(|e| {
                let similarity = trigram_similarity(&report.text, &e.text);
                (similarity >= DUPLICATE_THRESHOLD).then_some(DuplicateCandidate {
                    id: e.id,
                    title: e.title,
                    status: e.status,
                    submitted_at: e.submitted_at,
                    similarity,
                })
            })
            .collect();
        found.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then(a.id.cmp(&b.id)));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounty::{NewReport, Severity, crypto};

    const DRAIN_TITLE: &str = "Reentrancy in Escrow.withdraw lets an attacker drain all deposits";
    const DRAIN: &str = "The withdraw function of the escrow sends ETH to the caller before it \
        zeroes the caller's balance. A contract whose receive() calls withdraw again is paid \
        its balance on every nested call, until the escrow holds nothing. Every depositor \
        loses their funds.";
    const REWORDED_TITLE: &str = "Escrow withdraw() is re-entrant: attacker can drain deposits";
    const REWORDED: &str = "Escrow.withdraw sends the ETH to msg.sender before setting the \
        balance to zero. An attacker contract re-enters withdraw from its receive() and is \
        paid its balance on each nested call until the escrow is empty: all depositors lose \
        their funds.";
    const OTHER_TITLE: &str = "Missing access control on setFeeRecipient";
    const OTHER: &str = "Anyone can call setFeeRecipient on the escrow and point the protocol \
        fee at their own address; every later settlement then pays the fee to the attacker \
        instead of the treasury.";

    const SAME_FUNCTION_TITLE: &str =
        "Rounding in Escrow.withdraw lets users withdraw slightly more than deposited";
    const SAME_FUNCTION: &str = "When the escrow computes the share of a withdrawal it rounds \
        up instead of down, so each withdraw pays one wei more than the balance. Repeated many \
        times the attacker drains dust from other depositors.";

    fn store(
        store: &Store,
        title: &str,
        description: &str,
        impact: &'static str,
        contract: &str,
    ) -> i64 {
        let report = NewReport {
            title: title.into(),
            severity: Severity::Critical,
            impact,
            contracts: vec![contract.into(), "vault".into()],
            description: description.into(),
            proof_of_concept: None,
            contact: "r@example.org".into(),
            payout_address: None,
            credit_as: None,
        };
        let token = crypto::new_token().expect("token");
        store
            .insert_bounty_report(&report, None, &crypto::token_hash(&token), 1)
            .expect("insert")
    }

    const THEFT: &str = "direct-theft-of-funds";

    #[test]
    fn similarity_is_jaccard_over_normalized_trigrams() {
        assert_eq!(trigram_similarity("abc", "abc"), 1.0);
        assert_eq!(trigram_similarity("Hello, World!", "hello   world"), 1.0);
        assert_eq!(trigram_similarity("abc", "xyz"), 0.0);
        // " ab", "abc", "bc " against " ab", "abd", "bd ": one shared of five.
        assert!((trigram_similarity("abc", "abd") - 0.2).abs() < 1e-9);
        assert_eq!(trigram_similarity("", "..."), 1.0);
        assert_eq!(trigram_similarity("", "abc"), 0.0);
    }

    #[test]
    fn the_threshold_separates_a_rewording_from_another_finding() {
        let copy = trigram_similarity(
            &format!("{DRAIN_TITLE}\n{DRAIN}"),
            &format!("{REWORDED_TITLE}\n{REWORDED}"),
        );
        let other = trigram_similarity(
            &format!("{DRAIN_TITLE}\n{DRAIN}"),
            &format!("{OTHER_TITLE}\n{OTHER}"),
        );
        let same_function = trigram_similarity(
            &format!("{DRAIN_TITLE}\n{DRAIN}"),
            &format!("{SAME_FUNCTION_TITLE}\n{SAME_FUNCTION}"),
        );
        assert!(copy >= DUPLICATE_THRESHOLD, "reworded copy: {copy}");
        assert!(other < DUPLICATE_THRESHOLD, "another finding: {other}");
        assert!(
            same_function < DUPLICATE_THRESHOLD,
            "another bug in the same function: {same_function}"
        );
    }

    #[test]
    fn a_reworded_copy_on_a_shared_contract_and_impact_is_flagged() {
        let s = Store::in_memory().expect("db");
        let first = store(&s, DRAIN_TITLE, DRAIN, THEFT, "escrow");
        let unrelated = store(&s, OTHER_TITLE, OTHER, THEFT, "escrow");
        let other_impact = store(&s, DRAIN_TITLE, DRAIN, "protocol-insolvency", "escrow");
        let other_contract = s
            .with(|c| {
                c.execute(
                    "INSERT INTO bounty_reports (title, severity, impact, contracts, description,
                         contact, token_sha256, status, submitted_at, updated_at)
                     VALUES (?1, 'critical', ?2, '[\"token\"]', ?3, 'c', 'h', 'reported', 1, 1)",
                    params![DRAIN_TITLE, THEFT, DRAIN],
                )?;
                Ok(c.last_insert_rowid())
            })
            .expect("insert");
        let copy = store(&s, REWORDED_TITLE, REWORDED, THEFT, "escrow");

        let found = s.possible_duplicates(copy).expect("query");
        assert_eq!(
            found.iter().map(|d| d.id).collect::<Vec<_>>(),
            [first],
            "not {unrelated} (another finding), {other_impact} (another impact) or {other_contract} (another contract): {found:?}"
        );
        assert_eq!(found[0].title, DRAIN_TITLE);
        assert_eq!(found[0].status, "reported");
        assert!(found[0].similarity >= DUPLICATE_THRESHOLD);

        // The earlier report never has the later one as its "earlier" copy.
        assert!(s.possible_duplicates(first).expect("query").is_empty());
        assert!(s.possible_duplicates(copy + 100).expect("query").is_empty());

        // The team's confirmed impact replaces the claim, on either side.
        s.with(|c| {
            c.execute(
                "UPDATE bounty_reports SET confirmed_impact = ?2 WHERE id = ?1",
                params![other_impact, THEFT],
            )
        })
        .expect("confirm");
        let found = s.possible_duplicates(copy).expect("query");
        let ids: Vec<i64> = found.iter().map(|d| d.id).collect();
        assert_eq!(ids.len(), 2, "{found:?}");
        assert!(ids.contains(&first) && ids.contains(&other_impact));
        assert!(
            found[0].similarity >= found[1].similarity,
            "most similar first"
        );
        s.with(|c| {
            c.execute(
                "UPDATE bounty_reports SET confirmed_impact = 'griefing' WHERE id = ?1",
                params![copy],
            )
        })
        .expect("confirm");
        assert!(s.possible_duplicates(copy).expect("query").is_empty());
    }
}
