//! What a notification says, rendered once when it is written to the outbox: a title and a few
//! short lines for people (what, where, severity and suggested level, the command to run next),
//! and the JSON body signed webhooks receive.

use alloy::primitives::{B256, keccak256};
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, AlertStatus, Severity};

/// What happened to an alert that people are told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertEvent {
    /// It was raised.
    Raised,
    /// Its block was orphaned by a reorganisation: it no longer stands.
    Retracted,
}

impl AlertEvent {
    /// The outbox topic (`alert.raised`, `alert.retracted`).
    pub fn topic(self) -> &'static str {
        match self {
            Self::Raised => "alert.raised",
            Self::Retracted => "alert.retracted",
        }
    }
}

/// A notification, as every channel renders it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// How serious (routes it, and sets PagerDuty's severity).
    pub severity: Severity,
    /// One line: subject of an e-mail, first line of a chat message.
    pub title: String,
    /// A few short lines after the title.
    pub lines: Vec<String>,
    /// Explorer links to the transactions, when the chain has an `explorer_url`.
    pub links: Vec<String>,
    /// Whether it says that an earlier message no longer stands (PagerDuty resolves).
    pub resolves: bool,
    /// Groups the messages about one thing (PagerDuty's `dedup_key`).
    pub dedup_key: String,
    /// Where it comes from: `chain/contract`.
    pub source: String,
    /// The signed webhook's JSON body: `{"alert": {...}}` or `{"test": {...}}`.
    pub body: serde_json::Value,
    /// One person to write to instead of the contact's own recipients (a bounty researcher's
    /// e-mail address); e-mail contacts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
}

impl Message {
    /// The message about `alert`; `explorer` is its chain's explorer base URL, if configured.
    pub fn alert(alert: &Alert, event: AlertEvent, explorer: Option<&str>) -> Self {
        Self::alert_responding(alert, event, explorer, None)
    }

