//! Reading a manifest: parsing, `${VAR}` expansion, messages that never quote a value, and
//! writing it back with checksummed addresses.

use std::path::Path;

use alloy::primitives::Address;
use serde::Deserialize;

use super::{
    ConfigError, Manifest, env,
    env::{EnvLookup, process_env},
    line_of,
};

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
        let at: env::KeyPath = vec!["storage".into(), "url".into()];
        if let (Some(url), Some(template)) =
            (manifest.storage.url.as_mut(), expansion.templates.get(&at))
        {
            *url = url.clone().with_template(template.clone());
        }
        let at: env::KeyPath = vec!["safe".into(), "service_api_key".into()];
        if let (Some(key), Some(template)) = (
            manifest.safe.service_api_key.as_mut(),
            expansion.templates.get(&at),
        ) {
            *key = key.clone().with_template(template.clone());
        }
        manifest.validate(text, path)?;
        Ok(manifest)
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::tests::{GOOD, parse};

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
}
