//! E-mail through SMTP (lettre, tokio): `smtp://` upgrades with STARTTLS when the server offers
//! it, `smtps://` speaks TLS from the start; rustls with the ring provider and the webpki roots.

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};

use super::{Delivery, NotifyError, contact::SmtpUrl};
use crate::secret::redact;

/// Sends one attempt of `delivery` to `to` through `smtp`.
pub(super) async fn send(
    d: &Delivery<'_>,
    smtp: &SmtpUrl,
    from: &Mailbox,
    to: &[Mailbox],
) -> Result<(), NotifyError> {
    let failed = |what: &str, e: &dyn std::fmt::Display| NotifyError::Email {
        contact: d.contact.to_string(),
        message: redact(&format!("{what}: {e}")).into_owned(),
    };
    let mut email = lettre::Message::builder()
        .from(from.clone())
        .subject(d.message.title.clone())
        // The delivery id makes every attempt the same message to a receiving system.
        .message_id(Some(format!("<{}@guardian>", d.id)))
        .header(ContentType::TEXT_PLAIN);
    for mailbox in to {
        email = email.to(mailbox.clone());
    }
    let body = {
        let m = d.message;
        let mut text = m.lines.join("\n");
        for link in &m.links {
            text.push('\n');
            text.push_str(link);
        }
        text.push('\n');
        text
    };
    let email = email
        .body(body)
        .map_err(|e| failed("cannot build the message", &e))?;

    let tls = TlsParameters::new(smtp.host.clone()).map_err(|e| failed("cannot set up TLS", &e))?;
    let builder = if smtp.implicit_tls {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host).tls(Tls::Wrapper(tls))
    } else {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .tls(Tls::Opportunistic(tls))
    };
    let mut builder = builder.port(smtp.port).timeout(Some(d.timeout));
    if let Some(user) = &smtp.user {
        let password = smtp
            .password
            .as_ref()
            .map(|p| p.expose().to_string())
            .unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    builder
        .build()
        .send(email)
        .await
        .map(|_| ())
        .map_err(|e| failed("the SMTP server refused", &e))
}
