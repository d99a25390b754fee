//! Checking every `[[rules]]` entry at load, with the line of the key at fault.

use std::collections::BTreeMap;

use super::{
    Asset, BUILT_IN_RULES, MAX_BASELINE_WINDOWS, MAX_WINDOW_BLOCKS, Respond, RuleKind,
    amount::{amount_shape, parse_amount},
    targets::resolve_targets,
};
use crate::config::{ConfigError, Manifest, line_of};

/// Checks every `[[rules]]` entry of `manifest`: unique names that are not built in, only the
/// keys of the rule's kind, sensible numbers, contracts and events that exist, amounts that parse.
pub(in crate::config) fn validate(
    manifest: &Manifest,
    text: &str,
    path: &std::path::Path,
) -> Result<(), ConfigError> {
    let invalid = |offset: usize, message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        line: line_of(text, offset),
        message,
    };
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for rule in &manifest.rules {
        let name = rule.name();
        let at = rule.name.span().start;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                at,
                format!("rule name `{name}`: use letters, digits, - and _ only"),
            ));
        }
        if BUILT_IN_RULES.contains(&name) {
            return Err(invalid(
                at,
                format!(
                    "rule name `{name}` is taken by a built-in rule ({}): choose another",
                    BUILT_IN_RULES.join(", ")
                ),
            ));
        }
        if let Some(first) = names.insert(name, at) {
            return Err(invalid(
                at,
                format!(
                    "duplicate rule name `{name}` (first used on line {}): names must be unique",
                    line_of(text, first)
                ),
            ));
        }
        let kind = rule.kind;
        if let Some((key, offset)) = rule
            .kind_keys()
            .into_iter()
            .find(|(key, _)| !kind.own_keys().contains(key))
        {
            return Err(invalid(
                offset,
                format!(
                    "rule `{name}`: `{key}` does not apply to kind `{kind}` (it takes {}, and contracts, window_blocks, cooldown_blocks, severity, respond)",
                    kind.own_keys().join(", ")
                ),
            ));
        }
        if rule.preempt && (rule.respond == Respond::None || kind != RuleKind::Outflow) {
            return Err(invalid(
                at,
                format!(
                    "rule `{name}`: preempt = true needs an `outflow` rule with respond (pause-affected or pause-all): a pre-emption is a pause answering a pending drain"
                ),
            ));
        }
        let window = rule.window();
        if !(1..=MAX_WINDOW_BLOCKS).contains(&window) {
            return Err(invalid(
                rule.window_blocks.span().start,
                format!("rule `{name}`: window_blocks must be between 1 and {MAX_WINDOW_BLOCKS}"),
            ));
        }
        let share = |bounds: &str, ok: fn(f64) -> bool| -> Result<(), ConfigError> {
            match &rule.max_share {
                Some(s) if !ok(*s.get_ref()) => Err(invalid(
                    s.span().start,
                    format!("rule `{name}`: max_share is a fraction {bounds} (0.2 is 20 %)"),
                )),
                _ => Ok(()),
            }
        };
        match kind {
            RuleKind::Rate => {
                if rule.threshold.is_none() && rule.baseline_factor.is_none() {
                    return Err(invalid(
                        at,
                        format!(
                            "rule `{name}`: a `rate` rule needs threshold, baseline_factor, or both"
                        ),
                    ));
                }
                if let Some(f) = &rule.baseline_factor {
                    let f_value = *f.get_ref();
                    if !f_value.is_finite() || f_value < 1.0 {
                        return Err(invalid(
                            f.span().start,
                            format!(
                                "rule `{name}`: baseline_factor must be a number of at least 1.0 (5.0 fires at five times the usual count)"
                            ),
                        ));
                    }
                }
                if let Some(b) = &rule.baseline_windows {
                    if !(1..=MAX_BASELINE_WINDOWS).contains(b.get_ref()) {
                        return Err(invalid(
                            b.span().start,
                            format!(
                                "rule `{name}`: baseline_windows must be between 1 and {MAX_BASELINE_WINDOWS}"
                            ),
                        ));
                    }
                    if rule.baseline_factor.is_none() {
                        return Err(invalid(
                            b.span().start,
                            format!(
                                "rule `{name}`: baseline_windows is used only with baseline_factor"
                            ),
                        ));
                    }
                }
            }
            RuleKind::Outflow => {
                if rule.max_share.is_none() && rule.max_amount.is_none() {
                    return Err(invalid(
                        at,
                        format!(
                            "rule `{name}`: an `outflow` rule needs max_share, max_amount, or both"
                        ),
                    ));
                }
                share("above 0 and at most 1", |s| s > 0.0 && s <= 1.0)?;
                if let (Some(amount), Asset::Native) = (&rule.max_amount, rule.asset()) {
                    parse_amount(amount.get_ref(), 18, true).map_err(|e| {
                        invalid(
                            amount.span().start,
                            format!("rule `{name}`: max_amount `{}`: {e}", amount.get_ref()),
                        )
                    })?;
                } else if let Some(amount) = &rule.max_amount {
                    // The token's decimals come from the chain: check the shape now, the
                    // decimals when the monitor starts.
                    amount_shape(amount.get_ref(), false).map_err(|e| {
                        invalid(
                            amount.span().start,
                            format!("rule `{name}`: max_amount `{}`: {e}", amount.get_ref()),
                        )
                    })?;
                }
            }
            RuleKind::ActorBurst => match &rule.max_calls {
                None => {
                    return Err(invalid(
                        at,
                        format!(
                            "rule `{name}`: an `actor-burst` rule needs max_calls (per account per window)"
                        ),
                    ));
                }
                Some(m) if *m.get_ref() == 0 => {
                    return Err(invalid(
                        m.span().start,
                        format!("rule `{name}`: max_calls must be at least 1"),
                    ));
                }
                Some(_) => {}
            },
            RuleKind::FailedShare => {
                if rule.max_share.is_none() || rule.min_transactions.is_none() {
                    return Err(invalid(
                        at,
                        format!(
                            "rule `{name}`: a `failed-share` rule needs max_share and min_transactions (no verdict on fewer)"
                        ),
                    ));
                }
                share("from 0 and below 1", |s| (0.0..1.0).contains(&s))?;
                if let Some(m) = rule.min_transactions.as_ref().filter(|m| *m.get_ref() == 0) {
                    return Err(invalid(
                        m.span().start,
                        format!("rule `{name}`: min_transactions must be at least 1"),
                    ));
                }
            }
        }
        resolve_targets(rule, manifest).map_err(|(offset, message)| invalid(offset, message))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use alloy::primitives::U256;

    use super::*;
    use crate::config::rules::{DEFAULT_BASELINE_WINDOWS, RuleConfig};
    use crate::monitor::rules::testing::{TOKEN, manifest_text};

    /// The issue's two examples.
    const EXAMPLE: &str = r#"
