//! `[incident]`: the contacts the incident templates name for people outside the team (the
//! seed's security e-mail, enterprise hotline and Discord channel).

use serde::{Deserialize, Serialize};

/// `[incident]`: what incident messages tell users, partners and the public to use.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IncidentSettings {
    /// The protocol's name, as messages to emergency responders give it.
    #[serde(default = "IncidentSettings::default_protocol")]
    pub protocol: String,
    /// Where reports and questions go.
    #[serde(default = "IncidentSettings::default_security_email")]
    pub security_email: String,
    /// How enterprise customers reach the emergency hotline.
    #[serde(default = "IncidentSettings::default_hotline")]
    pub hotline: String,
    /// The public channel for security updates.
    #[serde(default = "IncidentSettings::default_discord_channel")]
    pub discord_channel: String,
}

impl IncidentSettings {
    fn default_protocol() -> String {
        "Integra".into()
    }
    fn default_security_email() -> String {
        "security@integra.io".into()
    }
    fn default_hotline() -> String {
        "the emergency hotline (enterprise customers)".into()
    }
    fn default_discord_channel() -> String {
        "Discord #security-alerts".into()
    }

    /// Whether these are the defaults (then `[incident]` is not written to a manifest).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl Default for IncidentSettings {
    fn default() -> Self {
        Self {
            protocol: Self::default_protocol(),
            security_email: Self::default_security_email(),
            hotline: Self::default_hotline(),
            discord_channel: Self::default_discord_channel(),
        }
    }
}
