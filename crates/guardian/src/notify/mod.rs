//! Notifications: alerts (and later incident communication) told to the manifest's
//! `[[contacts]]` by e-mail, Discord, Slack, Telegram, PagerDuty or signed webhook.
//!
//! Every message goes through the [`outbox`] in SQLite: [`enqueue_alert`] writes one row per
//! contact it is routed to, and an [`Outbox`] delivers and retries them. One file per channel.

pub mod contact;
mod discord;
mod email;
mod http;
pub mod message;
pub mod outbox;
mod pagerduty;
mod slack;
mod telegram;
pub mod webhook;

pub use contact::{Contact, Contacts, LoadError};
pub use message::{AlertEvent, Message};
pub use outbox::{DeliveryRecord, DeliveryState, DeliveryStats, Failure, Outbox};

use std::time::Duration;

use crate::{
    alert::Alert,
    config::contacts::TEAM,
    storage::{StorageError, Store, now_ms},
};

use contact::Endpoint;

/// Why a notification could not be written or delivered. Messages never hold a secret.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The contact's secrets could not be loaded (a variable not set, say).
    #[error("contact `{contact}`: {source}")]
    Contact {
        /// The contact's name.
        contact: String,
        /// What is missing or wrong.
        source: LoadError,
    },
    /// A delivery names a contact the manifest no longer has.
    #[error("contact `{0}` is not in the manifest (any more): its notifications cannot be sent")]
    UnknownContact(String),
    /// The outbox could not be read or written.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored message could not be read back, or one could not be encoded.
    #[error("notification message encoding: {0}")]
    Json(#[from] serde_json::Error),
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client for notifications: {0}")]
    Client(String),
    /// The request could not be sent (connection refused, DNS, TLS).
    #[error("contact `{contact}`: request failed: {message}")]
    Request {
        /// The contact's name.
        contact: String,
        /// What failed, redacted, without the URL.
        message: String,
    },
    /// No answer within `[notify] timeout_ms`.
    #[error(
        "contact `{contact}`: no answer in time (raise [notify] timeout_ms if the service is slow)"
    )]
    Timeout {
        /// The contact's name.
        contact: String,
    },
    /// The service answered with an error status.
    #[error("contact `{contact}`: the service answered HTTP {status}: {body}")]
    Refused {
        /// The contact's name.
        contact: String,
        /// The HTTP status.
        status: u16,
        /// The start of its answer, redacted.
        body: String,
        /// Its `Retry-After`, in seconds.
        retry_after_secs: Option<u64>,
    },
    /// The SMTP server could not be reached or refused the message.
    #[error("contact `{contact}`: {message}")]
    Email {
        /// The contact's name.
        contact: String,
        /// What failed, redacted.
        message: String,
    },
}

impl NotifyError {
    /// Whether trying again cannot help: the service refused the request itself (HTTP 4xx other
    /// than 408 and 429: a wrong URL, key or payload), or the message cannot be read.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Refused { status, .. } => {
                (400..500).contains(status) && *status != 408 && *status != 429
            }
            Self::Json(_) | Self::UnknownContact(_) => true,
            _ => false,
        }
    }

    /// How long the service asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Refused {
                retry_after_secs: Some(s),
                ..
            } => Some(Duration::from_secs(*s)),
            _ => None,
        }
    }
}

/// One attempt to deliver one message to one contact.
pub(crate) struct Delivery<'a> {
    client: &'a reqwest::Client,
    contact: &'a str,
    id: &'a str,
    message: &'a Message,
    timeout: Duration,
}

