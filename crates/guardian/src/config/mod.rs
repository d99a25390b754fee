//! The manifest `guardian.toml`: one struct describing a deployment, parsed and validated once.
//!
//! Every check here runs before anything touches a chain, and every error names the line it is
//! about. Strings may refer to environment variables as `${NAME}` (see [`env`]); no error ever
//! quotes the manifest's text, which may hold a secret.

mod bounty;
pub mod contacts;
pub mod env;
mod incident;
mod monitor;
mod rpc;
pub mod rules;

pub use bounty::BountySettings;
pub use contacts::{Channel, ContactConfig, NotifySettings};
pub use incident::IncidentSettings;
pub use monitor::MonitorConfig;
pub use rpc::{MAX_BATCH_SIZE, RpcSettings};
pub use rules::RuleConfig;

use std::{collections::BTreeMap, fmt, path::Path, path::PathBuf};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::{
    chain::signer::{EnvLookup, process_env},
    secret::RpcUrl,
};

/// Where the manifest is looked for when no `--config` is given.
pub const DEFAULT_MANIFEST: &str = "guardian.toml";

/// A manifest that could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error(
        "cannot read manifest {path}: {source} (create one with `guardian devnet` or `guardian deploy --out FILE`, or pass --config FILE)"
    )]
    Read {
        /// The manifest path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or does not fit the schema (unknown key, bad address, wrong type).
    /// The offending line is never quoted, and quoted values in the message are masked: the
    /// line may hold a secret.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The manifest path.
        path: PathBuf,
        /// One-based line of the error.
        line: usize,
        /// One-based column of the error.
        column: usize,
        /// The parser's message, with quoted values masked.
        message: String,
    },
    /// A string refers to an environment variable that is not set (or is empty).
    #[error(
        "{path}:{line}: environment variable {var} is not set (the manifest refers to it as ${{{var}}}): export it, or write $${{ for a literal `${{`"
    )]
    MissingEnv {
        /// The manifest path.
        path: PathBuf,
        /// One-based line of the string with the reference.
        line: usize,
        /// The variable's name.
        var: String,
    },
    /// A string has a `${` that is not a valid reference.
    #[error("{path}:{line}: {source}")]
    Reference {
        /// The manifest path.
        path: PathBuf,
        /// One-based line of the string.
        line: usize,
        /// What is wrong with the reference.
        source: env::ReferenceError,
    },
    /// The TOML is well formed but inconsistent (duplicate name, undeclared chain, ...).
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The manifest path.
        path: PathBuf,
        /// One-based line number of the offending entry.
        line: usize,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// The kinds of contract the manifest may list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
pub enum ContractKind {
    /// Document identity and registration fees.
    DocumentRegistry,
    /// ERC-721 tokens bound to documents.
    OwnershipTokenizer,
    /// Document-linked payments.
    PaymentEscrow,
    /// The resolver that counts hook calls.
    AuditResolver,
    /// The one-transaction pause of a whole chain.
    EmergencyBrake,
    /// A plain ERC-20 for local chains.
    TestToken,
}

impl ContractKind {
    /// Whether this kind has `pause()`/`unpause()`.
    pub fn is_pausable(self) -> bool {
        matches!(
            self,
            Self::DocumentRegistry
                | Self::OwnershipTokenizer
                | Self::PaymentEscrow
                | Self::AuditResolver
        )
    }

    /// Whether this kind holds funds and has `emergencyWithdraw`.
    pub fn holds_funds(self) -> bool {
        matches!(self, Self::DocumentRegistry | Self::PaymentEscrow)
    }
}

impl fmt::Display for ContractKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One chain of the deployment.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// The chain id every endpoint must report.
    pub chain_id: u64,
    /// JSON-RPC endpoints in order of preference.
    pub rpc_urls: Vec<RpcUrl>,
    /// A block explorer (`https://etherscan.io`): notifications link `{explorer_url}/tx/{hash}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explorer_url: Option<String>,
}

