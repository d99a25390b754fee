//! The triage's refusals, and what the researcher is told.

use super::*;
use crate::bounty::{NewReport, crypto};

#[test]
fn a_refused_decision_says_whether_the_state_or_an_argument_is_wrong() {
    for store in Store::each_backend() {
        let report = NewReport {
            title: "t".into(),
            severity: Severity::Low,
            impact: "fails-to-deliver-promised-returns",
            contracts: vec!["escrow".into()],
            description: "d".into(),
            proof_of_concept: None,
            contact: "c".into(),
            payout_address: None,
            credit_as: None,
        };
        let token = crypto::new_token().expect("token");
        let id = store
            .insert_bounty_report(&report, None, &crypto::token_hash(&token), 1)
            .expect("insert");
        let contacts = Contacts::default();
        let take = |d: &Decision| decide(&store, &contacts, id, d, "lead", 2);

        // `fixed` applies to a confirmed report; this one is reported.
        match take(&Decision::Fixed) {
            Err(TriageError::WrongState { id: at, message }) => {
                assert_eq!(at, id);
                assert!(message.contains("is reported"), "{message}");
            }
            other => panic!("wrong state expected: {other:?}"),
        }
        // An empty message is the request's fault, whatever the status.
        match take(&Decision::AskInfo {
            message: " ".into(),
        }) {
            Err(TriageError::Invalid { field, .. }) => assert_eq!(field, "message"),
            other => panic!("invalid argument expected: {other:?}"),
        }
        match take(&Decision::Duplicate { of: id }) {
            Err(TriageError::Invalid { field, .. }) => assert_eq!(field, "of"),
            other => panic!("invalid argument expected: {other:?}"),
        }
        // An impact of another severity than the one confirmed contradicts it.
        match take(&Decision::Confirm {
            severity: Severity::Low,
            impact: "direct-theft-of-funds".into(),
        }) {
            Err(TriageError::Invalid { field, message }) => {
                assert_eq!(field, "impact");
                assert!(
                    message.contains("is a critical impact, not a low one")
                        && message.contains("fails-to-deliver-promised-returns"),
                    "{message}"
                );
            }
            other => panic!("invalid argument expected: {other:?}"),
        }
        // Nothing was written by the refusals.
        let stored = store.bounty_report(id).expect("read").expect("report");
        assert_eq!(stored.view.status, "reported");
        assert!(take(&Decision::Acknowledge).is_ok());
    }
}

#[test]
fn the_researcher_is_told_of_their_report_by_its_public_id_only() {
    let manifest = crate::config::Manifest::parse(
        r#"
[chains.local]
chain_id = 31337
rpc_urls = ["http://127.0.0.1:1"]

[[contracts]]
name = "escrow"
chain = "local"
kind = "PaymentEscrow"
address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"

[[contacts]]
name = "bounty-mail"
channel = "email"
to = ["security@integra.example"]
from = "bounty@integra.example"
smtp_url_env = "SMTP_URL"
audiences = ["researchers"]
"#,
        std::path::Path::new("guardian.toml"),
    )
    .expect("manifest");
    let contacts = Contacts::load(&manifest, &|_| Some("smtp://127.0.0.1:1".into()));
    for store in Store::each_backend() {
        let report = NewReport {
            title: "t".into(),
            severity: Severity::Medium,
            impact: "griefing",
            contracts: vec!["escrow".into()],
            description: "d".into(),
            proof_of_concept: None,
            contact: "r@example.org".into(),
            payout_address: None,
            credit_as: None,
        };
        // Reports 1 to 7 exist; the researcher of the 7th must not learn it.
        let mut inserted = Vec::new();
        for n in 0..7 {
            inserted.push(
                store
                    .insert_bounty_report_telling(&report, None, &format!("h{n}"), 1, None)
                    .expect("insert"),
            );
        }
        let (earlier, last) = (&inserted[0], &inserted[6]);
        let decisions = [
            Decision::AskInfo {
                message: "Which block?".into(),
            },
            Decision::Duplicate { of: earlier.id },
        ];
        for decision in &decisions {
            decide(&store, &contacts, last.id, decision, "lead", 2).expect("taken");
        }
        let mails: Vec<serde_json::Value> = store
            .with(|c| {
                c.query_map("SELECT message FROM outbox ORDER BY id", params![], |r| {
                    r.get::<String>(0)
                })
            })
            .expect("outbox")
            .iter()
            .map(|m| serde_json::from_str(m).expect("message"))
            .collect();
        assert_eq!(mails.len(), 2);
        for mail in &mails {
            let (title, text) = (mail["title"].to_string(), mail["lines"].to_string());
            assert!(title.contains(&last.public_id), "{title}");
            assert!(text.contains(&last.public_id), "{text}");
            // The public id is random: it may itself start with a 7.
            let (title, text) = (
                title.replace(&last.public_id, "ID"),
                text.replace(&last.public_id, "ID"),
            );
            for number in ["#7", "#1", "reports/7"] {
                assert!(!title.contains(number) && !text.contains(number), "{mail}");
            }
            assert!(!text.contains(&earlier.public_id), "{text}");
        }
        assert!(
            mails[0]["lines"]
                .to_string()
                .contains(&format!("POST /bounty/reports/{}", last.public_id)),
            "{}",
            mails[0]
        );
        // The thread holds what the e-mails said.
        let thread = store
            .bounty_report(last.id)
            .expect("read")
            .expect("report")
            .view
            .thread;
        assert!(
            thread
                .iter()
                .filter_map(|e| e.message.as_deref())
                .all(|m| !m.contains('#'))
        );
    }
}
