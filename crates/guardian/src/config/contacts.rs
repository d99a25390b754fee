//! `[[contacts]]` and `[notify]`: who is told about alerts, through which channel, and how hard
//! delivery is retried. Only the names of environment variables sit here; their values (webhook
//! URLs, tokens, SMTP passwords, signing keys) are read when a contact is used (`notify`).

use std::{collections::BTreeMap, path::Path, time::Duration};

use serde::{Deserialize, Deserializer, Serialize};
use toml::Spanned;

use super::{ConfigError, env::is_variable_name, line_of};
use crate::alert::Severity;

/// The channel a contact is reached through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// E-mail over SMTP (STARTTLS when the server offers it, or `smtps://`).
    Email,
    /// A Discord incoming webhook.
    Discord,
    /// A Slack incoming webhook.
    Slack,
    /// A Telegram bot's `sendMessage`.
    Telegram,
    /// PagerDuty Events API v2.
    Pagerduty,
    /// A signed JSON `POST` to any URL.
    Webhook,
}

impl Channel {
    /// The lowercase name used in the manifest and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Discord => "discord",
            Self::Slack => "slack",
            Self::Telegram => "telegram",
            Self::Pagerduty => "pagerduty",
            Self::Webhook => "webhook",
        }
    }

    /// The keys this channel requires, and those it also accepts (besides the common ones).
    fn keys(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Self::Email => (&["to", "from", "smtp_url_env"], &[]),
            Self::Discord | Self::Slack => (&["webhook_url_env"], &[]),
            Self::Telegram => (&["bot_token_env", "chat_id"], &["base_url"]),
            Self::Pagerduty => (&["routing_key_env"], &["base_url"]),
            Self::Webhook => (&["secret_env"], &["url", "url_env"]),
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `[[contacts]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContactConfig {
    /// Unique name.
    pub name: Spanned<String>,
    /// How the contact is reached.
    pub channel: Channel,
    /// E-mail: recipients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    /// E-mail: sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// E-mail: variable holding `smtp://user:pass@host:587` or `smtps://...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_url_env: Option<String>,
    /// Discord, Slack: variable holding the incoming-webhook URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url_env: Option<String>,
    /// Telegram: variable holding the bot token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token_env: Option<String>,
    /// Telegram: the chat (a number, or `@channelname`).
    #[serde(
        default,
        deserialize_with = "chat_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub chat_id: Option<String>,
    /// PagerDuty: variable holding the integration's routing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key_env: Option<String>,
    /// Webhook: the URL (or use `url_env`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Webhook: variable holding the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
    /// Webhook: variable holding the HMAC-SHA256 signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// Telegram, PagerDuty: the service's address (default: the public one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The least severe alert this contact is told about.
    #[serde(default = "ContactConfig::default_min_severity")]
    pub min_severity: Severity,
    /// Who this contact is, for routing incident communication (alerts go to `team`).
    #[serde(default = "ContactConfig::default_audiences")]
    pub audiences: Vec<String>,
}

/// The audience alerts are routed to.
pub const TEAM: &str = "team";

impl ContactConfig {
    fn default_min_severity() -> Severity {
        Severity::Info
    }

    fn default_audiences() -> Vec<String> {
        vec![TEAM.to_string()]
    }

    /// The contact's name.
    pub fn name(&self) -> &str {
        self.name.get_ref()
    }

    /// Every channel-specific key, with whether it is set.
    fn keys_set(&self) -> [(&'static str, bool); 11] {
        [
            ("to", self.to.is_some()),
            ("from", self.from.is_some()),
            ("smtp_url_env", self.smtp_url_env.is_some()),
            ("webhook_url_env", self.webhook_url_env.is_some()),
            ("bot_token_env", self.bot_token_env.is_some()),
            ("chat_id", self.chat_id.is_some()),
            ("routing_key_env", self.routing_key_env.is_some()),
            ("url", self.url.is_some()),
            ("url_env", self.url_env.is_some()),
            ("secret_env", self.secret_env.is_some()),
            ("base_url", self.base_url.is_some()),
        ]
    }

    /// The `*_env` keys that are set, with the variable each names.
    pub fn env_keys(&self) -> Vec<(&'static str, &str)> {
        [
            ("smtp_url_env", &self.smtp_url_env),
            ("webhook_url_env", &self.webhook_url_env),
            ("bot_token_env", &self.bot_token_env),
            ("routing_key_env", &self.routing_key_env),
            ("url_env", &self.url_env),
            ("secret_env", &self.secret_env),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }

    /// Whether an alert of `severity` reaches this contact.
    pub fn wants(&self, severity: Severity, audience: &str) -> bool {
        severity >= self.min_severity && self.audiences.iter().any(|a| a == audience)
    }
}

/// A chat id written as a number or a string.
fn chat_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Number(i64),
        Text(String),
    }
    Ok(Option::<Id>::deserialize(d)?.map(|id| match id {
        Id::Number(n) => n.to_string(),
        Id::Text(s) => s,
    }))
}