/// How to obtain a signing key. The key itself never appears in the manifest.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SignerConfig {
    /// Name of an environment variable holding a hex private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_env: Option<String>,
    /// Path of an encrypted JSON keystore (relative to the manifest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keystore: Option<PathBuf>,
    /// Name of an environment variable holding the keystore password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// Index of a well-known development account (local dev chains only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_account: Option<u32>,
}

/// One deployed contract (the proxy address for upgradeable ones).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContractConfig {
    /// Unique name, used on the command line.
    pub name: Spanned<String>,
    /// Name of the chain in `[chains]`.
    pub chain: Spanned<String>,
    /// What the contract is.
    pub kind: ContractKind,
    /// The address to call.
    pub address: Address,
    /// The block it was deployed in; its history (role events) is read from there, not from
    /// block 0. `deploy` and `devnet` write it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed_block: Option<u64>,
    /// ERC-20 tokens whose balances matter for this contract.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<Address>,
}

impl ContractConfig {
    /// The contract's name.
    pub fn name(&self) -> &str {
        self.name.get_ref()
    }

    /// The name of the contract's chain.
    pub fn chain(&self) -> &str {
        self.chain.get_ref()
    }
}

/// Who is meant to hold each role; the tool checks the chain against it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RolesConfig {
    /// Holder of `DEFAULT_ADMIN_ROLE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<Address>,
    /// Holders of `PAUSER_ROLE`.
    #[serde(default)]
    pub pauser: Vec<Address>,
    /// Holders of `EMERGENCY_ROLE`.
    #[serde(default)]
    pub emergency: Vec<Address>,
    /// Holders of `UPGRADER_ROLE`.
    #[serde(default)]
    pub upgrader: Vec<Address>,
}

/// Emergency settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EmergencyConfig {
    /// The only addresses rescued funds may be sent to.
    #[serde(default)]
    pub safe_recipients: Vec<Address>,
}

/// A whole deployment, as described by `guardian.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Chains by name.
    pub chains: BTreeMap<String, ChainConfig>,
    /// Signers by name.
    #[serde(default)]
    pub signers: BTreeMap<String, SignerConfig>,
    /// Timeouts for endpoints and receipts.
    #[serde(default)]
    pub rpc: RpcSettings,
    /// Intended role holders.
    #[serde(default)]
    pub roles: RolesConfig,
    /// Emergency settings.
    #[serde(default)]
    pub emergency: EmergencyConfig,
    /// The deployed contracts.
    #[serde(default)]
    pub contracts: Vec<ContractConfig>,
    /// The monitor's configurable rules (`[[rules]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleConfig>,
    /// Who is told about alerts, and how.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<ContactConfig>,
    /// How notifications are retried.
    #[serde(default, skip_serializing_if = "NotifySettings::is_default")]
    pub notify: NotifySettings,
    /// How `guardian monitor` follows the chains.
    #[serde(default, skip_serializing_if = "MonitorConfig::is_default")]
    pub monitor: MonitorConfig,
    /// What incident messages name for people outside the team.
    #[serde(default, skip_serializing_if = "IncidentSettings::is_default")]
    pub incident: IncidentSettings,
    /// The bug bounty desk (`guardian serve`).
    #[serde(default, skip_serializing_if = "BountySettings::is_default")]
    pub bounty: BountySettings,
}

impl Manifest {
    /// The e-mail researchers may write to: `[bounty] security_email`, else `[incident]`'s.
    pub fn bounty_security_email(&self) -> &str {
        self.bounty
            .security_email
            .as_deref()
            .unwrap_or(&self.incident.security_email)
    }
}

