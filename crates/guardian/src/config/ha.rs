//! `[ha]`: several `guardian monitor` instances sharing the chains of one PostgreSQL database.
//! Each chain has a lease; an instance follows and answers only the chains it holds, renews
//! them, and takes any lease that expires.

use serde::{Deserialize, Serialize};

/// `[ha]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HaSettings {
    /// How long a lease lasts without renewal, in milliseconds; a dead instance's chains move
    /// to another within about this long. The holder renews at a third of it.
    #[serde(default = "HaSettings::default_lease_ms")]
    pub lease_ms: u64,
    /// This instance's name in the leases (default: `host:pid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

impl Default for HaSettings {
    fn default() -> Self {
        Self {
            lease_ms: Self::default_lease_ms(),
            instance: None,
        }
    }
}

impl HaSettings {
    fn default_lease_ms() -> u64 {
        2000
    }

    /// Why these settings cannot work, if they cannot.
    pub(super) fn problem(&self) -> Option<String> {
        (self.lease_ms < 300 || self.lease_ms > 600_000).then(|| {
            format!(
                "[ha] lease_ms = {} is out of range: between 300 and 600000 (a lease shorter than a few database round trips is lost at every hiccup)",
                self.lease_ms
            )
        })
    }
}
