//! The manifest `guardian.toml`: one struct describing a deployment, parsed and validated once.
//!
//! Every check here runs before anything touches a chain, and every error names the line it is
//! about. Strings may refer to environment variables as `${NAME}` (see [`env`]); no error ever
//! quotes the manifest's text, which may hold a secret.
mod bounty;
pub mod contacts;
mod deployment;
pub mod env;
mod ha;
mod incident;
mod load;
mod monitor;
mod rpc;
pub mod rules;
mod safe;
mod server;
mod storage;
mod validate;

pub use bounty::{BountySettings, Severity as BountySeverity};
pub use contacts::{Channel, ContactConfig, NotifySettings};
pub use deployment::{
    ChainConfig, ContractConfig, ContractKind, EmergencyConfig, FeeMarket, RolesConfig,
    SignerConfig,
};
pub use ha::HaSettings;
pub use incident::IncidentSettings;
pub use monitor::MonitorConfig;
pub use rpc::{MAX_BATCH_SIZE, RpcSettings};
pub use rules::RuleConfig;
pub use safe::{ApiKey, PerChain, SafeSettings};
pub use server::ServerSettings;
pub use storage::{DATABASE_URL_VAR, DatabaseUrl, StorageSettings};

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};

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
    /// The public server's limits (`guardian serve`).
    #[serde(default, skip_serializing_if = "ServerSettings::is_default")]
    pub server: ServerSettings,
    /// Where the records are kept (`[storage] url`; unset: `guardian.db` beside the manifest).
    #[serde(default, skip_serializing_if = "StorageSettings::is_default")]
    pub storage: StorageSettings,
    /// Several instances sharing the chains (`[ha]`; PostgreSQL only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ha: Option<HaSettings>,
    /// The Safe Transaction Service (`[safe]`).
    #[serde(default, skip_serializing_if = "SafeSettings::is_default")]
    pub safe: SafeSettings,
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
    /// The contract with this name.
    pub fn contract(&self, name: &str) -> Option<&ContractConfig> {
        self.contracts.iter().find(|c| c.name() == name)
    }
}

/// Resolves the manifest path: the flag, else `GUARDIAN_CONFIG` (handled by clap), else the default.
pub fn manifest_path(flag: Option<PathBuf>) -> PathBuf {
    flag.unwrap_or_else(|| PathBuf::from(DEFAULT_MANIFEST))
}

fn find_offset(text: &str, needle: &str) -> usize {
    text.find(needle).unwrap_or(0)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
pub(super) mod tests {
    use std::path::Path;

    use super::*;

    /// A small valid manifest the tests of every part of the config edit.
    pub(super) const GOOD: &str = r#"
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

    /// Parses `text` as `guardian.toml` from the process environment.
    pub(super) fn parse(text: &str) -> Result<Manifest, ConfigError> {
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
}
