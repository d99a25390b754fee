//! The post-mortem's review, as the Security Alliance's war-room guidance asks for it: how the
//! incident was detected and how long it took, why it happened (the "why" chain), what went
//! well, what went wrong, where the team was lucky, and follow-up actions with an owner and a due
//! date. People write them (`guardian incident review`); guardian adds what its records show.

use serde::Serialize;

use super::{AlertLine, Durations, Funds, Note, Span, markdown::show_span, utc};
use crate::incident::Entry;

/// Who writes what guardian read from its records.
pub const FROM_RECORDS: &str = "guardian";

/// The sections a person adds to with `guardian incident review ID SECTION TEXT`.
pub const SECTIONS: [&str; 5] = ["why", "went-well", "went-wrong", "lucky", "action"];

/// How the incident was detected.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Detection {
    /// How: the first alert (rule, severity, block), or who opened it by hand.
    pub how: String,
    /// From the exploit (else the first alert) to its detection.
    pub time_to_detect: Option<Span>,
}

/// The review's sections.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Review {
    /// How it was detected.
    pub detection: Detection,
    /// Why it happened, one step per entry, each the cause of the one before.
    pub why: Vec<Note>,
    /// What went well.
    pub went_well: Vec<Note>,
    /// What went wrong.
    pub went_wrong: Vec<Note>,
    /// Where the team was lucky.
    pub lucky: Vec<Note>,
}

impl Review {
    /// The sections as every renderer shows them: a title, whether the items are numbered, and
    /// each item's text (`actor: text`).
    pub fn sections(&self) -> [(&'static str, bool, Vec<String>); 5] {
        let items = |notes: &[Note]| -> Vec<String> {
            notes
                .iter()
                .map(|n| match n.actor.as_str() {
                    FROM_RECORDS => format!("{} (from guardian's records)", n.text),
                    _ => format!("{} ({}, {})", n.text, n.actor, n.at),
                })
                .collect()
        };
        [
            (
                "Detection",
                false,
                vec![
                    format!("How: {}", self.detection.how),
                    format!(
                        "Time to detect: {}",
                        show_span(&self.detection.time_to_detect)
                    ),
                ],
            ),
            ("Why it happened", true, items(&self.why)),
            ("What went well", false, items(&self.went_well)),
            ("What went wrong", false, items(&self.went_wrong)),
            ("Where we were lucky", false, items(&self.lucky)),
        ]
    }
}

/// The review from the timeline's `review` entries and what the records show.
pub(super) fn of(
    timeline: &[Entry],
    alerts: &[AlertLine],
    opened_by: &str,
    durations: &Durations,
    funds_total: &[Funds],
) -> Review {
    let written = |section: &str| -> Vec<Note> {
        timeline
            .iter()
            .filter(|e| e.kind == "review" && e.details["section"] == section)
            .map(|e| Note {
                at: utc(e.at),
                actor: e.actor.clone(),
                text: e.details["text"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    };
    let fact = |text: String| Note {
        at: "-".into(),
        actor: FROM_RECORDS.into(),
        text,
    };
    let mut went_well = Vec::new();
    let mut went_wrong = Vec::new();
    match durations.pause.as_ref().and_then(|p| p.blocks) {
        Some(b) if b <= 1 => went_well.push(fact(format!(
            "the pause landed {b} block{} after the first alert",
            if b == 1 { "" } else { "s" }
        ))),
        Some(b) => went_wrong.push(fact(format!(
            "the pause landed {b} blocks after the first alert, not in the next one"
        ))),
        None => {}
    }
    for e in timeline.iter().filter(|e| e.kind == "pause-failed") {
        went_wrong.push(fact(format!(
            "a pause failed: {}",
            e.details["error"].as_str().unwrap_or("?")
        )));
    }
    for f in funds_total.iter().filter(|f| f.lost.base != "0") {
        went_wrong.push(fact(format!(
            "{} lost on {} before the pause landed",
            f.lost.shown, f.chain
        )));
    }
    went_well.extend(written("went-well"));
    went_wrong.extend(written("went-wrong"));
    Review {
        detection: Detection {
            how: match alerts.first() {
                Some(a) => format!(
                    "alert {} ({}, {}) on {} at block {}: {}",
                    a.id, a.rule, a.severity, a.chain, a.block, a.summary
                ),
                None => format!("no alert: opened by {opened_by}"),
            },
            time_to_detect: durations.detect.clone(),
        },
        why: written("why"),
        went_well,
        went_wrong,
        lucky: written("lucky"),
    }
}
