//! Contacts at run time: each `[[contacts]]` entry with its secrets read from the environment.
//!
//! A missing variable does not stop the others: like a signer's key, it is reported (naming the
//! variable, never a value) when the contact is used. Every value read is registered for
//! redaction, so no log line or error shows a webhook URL, token, routing key, SMTP password or
//! signing key.

use std::{collections::BTreeMap, time::Duration};

use lettre::message::Mailbox;

use crate::{
    chain::signer::EnvLookup,
    config::{Channel, ContactConfig, Manifest, NotifySettings},
    secret::{self, Secret},
};

use super::NotifyError;

/// Telegram's Bot API.
pub const TELEGRAM_BASE: &str = "https://api.telegram.org";
/// PagerDuty's Events API.
pub const PAGERDUTY_BASE: &str = "https://events.pagerduty.com";

/// Why a contact's secrets could not be loaded; carries names, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The variable a `*_env` key names is not set, or is empty.
    #[error("environment variable {var} (its `{key}`) is not set: export it")]
    MissingEnv {
        /// The manifest key (`smtp_url_env`, ...).
        key: &'static str,
        /// The variable's name.
        var: String,
    },
    /// The variable is set, but its value is not usable.
    #[error("environment variable {var} (its `{key}`) {problem}")]
    BadValue {
        /// The manifest key.
        key: &'static str,
        /// The variable's name.
        var: String,
        /// What is wrong, without the value.
        problem: &'static str,
    },
    /// A key the manifest should have had (it was validated without it: a bug, or a manifest
    /// built in code).
    #[error("`{0}` is missing or not valid in the manifest")]
    Config(&'static str),
}

/// Where and how a contact is reached, secrets included.
#[derive(Debug, Clone)]
pub(crate) enum Endpoint {
    /// SMTP server and envelope.
    Email {
        /// `smtp://` or `smtps://`, with credentials.
        smtp: SmtpUrl,
        /// Sender.
        from: Mailbox,
        /// Recipients.
        to: Vec<Mailbox>,
    },
    /// Discord or Slack incoming webhook.
    Hook(Secret),
    /// Telegram bot.
    Telegram {
        /// API base, no trailing slash.
        base: String,
        /// The bot token.
        token: Secret,
        /// The chat.
        chat_id: String,
    },
    /// PagerDuty Events API v2.
    PagerDuty {
        /// API base, no trailing slash.
        base: String,
        /// The integration's routing key.
        routing_key: Secret,
    },
    /// Signed webhook.
    Webhook {
        /// Where to `POST`.
        url: Secret,
        /// The HMAC key.
        key: Secret,
    },
}

/// An SMTP server URL, parsed; its password never prints.
#[derive(Debug, Clone)]
pub(crate) struct SmtpUrl {
    /// Implicit TLS (`smtps://`) rather than STARTTLS when offered.
    pub implicit_tls: bool,
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// User name, if any.
    pub user: Option<String>,
    /// Password, if any.
    pub password: Option<Secret>,
}

/// One contact, ready to be used.
#[derive(Debug, Clone)]
pub struct Contact {
    /// As the manifest describes it.
    pub config: ContactConfig,
    pub(crate) endpoint: Result<Endpoint, LoadError>,
    pub(crate) timeout: Duration,
}

impl Contact {
    /// The contact's name.
    pub fn name(&self) -> &str {
        self.config.name()
    }

    /// Its channel.
    pub fn channel(&self) -> Channel {
        self.config.channel
    }

    /// Why it cannot be used, if it cannot.
    pub fn problem(&self) -> Option<NotifyError> {
        self.endpoint.as_ref().err().map(|e| self.load_error(e))
    }

    pub(crate) fn load_error(&self, e: &LoadError) -> NotifyError {
        NotifyError::Contact {
            contact: self.name().to_string(),
            source: e.clone(),
        }
    }
}

/// Every contact of a manifest, with the chains' explorer links and the retry settings.
#[derive(Debug, Clone, Default)]
pub struct Contacts {
    pub(crate) list: Vec<Contact>,
    pub(crate) explorers: BTreeMap<String, String>,
    pub(crate) settings: NotifySettings,
    /// Where the team's pages are (`[server] public_url`): messages to the team link there.
    pub(crate) pages: Option<String>,
}

impl Contacts {
    /// Reads each contact's secrets through `env`; a contact whose variables are missing is kept
    /// with its problem, reported when it is used.
    pub fn load(manifest: &Manifest, env: EnvLookup<'_>) -> Self {
        let timeout = manifest.notify.timeout();
        Self {
            list: manifest
                .contacts
                .iter()
                .map(|c| Contact {
                    config: c.clone(),
                    endpoint: endpoint(c, env),
                    timeout,
                })
                .collect(),
            explorers: manifest
                .chains
                .iter()
                .filter_map(|(name, c)| {
                    let url = c.explorer_url.as_deref()?.trim_end_matches('/');
                    Some((name.clone(), url.to_string()))
                })
                .collect(),
            settings: manifest.notify.clone(),
            pages: manifest
                .server
                .public_url
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_string()),
        }
    }

    /// The address of the team's page at `path` (`/incidents/3`), when `[server] public_url`
    /// is set.
    pub fn page(&self, path: &str) -> Option<String> {
        self.pages.as_ref().map(|base| format!("{base}{path}"))
    }

    /// The contact with this name.
    pub fn get(&self, name: &str) -> Option<&Contact> {
        self.list.iter().find(|c| c.name() == name)
    }

    /// Every contact, in manifest order.
    pub fn iter(&self) -> impl Iterator<Item = &Contact> {
        self.list.iter()
    }

    /// The retry settings.
    pub fn settings(&self) -> &NotifySettings {
        &self.settings
    }
}

