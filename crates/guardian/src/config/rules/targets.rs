//! Which manifest contracts a rule watches: its `contracts` entries (names or kinds), or every
//! contract its kind, event and asset fit.

use serde::{Deserialize, de::IntoDeserializer};

use super::{RuleConfig, RuleKind, abi_of, event_selectors};
use crate::config::{ContractConfig, ContractKind, Manifest};

/// The contracts `rule` watches, or what is wrong with its `contracts`/`event`/`asset`, with the
/// offset of the key at fault.
pub(super) fn resolve_targets<'m>(
    rule: &RuleConfig,
    manifest: &'m Manifest,
) -> Result<Vec<&'m ContractConfig>, (usize, String)> {
    let name = rule.name();
    let kind = rule.kind;
    let event = rule.event();
    let has_event =
        |c: &ContractConfig| event.is_none_or(|e| !event_selectors(c.kind, e).is_empty());
    let token = rule.asset().token();
    let lists_token = |c: &ContractConfig| token.is_none_or(|t| c.tokens.contains(&t));
    let Some(entries) = &rule.contracts else {
        let all: Vec<&ContractConfig> = manifest
            .contracts
            .iter()
            .filter(|c| kind.applies_to(c.kind) && has_event(c) && lists_token(c))
            .collect();
        if all.is_empty() {
            let what = match (kind, event, token) {
                (RuleKind::Rate, Some(e), _) => {
                    format!("no contract of the manifest has an event `{e}`")
                }
                (RuleKind::Outflow, _, Some(t)) => {
                    format!("no fund-holding contract lists token {t} in its `tokens`")
                }
                _ => format!("no contract of the manifest is one a `{kind}` rule applies to"),
            };
            return Err((rule.name.span().start, format!("rule `{name}`: {what}")));
        }
        return Ok(all);
    };
    if entries.is_empty() {
        return Err((
            rule.name.span().start,
            format!(
                "rule `{name}`: `contracts` is empty: list contract names or kinds, or leave it out for all"
            ),
        ));
    }
    let mut targets: Vec<&ContractConfig> = Vec::new();
    for entry in entries {
        let at = entry.span().start;
        let wanted = entry.get_ref().as_str();
        let by_kind = ContractKind::deserialize(
            IntoDeserializer::<serde::de::value::Error>::into_deserializer(wanted),
        )
        .ok();
        let matched: Vec<&ContractConfig> = match manifest.contract(wanted) {
            Some(c) => vec![c],
            None => manifest
                .contracts
                .iter()
                .filter(|c| Some(c.kind) == by_kind)
                .collect(),
        };
        if matched.is_empty() {
            return Err((
                at,
                format!(
                    "rule `{name}`: `{wanted}` is neither a contract of the manifest nor a kind of one (contracts: {})",
                    manifest
                        .contracts
                        .iter()
                        .map(ContractConfig::name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        for c in matched {
            if !kind.applies_to(c.kind) {
                return Err((
                    at,
                    format!(
                        "rule `{name}`: a `{kind}` rule watches fund-holding contracts, and `{}` ({}) holds none",
                        c.name(),
                        c.kind
                    ),
                ));
            }
            if !has_event(c) {
                let e = event.unwrap_or_default();
                let offset = rule.event.as_ref().map_or(at, |e| e.span().start);
                return Err((
                    offset,
                    format!(
                        "rule `{name}`: unknown event `{e}` for `{}` ({}); its events: {}",
                        c.name(),
                        c.kind,
                        abi_of(c.kind)
                            .events
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if !lists_token(c) {
                let offset = rule.asset.as_ref().map_or(at, |a| a.span().start);
                return Err((
                    offset,
                    format!(
                        "rule `{name}`: `{}` does not list the rule's token in its `tokens`, so its balance is not read: add it there",
                        c.name()
                    ),
                ));
            }
            if !targets.iter().any(|t| t.name() == c.name()) {
                targets.push(c);
            }
        }
    }
    Ok(targets)
}
