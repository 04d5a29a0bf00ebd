//! E-mail over SMTP with lettre: plain (local relays only), STARTTLS or implicit TLS, with
//! optional credentials. TLS is OpenSSL through native-tls, already linked for the CA code.

use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Delivery, DeliveryError, EmailSettings, NotifyError, SmtpTls};

#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn from_settings(s: &EmailSettings) -> Result<Self, NotifyError> {
        let setup = |key, e: &dyn std::fmt::Display| NotifyError::Setup {
            key,
            problem: e.to_string(),
        };
        let from: Mailbox = s.from.parse().map_err(|e| setup("notify.email.from", &e))?;
        let builder = match s.smtp_tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.smtp_host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.smtp_host)
                .map_err(|e| setup("notify.email.smtp_host", &e))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.smtp_host)
                .map_err(|e| setup("notify.email.smtp_host", &e))?,
        };
        let mut builder = builder
            .port(s.smtp_port)
            .timeout(Some(Duration::from_secs(s.timeout_seconds.into())));
        if !s.smtp_username.is_empty() {
            builder = builder.credentials(Credentials::new(
                s.smtp_username.clone(),
                s.smtp_password.expose().to_string(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }

    pub(super) async fn send(&self, d: &Delivery) -> Result<(), DeliveryError> {
        let message = self.message(d)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            // 5xx: the server refused this message for good; anything else may pass later.
            Err(e) if e.is_permanent() => Err(DeliveryError::permanent(format!("SMTP: {e}"))),
            Err(e) => Err(DeliveryError::transient(format!("SMTP: {e}"))),
        }
    }

    fn message(&self, d: &Delivery) -> Result<Message, DeliveryError> {
        let to: Mailbox =
            d.to.parse()
                .map_err(|e| DeliveryError::permanent(format!("recipient address: {e}")))?;
        let domain = self.from.email.domain().to_string();
        // Quoted-printable keeps the body 7-bit for any relay, and the ASCII (the code)
        // readable in the raw message.
        let body =
            Body::new_with_encoding(d.text.clone(), ContentTransferEncoding::QuotedPrintable)
                .map_err(|_| DeliveryError::permanent("body cannot be encoded"))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(d.subject.clone())
            // The outbox id, so a retried message is recognisably the same one.
            .message_id(Some(format!("<{}@{domain}>", d.message_id)))
            .date(d.created_at.into());
        let message = match &d.attachment {
            None => builder.header(ContentType::TEXT_PLAIN).body(body),
            // multipart/mixed: the text, then the file (base64, chosen by lettre).
            Some(a) => {
                let content_type = ContentType::parse(a.content_type)
                    .map_err(|e| DeliveryError::permanent(format!("attachment type: {e}")))?;
                builder.multipart(
                    MultiPart::mixed()
                        .singlepart(
                            SinglePart::builder()
                                .header(ContentType::TEXT_PLAIN)
                                .body(body),
                        )
                        .singlepart(
                            Attachment::new(a.filename.clone()).body(a.bytes.clone(), content_type),
                        ),
                )
            }
        };
        message.map_err(|e| DeliveryError::permanent(format!("message: {e}")))
    }
}