/// Sends `message` to `contact` once, as delivery `id`, within the contact's timeout.
async fn deliver(
    client: &reqwest::Client,
    contact: &Contact,
    id: &str,
    message: &Message,
) -> Result<(), NotifyError> {
    let endpoint = contact
        .endpoint
        .as_ref()
        .map_err(|e| contact.load_error(e))?;
    let d = Delivery {
        client,
        contact: contact.name(),
        id,
        message,
        timeout: contact.timeout,
    };
    let send = async {
        match endpoint {
            Endpoint::Email { smtp, from, to } => match &message.recipient {
                Some(one) => {
                    let one: lettre::message::Mailbox =
                        one.parse().map_err(|_| NotifyError::Email {
                            contact: contact.name().to_string(),
                            message: "the recipient is not an e-mail address".into(),
                        })?;
                    email::send(&d, smtp, from, std::slice::from_ref(&one)).await
                }
                None => email::send(&d, smtp, from, to).await,
            },
            Endpoint::Hook(url) => match contact.channel() {
                crate::config::Channel::Slack => slack::send(&d, url).await,
                _ => discord::send(&d, url).await,
            },
            Endpoint::Telegram {
                base,
                token,
                chat_id,
            } => telegram::send(&d, base, token, chat_id).await,
            Endpoint::PagerDuty { base, routing_key } => {
                pagerduty::send(&d, base, routing_key).await
            }
            Endpoint::Webhook { url, key } => webhook::send(&d, url, key).await,
        }
    };
    // The HTTP client has its own timeout; this one also bounds SMTP and anything in between.
    tokio::time::timeout(contact.timeout + Duration::from_millis(500), send)
        .await
        .unwrap_or_else(|_| {
            Err(NotifyError::Timeout {
                contact: contact.name().to_string(),
            })
        })
}

/// A new delivery id: unique per delivery, sent on every attempt.
pub(crate) fn delivery_id() -> String {
    format!(
        "{:016x}{:016x}",
        outbox::random_u64(),
        outbox::random_u64() ^ now_ms() as u64
    )
}

/// Writes one outbox row per contact that should hear of `event` about `alert`, and returns how
/// many were written.
///
/// A raised alert goes to the contacts of audience `team` whose `min_severity` it reaches,
/// except the contact a channel `monitor-health` alert is about (it would only fail again); a
/// retraction goes to the contacts that were sent the alert (so every channel that got it is
/// told, and no other). Calling it twice for the same alert and event writes nothing the second
/// time. Delivery is the [`Outbox`]'s job.
pub fn enqueue_alert(
    store: &Store,
    contacts: &Contacts,
    alert: &Alert,
    event: AlertEvent,
) -> Result<usize, NotifyError> {
    enqueue_alert_responding(store, contacts, alert, event, None)
}

/// [`enqueue_alert`] for an alert whose rule responds automatically at incident level
/// `responding`: the message says so rather than asking someone to open the incident.
pub fn enqueue_alert_responding(
    store: &Store,
    contacts: &Contacts,
    alert: &Alert,
    event: AlertEvent,
    responding: Option<u8>,
) -> Result<usize, NotifyError> {
    let chosen: Vec<&Contact> = match event {
        AlertEvent::Raised => {
            let failing = alert.failing_contact();
            contacts
                .iter()
                .filter(|c| c.config.wants(alert.found.severity, TEAM))
                .filter(|c| failing != Some(c.name()))
                .collect()
        }
        AlertEvent::Retracted => {
            let told = store.contacts_told(alert.id, AlertEvent::Raised.topic())?;
            contacts
                .iter()
                .filter(|c| told.iter().any(|t| t == c.name()))
                .collect()
        }
    };
    let explorer = contacts
        .explorers
        .get(&alert.found.chain)
        .map(String::as_str);
    let mut message = Message::alert_responding(alert, event, explorer, responding);
    message
        .links
        .extend(contacts.page(&format!("/alerts/{}", alert.id)));
    let rows: Vec<_> = chosen
        .iter()
        .map(|c| outbox::NewDelivery {
            delivery_id: delivery_id(),
            contact: c.name(),
            channel: c.channel().as_str(),
            topic: event.topic(),
            alert_id: Some(alert.id),
            incident_id: None,
            message: &message,
        })
        .collect();
    Ok(store.enqueue(&rows)?)
}

/// Sends one test message to `contact` now, bypassing the outbox (`guardian monitor --check`),
/// and returns its delivery id.
pub async fn send_test(contact: &Contact) -> Result<String, NotifyError> {
    let client = http::client(contact.timeout)?;
    let id = delivery_id();
    let message = Message::test(contact.name(), now_ms());
    deliver(&client, contact, &id, &message).await?;
    Ok(id)
}
