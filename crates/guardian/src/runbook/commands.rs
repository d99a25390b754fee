//! The exact commands of each incident level (SYSTEM.md's protocol), with the deployment's
//! contract names and first safe recipient filled in. Every command is kept as its arguments, so
//! a test can hand each to the command-line parser.

use serde::Serialize;

use crate::{
    config::Manifest,
    incident::{level_name, level_tasks},
};

/// The placeholder for the id `guardian incident open` prints: a shell variable the reader sets.
pub const INCIDENT_ID: &str = "$ID";

/// One command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Command {
    /// The arguments, `guardian` first.
    pub argv: Vec<String>,
    /// What it does, in a few words.
    pub note: String,
}

impl Command {
    /// A command from its arguments.
    pub fn new(argv: Vec<String>, note: &str) -> Self {
        Self {
            argv,
            note: note.to_string(),
        }
    }

    /// The command as a shell line: arguments with spaces or shell characters are single-quoted,
    /// the incident id stays a variable.
    pub fn line(&self) -> String {
        self.argv
            .iter()
            .map(|a| quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .replace(INCIDENT_ID, "")
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,:=@+".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// One step of a level's response.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What to do.
    pub text: String,
    /// The command that does it, if one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
}

/// One incident level with its steps.
#[derive(Debug, Clone, Serialize)]
pub struct Level {
    /// 1, 2 or 3.
    pub level: u8,
    /// `minor`, `moderate`, `critical`.
    pub name: &'static str,
    /// When to choose it (the seed's symptoms).
    pub when: &'static str,
    /// What to do, in order.
    pub steps: Vec<Step>,
}

/// Builds argv from words.
fn cmd(words: &[&str], note: &str) -> Command {
    let mut argv = vec!["guardian".to_string()];
    argv.extend(words.iter().map(|w| w.to_string()));
    Command::new(argv, note)
}

fn step(text: &str, command: Option<Command>) -> Step {
    Step {
        text: text.to_string(),
        command,
    }
}

/// The three levels' steps for `manifest`.
pub fn levels(manifest: &Manifest) -> Vec<Level> {
    let pausable: Vec<&str> = manifest
        .contracts
        .iter()
        .filter(|c| c.kind.is_pausable())
        .map(|c| c.name())
        .collect();
    let example = pausable.first().copied().unwrap_or("NAME");
    let id = INCIDENT_ID;
    let task = |level: u8, i: usize| level_tasks(level).get(i).map_or("", |t| t.0);
    let recipient = manifest
        .emergency
        .safe_recipients
        .first()
        .map(|a| a.to_string());
    let report = format!("postmortem-{id}.html");

    let one = vec![
        step(
            "Open the incident: it is recorded, its contracts are watched closely and the team is told. Set ID to the number it prints (`ID=7`).",
            Some(cmd(
                &[
                    "incident",
                    "open",
                    "--level",
                    "1",
                    "--title",
                    "unusual transactions",
                    "--contracts",
                    example,
                ],
                "open at level 1",
            )),
        ),
        step(
            "Watch: the alerts as they come (keep `guardian monitor` running).",
            Some(cmd(&["alerts"], "list the alerts")),
        ),
        step(
            "Write down what you see.",
            Some(cmd(
                &["incident", "note", id, "what was seen, where"],
                "add a note",
            )),
        ),
        step(
            "Prepare a patch if needed. No user communication at this level.",
            Some(cmd(
                &["incident", "task", id, task(1, 0), "done"],
                "mark the task done",
            )),
        ),
        step(
            "If it turns out exploitable, escalate: level 2 pauses the affected contracts.",
            Some(cmd(
                &["incident", "escalate", id, "--level", "2"],
                "escalate to level 2",
            )),
        ),
        step(
            "Otherwise resolve it, then close it.",
            Some(cmd(&["incident", "resolve", id], "resolve")),
        ),
        step("Close it.", Some(cmd(&["incident", "close", id], "close"))),
    ];

    let mut two = vec![
        step(
            &format!(
                "Open the incident naming the affected contracts (of {}): they are paused at once and the team is told. Set ID to the number it prints.",
                pausable.join(", ")
            ),
            Some(cmd(
                &[
                    "incident",
                    "open",
                    "--level",
                    "2",
                    "--title",
                    "exploitable bug",
                    "--contracts",
                    example,
                ],
                "open at level 2 and pause",
            )),
        ),
        step(
            "If the incident cannot be opened (the database is down), pause them directly.",
            Some(cmd(&["pause", example], "pause without an incident")),
        ),
        step(
            "Follow it: state of each contract, open tasks, checklist, timeline.",
            Some(cmd(&["incident", "show", id], "the war room")),
        ),
        step(
            "Investigate the root cause.",
            Some(cmd(
                &["incident", "task", id, task(2, 0), "take"],
                "take the task",
            )),
        ),
        step(
            "Who is affected: every owner, holder, payer and payee of the affected contracts.",
            Some(cmd(&["incident", "affected", id, "--csv"], "list them")),
        ),
        step(
            "Tell the affected users.",
            Some(cmd(
                &["incident", "notify", id, "--audience", "users"],
                "tell the users",
            )),
        ),
    ];
    two.extend(fix_and_resume(example, id));
    two.push(step(
        "Write the post-mortem.",
        Some(cmd(
            &[
                "incident", "report", id, "--format", "html", "--out", &report,
            ],
            "post-mortem",
        )),
    ));
    two.push(step(
        "Close it (the post-incident checklist must be complete).",
        Some(cmd(&["incident", "close", id], "close")),
    ));

    let mut three = vec![
        step(
            "Open the incident: EVERY contract on every chain is paused at once (brakes first), the team and partners are told. Set ID to the number it prints.",
            Some(cmd(
                &[
                    "incident",
                    "open",
                    "--level",
                    "3",
                    "--title",
                    "active exploit",
                ],
                "open at level 3 and pause everything",
            )),
        ),
        step(
            "If it cannot be opened, or anything is left running: the emergency pause never waits for the database.",
            Some(cmd(&["pause", "--all"], "pause everything")),
        ),
        step(
            "Check that every contract is paused.",
            Some(cmd(&["status"], "paused state and role holders")),
        ),
    ];
    match &recipient {
        Some(to) => three.push(step(
            "Rescue the funds to the first safe recipient (a Safe holding EMERGENCY_ROLE gets a proposal: `guardian safe status`).",
            Some(cmd(
                &["withdraw", "--everything", "--to", to, "--incident", id],
                "rescue everything",
            )),
        )),
        None => three.push(step(
            "Rescue the funds: NOT POSSIBLE, no safe recipient is configured (`[emergency] safe_recipients`).",
            None,
        )),
    }
    three.push(step(
        "Coordinate with security partners.",
        Some(cmd(
            &["incident", "task", id, task(3, 0), "take"],
            "take the task",
        )),
    ));
    three.extend(fix_and_resume(example, id));
    three.push(step(
        "After mitigation only: public disclosure.",
        Some(cmd(
            &["incident", "notify", id, "--audience", "public"],
            "tell the public",
        )),
    ));
    three.push(step(
        "Post-incident review: write the post-mortem.",
        Some(cmd(
            &[
                "incident", "report", id, "--format", "html", "--out", &report,
            ],
            "post-mortem",
        )),
    ));
    three.push(step(
        "Close it (the post-incident checklist must be complete).",
        Some(cmd(&["incident", "close", id], "close")),
    ));

    let when = |level: u8| match level {
        1 => "unusual transaction patterns, minor bugs",
        2 => "an exploitable bug, limited impact",
        _ => "an active exploit, significant fund risk",
    };
    [(1, one), (2, two), (3, three)]
        .into_iter()
        .map(|(level, steps)| Level {
            level,
            name: level_name(level),
            when: when(level),
            steps,
        })
        .collect()
}

/// Fix, verify, make escrows whole and resume: levels 2 and 3 share them.
fn fix_and_resume(example: &str, id: &str) -> Vec<Step> {
    vec![
        step(
            "Ship the fix: upgrade each affected contract (here the first of the manifest) to the fixed implementation, recorded in the incident.",
            Some(cmd(
                &[
                    "upgrade",
                    example,
                    "--artifact",
                    "FIXED.json",
                    "--incident",
                    id,
                ],
                "upgrade",
            )),
        ),
        step(
            "Say how the fix was verified.",
            Some(cmd(
                &[
                    "incident",
                    "verify-fix",
                    id,
                    "--note",
                    "how it was verified",
                ],
                "record the verification",
            )),
        ),
        step(
            "Resume: unpause what the incident paused (it refuses while an escrow holds less than it owes: replenish it first, as the findings say).",
            Some(cmd(&["incident", "unpause", id], "unpause")),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_with_spaces_are_quoted_and_the_id_stays_a_variable() {
        let c = cmd(&["incident", "note", INCIDENT_ID, "it's odd"], "");
        assert_eq!(c.line(), r"guardian incident note $ID 'it'\''s odd'");
        let c = cmd(&["withdraw", "--to", "0xAbC"], "");
        assert_eq!(c.line(), "guardian withdraw --to 0xAbC");
        let c = cmd(
            &["incident", "report", INCIDENT_ID, "--out", "pm-$ID.html"],
            "",
        );
        assert_eq!(c.line(), "guardian incident report $ID --out pm-$ID.html");
    }
}
