//! Signing keys: from an environment variable, an encrypted keystore, or a local dev account.
//!
//! Keys are never read from arguments or the manifest, and no error or log line contains one.

use std::path::Path;

use alloy::{
    primitives::Address,
    signers::local::{MnemonicBuilder, PrivateKeySigner},
};

pub use crate::config::env::{EnvLookup, process_env};
use crate::{config::SignerConfig, secret::Secret};

/// The mnemonic of anvil's well-known development accounts (public; local dev chains only).
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// A key that could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SignerError {
    /// The manifest names no such signer.
    #[error("no signer named `{0}` in the manifest (see [signers.NAME])")]
    Unknown(String),
    /// The environment variable holding the key is not set.
    #[error(
        "signer `{signer}`: environment variable {var} is not set; export the private key in it (never pass keys as arguments)"
    )]
    MissingEnv {
        /// Signer name.
        signer: String,
        /// Variable name.
        var: String,
    },
    /// The variable is set but does not hold a valid key. The value is never shown.
    #[error(
        "signer `{signer}`: {var} does not hold a valid hex private key (32 bytes, optional 0x)"
    )]
    InvalidKey {
        /// Signer name.
        signer: String,
        /// Variable name.
        var: String,
    },
    /// The keystore could not be decrypted.
    #[error(
        "signer `{signer}`: cannot decrypt keystore {path}: wrong password in {var}, or not a keystore file"
    )]
    Keystore {
        /// Signer name.
        signer: String,
        /// Keystore path.
        path: String,
        /// Password variable name.
        var: String,
    },
    /// A dev account index could not be derived.
    #[error("signer `{signer}`: cannot derive dev account {index}")]
    DevAccount {
        /// Signer name.
        signer: String,
        /// Account index.
        index: u32,
    },
}

/// A loaded signing key with the name it has in the manifest.
#[derive(Clone)]
pub struct Signer {
    /// Name in the manifest (or a label such as `deployer`).
    pub name: String,
    key: PrivateKeySigner,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({} {})", self.name, self.address())
    }
}

impl Signer {
    /// The signer's address.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// The key, for signing transactions.
    pub fn key(&self) -> &PrivateKeySigner {
        &self.key
    }

    /// Loads a key from the environment variable `var`.
    pub fn from_env(name: &str, var: &str, env: EnvLookup<'_>) -> Result<Self, SignerError> {
        let value = env(var)
            .filter(|v| !v.trim().is_empty())
            .map(Secret::new)
            .ok_or_else(|| SignerError::MissingEnv {
                signer: name.to_string(),
                var: var.to_string(),
            })?;
        let key: PrivateKeySigner =
            value
                .expose()
                .trim()
                .parse()
                .map_err(|_| SignerError::InvalidKey {
                    signer: name.to_string(),
                    var: var.to_string(),
                })?;
        Ok(Self::registered(name, key))
    }

    /// A signer whose key, in every hex form it could be printed in, is registered for redaction.
    fn registered(name: &str, key: PrivateKeySigner) -> Self {
        let hex = alloy::hex::encode(key.to_bytes());
        crate::secret::register(&format!("0x{hex}"));
        crate::secret::register(&hex);
        crate::secret::register(&hex.to_uppercase());
        Self {
            name: name.to_string(),
            key,
        }
    }

    /// Derives dev account `index` from the public development mnemonic.
    pub fn dev_account(name: &str, index: u32) -> Result<Self, SignerError> {
        let key = MnemonicBuilder::english()
            .phrase(DEV_MNEMONIC)
            .index(index)
            .and_then(|b| b.build())
            .map_err(|_| SignerError::DevAccount {
                signer: name.to_string(),
                index,
            })?;
        Ok(Self {
            name: name.to_string(),
            key,
        })
    }

    /// Loads the signer `name` as the manifest describes it; keystore paths are relative to `base`.
    pub fn load(
        name: &str,
        config: &SignerConfig,
        base: &Path,
        env: EnvLookup<'_>,
    ) -> Result<Self, SignerError> {
        if let Some(var) = &config.private_key_env {
            return Self::from_env(name, var, env);
        }
        if let Some(index) = config.dev_account {
            return Self::dev_account(name, index);
        }
        let (Some(path), Some(var)) = (&config.keystore, &config.password_env) else {
            // Manifest validation guarantees exactly one source.
            return Err(SignerError::Unknown(name.to_string()));
        };
        let path = base.join(path);
        let password = env(var)
            .map(Secret::new)
            .ok_or_else(|| SignerError::MissingEnv {
                signer: name.to_string(),
                var: var.to_string(),
            })?;
        let key = PrivateKeySigner::decrypt_keystore(&path, password.expose()).map_err(|_| {
            SignerError::Keystore {
                signer: name.to_string(),
                path: path.display().to_string(),
                var: var.to_string(),
            }
        })?;
        Ok(Self::registered(name, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

    #[test]
    fn env_key_loads_and_never_prints() {
        let env = |v: &str| (v == "K").then(|| KEY.to_string());
        let s = Signer::from_env("pauser", "K", &env).expect("key loads");
        assert_eq!(
            s.address(),
            Signer::dev_account("x", 1).expect("dev").address()
        );
        assert!(!format!("{s:?}").contains(&KEY[2..]));
    }

    #[test]
    fn bad_or_missing_key_is_named_but_not_shown() {
        let env = |_: &str| Some("0xdeadbeefnotakey".to_string());
        let err = Signer::from_env("pauser", "K", &env)
            .expect_err("invalid")
            .to_string();
        assert!(
            err.contains("K does not hold a valid") && !err.contains("deadbeef"),
            "{err}"
        );
        let none = |_: &str| None;
        let err = Signer::from_env("pauser", "K", &none)
            .expect_err("missing")
            .to_string();
        assert!(err.contains("K is not set"), "{err}");
    }
}