[[rules]]
name = "registration-burst"
kind = "rate"
contracts = ["registry"]
event = "DocumentRegistered"
window_blocks = 10
threshold = 20
baseline_factor = 5.0
baseline_windows = 20
cooldown_blocks = 10
severity = "warning"
respond = "none"

[[rules]]
name = "escrow-drain"
kind = "outflow"
contracts = ["PaymentEscrow"]
window_blocks = 5
asset = "native"
max_share = 0.2
max_amount = "10 ether"
severity = "critical"
respond = "pause-all"
"#;

    fn parse(rules: &str) -> Result<Manifest, ConfigError> {
        Manifest::parse(&manifest_text(rules), Path::new("guardian.toml"))
    }

    /// The error for `rules`, checked to name line `line` of the manifest.
    fn refused(rules: &str, line: usize) -> String {
        let err = parse(rules).expect_err("refused").to_string();
        assert!(
            err.starts_with(&format!("guardian.toml:{line}:")),
            "expected line {line}: {err}"
        );
        err
    }

    /// The line of the manifest on which `needle` (in the rules) first appears.
    fn line(rules: &str, needle: &str) -> usize {
        let text = manifest_text(rules);
        line_of(&text, text.find(needle).expect("needle"))
    }

    #[test]
    fn preempt_needs_an_outflow_rule_that_responds() {
        let ok = EXAMPLE.replace(
            "respond = \"pause-all\"",
            "respond = \"pause-all\"\npreempt = true",
        );
        let m = parse(&ok).expect("an outflow rule with respond may pre-empt");
        assert!(m.rules[1].preempt && !m.rules[0].preempt);
        let silent = EXAMPLE.replace("respond = \"pause-all\"", "preempt = true");
        let err = refused(&silent, line(&silent, "name = \"escrow-drain\""));
        assert!(
            err.contains("preempt = true needs an `outflow` rule with respond"),
            "{err}"
        );
        let rate = EXAMPLE.replace(
            "respond = \"none\"",
            "respond = \"pause-all\"\npreempt = true",
        );
        let err = refused(&rate, line(&rate, "name = \"registration-burst\""));
        assert!(err.contains("preempt"), "{err}");
    }

    #[test]
    fn the_documented_example_parses_and_round_trips() {
        let m = parse(EXAMPLE).expect("valid");
        let [burst, drain] = &m.rules[..] else {
            panic!("two rules")
        };
        assert_eq!((burst.kind, burst.cooldown()), (RuleKind::Rate, 10));
        assert_eq!(burst.event(), Some("DocumentRegistered"));
        assert_eq!(
            burst
                .targets(&m)
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>(),
            ["registry"]
        );
        assert_eq!(
            (drain.respond, drain.asset()),
            (Respond::PauseAll, Asset::Native)
        );
        assert_eq!(drain.targets(&m)[0].name(), "escrow");
        let again = Manifest::parse(&m.to_toml(), Path::new("again.toml")).expect("round trip");
        assert_eq!(again.rules.len(), 2);
        assert_eq!(
            again.rules[1]
                .max_amount
                .as_ref()
                .map(|a| a.get_ref().as_str()),
            Some("10 ether")
        );
        // A manifest without rules writes none.
        let none = parse("").expect("valid");
        assert!(!none.to_toml().contains("rules"), "{}", none.to_toml());
    }

    #[test]
    fn defaults_apply_to_every_contract_the_kind_fits() {
        let rules = r#"
[[rules]]
name = "all-events"
kind = "rate"
window_blocks = 4
threshold = 1
severity = "info"

[[rules]]
name = "any-drain"
kind = "outflow"
window_blocks = 4
max_share = 0.5
severity = "high"

[[rules]]
name = "token-drain"
kind = "outflow"
window_blocks = 4
asset = "TOKEN"
max_amount = "5"
severity = "high"
"#
        .replace("TOKEN", &TOKEN.to_string());
        let m = parse(&rules).expect("valid");
        let names = |r: &RuleConfig| {
            r.targets(&m)
                .iter()
                .map(|c| c.name().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&m.rules[0]), ["registry", "escrow"]);
        assert_eq!(m.rules[0].cooldown(), 4, "the window");
        assert_eq!(m.rules[0].baseline_windows(), DEFAULT_BASELINE_WINDOWS);
        assert_eq!(names(&m.rules[1]), ["registry", "escrow"]);
        assert_eq!(
            names(&m.rules[2]),
            ["escrow"],
            "only the escrow lists the token"
        );
        assert_eq!(m.rules[2].asset(), Asset::Token(TOKEN));
    }

    #[test]
    fn a_key_of_another_kind_is_refused_by_name_and_line() {
        let rules = EXAMPLE.replace("threshold = 20", "threshold = 20\nmax_calls = 3");
        let err = refused(&rules, line(&rules, "max_calls"));
        assert!(
            err.contains("`max_calls` does not apply to kind `rate`"),
            "{err}"
        );
        let rules = EXAMPLE.replace("max_share = 0.2", "max_share = 0.2\nevent = \"Paused\"");
        let err = refused(&rules, line(&rules, "event = \"Paused\""));
        assert!(
            err.contains("`event` does not apply to kind `outflow`"),
            "{err}"
        );
        // A key of no kind at all: the parser's own error, with its line.
        let rules = EXAMPLE.replace("respond = \"none\"", "respond = \"none\"\ncolour = 1");
        let err = refused(&rules, line(&rules, "colour"));
        assert!(err.contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn an_unknown_event_or_contract_is_refused_with_its_line() {
        let rules = EXAMPLE.replace("\"DocumentRegistered\"", "\"DocumentBurned\"");
        let err = refused(&rules, line(&rules, "DocumentBurned"));
        assert!(
            err.contains("unknown event `DocumentBurned` for `registry`")
                && err.contains("DocumentRegistered"),
            "{err}"
        );
        // Without contracts: no contract has it.
        let rules = rules.replace("contracts = [\"registry\"]\n", "");
        let err = refused(&rules, line(&rules, "registration-burst"));
        assert!(
            err.contains("no contract of the manifest has an event `DocumentBurned`"),
            "{err}"
        );
        let rules = EXAMPLE.replace("[\"registry\"]", "[\"registry\", \"vault\"]");
        let err = refused(&rules, line(&rules, "vault"));
        assert!(err.contains("`vault` is neither a contract"), "{err}");
        // An escrow-only event on the registry.
        let rules = EXAMPLE.replace("\"DocumentRegistered\"", "\"PaymentDeposited\"");
        refused(&rules, line(&rules, "PaymentDeposited"));
    }

    #[test]
    fn amounts_must_parse_in_the_assets_units() {
        for bad in [
            "10 bananas",
            "-1",
            "ten",
            "0",
            "1.5 wei",
            "1 ether extra",
            "",
        ] {
            let rules = EXAMPLE.replace("\"10 ether\"", &format!("\"{bad}\""));
            let err = refused(&rules, line(&rules, "max_amount"));
            assert!(err.contains("max_amount"), "{bad}: {err}");
        }
        let eth = U256::from(10).pow(U256::from(18));
        assert_eq!(parse_amount("10 ether", 18, true), Ok(U256::from(10) * eth));
        assert_eq!(
            parse_amount("2.5", 18, true),
            Ok(U256::from(25) * eth / U256::from(10))
        );
        assert_eq!(
            parse_amount("30 gwei", 18, true),
            Ok(U256::from(30_000_000_000u64))
        );
        assert_eq!(parse_amount("2.5", 6, false), Ok(U256::from(2_500_000)));
        assert!(
            parse_amount("2.1234567", 6, false).is_err(),
            "never truncated"
        );
        assert!(parse_amount("2 USDC", 6, false).is_err());
        // A token's amount is checked for shape at load; its decimals come from the chain.
        let token = EXAMPLE
            .replace("asset = \"native\"", &format!("asset = \"{TOKEN}\""))
            .replace(
                "contracts = [\"PaymentEscrow\"]",
                "contracts = [\"escrow\"]",
            );
        refused(&token, line(&token, "max_amount"));
        parse(&token.replace("\"10 ether\"", "\"2.5\"")).expect("a token amount");
    }

    #[test]
    fn names_are_unique_and_not_built_in() {
        let twice = format!(
            "{EXAMPLE}{}",
            &EXAMPLE[..EXAMPLE.find("[[rules]]\nname = \"escrow").expect("second")]
        );
        let err = parse(&twice).expect_err("duplicate").to_string();
        assert!(
            err.contains("duplicate rule name `registration-burst` (first used on line 19)"),
            "{err}"
        );
        for name in BUILT_IN_RULES {
            let rules = EXAMPLE.replace("escrow-drain", name);
            let err = refused(&rules, line(&rules, &format!("\"{name}\"")));
            assert!(err.contains("taken by a built-in rule"), "{err}");
        }
        let rules = EXAMPLE.replace("escrow-drain", "escrow drain");
        refused(&rules, line(&rules, "escrow drain"));
    }

    #[test]
    fn each_kind_needs_its_limits() {
        let rules = EXAMPLE
            .replace("threshold = 20\n", "")
            .replace("baseline_factor = 5.0\n", "")
            .replace("baseline_windows = 20\n", "");
        let err = refused(&rules, line(&rules, "registration-burst"));
        assert!(
            err.contains("needs threshold, baseline_factor, or both"),
            "{err}"
        );
        let rules = EXAMPLE
            .replace("max_share = 0.2\n", "")
            .replace("max_amount = \"10 ether\"\n", "");
        refused(&rules, line(&rules, "escrow-drain"));
        for (from, to) in [
            ("max_share = 0.2", "max_share = 1.5"),
            ("baseline_factor = 5.0", "baseline_factor = 0.5"),
            ("window_blocks = 10", "window_blocks = 0"),
        ] {
            let rules = EXAMPLE.replace(from, to);
            refused(&rules, line(&rules, to));
        }
        let actor = "[[rules]]\nname = \"a\"\nkind = \"actor-burst\"\nwindow_blocks = 5\nseverity = \"high\"\n";
        let err = refused(actor, line(actor, "name = \"a\""));
        assert!(err.contains("needs max_calls"), "{err}");
        let failed = "[[rules]]\nname = \"f\"\nkind = \"failed-share\"\nwindow_blocks = 5\nmax_share = 0.5\nseverity = \"high\"\n";
        let err = refused(failed, line(failed, "name = \"f\""));
        assert!(err.contains("min_transactions"), "{err}");
        parse(&failed.replace("severity", "min_transactions = 3\nseverity")).expect("valid");
        // An outflow rule on a contract that holds no funds.
        let drain = &EXAMPLE[EXAMPLE.find("[[rules]]\nname = \"escrow").expect("second")..];
        let text = manifest_text(drain).replace(
            "kind = \"DocumentRegistry\"",
            "kind = \"OwnershipTokenizer\"",
        );
        let text = text.replace(
            "contracts = [\"PaymentEscrow\"]",
            "contracts = [\"registry\"]",
        );
        let err = Manifest::parse(&text, Path::new("guardian.toml"))
            .expect_err("tokenizer holds no funds")
            .to_string();
        assert!(err.contains("holds none"), "{err}");
    }
}