    /// The message about `alert` whose rule responds automatically at incident level
    /// `responding` (it says so instead of asking someone to act).
    pub fn alert_responding(
        alert: &Alert,
        event: AlertEvent,
        explorer: Option<&str>,
        responding: Option<u8>,
    ) -> Self {
        let a = &alert.found;
        let status = match event {
            AlertEvent::Retracted => AlertStatus::Retracted,
            AlertEvent::Raised => alert.status,
        };
        let body = serde_json::json!({"alert": {
            "id": alert.id,
            "rule": a.rule,
            "kind": a.kind,
            "severity": a.severity,
            "status": status.as_str(),
            "chain": a.chain,
            "chain_id": a.chain_id,
            "contract": a.contract,
            "address": a.address.map(|x| x.to_checksum(None)),
            "block_number": a.block_number,
            "block_hash": a.block_hash.to_string(),
            "tx_hashes": a.tx_hashes.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
            "summary": a.summary,
            "detected_at": rfc3339(alert.detected_at),
        }});
        let contract = match (&a.contract, a.address) {
            (Some(name), Some(addr)) => format!(", contract {name} ({addr})"),
            (Some(name), None) => format!(", contract {name}"),
            (None, Some(addr)) => format!(", {addr}"),
            (None, None) => String::new(),
        };
        let level = a.severity.level();
        // A bounty report's clock is about the team, not about a block.
        let bounty_report = alert.overdue_report();
        let where_ = match bounty_report {
            Some(id) => format!(
                "where: the bug bounty desk, report {id} (filed at chain {} ({}), block {})",
                a.chain, a.chain_id, a.block_number
            ),
            None => format!(
                "where: chain {} ({}){contract}, block {}",
                a.chain, a.chain_id, a.block_number
            ),
        };
        let reason = format!("alert {}: {}", alert.id, a.rule);
        let (title, lines) = match event {
            AlertEvent::Raised => {
                let title = format!("{}: {}", a.rule, a.summary).replace('"', "'");
                let next = if let Some(id) = bounty_report {
                    format!(
                        "next: guardian bounty ack {id} (the researcher is waiting for an answer), then guardian alerts ack {}",
                        alert.id
                    )
                } else {
                    match (responding, level) {
                        (Some(l), _) => format!(
                            "automatic response: guardian opens (or joins) a level-{l} incident and pauses {}; follow it with guardian incident list",
                            if l >= 3 {
                                "every contract on every chain"
                            } else {
                                "the affected contracts"
                            }
                        ),
                        (None, 3) => format!(
                            "next: guardian incident open --level 3 --from-alert {} --title \"{title}\" (pauses every contract, every chain; or guardian pause --all --reason \"{reason}\"), then guardian alerts ack {}",
                            alert.id, alert.id
                        ),
                        (None, 2) => match &a.contract {
                            Some(name) => format!(
                                "next: guardian incident open --level 2 --contracts {name} --from-alert {} --title \"{title}\" (pauses {name}; or guardian pause {name} --reason \"{reason}\"), then guardian alerts ack {}",
                                alert.id, alert.id
                            ),
                            None => format!(
                                "next: guardian pause --all --chain {} --reason \"{reason}\", then guardian alerts ack {}",
                                a.chain, alert.id
                            ),
                        },
                        _ => format!(
                            "next: look into it, then guardian alerts ack {} --note \"...\"",
                            alert.id
                        ),
                    }
                };
                (
                    format!(
                        "[{}] {} (alert {}): {}",
                        a.severity.as_str().to_uppercase(),
                        a.rule,
                        alert.id,
                        a.summary
                    ),
                    vec![
                        where_,
                        match bounty_report {
                            Some(_) => format!(
                                "severity {}: the report's claimed severity (an incident opens when the team confirms it)",
                                a.severity
                            ),
                            None => {
                                format!("severity {}: suggested incident level {level}", a.severity)
                            }
                        },
                        next,
                    ],
                )
            }
            AlertEvent::Retracted => (
                format!("[RETRACTED] {} (alert {}): {}", a.rule, alert.id, a.summary),
                vec![
                    where_,
                    "its block was orphaned by a reorganisation: the alert no longer stands"
                        .to_string(),
                    format!(
                        "next: nothing, unless you acted on it (guardian alerts lists alert {})",
                        alert.id
                    ),
                ],
            ),
        };
        let links = explorer
            .map(|base| {
                a.tx_hashes
                    .iter()
                    .map(|h| format!("{base}/tx/{h}"))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            severity: a.severity,
            title,
            lines,
            links,
            resolves: event == AlertEvent::Retracted,
            dedup_key: dedup_key(&a.dedup_key, a.chain_id),
            source: match &a.contract {
                Some(c) => format!("{}/{c}", a.chain),
                None => a.chain.clone(),
            },
            body,
            recipient: None,
        }
    }

    /// A test message for `contact`, sent by `guardian monitor --check`.
    pub fn test(contact: &str, now_ms: i64) -> Self {
        Self {
            severity: Severity::Info,
            title: format!("[TEST] guardian can reach contact {contact}"),
            lines: vec![
                "a test notification from guardian monitor --check".to_string(),
                "next: nothing, this is not an alert".to_string(),
            ],
            links: Vec::new(),
            resolves: false,
            dedup_key: format!("guardian-test-{contact}-{now_ms}"),
            source: "guardian".to_string(),
            body: serde_json::json!({"test": {
                "contact": contact,
                "sent_at": rfc3339(now_ms),
            }}),
            recipient: None,
        }
    }

    /// Title, lines and links, one per line.
    pub fn text(&self) -> String {
        let mut out = self.title.clone();
        for line in self.lines.iter().chain(&self.links) {
            out.push('\n');
            out.push_str(line);
        }
        out
    }
}

/// A stable key per alert, at most 73 characters whatever the rule's key is (PagerDuty allows
/// 255): two monitors of the same deployment page once.
fn dedup_key(alert_key: &str, chain_id: u64) -> String {
    let hash: B256 = keccak256(format!("{chain_id}:{alert_key}"));
    format!("guardian-{}", alloy::hex::encode(&hash[..16]))
}

/// Unix milliseconds as RFC 3339 in UTC, with milliseconds (`2026-11-27T16:00:00.123Z`).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::NewAlert;
    use alloy::primitives::{Address, TxHash};

