//! The checks a parsed manifest must pass before anything touches a chain.

use std::{collections::BTreeMap, path::Path};

use alloy::primitives::Address;

use super::{ConfigError, MAX_BATCH_SIZE, Manifest, contacts, env, find_offset, line_of, rules};

impl Manifest {
    pub(super) fn validate(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let invalid = |offset: usize, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            line: line_of(text, offset),
            message,
        };
        let whole_file = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            line: 1,
            message,
        };
        if let Some(problem) = self.storage.url.as_ref().and_then(|u| u.problem()) {
            return Err(invalid(find_offset(text, "[storage]"), problem));
        }
        let chains: Vec<&String> = self.chains.keys().collect();
        if let Some(problem) = self.safe.problem(&chains) {
            return Err(invalid(find_offset(text, "[safe]"), problem));
        }
        if let Some(problem) = self.ha.as_ref().and_then(|h| h.problem()) {
            return Err(invalid(find_offset(text, "[ha]"), problem));
        }
        if self.chains.is_empty() {
            return Err(whole_file(
                "no chains: add a [chains.NAME] table with chain_id and rpc_urls".into(),
            ));
        }
        for (name, chain) in &self.chains {
            let at = find_offset(text, &format!("[chains.{name}]"));
            if chain.rpc_urls.is_empty() {
                return Err(invalid(
                    at,
                    format!("chain `{name}` has no rpc_urls: list at least one endpoint"),
                ));
            }
            if chain.private_only && chain.private_send_urls.is_empty() {
                return Err(invalid(
                    at,
                    format!(
                        "chain `{name}` has private_only = true but no private_send_urls: list the private endpoints, or drop private_only"
                    ),
                ));
            }
        }
        let mut ids: BTreeMap<u64, &str> = BTreeMap::new();
        for (name, chain) in &self.chains {
            if let Some(other) = ids.insert(chain.chain_id, name) {
                return Err(invalid(
                    find_offset(text, &format!("[chains.{name}]")),
                    format!(
                        "chains `{other}` and `{name}` share chain_id {}",
                        chain.chain_id
                    ),
                ));
            }
        }
        for (name, signer) in &self.signers {
            let at = find_offset(text, &format!("[signers.{name}]"));
            let sources = [
                signer.private_key_env.is_some(),
                signer.keystore.is_some(),
                signer.dev_account.is_some(),
            ]
            .iter()
            .filter(|s| **s)
            .count();
            if signer.safe.is_some() && sources > 0 {
                return Err(invalid(
                    at,
                    format!(
                        "signer `{name}` is a Safe: it has no key of its own (its owners confirm its proposals with theirs); remove private_key_env, keystore and dev_account"
                    ),
                ));
            }
            if let Some(chain) = signer.safe.as_ref().and_then(|s| {
                s.chains()
                    .into_iter()
                    .find(|c| !self.chains.contains_key(*c))
            }) {
                return Err(invalid(
                    at,
                    format!(
                        "signer `{name}`: its Safe names chain `{chain}`, which is not in [chains]"
                    ),
                ));
            }
            if let Some(proposer) = &signer.proposer {
                if signer.safe.is_none() {
                    return Err(invalid(
                        at,
                        format!("signer `{name}`: proposer is for a Safe (`safe = \"0x…\"`)"),
                    ));
                }
                if self.signers.get(proposer).is_none_or(|p| p.safe.is_some()) {
                    return Err(invalid(
                        at,
                        format!(
                            "signer `{name}`: proposer `{proposer}` must be another signer of the manifest with a key (an owner of the Safe, or its delegate)"
                        ),
                    ));
                }
            }
            if signer.safe.is_none() && signer.multisend.is_some() {
                return Err(invalid(
                    at,
                    format!("signer `{name}`: multisend is for a Safe (`safe = \"0x…\"`)"),
                ));
            }
            if signer.safe.is_none() && sources != 1 {
                return Err(invalid(
                    at,
                    format!(
                        "signer `{name}` must name exactly one key source: private_key_env, keystore (with password_env) or dev_account, or be a Safe (`safe = \"0x…\"`)"
                    ),
                ));
            }
            let holds_a_secret = |var: &str| {
                !env::is_variable_name(var)
                    || (var.len() >= 64 && var.chars().all(|c| c.is_ascii_hexdigit()))
            };
            let names = [&signer.private_key_env, &signer.password_env];
            if names.into_iter().flatten().any(|var| holds_a_secret(var)) {
                // The value is not shown: it may be the key or password itself, pasted in.
                return Err(invalid(
                    at,
                    format!(
                        "signer `{name}`: private_key_env and password_env take the name of an environment variable (letters, digits and _), never the key or password itself"
                    ),
                ));
            }
            if signer.keystore.is_some() != signer.password_env.is_some() {
                return Err(invalid(
                    at,
                    format!("signer `{name}`: keystore and password_env go together"),
                ));
            }
            let remote = self
                .chains
                .iter()
                .find_map(|(n, c)| c.rpc_urls.iter().find(|u| !u.is_loopback()).map(|u| (n, u)));
            if let (Some(_), Some((chain, url))) = (signer.dev_account, remote) {
                return Err(invalid(
                    at,
                    format!(
                        "signer `{name}` uses a dev_account, which is allowed only when every chain is a local dev chain, but chain `{chain}` uses {url}: use private_key_env or keystore"
                    ),
                ));
            }
        }
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        for contract in &self.contracts {
            let at = contract.name.span().start;
            if let Some(first) = names.insert(contract.name(), at) {
                return Err(invalid(
                    at,
                    format!(
                        "duplicate contract name `{}` (first used on line {}): names must be unique",
                        contract.name(),
                        line_of(text, first)
                    ),
                ));
            }
            if !self.chains.contains_key(contract.chain()) {
                return Err(invalid(
                    contract.chain.span().start,
                    format!(
                        "contract `{}` is on chain `{}`, which is not declared: add [chains.{}] or fix the name (declared: {})",
                        contract.name(),
                        contract.chain(),
                        contract.chain(),
                        self.chains.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            if contract.address == Address::ZERO {
                return Err(invalid(
                    at,
                    format!("contract `{}` has the zero address", contract.name()),
                ));
            }
        }
        if let Some(zero) = self.emergency.safe_recipients.iter().find(|a| a.is_zero()) {
            return Err(invalid(
                find_offset(text, "safe_recipients"),
                format!("safe recipient {zero} is the zero address"),
            ));
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.rpc.batch_size) {
            return Err(invalid(
                find_offset(text, "batch_size"),
                format!(
                    "[rpc] batch_size must be between 1 (every request on its own) and {MAX_BATCH_SIZE} (nodes refuse larger batches)"
                ),
            ));
        }
        if self.rpc.hedge_after_ms == Some(0) || self.rpc.request_timeout_ms == 0 {
            return Err(invalid(
                find_offset(text, "[rpc]"),
                "[rpc] request_timeout_ms and hedge_after_ms must be at least 1".into(),
            ));
        }
        if let Some(message) = self.monitor.problem(self.signers.keys()) {
            return Err(invalid(find_offset(text, "[monitor]"), message));
        }
        if let Some(message) = self.bounty.problem() {
            return Err(invalid(find_offset(text, "[bounty]"), message.into()));
        }
        if let Some(message) = self.server.problem() {
            return Err(invalid(find_offset(text, "[server]"), message.into()));
        }
        if let Some(chain) =
            (self.bounty.native_usd_by_chain.keys()).find(|chain| !self.chains.contains_key(*chain))
        {
            return Err(invalid(
                find_offset(text, "native_usd_by_chain"),
                format!(
                    "[bounty.native_usd_by_chain] names chain `{chain}`, which is not in [chains]"
                ),
            ));
        }
        rules::validate(self, text, path)?;
        contacts::validate(&self.contacts, &self.notify, text, path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{GOOD, parse};

    #[test]
    fn a_native_price_for_an_unknown_chain_is_refused() {
        let ok = parse(&format!(
            "{GOOD}\n[bounty.native_usd_by_chain]\nlocal = 2\n"
        ))
        .expect("a declared chain");
        assert_eq!(ok.bounty.native_price("local"), Some(2.0));
        let err = parse(&format!(
            "{GOOD}\n[bounty.native_usd_by_chain]\nlcoal = 2\n"
        ))
        .expect_err("unknown chain")
        .to_string();
        assert!(
            err.contains("chain `lcoal`, which is not in [chains]"),
            "{err}"
        );
    }
    #[test]
    fn a_key_pasted_in_place_of_a_variable_name_is_refused_unseen() {
        let key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        for value in [key.to_string(), format!("0x{key}")] {
            let text = GOOD.replace("GUARDIAN_PAUSER_KEY", &value);
            let err = parse(&text).expect_err("a key, not a name").to_string();
            assert!(
                err.starts_with("guardian.toml:6:") && err.contains("never the key"),
                "{err}"
            );
            assert!(!err.contains(key), "{err}");
        }
    }
    #[test]
    fn duplicate_names_are_refused_with_both_lines() {
        let text = format!(
            "{GOOD}\n[[contracts]]\nname = \"registry\"\nchain = \"local\"\nkind = \"PaymentEscrow\"\naddress = \"0x5FbDB2315678afecb367f032d93F642f64180aa4\"\n"
        );
        let err = parse(&text).expect_err("duplicate").to_string();
        assert!(err.contains("guardian.toml:23:"), "{err}");
        assert!(err.contains("first used on line 10"), "{err}");
    }

    #[test]
    fn contract_on_undeclared_chain_is_refused() {
        let text = GOOD.replace("chain = \"local\"", "chain = \"mainnet\"");
        let err = parse(&text).expect_err("undeclared chain").to_string();
        assert!(
            err.contains("guardian.toml:11:") && err.contains("mainnet"),
            "{err}"
        );
    }

    #[test]
    fn signer_needs_exactly_one_source() {
        let text = GOOD.replace(
            "private_key_env = \"GUARDIAN_PAUSER_KEY\"",
            "private_key_env = \"A\"\ndev_account = 1",
        );
        let err = parse(&text).expect_err("two sources").to_string();
        assert!(err.contains("exactly one key source"), "{err}");
    }

    #[test]
    fn dev_accounts_only_on_local_chains() {
        let local = GOOD.replace(
            "private_key_env = \"GUARDIAN_PAUSER_KEY\"",
            "dev_account = 1",
        );
        parse(&local).expect("dev account on a loopback chain");
        let remote = local.replace(
            "http://127.0.0.1:8545",
            "https://rpc.example.org/v2/SECRETKEY",
        );
        let err = parse(&remote)
            .expect_err("dev account on a remote chain")
            .to_string();
        assert!(err.contains("local dev chain"), "{err}");
        assert!(
            !err.contains("SECRETKEY"),
            "the RPC path may hold an API key: {err}"
        );
    }

    #[test]
    fn batch_size_and_hedge_delay_are_bounded() {
        assert_eq!(parse(GOOD).expect("valid manifest").rpc.batch_size, 100);
        let one = format!("{GOOD}\n[rpc]\nbatch_size = 1\n");
        assert_eq!(parse(&one).expect("batch_size = 1").rpc.batch_size, 1);
        for bad in ["0", "1001"] {
            let text = format!("{GOOD}\n[rpc]\nbatch_size = {bad}\n");
            let err = parse(&text).expect_err(bad).to_string();
            assert!(
                err.contains("guardian.toml:23:") && err.contains("batch_size"),
                "{err}"
            );
        }
        let zero_hedge = format!("{GOOD}\n[rpc]\nhedge_after_ms = 0\n");
        let err = parse(&zero_hedge).expect_err("hedge 0").to_string();
        assert!(err.contains("hedge_after_ms"), "{err}");
    }
}