/// Reads and registers one variable, without the whitespace around it (a trailing newline of
/// `$(cat file)`), except for signing keys: their bytes are the key, exactly as set.
fn read(key: &'static str, var: &str, env: EnvLookup<'_>) -> Result<Secret, LoadError> {
    let value = env(var)
        .map(|v| {
            if key == "secret_env" {
                v
            } else {
                v.trim().to_string()
            }
        })
        .filter(|v| !v.is_empty())
        .ok_or_else(|| LoadError::MissingEnv {
            key,
            var: var.to_string(),
        })?;
    Ok(Secret::new(value))
}

/// Registers every form in which a URL's secret parts could be printed: the whole URL, its path
/// and query, a long last segment (where services put the token) and the password. A short
/// path alone (`/guardian`) is not registered: redacting every `guardian` from the logs would
/// hide more than it protects.
fn register_url(url: &url::Url) {
    secret::register(url.as_str());
    secret::register(url.as_str().trim_end_matches('/'));
    let after_host = &url[url::Position::BeforePath..];
    if after_host.len() >= 16 {
        secret::register(after_host);
    }
    if let Some(last) = url.path_segments().and_then(|mut s| s.next_back())
        && last.len() >= 16
    {
        secret::register(last);
    }
    if let Some(q) = url.query() {
        secret::register(q);
    }
    if let Some(p) = url.password() {
        secret::register(p);
        if let Ok(decoded) = percent_decode(p) {
            secret::register(&decoded);
        }
    }
}

fn percent_decode(s: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
}

/// A secret that must be an http(s) URL.
fn http_url(key: &'static str, var: &str, env: EnvLookup<'_>) -> Result<Secret, LoadError> {
    let value = read(key, var, env)?;
    let bad = |problem| LoadError::BadValue {
        key,
        var: var.to_string(),
        problem,
    };
    let url = url::Url::parse(value.expose()).map_err(|_| bad("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("is not an http:// or https:// URL"));
    }
    register_url(&url);
    Ok(value)
}

fn smtp_url(var: &str, env: EnvLookup<'_>) -> Result<SmtpUrl, LoadError> {
    const KEY: &str = "smtp_url_env";
    let value = read(KEY, var, env)?;
    let bad = |problem| LoadError::BadValue {
        key: KEY,
        var: var.to_string(),
        problem,
    };
    let url = url::Url::parse(value.expose())
        .map_err(|_| bad("is not a URL (write smtp://user:pass@host:587 or smtps://...)"))?;
    register_url(&url);
    if let (Some(p), user) = (url.password(), url.username()) {
        secret::register(&format!("{user}:{p}"));
    }
    let implicit_tls = match url.scheme() {
        "smtp" => false,
        "smtps" => true,
        _ => return Err(bad("must start with smtp:// or smtps://")),
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("has no host"))?
        .to_string();
    let user = Some(url.username())
        .filter(|u| !u.is_empty())
        .map(|u| percent_decode(u).map_err(|_| bad("has a user name that is not UTF-8")))
        .transpose()?;
    let password = url
        .password()
        .map(|p| {
            percent_decode(p)
                .map(Secret::new)
                .map_err(|_| bad("has a password that is not UTF-8"))
        })
        .transpose()?;
    Ok(SmtpUrl {
        implicit_tls,
        port: url.port().unwrap_or(if implicit_tls { 465 } else { 587 }),
        host,
        user,
        password,
    })
}

/// The contact's endpoint; the manifest was validated, so its required keys are present.
fn endpoint(c: &ContactConfig, env: EnvLookup<'_>) -> Result<Endpoint, LoadError> {
    let need =
        |key: &'static str, value: &Option<String>| value.clone().ok_or(LoadError::Config(key));
    let base = |default: &str| {
        c.base_url
            .as_deref()
            .unwrap_or(default)
            .trim_end_matches('/')
            .to_string()
    };
    Ok(match c.channel {
        Channel::Email => {
            let mailbox = |s: &String| s.parse::<Mailbox>().map_err(|_| LoadError::Config("to"));
            Endpoint::Email {
                smtp: smtp_url(&need("smtp_url_env", &c.smtp_url_env)?, env)?,
                from: mailbox(&need("from", &c.from)?)?,
                to: c
                    .to
                    .iter()
                    .flatten()
                    .map(mailbox)
                    .collect::<Result<_, _>>()?,
            }
        }
        Channel::Discord | Channel::Slack => Endpoint::Hook(http_url(
            "webhook_url_env",
            &need("webhook_url_env", &c.webhook_url_env)?,
            env,
        )?),
        Channel::Telegram => Endpoint::Telegram {
            base: base(TELEGRAM_BASE),
            token: read(
                "bot_token_env",
                &need("bot_token_env", &c.bot_token_env)?,
                env,
            )?,
            chat_id: need("chat_id", &c.chat_id)?,
        },
        Channel::Pagerduty => Endpoint::PagerDuty {
            base: base(PAGERDUTY_BASE),
            routing_key: read(
                "routing_key_env",
                &need("routing_key_env", &c.routing_key_env)?,
                env,
            )?,
        },
        Channel::Webhook => {
            let url = match (&c.url, &c.url_env) {
                // Written in the manifest, so its parts are not secrets (those from `${VAR}` were
                // registered as they were expanded); the URL as a whole is still kept out of logs.
                (Some(url), _) => Secret::new(url.clone()),
                (None, var) => http_url("url_env", &need("url_env", var)?, env)?,
            };
            Endpoint::Webhook {
                url,
                key: read("secret_env", &need("secret_env", &c.secret_env)?, env)?,
            }
        }
    })
}
