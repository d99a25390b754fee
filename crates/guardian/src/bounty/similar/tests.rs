//! The similarity, its threshold, and the indexed scan against scoring every report.

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
    for s in Store::each_backend() {
        let first = store(&s, DRAIN_TITLE, DRAIN, THEFT, "escrow");
        let unrelated = store(&s, OTHER_TITLE, OTHER, THEFT, "escrow");
        let other_impact = store(&s, DRAIN_TITLE, DRAIN, "protocol-insolvency", "escrow");
        let other_contract = s
            .with(|c| {
                c.query_row(
                    "INSERT INTO bounty_reports (title, severity, impact, contracts, description,
                     contact, token_sha256, status, submitted_at, updated_at)
                 VALUES (?1, 'critical', ?2, '[\"token\"]', ?3, 'c', 'h', 'reported', 1, 1)
                 RETURNING id",
                    params![DRAIN_TITLE, THEFT, DRAIN],
                    |r| r.get::<i64>(0),
                )
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

/// What the scan answered before the index: every earlier report read and scored, those
/// scoring at least `threshold` kept (the scan's own: [`DUPLICATE_THRESHOLD`]). The reference the
/// indexed scan must match exactly.
fn full_scan(s: &Store, id: i64, threshold: f64) -> Vec<DuplicateCandidate> {
    struct Compared {
        id: i64,
        title: String,
        status: String,
        submitted_at: i64,
        text: String,
        impact: String,
        contracts: Vec<String>,
    }
    let read = |r: &crate::storage::sql::Row| -> SqlResult<Compared> {
        let (title, description): (String, String) = (r.get(1)?, r.get(4)?);
        let (impact, confirmed): (String, Option<String>) = (r.get(5)?, r.get(6)?);
        let contracts: String = r.get(7)?;
        Ok(Compared {
            id: r.get(0)?,
            text: format!("{title}\n{description}"),
            title,
            status: r.get(2)?,
            submitted_at: r.get(3)?,
            impact: confirmed.unwrap_or(impact),
            contracts: serde_json::from_str(&contracts).unwrap_or_default(),
        })
    };
    const COLUMNS: &str =
        "id, title, status, submitted_at, description, impact, confirmed_impact, contracts";
    let (report, earlier) = s
        .with(|c| {
            let report = c
                .query_row(
                    &format!("SELECT {COLUMNS} FROM bounty_reports WHERE id = ?1"),
                    params![id],
                    read,
                )
                .optional()?;
            let earlier = c.query_map(
                &format!("SELECT {COLUMNS} FROM bounty_reports WHERE id < ?1 ORDER BY id"),
                params![id],
                read,
            )?;
            Ok((report, earlier))
        })
        .expect("read");
    let Some(report) = report else {
        return Vec::new();
    };
    let mut found: Vec<DuplicateCandidate> = earlier
        .into_iter()
        .filter(|e| e.impact == report.impact)
        .filter(|e| e.contracts.iter().any(|c| report.contracts.contains(c)))
        .filter_map(|e| {
            let similarity = trigram_similarity(&report.text, &e.text);
            (similarity >= threshold).then_some(DuplicateCandidate {
                id: e.id,
                title: e.title,
                status: e.status,
                submitted_at: e.submitted_at,
                similarity,
            })
        })
        .collect();
    found.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then(a.id.cmp(&b.id)));
    found
}

/// A deterministic stream of numbers (a linear congruential generator): the same reports on
/// every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

impl Lcg {
    /// A made-up word of two or three syllables (thousands of them: texts of different
    /// families share few trigrams).
    fn word(&mut self) -> String {
        const SYLLABLES: [&str; 16] = [
            "ka", "lo", "mi", "ne", "ru", "ta", "ve", "so", "pi", "de", "ga", "hu", "zo", "be",
            "fi", "wy",
        ];
        (0..2 + self.below(2))
            .map(|_| SYLLABLES[self.below(SYLLABLES.len())])
            .collect()
    }
}

/// `base` with about `percent` % of its words replaced.
fn reworded(rng: &mut Lcg, base: &[String], percent: usize) -> Vec<String> {
    base.iter()
        .map(|w| {
            if rng.below(100) < percent {
                rng.word()
            } else {
                w.clone()
            }
        })
        .collect()
}

#[test]
fn the_indexed_scan_answers_exactly_what_scoring_every_report_answers() {
    for s in Store::each_backend() {
        let mut rng = Lcg(7);
        let impacts = [THEFT, "protocol-insolvency"];
        let contracts = ["escrow", "registry", "tokenizer"];
        let mut texts: Vec<(String, String)> = vec![
            (DRAIN_TITLE.into(), DRAIN.into()),
            (REWORDED_TITLE.into(), REWORDED.into()),
            (OTHER_TITLE.into(), OTHER.into()),
            (SAME_FUNCTION_TITLE.into(), SAME_FUNCTION.into()),
            // One line against a long text, texts without letters or digits (no trigram at all),
            // letters that lowercase to two characters, and other scripts.
            ("Reentrancy in withdraw".into(), "Drains the escrow.".into()),
            ("...".into(), "!!! ???".into()),
            ("—".into(), "***".into()),
            ("İstanbul Straße".into(), "ΣΑΣ escrow ǅ withdraw".into()),
            ("istanbul strasse".into(), "σας escrow dž withdraw".into()),
        ];
        // Families of rewordings: from the same base, each more or less changed, so that many
        // pairs score near the threshold, on both sides of it.
        for _ in 0..12 {
            let base: Vec<String> = (0..25 + rng.below(30)).map(|_| rng.word()).collect();
            // Short reports of which the base says more (their trigrams nearly a subset of its):
            // the score is about the ratio of their sizes, so these pairs test the bounds at their
            // tightest. The shortest prefix of the base that scores the threshold, and the one a
            // word shorter that misses it, before the base and after it.
            let joined = base.join(" ");
            let prefix = |k: usize| (base[..2].join(" "), base[2..k].join(" "));
            let tight = (3..base.len())
                .find(|&k| {
                    let (title, description) = prefix(k);
                    trigram_similarity(&format!("{title}\n{description}"), &joined)
                        >= DUPLICATE_THRESHOLD
                })
                .expect("a prefix reaches the threshold");
            texts.push(prefix(tight));
            texts.push(prefix(tight - 1));
            for _ in 0..5 {
                let percent = 5 + rng.below(70);
                let words = reworded(&mut rng, &base, percent);
                let (title, description) = words.split_at(4);
                texts.push((title.join(" "), description.join(" ")));
            }
            texts.push((base[..4].join(" "), base[4..].join(" ")));
            texts.push(prefix(tight));
            texts.push(prefix(tight - 1));
        }
        let mut ids = Vec::new();
        for (n, (title, description)) in texts.iter().enumerate() {
            let impact = impacts[usize::from(rng.below(5) == 0)];
            let mut named = vec![contracts[rng.below(3)].to_string()];
            if rng.below(2) == 0 {
                named.push(contracts[rng.below(3)].to_string());
            }
            let id = if n % 4 == 3 {
                // As an older build stored it: not indexed.
                s.with(|c| {
                    c.query_row(
                    "INSERT INTO bounty_reports (title, severity, impact, contracts, description,
                         contact, token_sha256, status, submitted_at, updated_at)
                     VALUES (?1, 'critical', ?2, ?3, ?4, 'c', ?5, 'reported', 1, 1)
                     RETURNING id",
                    params![
                        title,
                        impact,
                        serde_json::to_string(&named).expect("json"),
                        description,
                        format!("h{n}")
                    ],
                    |r| r.get::<i64>(0),
                )
                })
                .expect("insert")
            } else {
                let report = NewReport {
                    title: title.clone(),
                    severity: Severity::Critical,
                    impact,
                    contracts: named,
                    description: description.clone(),
                    proof_of_concept: None,
                    contact: "c".into(),
                    payout_address: None,
                    credit_as: None,
                };
                s.insert_bounty_report(&report, None, &format!("h{n}"), 1)
                    .expect("insert")
            };
            ids.push(id);
        }
        // The team's confirmed impact replaces some claims.
        s.with(|c| {
            c.execute(
                "UPDATE bounty_reports SET confirmed_impact = ?1 WHERE id % 7 = 0",
                params![THEFT],
            )
        })
        .expect("confirm");

        let (mut flagged, mut just_above, mut just_below) = (0, 0, 0);
        for &id in &ids {
            let scored = full_scan(&s, id, 0.0);
            let expected: Vec<DuplicateCandidate> = scored
                .iter()
                .filter(|d| d.similarity >= DUPLICATE_THRESHOLD)
                .cloned()
                .collect();
            let indexed = s.possible_duplicates(id).expect("scan");
            assert_eq!(indexed, expected, "report {id}");
            flagged += expected.len();
            just_above += expected.iter().filter(|d| d.similarity < 0.45).count();
            just_below += scored
                .iter()
                .filter(|d| (0.25..DUPLICATE_THRESHOLD).contains(&d.similarity))
                .count();
        }
        // The set is worth comparing on: duplicates to find, some of them barely, and earlier
        // reports on the same contract and impact that barely miss.
        assert!(flagged >= 20, "{flagged} flagged");
        assert!(just_above >= 5, "{just_above} just above the threshold");
        assert!(just_below >= 5, "{just_below} just below the threshold");
        // A pair at the threshold exactly: 7 trigrams shared of 20 (" ab" to "fgh").
        let at = |title: &str| store(&s, title, "", THEFT, "escrow");
        let (first, second) = (at("abcdefghijklm"), at("abcdefghnopqrs"));
        let found = s.possible_duplicates(second).expect("scan");
        assert_eq!(found, full_scan(&s, second, DUPLICATE_THRESHOLD));
        assert_eq!(
            found
                .iter()
                .map(|d| (d.id, d.similarity))
                .collect::<Vec<_>>(),
            [(first, DUPLICATE_THRESHOLD)]
        );
        // Every report is indexed now, the older ones too.
        let unindexed: i64 = s
            .with(|c| {
                c.query_row(
                    "SELECT COUNT(*) FROM bounty_reports
                 WHERE id NOT IN (SELECT report_id FROM bounty_trigram_sets)",
                    params![],
                    |r| r.get(0),
                )
            })
            .expect("count");
        assert_eq!(unindexed, 0);
    }
}

