//! `[safe]`: the Safe Transaction Service, where Safe{Wallet} shows proposals to owners and
//! collects their signatures; and [`PerChain`], a value given once or per chain (a Safe's
//! address, the service's URL), which a Safe's settings share.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::secret::Secret;

/// One value for every chain (`safe = "0x…"`), or one per chain by name (`[signers.ops.safe]
/// local = "0x…"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum PerChain<T> {
    /// The same on every chain.
    All(T),
    /// Per chain, by the name in `[chains]`; a chain not named has none.
    Each(BTreeMap<String, T>),
}

impl<T> PerChain<T> {
    /// The value on `chain`.
    pub fn on(&self, chain: &str) -> Option<&T> {
        match self {
            Self::All(v) => Some(v),
            Self::Each(m) => m.get(chain),
        }
    }

    /// The chains named, for a per-chain value.
    pub fn chains(&self) -> Vec<&str> {
        match self {
            Self::All(_) => Vec::new(),
            Self::Each(m) => m.keys().map(String::as_str).collect(),
        }
    }
}

/// `[safe]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SafeSettings {
    /// The Safe Transaction Service's base URL (Safe's gateway: `https://api.safe.global/tx-service/<chain>`),
    /// once or per chain. Unset: proposals are shared as files and through guardian only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_url: Option<PerChain<String>>,
    /// Its API key, written as `"${VAR}"` (never the key itself), sent as a bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_api_key: Option<ApiKey>,
}

impl SafeSettings {
    /// True when nothing is set.
    pub fn is_default(&self) -> bool {
        self.service_url.is_none() && self.service_api_key.is_none()
    }

    /// What is wrong, if anything, given the chains of the manifest.
    pub(super) fn problem(&self, chains: &[&String]) -> Option<String> {
        if let Some(url) = &self.service_url {
            for chain in url.chains() {
                if !chains.iter().any(|c| c.as_str() == chain) {
                    return Some(format!(
                        "[safe] service_url names chain `{chain}`, which is not in [chains]"
                    ));
                }
            }
            let urls: Vec<&String> = match url {
                PerChain::All(u) => vec![u],
                PerChain::Each(m) => m.values().collect(),
            };
            let web = |u: &&String| {
                url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https"))
            };
            if !urls.iter().all(web) {
                return Some(
                    "[safe] service_url must be an http:// or https:// URL (Safe's: https://api.safe.global/tx-service/<chain>)"
                        .into(),
                );
            }
        }
        match &self.service_api_key {
            Some(_) if self.service_url.is_none() => {
                Some("[safe] service_api_key is set without service_url".into())
            }
            Some(k) if k.template.is_none() => Some(
                "[safe] service_api_key must name an environment variable (`service_api_key = \"${SAFE_API_KEY}\"`), never hold the key itself"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// An API key: secret, and written back to a manifest as the `${VAR}` it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    key: Secret,
    template: Option<String>,
}

impl ApiKey {
    /// The key itself, for the HTTP client only.
    pub fn secret(&self) -> &Secret {
        &self.key
    }

    /// The same key, written to manifests as `template`.
    pub(super) fn with_template(mut self, template: String) -> Self {
        self.template = Some(template);
        self
    }
}

impl<'de> Deserialize<'de> for ApiKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|k| Self {
            key: Secret::new(k),
            template: None,
        })
    }
}

impl Serialize for ApiKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.template.as_deref().unwrap_or(crate::secret::REDACTED))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use alloy::primitives::address;

    use crate::config::{Manifest, tests::GOOD};

    fn parse(extra: &str, env: &[(&str, &str)]) -> Result<Manifest, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        Manifest::parse_with_env(
            &format!("{GOOD}\n{extra}"),
            Path::new("guardian.toml"),
            &lookup,
        )
        .map_err(|e| e.to_string())
    }

    const ALICE: &str = "[signers.alice]\nprivate_key_env = \"ALICE_KEY\"\n";

    #[test]
    fn a_safe_is_given_once_or_per_chain() {
        let once = parse(
            &format!("{ALICE}[signers.ops]\nsafe = \"0x00000000000000000000000000000000000000aa\"\nproposer = \"alice\"\n"),
            &[],
        )
        .expect("valid");
        let safe = once.signers["ops"].safe.as_ref().expect("a Safe");
        assert_eq!(
            safe.on("local"),
            Some(&address!("00000000000000000000000000000000000000aa"))
        );
        assert_eq!(once.signers["ops"].proposer.as_deref(), Some("alice"));
        let each = parse(
            "[signers.ops.safe]\nlocal = \"0x00000000000000000000000000000000000000bb\"\n",
            &[],
        )
        .expect("valid");
        let safe = each.signers["ops"].safe.as_ref().expect("a Safe");
        assert_eq!(
            safe.on("local"),
            Some(&address!("00000000000000000000000000000000000000bb"))
        );
        assert_eq!(safe.on("sepolia"), None);
        let again =
            Manifest::parse(&each.to_toml(), Path::new("guardian.toml")).expect("round trip");
        assert_eq!(again.signers, each.signers);
    }

    #[test]
    fn a_safe_on_an_unknown_chain_or_a_bad_proposer_is_refused() {
        let err = parse(
            "[signers.ops.safe]\nsepolia = \"0x00000000000000000000000000000000000000bb\"\n",
            &[],
        )
        .expect_err("unknown chain");
        assert!(
            err.contains("chain `sepolia`, which is not in [chains]"),
            "{err}"
        );
        let err = parse(
            "[signers.ops]\nsafe = \"0x00000000000000000000000000000000000000aa\"\nproposer = \"nobody\"\n",
            &[],
        )
        .expect_err("unknown proposer");
        assert!(
            err.contains("proposer `nobody` must be another signer"),
            "{err}"
        );
        let err = parse(
            &format!("{ALICE}[signers.bob]\nprivate_key_env = \"BOB_KEY\"\nproposer = \"alice\"\n"),
            &[],
        )
        .expect_err("proposer on a key");
        assert!(err.contains("proposer is for a Safe"), "{err}");
    }

    #[test]
    fn the_service_key_comes_from_the_environment_and_is_never_written_back() {
        let m = parse(
            "[safe]\nservice_url = \"https://api.safe.global/tx-service/eth\"\nservice_api_key = \"${SAFE_API_KEY}\"\n",
            &[("SAFE_API_KEY", "sk-live-0123456789")],
        )
        .expect("valid");
        let key = m.safe.service_api_key.as_ref().expect("a key");
        assert_eq!(key.secret().expose(), "sk-live-0123456789");
        assert!(!format!("{m:?}").contains("sk-live-0123456789"));
        let toml = m.to_toml();
        assert!(
            toml.contains("${SAFE_API_KEY}") && !toml.contains("sk-live"),
            "{toml}"
        );

        let err = parse(
            "[safe]\nservice_url = \"https://api.safe.global/tx-service/eth\"\nservice_api_key = \"sk-live-0123456789\"\n",
            &[],
        )
        .expect_err("a key in the file");
        assert!(err.contains("must name an environment variable"), "{err}");
        assert!(!err.contains("sk-live"), "{err}");
        let err = parse("[safe]\nservice_url = \"ftp://x\"\n", &[]).expect_err("not http");
        assert!(err.contains("http:// or https://"), "{err}");
    }
}