    fn alert(severity: Severity) -> Alert {
        Alert {
            id: 42,
            status: AlertStatus::Open,
            detected_at: 1_700_000_000_123,
            acknowledged: None,
            found: NewAlert {
                rule: "escrow-drain".into(),
                kind: "outflow".into(),
                severity,
                chain: "mainnet".into(),
                chain_id: 1,
                contract: Some("escrow".into()),
                address: Some(
                    "0x5fbdb2315678afecb367f032d93f642f64180aa3"
                        .parse::<Address>()
                        .expect("address"),
                ),
                block_number: 19,
                block_hash: B256::repeat_byte(0xab),
                tx_hashes: vec![TxHash::repeat_byte(0xcd)],
                summary: "12 ETH left escrow in 5 blocks".into(),
                evidence: serde_json::json!({}),
                dedup_key: "escrow-drain:escrow:15".into(),
            },
        }
    }

    #[test]
    fn the_webhook_body_has_the_documented_types() {
        let m = Message::alert(&alert(Severity::Critical), AlertEvent::Raised, None);
        let a = &m.body["alert"];
        assert_eq!(a["id"], 42);
        assert_eq!(a["chain_id"], 1);
        assert_eq!(a["block_number"], 19);
        assert_eq!(a["status"], "open");
        assert_eq!(a["severity"], "critical");
        assert_eq!(a["address"], "0x5FbDB2315678afecb367f032d93F642f64180aa3");
        assert_eq!(a["tx_hashes"][0], format!("0x{}", "cd".repeat(32)));
        assert_eq!(a["block_hash"], format!("0x{}", "ab".repeat(32)));
        assert_eq!(a["detected_at"], "2023-11-14T22:13:20.123Z");
        let keys: Vec<&String> = a.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), 14, "{keys:?}");
    }

    #[test]
    fn the_text_says_what_where_how_serious_and_what_to_do() {
        let m = Message::alert(
            &alert(Severity::Critical),
            AlertEvent::Raised,
            Some("https://etherscan.io"),
        );
        let text = m.text();
        assert!(
            text.starts_with("[CRITICAL] escrow-drain (alert 42)"),
            "{text}"
        );
        assert!(
            text.contains("chain mainnet (1), contract escrow"),
            "{text}"
        );
        assert!(text.contains("suggested incident level 3"), "{text}");
        assert!(
            text.contains("guardian incident open --level 3 --from-alert 42"),
            "{text}"
        );
        assert!(text.contains("guardian pause --all"), "{text}");
        assert!(text.contains("guardian alerts ack 42"), "{text}");
        assert!(
            text.contains(&format!("https://etherscan.io/tx/0x{}", "cd".repeat(32))),
            "{text}"
        );
        let high = Message::alert(&alert(Severity::High), AlertEvent::Raised, None).text();
        assert!(
            high.contains("guardian incident open --level 2 --contracts escrow"),
            "{high}"
        );
        assert!(high.contains("guardian pause escrow --reason"), "{high}");
        let auto =
            Message::alert_responding(&alert(Severity::High), AlertEvent::Raised, None, Some(3))
                .text();
        assert!(
            auto.contains("automatic response: guardian opens (or joins) a level-3 incident"),
            "{auto}"
        );
        assert!(!auto.contains("next: guardian incident open"), "{auto}");
        assert!(!high.contains("/tx/"), "no explorer, no link: {high}");
    }

    #[test]
    fn a_retraction_resolves_under_the_same_key() {
        let a = alert(Severity::Critical);
        let raised = Message::alert(&a, AlertEvent::Raised, None);
        let retracted = Message::alert(&a, AlertEvent::Retracted, None);
        assert_eq!(raised.dedup_key, retracted.dedup_key);
        assert!(retracted.resolves && !raised.resolves);
        assert_eq!(retracted.body["alert"]["status"], "retracted");
        assert!(retracted.title.starts_with("[RETRACTED]"));
    }
}
