//! Writing messages into the outbox, in the caller's transaction.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::{Channel, Delivery, NotifyError, Recipient};
use crate::enrolment::identity::{Email, PhoneNumber};
use crate::secrets::MasterKey;
use crate::store::{OutboxRow, Tx};

const SEAL_PURPOSE: &str = "outbox-payload";

/// A message to send once the current transaction commits.
/// What [`Outbox::notify_subscriber`] sends: one text for SMS, one e-mail.
pub struct SubscriberNotice<'a> {
    pub kind: &'static str,
    pub phone: &'a str,
    pub email: Option<&'a str>,
    pub sms: String,
    pub email_subject: String,
    pub email_body: String,
    pub not_after: Option<DateTime<Utc>>,
}

#[derive(Clone)]
pub struct OutgoingMessage {
    /// What caused it, e.g. `otp` (for operators and metrics, not for delivery).
    pub kind: &'static str,
    pub to: Recipient,
    /// E-mail subject; ignored for SMS.
    pub subject: String,
    pub text: String,
    /// Past this instant the message is useless (an expired code) and is failed, not sent.
    pub not_after: Option<DateTime<Utc>>,
    /// E-mail only: a stored document to attach.
    pub attachment: Option<AttachedDocument>,
}

/// A `pdf_documents` row attached by reference: the row never changes, so the reference
/// names exactly the bytes meant, and the outbox keeps no second copy of a citizen's document
/// (the dispatcher reads it at delivery). A row gone by then fails the message (see
/// `Dispatcher::attachment`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedDocument {
    pub kind: String,
    pub subject: String,
    /// The name the citizen sees, e.g. `HD-2026-000123.pdf`.
    pub filename: String,
}

/// What is sealed in the row: the address, the texts and the attachment's reference.
#[derive(Serialize, Deserialize)]
struct Payload {
    to: String,
    subject: String,
    text: String,
    /// Absent in rows written before attachments existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attachment: Option<AttachedDocument>,
}

/// Messages sealed outside any transaction ([`Outbox::seal_subscriber_notice`],
/// [`Outbox::certificate_notice`]), added by [`Outbox::add`] in the transaction of their
/// change: the rendering and sealing stay out of the write transaction.
///
/// Messages enqueued one by one ([`Outbox::enqueue`]: codes, the signed contract) are
/// *urgent*, a person is waiting for them: they wake this process's dispatcher once their
/// transaction commits, and every dispatcher claims them before the others. Subscriber
/// notices are not: they go with the dispatcher's next round (within
/// `outbox.poll_interval_ms`, or sooner with the next code), so a burst of changes (issuance
/// under load: two notices per certificate) shares the dispatcher's claim and outcome
/// transactions instead of costing two write transactions per change, and never holds a
/// code back (the reminder job's thousands of notices queue behind it, not before it).
pub struct Sealed {
    rows: Vec<OutboxRow>,
}

impl Sealed {
    /// Nothing to send.
    pub(super) fn none() -> Self {
        Sealed { rows: Vec::new() }
    }
}