#[test]
fn each_stored_trigram_set_is_the_one_the_similarity_compares() {
    for s in Store::each_backend() {
        let id = store(&s, DRAIN_TITLE, DRAIN, THEFT, "escrow");
        let (count, blob): (i64, Vec<u8>) = s
            .with(|c| {
                c.query_row(
                    "SELECT trigram_count, trigrams FROM bounty_trigram_sets WHERE report_id = ?1",
                    params![id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
            })
            .expect("indexed with the report");
        let stored: Vec<[char; 3]> = blob
            .chunks_exact(8)
            .map(|chunk| {
                let n = i64::from_le_bytes(chunk.try_into().expect("8 bytes"));
                let char_at = |shift: u32| char::from_u32(((n >> shift) & 0x1f_ffff) as u32);
                [char_at(42), char_at(21), char_at(0)].map(|c| c.expect("a character"))
            })
            .collect();
        let expected = trigrams(&format!("{DRAIN_TITLE}\n{DRAIN}"));
        assert_eq!(count as usize, expected.len());
        assert_eq!(stored.len(), expected.len());
        assert!(stored.iter().all(|t| expected.contains(t)), "the same set");
        assert!(stored.is_sorted_by(|x, y| {
            let key = |t: &[char; 3]| t.map(u32::from);
            key(x) < key(y)
        }));
    }
}
