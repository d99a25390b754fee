//! `[storage]`: where the records are kept. Unset, they are in the SQLite file `guardian.db`
//! beside the manifest; `url = "postgres://…"` (with `${VAR}` for the password) puts them in a
//! PostgreSQL database that several instances share. `GUARDIAN_DATABASE_URL` in the environment
//! overrides both.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::secret::Secret;

/// The environment variable that names the PostgreSQL database, over the manifest.
pub const DATABASE_URL_VAR: &str = "GUARDIAN_DATABASE_URL";

/// `[storage]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// The PostgreSQL database (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<DatabaseUrl>,
}

impl StorageSettings {
    /// True when nothing is set (the SQLite default).
    pub fn is_default(&self) -> bool {
        self.url.is_none()
    }
}

/// A database URL: secret (it may hold a password) and written back to a manifest as the
/// `${VAR}` template it was read from, never expanded.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseUrl {
    url: Secret,
    template: Option<String>,
}

impl DatabaseUrl {
    /// A URL read from anywhere but the manifest (the environment).
    pub fn new(url: String) -> Self {
        Self {
            url: Secret::new(url),
            template: None,
        }
    }

    /// The URL itself, for the database driver only.
    pub fn secret(&self) -> &Secret {
        &self.url
    }

    /// The same URL, written to manifests as `template`.
    pub(super) fn with_template(mut self, template: String) -> Self {
        self.template = Some(template);
        self
    }

    /// Why this is not a PostgreSQL URL, if it is not.
    pub(super) fn problem(&self) -> Option<String> {
        let url = self.url.expose();
        (!(url.starts_with("postgres://") || url.starts_with("postgresql://"))).then(|| {
            "[storage] url must be a postgres:// (or postgresql://) URL; leave it out to keep the records in guardian.db beside the manifest".to_string()
        })
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.template.as_deref().unwrap_or(self.url.expose()))
    }
}
