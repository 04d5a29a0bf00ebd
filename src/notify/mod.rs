//! Delivery of messages to citizens: the outbox (written in the caller's transaction), the
//! dispatcher that empties it, and the back ends it delivers through: e-mail (SMTP | file |
//! memory) and SMS (HTTP gateway | file | memory).
//!
//! Invariant: a message exists only if the change that caused it committed (it is written in
//! the same transaction), and its text is stored sealed with the master key: an OTP message
//! holds a code in clear, so the row must not.

mod dispatcher;
mod file;
mod http_sms;
mod hub;
mod memory;
mod notices;
mod outbox;
mod settings;
mod smtp;
pub mod template;

pub use dispatcher::Dispatcher;
pub use file::FileSink;
pub use http_sms::HttpSms;
pub use hub::{HubCallbacks, HubSigning};
pub use memory::MemorySink;
pub use notices::CertificateNotice;
pub use outbox::{AttachedDocument, Outbox, OutgoingMessage, Sealed, SubscriberNotice};
pub use settings::{
    EmailBackend, EmailSettings, OutboxSettings, Settings, SmsBackend, SmsSettings, SmtpTls,
};
pub use smtp::SmtpMailer;

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::enrolment::identity::{Email, PhoneNumber};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A back end could not be set up from its configuration.
    #[error("configuration key `{key}`: {problem}")]
    Setup { key: &'static str, problem: String },
    /// The claim on a message ran out before its outcome was recorded; another dispatcher
    /// owns it now.
    #[error("claim on outbox message {0} was lost")]
    ClaimLost(String),
    /// The claims on every message of a batch were lost: nothing was recorded.
    #[error("claims on outbox messages {0:?} were lost")]
    ClaimsLost(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("outbox: {0}")]
    Unexpected(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Sms,
    Email,
    /// Signed status callbacks to the VNeID hub.
    VneidHub,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::VneidHub => crate::store::HUB_CHANNEL,
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "sms" => Some(Channel::Sms),
            "email" => Some(Channel::Email),
            crate::store::HUB_CHANNEL => Some(Channel::VneidHub),
            _ => None,
        }
    }
}

/// Where a message goes: a mobile number (SMS) or an e-mail address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipient {
    Phone(PhoneNumber),
    Email(Email),
}

impl Recipient {
    pub fn channel(&self) -> Channel {
        match self {
            Recipient::Phone(_) => Channel::Sms,
            Recipient::Email(_) => Channel::Email,
        }
    }

    /// The full address, for the back end only.
    pub fn address(&self) -> &str {
        match self {
            Recipient::Phone(p) => p.as_str(),
            Recipient::Email(e) => e.as_str(),
        }
    }

    /// For evidence, logs and the app's "code sent to …" line.
    pub fn masked(&self) -> String {
        match self {
            Recipient::Phone(p) => p.masked(),
            Recipient::Email(e) => mask_email(e.as_str()),
        }
    }
}

/// `nguyen.van.a@example.vn` -> `n***@example.vn`.
fn mask_email(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// One message as a back end receives it, opened from the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The outbox id: stable across retries, so the gateway (idempotency key) and mail
    /// readers (Message-ID) can recognise a repeat.
    pub message_id: String,
    /// What caused it (`otp`, `certificate_revoked`, …), as enqueued: for logs and tests.
    pub kind: String,
    pub channel: Channel,
    pub to: String,
    /// E-mail subject; empty for SMS.
    pub subject: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
    /// E-mail only: a stored document, read at delivery.
    pub attachment: Option<Attachment>,
}

/// A file sent with an e-mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// Why an attempt failed. Permanent failures are not retried (the gateway refused the
/// request itself, e.g. HTTP 400 or SMTP 5xx); transient ones are, with backoff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryError {
    pub permanent: bool,
    pub reason: String,
}

impl DeliveryError {
    pub fn transient(reason: impl Into<String>) -> Self {
        Self {
            permanent: false,
            reason: reason.into(),
        }
    }
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self {
            permanent: true,
            reason: reason.into(),
        }
    }
}

#[derive(Clone)]
pub enum EmailSender {
    Smtp(Box<SmtpMailer>),
    File(FileSink),
    Memory(MemorySink),
}

#[derive(Clone)]
pub enum SmsSender {
    Http(HttpSms),
    File(FileSink),
    Memory(MemorySink),
}

/// The back ends, one per channel.
#[derive(Clone)]
pub struct Notifier {
    email: EmailSender,
    sms: SmsSender,
    /// Callbacks to the VNeID hub, when a callback URL and the signing key are set.
    hub: Option<HubCallbacks>,
}

impl Notifier {
    pub fn new(email: EmailSender, sms: SmsSender) -> Self {
        Self {
            email,
            sms,
            hub: None,
        }
    }

    /// Delivers the `vneid_hub` channel through `hub`.
    pub fn with_hub(mut self, hub: HubCallbacks) -> Self {
        self.hub = Some(hub);
        self
    }

    /// The back ends the settings name; file back ends write under `<data_dir>/outbox/`.
    /// Memory back ends of both channels share one sink, so a test reads every message in one
    /// place.
    pub fn from_settings(n: &Settings, data_dir: &Path) -> Result<Self, NotifyError> {
        let memory = MemorySink::default();
        let files = FileSink::new(data_dir.join("outbox"));
        let email = match n.email.backend {
            EmailBackend::Smtp => EmailSender::Smtp(Box::new(SmtpMailer::from_settings(&n.email)?)),
            EmailBackend::File => EmailSender::File(files.clone()),
            EmailBackend::Memory => EmailSender::Memory(memory.clone()),
        };
        let sms = match n.sms.backend {
            SmsBackend::Http => SmsSender::Http(HttpSms::from_settings(&n.sms)?),
            SmsBackend::File => SmsSender::File(files),
            SmsBackend::Memory => SmsSender::Memory(memory),
        };
        Ok(Self::new(email, sms))
    }

    pub async fn deliver(&self, d: &Delivery) -> Result<(), DeliveryError> {
        match (d.channel, &self.email, &self.sms) {
            (Channel::VneidHub, _, _) => match &self.hub {
                Some(hub) => hub.send(d).await,
                // Retried with backoff (a URL set meanwhile, after a restart, delivers it), then
                // `failed` after the last attempt.
                None => Err(DeliveryError::transient(
                    "no VNeID hub callback URL is set (vneid.callback_url)",
                )),
            },
            (Channel::Email, EmailSender::Smtp(m), _) => m.send(d).await,
            (Channel::Email, EmailSender::File(f), _) | (Channel::Sms, _, SmsSender::File(f)) => {
                f.write(d).await
            }
            (Channel::Email, EmailSender::Memory(m), _)
            | (Channel::Sms, _, SmsSender::Memory(m)) => {
                m.push(d.clone());
                Ok(())
            }
            (Channel::Sms, _, SmsSender::Http(h)) => h.send(d).await,
        }
    }

    /// The in-memory sink, when a channel uses it (tests read delivered messages here).
    pub fn memory(&self) -> Option<&MemorySink> {
        match (&self.email, &self.sms) {
            (EmailSender::Memory(m), _) | (_, SmsSender::Memory(m)) => Some(m),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_mail_addresses_are_masked_to_first_letter_and_domain() {
        assert_eq!(mask_email("nguyen.van.a@example.vn"), "n***@example.vn");
        assert_eq!(mask_email("x@y.vn"), "x***@y.vn");
    }
}