/// The enqueueing side of the outbox. Cheap to clone; shares its wake-up signal with the
/// dispatcher of this process.
#[derive(Clone)]
pub struct Outbox {
    keys: MasterKey,
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(keys: MasterKey) -> Self {
        Self {
            keys,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Enqueues a notice to a subscriber in `tx`: the SMS to their phone and, when they gave an
    /// e-mail, the e-mail. The addresses are the enrolment's stored ones (parsed at intake).
    /// A notice does not wake the dispatcher: it is sent with its next round ([`Sealed`]).
    pub fn notify_subscriber(
        &self,
        tx: &mut Tx<'_>,
        now: DateTime<Utc>,
        notice: SubscriberNotice<'_>,
    ) -> Result<(), NotifyError> {
        let sealed = self.seal_subscriber_notice(now, notice)?;
        self.add(tx, &sealed)
    }

    /// [`Outbox::notify_subscriber`]'s messages sealed now, outside any transaction, for
    /// [`Outbox::add`] to add in the transaction of their change.
    pub(super) fn seal_subscriber_notice(
        &self,
        now: DateTime<Utc>,
        notice: SubscriberNotice<'_>,
    ) -> Result<Sealed, NotifyError> {
        let stored =
            |e: &dyn std::fmt::Display| NotifyError::Unexpected(format!("stored address: {e}"));
        let phone = PhoneNumber::parse("phone", notice.phone).map_err(|e| stored(&e))?;
        let mut rows = vec![self.seal(
            now,
            false,
            OutgoingMessage {
                kind: notice.kind,
                to: Recipient::Phone(phone),
                subject: String::new(),
                text: notice.sms,
                not_after: notice.not_after,
                attachment: None,
            },
        )?];
        if let Some(address) = notice.email {
            let email = Email::parse("email", address).map_err(|e| stored(&e))?;
            rows.push(self.seal(
                now,
                false,
                OutgoingMessage {
                    kind: notice.kind,
                    to: Recipient::Email(email),
                    subject: notice.email_subject,
                    text: notice.email_body,
                    not_after: notice.not_after,
                    attachment: None,
                },
            )?);
        }
        Ok(Sealed { rows })
    }

    /// Adds `message` in `tx`, urgent ([`Sealed`]): the dispatcher of this process is woken
    /// when `tx` commits (other processes find it by polling). Returns the message id. The
    /// caller's audit event covers it: the message exists only because of that change.
    pub fn enqueue(
        &self,
        tx: &mut Tx<'_>,
        now: DateTime<Utc>,
        message: OutgoingMessage,
    ) -> Result<String, NotifyError> {
        let row = self.seal(now, true, message)?;
        let id = row.id.clone();
        self.add(tx, &Sealed { rows: vec![row] })?;
        Ok(id)
    }

    /// Adds messages sealed before `tx` began, as [`Outbox::enqueue`] adds one.
    pub fn add(&self, tx: &mut Tx<'_>, sealed: &Sealed) -> Result<(), NotifyError> {
        for row in &sealed.rows {
            tx.insert_outbox_message(row)?;
        }
        if sealed.rows.iter().any(|row| row.urgent) {
            let wake = self.wake.clone();
            tx.after_commit(move || wake.notify_one());
        }
        Ok(())
    }

    /// `message` as the row that carries it, its payload sealed under a new id.
    fn seal(
        &self,
        now: DateTime<Utc>,
        urgent: bool,
        message: OutgoingMessage,
    ) -> Result<OutboxRow, NotifyError> {
        let id = crate::store::new_row_id();
        let payload = serde_json::to_vec(&Payload {
            to: message.to.address().to_string(),
            subject: message.subject,
            text: message.text,
            attachment: message.attachment,
        })
        .map_err(|e| NotifyError::Unexpected(e.to_string()))?;
        let sealed = self
            .keys
            .seal(SEAL_PURPOSE, id.as_bytes(), &payload)
            .map_err(|e| NotifyError::Unexpected(e.to_string()))?;
        let now = crate::clock::truncate(now).naive_utc();
        Ok(OutboxRow {
            id,
            channel: message.to.channel().as_str().to_string(),
            kind: message.kind.to_string(),
            masked_destination: message.to.masked(),
            payload_sealed: sealed,
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: now,
            not_after: message.not_after.map(|t| t.naive_utc()),
            claimed_until: None,
            claim_token: None,
            last_error: None,
            created_at: now,
            sent_at: None,
            urgent,
        })
    }

    pub(super) fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Opens a claimed row for delivery; the attachment, if any, is still to be read.
    pub(super) fn open(
        &self,
        row: &OutboxRow,
    ) -> Result<(Delivery, Option<AttachedDocument>), String> {
        let channel = Channel::parse(&row.channel)
            .ok_or_else(|| format!("unknown channel `{}`", row.channel))?;
        if channel == Channel::VneidHub {
            // Not sealed: a hub callback names no person (`Tx::enqueue_hub_callback`).
            let delivery = Delivery {
                message_id: row.id.clone(),
                kind: row.kind.clone(),
                channel,
                to: row.masked_destination.clone(),
                subject: String::new(),
                text: String::from_utf8(row.payload_sealed.clone()).map_err(|e| e.to_string())?,
                created_at: DateTime::<Utc>::from_naive_utc_and_offset(row.created_at, Utc),
                attachment: None,
            };
            return Ok((delivery, None));
        }
        let plain = self
            .keys
            .open(SEAL_PURPOSE, row.id.as_bytes(), &row.payload_sealed)
            .map_err(|e| e.to_string())?;
        let p: Payload = serde_json::from_slice(&plain).map_err(|e| e.to_string())?;
        let delivery = Delivery {
            message_id: row.id.clone(),
            kind: row.kind.clone(),
            channel,
            to: p.to,
            subject: p.subject,
            text: p.text,
            created_at: DateTime::<Utc>::from_naive_utc_and_offset(row.created_at, Utc),
            attachment: None,
        };
        Ok((delivery, p.attachment))
    }
}