/// `[notify]`: how hard a notification is retried.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// Attempts before a delivery is given up (across restarts).
    #[serde(default = "NotifySettings::default_max_attempts")]
    pub max_attempts: u32,
    /// Delay before the first retry, in milliseconds; it doubles with each failure.
    #[serde(default = "NotifySettings::default_backoff_ms")]
    pub backoff_ms: u64,
    /// The longest delay between two attempts, in milliseconds.
    #[serde(default = "NotifySettings::default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// How long one delivery attempt may take, in milliseconds.
    #[serde(default = "NotifySettings::default_timeout_ms")]
    pub timeout_ms: u64,
}

impl NotifySettings {
    fn default_max_attempts() -> u32 {
        12
    }
    fn default_backoff_ms() -> u64 {
        1_000
    }
    fn default_max_backoff_ms() -> u64 {
        600_000
    }
    fn default_timeout_ms() -> u64 {
        10_000
    }

    /// Whether these are the defaults (then `[notify]` is not written to a manifest).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The per-attempt timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            max_attempts: Self::default_max_attempts(),
            backoff_ms: Self::default_backoff_ms(),
            max_backoff_ms: Self::default_max_backoff_ms(),
            timeout_ms: Self::default_timeout_ms(),
        }
    }
}

/// Checks every contact and the `[notify]` settings; environment values are not read here.
pub(super) fn validate(
    contacts: &[ContactConfig],
    settings: &NotifySettings,
    text: &str,
    path: &Path,
) -> Result<(), ConfigError> {
    let invalid = |offset: usize, message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        line: line_of(text, offset),
        message,
    };
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for c in contacts {
        let at = c.name.span().start;
        let name = c.name();
        if name.is_empty() {
            return Err(invalid(at, "a contact has an empty name".into()));
        }
        if let Some(first) = names.insert(name, at) {
            return Err(invalid(
                at,
                format!(
                    "duplicate contact name `{name}` (first used on line {}): names must be unique",
                    line_of(text, first)
                ),
            ));
        }
        let (required, optional) = c.channel.keys();
        for (key, set) in c.keys_set() {
            if set && !required.contains(&key) && !optional.contains(&key) {
                return Err(invalid(
                    at,
                    format!(
                        "contact `{name}`: channel {} does not take `{key}` (it takes {})",
                        c.channel,
                        required
                            .iter()
                            .chain(optional)
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        for (key, set) in c.keys_set() {
            if !set && required.contains(&key) {
                return Err(invalid(
                    at,
                    format!("contact `{name}`: channel {} needs `{key}`", c.channel),
                ));
            }
        }
        if c.channel == Channel::Webhook && c.url.is_some() == c.url_env.is_some() {
            return Err(invalid(
                at,
                format!("contact `{name}`: a webhook needs exactly one of `url` and `url_env`"),
            ));
        }
        for (key, var) in c.env_keys() {
            if !is_variable_name(var) {
                // The value is not shown: it may be the secret itself, pasted in.
                return Err(invalid(
                    at,
                    format!(
                        "contact `{name}`: `{key}` takes the name of an environment variable (letters, digits and _), never the secret itself"
                    ),
                ));
            }
        }
        for (key, value) in [("url", &c.url), ("base_url", &c.base_url)] {
            let Some(value) = value else { continue };
            let ok = url::Url::parse(value)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(invalid(
                    at,
                    format!("contact `{name}`: `{key}` must be an http:// or https:// URL"),
                ));
            }
        }
        if let Some(to) = &c.to {
            if to.is_empty() {
                return Err(invalid(
                    at,
                    format!("contact `{name}`: `to` lists no recipient"),
                ));
            }
            for addr in to.iter().chain(&c.from) {
                if addr.parse::<lettre::message::Mailbox>().is_err() {
                    return Err(invalid(
                        at,
                        format!(
                            "contact `{name}`: `{addr}` is not an e-mail address (write name@example.org or \"Name <name@example.org>\")"
                        ),
                    ));
                }
            }
        }
        if let Some(chat) = &c.chat_id
            && chat.trim().is_empty()
        {
            return Err(invalid(at, format!("contact `{name}`: `chat_id` is empty")));
        }
        if c.audiences.is_empty() || c.audiences.iter().any(|a| a.trim().is_empty()) {
            return Err(invalid(
                at,
                format!(
                    "contact `{name}`: `audiences` must list at least one non-empty name (alerts go to \"{TEAM}\")"
                ),
            ));
        }
    }
    if settings.max_attempts == 0 || settings.timeout_ms == 0 || settings.backoff_ms == 0 {
        return Err(invalid(
            text.find("[notify]").unwrap_or(0),
            "[notify] max_attempts, backoff_ms and timeout_ms must be at least 1".into(),
        ));
    }
    if settings.max_backoff_ms < settings.backoff_ms {
        return Err(invalid(
            text.find("[notify]").unwrap_or(0),
            "[notify] max_backoff_ms must be at least backoff_ms".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{alert::Severity, config::Manifest};

    const CHAIN: &str =
        "[chains.local]\nchain_id = 31337\nrpc_urls = [\"http://127.0.0.1:8545\"]\n\n";

    fn parse(contacts: &str) -> Result<Manifest, String> {
        let env = |name: &str| (name == "HOOK_HOST").then(|| "hooks.example".to_string());
        Manifest::parse_with_env(
            &format!("{CHAIN}{contacts}"),
            Path::new("guardian.toml"),
            &env,
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn the_issue_example_loads_with_defaults() {
        let m = parse(
            r#"
[[contacts]]
name = "security-team"
channel = "email"
to = ["security@integra.io"]
from = "guardian@integra.io"
smtp_url_env = "GUARDIAN_SMTP_URL"
min_severity = "warning"

[[contacts]]
name = "ops-hook"
channel = "webhook"
url = "https://${HOOK_HOST}/guardian"
secret_env = "GUARDIAN_WEBHOOK_SECRET"

[[contacts]]
name = "tg"
channel = "telegram"
bot_token_env = "TG_TOKEN"
chat_id = "@integra_security"
"#,
        )
        .expect("valid");
        assert_eq!(m.contacts.len(), 3);
        let hook = &m.contacts[1];
        assert_eq!(hook.min_severity, Severity::Info);
        assert_eq!(hook.audiences, ["team"]);
        assert_eq!(hook.url.as_deref(), Some("https://hooks.example/guardian"));
        assert!(hook.wants(Severity::Info, "team") && !hook.wants(Severity::Info, "public"));
        assert!(!m.contacts[0].wants(Severity::Info, "team"));
        assert!(m.notify.is_default());
        assert!(
            !m.to_toml().contains("[notify]"),
            "defaults are not written back"
        );
    }

    #[test]
    fn a_channel_needs_its_keys_and_refuses_the_others_by_name() {
        let err =
            parse("[[contacts]]\nname = \"d\"\nchannel = \"discord\"\n").expect_err("missing");
        assert!(
            err.contains("guardian.toml:6:") && err.contains("needs `webhook_url_env`"),
            "{err}"
        );
        let err = parse(
            "[[contacts]]\nname = \"d\"\nchannel = \"discord\"\nwebhook_url_env = \"D\"\nto = [\"a@b.c\"]\n",
        )
        .expect_err("foreign key");
        assert!(err.contains("does not take `to`"), "{err}");
        let err = parse(
            "[[contacts]]\nname = \"h\"\nchannel = \"webhook\"\nurl = \"https://x.example\"\nurl_env = \"U\"\nsecret_env = \"S\"\n",
        )
        .expect_err("both urls");
        assert!(err.contains("exactly one of `url` and `url_env`"), "{err}");
        let err = parse("[[contacts]]\nname = \"x\"\nchannel = \"fax\"\n").expect_err("channel");
        assert!(err.contains("fax") || err.contains("variant"), "{err}");
        let err = parse("[[contacts]]\nname = \"x\"\nchannel = \"slack\"\nwebhook_url_env = \"S\"\nmin_severity = \"loud\"\n")
            .expect_err("severity");
        assert!(err.contains("guardian.toml:"), "{err}");
        let err = parse(
            "[[contacts]]\nname = \"x\"\nchannel = \"slack\"\nwebhook_url_env = \"S\"\n\n[[contacts]]\nname = \"x\"\nchannel = \"slack\"\nwebhook_url_env = \"S\"\n",
        )
        .expect_err("duplicate");
        assert!(
            err.contains("duplicate contact name `x` (first used on line 6)"),
            "{err}"
        );
    }

    #[test]
    fn env_keys_take_names_and_a_pasted_secret_is_not_echoed() {
        let pasted = "https://discord.com/api/webhooks/1/PASTEDTOKEN";
        let err = parse(&format!(
            "[[contacts]]\nname = \"d\"\nchannel = \"discord\"\nwebhook_url_env = \"{pasted}\"\n"
        ))
        .expect_err("a URL is not a variable name");
        assert!(err.contains("never the secret itself"), "{err}");
        assert!(!err.contains("PASTEDTOKEN"), "{err}");
        let err = parse(
            "[[contacts]]\nname = \"m\"\nchannel = \"email\"\nto = [\"not an address\"]\nfrom = \"g@x.example\"\nsmtp_url_env = \"S\"\n",
        )
        .expect_err("bad address");
        assert!(err.contains("is not an e-mail address"), "{err}");
        let err = parse(
            "[[contacts]]\nname = \"p\"\nchannel = \"pagerduty\"\nrouting_key_env = \"K\"\nbase_url = \"ftp://x\"\n",
        )
        .expect_err("bad base");
        assert!(err.contains("`base_url` must be an http"), "{err}");
        let err = parse("[notify]\nmax_attempts = 0\n").expect_err("zero attempts");
        assert!(err.contains("max_attempts"), "{err}");
    }
}