impl Manifest {
    /// Reads and validates a manifest file, expanding `${VAR}` from the process environment.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(path, &process_env)
    }

    /// Reads and validates a manifest file, expanding `${VAR}` through `env`.
    pub fn load_with_env(path: &Path, env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse_with_env(&text, path, env)
    }

    /// Parses and validates manifest text, expanding `${VAR}` from the process environment;
    /// `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        Self::parse_with_env(text, path, &process_env)
    }

    /// Parses manifest text, expands `${VAR}` references through `env` in every string value,
    /// then types and validates it; `path` is only used in messages.
    ///
    /// Syntax is checked before anything is expanded, and the typed values are read from the
    /// parsed document, so spans (and line numbers) stay those of the text as written.
    pub fn parse_with_env(
        text: &str,
        path: &Path,
        env: EnvLookup<'_>,
    ) -> Result<Self, ConfigError> {
        let parse_error = |e: toml::de::Error| {
            let (line, column) = e
                .span()
                .map(|s| line_and_column(text, s.start))
                .unwrap_or((1, 1));
            ConfigError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: mask_values(e.message().trim_end()),
            }
        };
        let mut document = toml::de::DeTable::parse(text).map_err(parse_error)?;
        let expansion = env::expand_document(document.get_mut(), env);
        if let Some((offset, e)) = expansion.error {
            let line = line_of(text, offset);
            return Err(match e {
                env::ReferenceError::Missing(var) => ConfigError::MissingEnv {
                    path: path.to_path_buf(),
                    line,
                    var,
                },
                source @ env::ReferenceError::Malformed => ConfigError::Reference {
                    path: path.to_path_buf(),
                    line,
                    source,
                },
            });
        }
        let mut manifest =
            Manifest::deserialize(toml::de::Deserializer::from(document)).map_err(parse_error)?;
        for (name, chain) in &mut manifest.chains {
            for (i, url) in chain.rpc_urls.iter_mut().enumerate() {
                let at: env::KeyPath = vec![
                    "chains".into(),
                    name.clone(),
                    "rpc_urls".into(),
                    i.to_string(),
                ];
                if let Some(template) = expansion.templates.get(&at) {
                    *url = url.clone().with_template(template.clone());
                }
            }
        }
        manifest.validate(text, path)?;
        Ok(manifest)
    }

    fn validate(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
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
            if sources != 1 {
                return Err(invalid(
                    at,
                    format!(
                        "signer `{name}` must name exactly one key source: private_key_env, keystore (with password_env) or dev_account"
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

    /// The contract with this name.
    pub fn contract(&self, name: &str) -> Option<&ContractConfig> {
        self.contracts.iter().find(|c| c.name() == name)
    }

    /// Writes the manifest to `path` atomically (a temporary file renamed into place), so a
    /// crash never leaves half a manifest. Refuses to replace an existing file unless `force`.
    pub fn write(&self, path: &Path, force: bool) -> Result<(), std::io::Error> {
        if path.exists() && !force {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "{} already exists; pass --force to replace it",
                    path.display()
                ),
            ));
        }
        let header = "# Written by guardian. Keys are never stored here: signers name an environment\n# variable, an encrypted keystore, or (local dev chains only) a dev account index.\n# Any string may refer to an environment variable as ${NAME} (write $${ for a literal ${),\n# so API keys in RPC URLs stay out of this file.\n\n";
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, format!("{header}{}", self.to_toml()))?;
        std::fs::rename(&tmp, path)
    }

    /// Serialises the manifest as TOML, with addresses in their checksummed (EIP-55) form.
    pub fn to_toml(&self) -> String {
        // Serialising plain data to TOML cannot fail: every map key is a string.
        checksum_addresses(&toml::to_string_pretty(self).unwrap_or_default())
    }
}

/// Resolves the manifest path: the flag, else `GUARDIAN_CONFIG` (handled by clap), else the default.
pub fn manifest_path(flag: Option<PathBuf>) -> PathBuf {
    flag.unwrap_or_else(|| PathBuf::from(DEFAULT_MANIFEST))
}

/// Rewrites every quoted lowercase address in `text` as EIP-55 checksummed.
fn checksum_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("\"0x") {
        let (head, tail) = rest.split_at(pos + 1);
        out.push_str(head);
        let candidate = tail
            .get(..42)
            .filter(|_| tail.as_bytes().get(42) == Some(&b'"'));
        match candidate.and_then(|c| c.parse::<Address>().ok()) {
            Some(a) => {
                out.push_str(&a.to_checksum(None));
                rest = &tail[42..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// `message` with the contents of every `"quoted"` value, and of every `` `quoted` `` one that is
/// not a plain name, replaced by `…`: a parser's message may quote a value of the manifest
/// (`invalid type: string "https://…/v2/KEY"`), and values may be secrets.
fn mask_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find(['"', '`']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        let Some(len) = rest[open + 1..].find(quote) else {
            break;
        };
        let inner = &rest[open + 1..open + 1 + len];
        out.push_str(&rest[..=open]);
        // Field and variant names, and the punctuation the parser expected, are not values.
        let plain_name = quote == '`'
            && (inner.chars().count() <= 3
                || (inner.len() <= 40
                    && inner
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')));
        out.push_str(if plain_name { inner } else { "…" });
        out.push(quote);
        rest = &rest[open + len + 2..];
    }
    out.push_str(rest);
    out
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    (
        line_of(text, offset),
        text[start..offset].chars().count() + 1,
    )
}

fn find_offset(text: &str, needle: &str) -> usize {
    text.find(needle).unwrap_or(0)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[chains.local]
chain_id = 31337
rpc_urls = ["http://127.0.0.1:8545"]

[signers.pauser]
private_key_env = "GUARDIAN_PAUSER_KEY"

[[contracts]]
name = "registry"
chain = "local"
kind = "DocumentRegistry"
address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"

[roles]
admin = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
pauser = ["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"]

[emergency]
safe_recipients = ["0x90F79bf6EB2c4f870365E785982E1f101E93b906"]
"#;

    fn parse(text: &str) -> Result<Manifest, ConfigError> {
        Manifest::parse(text, Path::new("guardian.toml"))
    }

    #[test]
    fn parses_the_documented_example() {
        let m = parse(GOOD).expect("valid manifest");
        assert_eq!(m.chains["local"].chain_id, 31337);
        assert_eq!(
            m.contract("registry").map(|c| c.kind),
            Some(ContractKind::DocumentRegistry)
        );
        assert_eq!(m.roles.pauser.len(), 1);
        assert_eq!(m.emergency.safe_recipients.len(), 1);
    }

    #[test]
    fn round_trips_through_toml() {
        let m = parse(GOOD).expect("valid manifest");
        let again = parse(&m.to_toml()).expect("serialised manifest parses");
        assert_eq!(again.contracts[0].address, m.contracts[0].address);
        assert_eq!(again.signers, m.signers);
    }

    #[test]
    fn writes_checksummed_addresses() {
        let m = parse(GOOD).expect("valid manifest");
        let text = m.to_toml();
        assert!(
            text.contains("\"0x5FbDB2315678afecb367f032d93F642f64180aa3\""),
            "{text}"
        );
        assert!(!text.contains("0x5fbdb2315678afecb367f032d93f642f64180aa3"));
    }

    #[test]
    fn unknown_key_names_its_line() {
        let text = GOOD.replace(
            "kind = \"DocumentRegistry\"",
            "kind = \"DocumentRegistry\"\ncolour = 1",
        );
        let err = parse(&text).expect_err("unknown key").to_string();
        assert!(
            err.contains("colour") && err.starts_with("guardian.toml:13:1: "),
            "{err}"
        );
    }

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
    fn invalid_address_names_its_line() {
        let text = GOOD.replace("0x5FbDB2315678afecb367f032d93F642f64180aa3", "0x1234");
        let err = parse(&text).expect_err("bad address").to_string();
        assert!(err.starts_with("guardian.toml:13:11: "), "{err}");
    }

    const KEY_VALUE: &str = "k3y-9f8e7d6c5b4a";

    fn test_env(name: &str) -> Option<String> {
        match name {
            "RPC_KEY" => Some(KEY_VALUE.into()),
            "REGISTRY" => Some("0x5FbDB2315678afecb367f032d93F642f64180aa3".into()),
            _ => None,
        }
    }

    fn parse_env(text: &str) -> Result<Manifest, ConfigError> {
        Manifest::parse_with_env(text, Path::new("guardian.toml"), &test_env)
    }

    #[test]
    fn references_are_expanded_in_urls_and_addresses_and_written_back_as_references() {
        let template = "https://eth.example.org/v2/${RPC_KEY}?tier=$${literal}";
        let text = GOOD.replace("http://127.0.0.1:8545", template).replace(
            "address = \"0x5FbDB2315678afecb367f032d93F642f64180aa3\"",
            "address = \"${REGISTRY}\"",
        );
        let m = parse_env(&text).expect("valid manifest");
        let url = &m.chains["local"].rpc_urls[0];
        assert_eq!(
            url.expose().as_str(),
            format!("https://eth.example.org/v2/{KEY_VALUE}?tier=${{literal}}")
        );
        assert_eq!(url.template(), Some(template));
        assert_eq!(
            m.contracts[0].address.to_string(),
            "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        );
        let written = m.to_toml();
        assert!(written.contains(template), "{written}");
        assert!(!written.contains(KEY_VALUE), "{written}");
        assert!(!format!("{m:?}").contains(KEY_VALUE));
        // What was written loads again to the same endpoint.
        let again = parse_env(&written).expect("written manifest parses");
        assert_eq!(again.chains["local"].rpc_urls[0], *url);
    }

    #[test]
    fn a_missing_variable_is_named_with_its_line_and_no_value() {
        let text = GOOD.replace(
            "http://127.0.0.1:8545",
            "https://eth.example.org/v2/${RPC_KEY}/${NOT_SET}",
        );
        let err = parse_env(&text).expect_err("missing variable");
        assert!(matches!(&err, ConfigError::MissingEnv { line: 4, var, .. } if var == "NOT_SET"));
        let message = err.to_string();
        assert!(
            message.starts_with("guardian.toml:4: environment variable NOT_SET is not set"),
            "{message}"
        );
        assert!(!message.contains(KEY_VALUE), "{message}");
        let malformed = GOOD.replace("GUARDIAN_PAUSER_KEY", "${BROKEN");
        let err = parse_env(&malformed).expect_err("malformed").to_string();
        assert!(
            err.starts_with("guardian.toml:7: `${` must be followed"),
            "{err}"
        );
    }

    #[test]
    fn a_syntax_error_never_quotes_the_secret_on_its_line() {
        let text = GOOD.replace(
            "rpc_urls = [\"http://127.0.0.1:8545\"]",
            "rpc_urls = [\"https://eth.example.org/v2/LITERALSECRET\" \"x\"]",
        );
        let err = parse(&text).expect_err("syntax error").to_string();
        assert!(err.starts_with("guardian.toml:4:"), "{err}");
        assert!(
            !err.contains("LITERALSECRET") && !err.contains('\n'),
            "{err}"
        );
    }

    #[test]
    fn a_type_error_never_quotes_the_value() {
        let text = GOOD.replace(
            "rpc_urls = [\"http://127.0.0.1:8545\"]",
            "rpc_urls = \"https://eth.example.org/v2/LITERALSECRET\"",
        );
        let err = parse(&text).expect_err("type error").to_string();
        assert!(err.starts_with("guardian.toml:4:12: "), "{err}");
        assert!(!err.contains("LITERALSECRET"), "{err}");
        let expanded = GOOD.replace("chain = \"local\"", "chain = 5\nx = \"${RPC_KEY}\"");
        let err = parse_env(&expanded).expect_err("type error").to_string();
        assert!(!err.contains(KEY_VALUE), "{err}");
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
    fn masking_keeps_names_and_hides_values() {
        assert_eq!(
            mask_values("unknown field `colour`, expected `chain_id` or `rpc_urls`"),
            "unknown field `colour`, expected `chain_id` or `rpc_urls`"
        );
        assert_eq!(
            mask_values("invalid type: string \"https://x/v2/K\", expected a sequence"),
            "invalid type: string \"…\", expected a sequence"
        );
        assert_eq!(
            mask_values("unknown variant `https://x/K`"),
            "unknown variant `…`"
        );
        assert_eq!(mask_values("unterminated \"quote"), "unterminated \"quote");
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
