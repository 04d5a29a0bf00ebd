//! Certificate acceptance (domain brief §1 step 6): the citizen reads the acceptance record
//! ("Biên bản nghiệm thu và bàn giao chứng thư số"), agrees and confirms with an SMS code bound
//! to the record's SHA-256. Only then does the certificate leave `pending_acceptance` for
//! `active` (decision in the brief: not valid until confirmed). Rejecting it (its contents are
//! wrong) revokes it, gives the free package back and closes the enrolment for correction; a
//! certificate left unaccepted past the deadline is revoked by [`Acceptance::run_deadline`],
//! after reminders.
//!
//! A renewal's or rekey's certificate names the one it replaces (`supersedes`): accepting it
//! revokes that one (`superseded`) in the same transaction; rejecting it or letting the
//! deadline pass leaves that one as it was. A rekey shares its enrolment and contract with the
//! certificate it replaces, so closing it neither releases the package nor closes the
//! enrolment.
//!
//! Invariant: a record's bytes and digest never change once made, and a decided record never
//! changes at all; the database refuses it (triggers). The record is made from the certificate,
//! its enrolment and its signed contract in the transaction that stores the signed certificate
//! ([`Acceptance::make_record`]); a template change later cannot alter a record already made.

mod document;

pub use document::CONTENT_TYPE as DOCUMENT_CONTENT_TYPE;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{Actor, NewEvent};
use crate::clock::Clock;
use crate::contract::{release_free_package, Provider};
use crate::enrolment::identity::{Email, PhoneNumber};
use crate::enrolment::status::Event;
use crate::enrolment::transition::{transition, Details, MoveError};
use crate::notify::template::render;
use crate::notify::{Outbox, OutgoingMessage, Recipient};
use crate::otp::{
    ChallengeLookup, ChallengeRequest, ChallengeSent, Check, DocumentDigest, Otp, OtpError, Purpose,
};
use crate::secrets::sha256_hex;
use crate::settings::{range, Invalid};
use crate::status::{supersede, CertificateStatus, Move, StatusError};
use crate::store::{AcceptanceDecision, AcceptanceRow, CertificateRow, Store, StoreError, Tx};

/// The revocation reason of a certificate that never became valid: rejected by its subscriber
/// or not accepted in time. RFC 5280 has no closer reason; the trail says which it was.
pub const REVOCATION_REASON: &str = "cessationOfOperation";
/// Longest rejection reason kept.
pub const MAX_REASON_CHARS: usize = 500;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Days after signing within which the subscriber must accept; then it is revoked.
    pub deadline_days: u32,
    /// Days after signing on which a reminder is sent (SMS, and e-mail when known).
    pub reminder_days: Vec<u32>,
    /// How often the deadline job runs, in seconds.
    pub job_interval_seconds: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            deadline_days: 7,
            reminder_days: vec![1, 5],
            job_interval_seconds: 300,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), Invalid> {
        range("acceptance.deadline_days", self.deadline_days, 1, 30)?;
        if self
            .reminder_days
            .iter()
            .any(|d| *d == 0 || *d >= self.deadline_days)
        {
            return Err(Invalid::new(
                "acceptance.reminder_days",
                "expected days after signing, each from 1 to deadline_days - 1",
            ));
        }
        range(
            "acceptance.job_interval_seconds",
            self.job_interval_seconds,
            1,
            86_400,
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptanceError {
    #[error("certificate not found")]
    NotFound,
    #[error("the certificate is `{status}`, not awaiting acceptance")]
    NotPending { status: String },
    #[error("the acceptance record must be agreed to (agree: true)")]
    AgreementRequired,
    #[error("a reason of 1 to {MAX_REASON_CHARS} characters is required")]
    ReasonRequired,
    #[error(
        "certificate {serial}, which this one replaces, is suspended; it must be resumed or \
         revoked before its replacement is accepted"
    )]
    ReplacedSuspended { serial: String },
    #[error(transparent)]
    Otp(#[from] OtpError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn unexpected(e: impl std::fmt::Display) -> AcceptanceError {
    AcceptanceError::Store(StoreError::Unexpected(e.to_string()))
}

/// The record as stored.
pub type Record = AcceptanceRow;

/// What the citizen sends to confirm.
pub struct AcceptRequest {
    pub agree: bool,
    pub otp_code: String,
    /// The challenge the code answers; the latest one for the certificate when absent.
    pub challenge_id: Option<String>,
    /// As relayed by the integration (the app's backend sees the citizen's connection).
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// What one run of the deadline job did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeadlineRun {
    pub reminded: Vec<String>,
    pub revoked: Vec<String>,
}

fn otp_subject(serial: &str) -> String {
    format!("certificate:{serial}")
}

/// The acceptance service.
#[derive(Clone)]
pub struct Acceptance {
    store: Store,
    otp: Otp,
    outbox: Outbox,
    clock: Arc<dyn Clock>,
    provider: Arc<Provider>,
    settings: Arc<Settings>,
}

impl Acceptance {
    pub fn new(
        store: Store,
        otp: Otp,
        outbox: Outbox,
        clock: Arc<dyn Clock>,
        provider: Provider,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            otp,
            outbox,
            clock,
            provider: Arc::new(provider),
            settings: Arc::new(settings),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The deadline of a certificate signed at `signed_at`.
    pub fn deadline(&self, signed_at: DateTime<Utc>) -> DateTime<Utc> {
        signed_at + Duration::days(i64::from(self.settings.deadline_days))
    }

    /// The certificate row, if it exists.
    pub async fn certificate(&self, serial: &str) -> Result<CertificateRow, AcceptanceError> {
        let serial = serial.to_ascii_lowercase();
        self.store
            .read(move |tx| tx.certificate(&serial))
            .await?
            .ok_or(AcceptanceError::NotFound)
    }

    /// Makes the record inside the caller's transaction: issuance calls it in the transaction
    /// that stores the signed certificate, so every certificate awaiting acceptance has its
    /// record from the moment it exists.
    pub fn make_record(
        &self,
        tx: &mut Tx<'_>,
        serial: &str,
        now: DateTime<Utc>,
    ) -> Result<Record, AcceptanceError> {
        ensure_record(tx, serial, now, &self.provider)
    }

    /// The record (made now if a certificate somehow has none yet).
    pub async fn record(&self, serial: &str) -> Result<Record, AcceptanceError> {
        let serial = serial.to_ascii_lowercase();
        let read = serial.clone();
        if let Some(row) = self
            .store
            .read(move |tx| tx.acceptance_record(&read))
            .await?
        {
            return Ok(row);
        }
        let now = self.clock.now();
        let provider = self.provider.clone();
        let made = serial.clone();
        let result = self
            .store
            .write(move |tx| ensure_record(tx, &made, now, &provider))
            .await;
        match result {
            // Made by a concurrent request a moment ago: that one stands.
            Err(AcceptanceError::Store(StoreError::Conflict(_))) => self
                .store
                .read(move |tx| tx.acceptance_record(&serial))
                .await?
                .ok_or_else(|| unexpected("acceptance record vanished")),
            other => other,
        }
    }

    /// Sends a code by SMS to the enrolment's phone, bound to the record's digest.
    pub async fn send_otp(
        &self,
        actor: &Actor,
        serial: &str,
    ) -> Result<ChallengeSent, AcceptanceError> {
        let record = self.record(serial).await?;
        let now = self.clock.now();
        let (actor, otp) = (actor.clone(), self.otp.clone());
        self.store
            .write(move |tx| {
                let certificate = pending_certificate(tx, &record.serial)?;
                let enrolment = tx
                    .enrolment_by_id(&certificate.enrolment_id)?
                    .ok_or_else(|| unexpected("certificate without its enrolment"))?;
                let phone = PhoneNumber::parse("phone", &enrolment.phone).map_err(unexpected)?;
                let digest = DocumentDigest::parse(&record.document_sha256).map_err(unexpected)?;
                Ok(otp.issue_challenge(
                    tx,
                    now,
                    ChallengeRequest {
                        purpose: Purpose::CertificateAcceptance,
                        subject: otp_subject(&record.serial),
                        document_digest: digest,
                        recipient: Recipient::Phone(phone),
                        actor,
                    },
                )?)
            })
            .await
    }

    /// Confirms: verifies the code and, in one audited transaction, closes the record with
    /// its evidence and makes the certificate `active`. An accepted record is returned as it
    /// is, without looking at the code, so a retry after a lost answer is harmless.
    pub async fn accept(
        &self,
        actor: &Actor,
        serial: &str,
        request: AcceptRequest,
    ) -> Result<Record, AcceptanceError> {
        if !request.agree {
            return Err(AcceptanceError::AgreementRequired);
        }
        let record = self.record(serial).await?;
        match record.status.as_str() {
            "pending" => {}
            "accepted" => return Ok(record),
            other => {
                return Err(AcceptanceError::NotPending {
                    status: other.to_string(),
                })
            }
        }
        let serial = record.serial.clone();
        let subject = otp_subject(&serial);
        let check = Check {
            lookup: match request.challenge_id {
                Some(id) => ChallengeLookup::Id(id),
                None => ChallengeLookup::Subject(subject.clone()),
            },
            purpose: Purpose::CertificateAcceptance,
            document_digest: DocumentDigest::parse(&record.document_sha256).map_err(unexpected)?,
            code: request.otp_code,
            actor: actor.clone(),
        };
        let by = actor.clone();
        let (ip, agent) = (request.client_ip, request.user_agent);
        let in_tx = serial.clone();
        let result = self
            .otp
            .confirm(check, move |tx, verified| {
                // The digest binds the code to the record's bytes; the subject keeps that
                // true even for two records with identical bytes.
                if verified.subject != subject {
                    return Err(AcceptanceError::Otp(OtpError::WrongDocument));
                }
                let channel = tx
                    .otp_challenge_by_id(&verified.challenge_id)?
                    .map(|c| c.channel)
                    .ok_or_else(|| unexpected("verified challenge vanished"))?;
                let at = verified.verified_at;
                let decided_by = by.to_string();
                if !tx.decide_acceptance_record(
                    &in_tx,
                    &AcceptanceDecision {
                        status: "accepted",
                        decided_at: at.naive_utc(),
                        decided_by: &decided_by,
                        otp_challenge_id: Some(&verified.challenge_id),
                        otp_channel: Some(&channel),
                        otp_masked_destination: Some(&verified.masked_destination),
                        client_ip: ip.as_deref(),
                        user_agent: agent.as_deref(),
                        rejection_reason: None,
                    },
                )? {
                    return Err(not_pending(tx, &in_tx));
                }
                if !tx.decide_pending_certificate(&in_tx, Move::Accept, at.naive_utc(), None)? {
                    return Err(not_pending(tx, &in_tx));
                }
                let row = tx
                    .acceptance_record(&in_tx)?
                    .ok_or_else(|| unexpected("acceptance record vanished"))?;
                let supersedes = tx
                    .certificate(&in_tx)?
                    .ok_or(AcceptanceError::NotFound)?
                    .supersedes;
                tx.audit(NewEvent::new(
                    at,
                    &by,
                    "certificate.accepted",
                    "certificate",
                    &in_tx,
                    json!({
                        "enrolment_id": row.enrolment_id,
                        "contract_id": row.contract_id,
                        "record_sha256": row.document_sha256,
                        "otp_challenge_id": verified.challenge_id,
                        "channel": channel,
                        "to": verified.masked_destination,
                        "client_ip": ip,
                        "user_agent": agent,
                        "supersedes": supersedes,
                    }),
                ))?;
                // A renewal or rekey: the certificate it replaces is revoked now, in this
                // transaction, and not a moment before.
                if let Some(old) = &supersedes {
                    supersede(tx, at, &by, old, &in_tx).map_err(|e| match e {
                        StatusError::NotAllowed { .. } => AcceptanceError::ReplacedSuspended {
                            serial: old.clone(),
                        },
                        other => unexpected(other),
                    })?;
                }
                Ok(row)
            })
            .await;
        match result {
            // Accepted meanwhile by a concurrent confirmation: the same answer as a retry.
            Err(AcceptanceError::NotPending { .. })
            | Err(AcceptanceError::Otp(OtpError::AlreadyUsed)) => {
                let again = self.record(&serial).await?;
                match again.status.as_str() {
                    "accepted" => Ok(again),
                    other => Err(AcceptanceError::NotPending {
                        status: other.to_string(),
                    }),
                }
            }
            other => other,
        }
    }

    /// Rejects (the contents are wrong): the record is closed with the reason, the certificate
    /// revoked, the free package released and the enrolment closed for a corrected
    /// application, in one audited transaction. Rejecting twice returns the same record.
    pub async fn reject(
        &self,
        actor: &Actor,
        serial: &str,
        reason: &str,
    ) -> Result<Record, AcceptanceError> {
        let reason = reason.trim().to_string();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(AcceptanceError::ReasonRequired);
        }
        let record = self.record(serial).await?;
        match record.status.as_str() {
            "pending" => {}
            "rejected" => return Ok(record),
            other => {
                return Err(AcceptanceError::NotPending {
                    status: other.to_string(),
                })
            }
        }
        let now = self.clock.now();
        let actor = actor.clone();
        self.store
            .write(move |tx| {
                close(
                    tx,
                    Closing {
                        serial: &record.serial,
                        status: "rejected",
                        event: Event::CertificateRejected,
                        action: "certificate.rejected_at_acceptance",
                        reason: &reason,
                    },
                    now,
                    &actor,
                )
            })
            .await
    }

    /// One run of the deadline job: reminders for certificates awaiting acceptance past each
    /// reminder day, revocation past the deadline. Safe to run from several processes at
    /// once: every change is conditional and a lost race is skipped.
    pub async fn run_deadline(&self) -> Result<DeadlineRun, AcceptanceError> {
        let now = self.clock.now();
        let first = self
            .settings
            .reminder_days
            .iter()
            .copied()
            .chain([self.settings.deadline_days])
            .min()
            .unwrap_or(self.settings.deadline_days);
        let cutoff = (now - Duration::days(i64::from(first))).naive_utc();
        let due = self
            .store
            .read(move |tx| tx.pending_acceptance_signed_before(cutoff))
            .await?;
        let mut run = DeadlineRun::default();
        for serial in due {
            let certificate = self.certificate(&serial).await?;
            let Some(signed_at) = certificate.signed_at.map(|t| t.and_utc()) else {
                continue;
            };
            // Made before the transaction below, so the reminder names a stored record.
            let record = match self.record(&serial).await {
                Ok(r) => r,
                Err(AcceptanceError::NotPending { .. }) => continue,
                Err(e) => return Err(e),
            };
            let deadline = self.deadline(signed_at);
            if now >= deadline {
                let actor = Actor::System;
                let result = self
                    .store
                    .write(move |tx| {
                        close(
                            tx,
                            Closing {
                                serial: &record.serial,
                                status: "expired",
                                event: Event::AcceptanceExpired,
                                action: "certificate.acceptance_expired",
                                reason: "not accepted before the deadline",
                            },
                            now,
                            &actor,
                        )
                    })
                    .await;
                match result {
                    Ok(_) => run.revoked.push(serial),
                    Err(AcceptanceError::NotPending { .. }) => {}
                    Err(e) => return Err(e),
                }
                continue;
            }
            let reached = self
                .settings
                .reminder_days
                .iter()
                .filter(|d| signed_at + Duration::days(i64::from(**d)) <= now)
                .count();
            let reached = i32::try_from(reached).map_err(unexpected)?;
            if record.reminders_sent >= reached {
                continue;
            }
            let outbox = self.outbox.clone();
            let seen = record.reminders_sent;
            let result = self
                .store
                .write(move |tx| remind(tx, &outbox, &record, seen, reached, deadline, now))
                .await;
            match result {
                Ok(()) => run.reminded.push(serial),
                Err(AcceptanceError::NotPending { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(run)
    }
}

/// The certificate, if it awaits acceptance.
fn pending_certificate(tx: &mut Tx<'_>, serial: &str) -> Result<CertificateRow, AcceptanceError> {
    let certificate = tx.certificate(serial)?.ok_or(AcceptanceError::NotFound)?;
    if certificate.status != CertificateStatus::PendingAcceptance {
        return Err(AcceptanceError::NotPending {
            status: certificate.status.as_str().to_string(),
        });
    }
    Ok(certificate)
}

/// Why a conditional update found nothing to change.
fn not_pending(tx: &mut Tx<'_>, serial: &str) -> AcceptanceError {
    match tx.certificate(serial) {
        Ok(Some(c)) => AcceptanceError::NotPending {
            status: c.status.as_str().to_string(),
        },
        Ok(None) => AcceptanceError::NotFound,
        Err(e) => e.into(),
    }
}

/// The stored record, or a new one rendered now and audited. Only a signed certificate
/// awaiting acceptance gets one: anything else had its chance or never had a certificate.
fn ensure_record(
    tx: &mut Tx<'_>,
    serial: &str,
    now: DateTime<Utc>,
    provider: &Provider,
) -> Result<Record, AcceptanceError> {
    if let Some(row) = tx.acceptance_record(serial)? {
        return Ok(row);
    }
    let certificate = pending_certificate(tx, serial)?;
    let cert_der = certificate
        .cert_der
        .as_deref()
        .ok_or_else(|| unexpected("pending certificate without its bytes"))?;
    let enrolment = tx
        .enrolment_by_id(&certificate.enrolment_id)?
        .ok_or_else(|| unexpected("certificate without its enrolment"))?;
    let contract = tx
        .signed_contract_for(&certificate.enrolment_id)?
        .ok_or_else(|| unexpected("certificate without a signed contract"))?;
    let package = tx
        .package(&contract.package_code)?
        .ok_or_else(|| unexpected("contract without its package"))?;
    let bytes = document::render(&document::Contents {
        date: crate::vn::date_of(now),
        provider,
        subscriber: &enrolment,
        contract_number: &contract.number,
        package: &package,
        certificate: &certificate,
        cert_der,
    })
    .map_err(unexpected)?;
    let row = AcceptanceRow {
        serial: certificate.serial.clone(),
        enrolment_id: certificate.enrolment_id.clone(),
        contract_id: contract.id.clone(),
        template_version: document::CURRENT.into(),
        document_sha256: sha256_hex(&bytes),
        document: bytes,
        status: "pending".into(),
        created_at: now.naive_utc(),
        reminders_sent: 0,
        decided_at: None,
        decided_by: None,
        otp_challenge_id: None,
        otp_channel: None,
        otp_masked_destination: None,
        client_ip: None,
        user_agent: None,
        rejection_reason: None,
    };
    tx.audit(NewEvent::new(
        now,
        &Actor::System,
        "acceptance.record_created",
        "certificate",
        &row.serial,
        json!({
            "enrolment_id": row.enrolment_id,
            "contract_id": row.contract_id,
            "template_version": row.template_version,
            "record_sha256": row.document_sha256,
            "cert_sha256": sha256_hex(cert_der),
        }),
    ))?;
    tx.insert_acceptance_record(&row)?;
    Ok(row)
}

/// Whether `serial` is a rekey: it supersedes a certificate of its own enrolment.
fn is_rekey(tx: &mut Tx<'_>, serial: &str) -> Result<bool, AcceptanceError> {
    let certificate = tx.certificate(serial)?.ok_or(AcceptanceError::NotFound)?;
    let Some(old) = certificate.supersedes else {
        return Ok(false);
    };
    Ok(tx
        .certificate(&old)?
        .is_some_and(|o| o.enrolment_id == certificate.enrolment_id))
}

/// One way a pending record closes without the citizen's confirmation.
struct Closing<'a> {
    serial: &'a str,
    status: &'static str,
    event: Event,
    action: &'static str,
    reason: &'a str,
}

/// Closes the record, revokes the certificate, releases the free package and closes the
/// enrolment, audited. `NotPending` when the certificate was decided meanwhile.
fn close(
    tx: &mut Tx<'_>,
    c: Closing<'_>,
    at: DateTime<Utc>,
    actor: &Actor,
) -> Result<Record, AcceptanceError> {
    // Audit first: on PostgreSQL the audit head is the first lock every writer takes.
    tx.audit(NewEvent::new(
        at,
        actor,
        c.action,
        "certificate",
        c.serial,
        json!({"reason": c.reason, "revocation_reason": REVOCATION_REASON}),
    ))?;
    let decided_by = actor.to_string();
    if !tx.decide_acceptance_record(
        c.serial,
        &AcceptanceDecision {
            status: c.status,
            decided_at: at.naive_utc(),
            decided_by: &decided_by,
            otp_challenge_id: None,
            otp_channel: None,
            otp_masked_destination: None,
            client_ip: None,
            user_agent: None,
            rejection_reason: Some(c.reason),
        },
    )? {
        return Err(not_pending(tx, c.serial));
    }
    if !tx.decide_pending_certificate(
        c.serial,
        Move::Reject,
        at.naive_utc(),
        Some(REVOCATION_REASON),
    )? {
        return Err(not_pending(tx, c.serial));
    }
    let record = tx
        .acceptance_record(c.serial)?
        .ok_or_else(|| unexpected("acceptance record vanished"))?;
    // A rekey was issued under the enrolment and contract of the certificate it was to
    // replace, which stands as it was: its package and enrolment are not this one's to close.
    if is_rekey(tx, c.serial)? {
        return Ok(record);
    }
    release_free_package(tx, &record.contract_id, at, actor, c.reason).map_err(unexpected)?;
    transition(
        tx,
        &record.enrolment_id,
        c.event,
        actor,
        at,
        Details {
            verified_by: None,
            facts: json!({"certificate": c.serial, "reason": c.reason}),
        },
    )
    .map_err(|e| match e {
        MoveError::Store(e) => e.into(),
        e => unexpected(e),
    })?;
    Ok(record)
}

const REMINDER_SMS: &str = include_str!("../../templates/acceptance/reminder_sms.txt");
const REMINDER_EMAIL_SUBJECT: &str =
    include_str!("../../templates/acceptance/reminder_email_subject.txt");
const REMINDER_EMAIL_BODY: &str =
    include_str!("../../templates/acceptance/reminder_email_body.txt");

/// Counts the reminder (conditionally) and enqueues it by SMS and, when known, e-mail.
fn remind(
    tx: &mut Tx<'_>,
    outbox: &Outbox,
    record: &Record,
    seen: i32,
    reached: i32,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), AcceptanceError> {
    tx.audit(NewEvent::new(
        now,
        &Actor::System,
        "acceptance.reminder_sent",
        "certificate",
        &record.serial,
        json!({"reminder": reached, "deadline": crate::audit::format_time(&deadline)}),
    ))?;
    if !tx.count_acceptance_reminder(&record.serial, seen, reached)? {
        return Err(AcceptanceError::NotPending {
            status: "reminded".into(),
        });
    }
    let enrolment = tx
        .enrolment_by_id(&record.enrolment_id)?
        .ok_or_else(|| unexpected("certificate without its enrolment"))?;
    let contract_number = tx
        .contract_by_id(&record.contract_id)?
        .map(|c| c.number)
        .unwrap_or_default();
    let deadline_text = crate::vn::time_date(deadline);
    let vars = [
        ("serial", record.serial.as_str()),
        ("deadline", deadline_text.as_str()),
        ("name", enrolment.full_name.as_str()),
        ("contract_number", contract_number.as_str()),
    ];
    let phone = PhoneNumber::parse("phone", &enrolment.phone).map_err(unexpected)?;
    outbox
        .enqueue(
            tx,
            now,
            OutgoingMessage {
                kind: "acceptance_reminder",
                to: Recipient::Phone(phone),
                subject: String::new(),
                text: render(REMINDER_SMS, &vars),
                not_after: Some(deadline),
            },
        )
        .map_err(unexpected)?;
    if let Some(address) = &enrolment.email {
        let email = Email::parse("email", address).map_err(unexpected)?;
        outbox
            .enqueue(
                tx,
                now,
                OutgoingMessage {
                    kind: "acceptance_reminder",
                    to: Recipient::Email(email),
                    subject: render(REMINDER_EMAIL_SUBJECT, &vars),
                    text: render(REMINDER_EMAIL_BODY, &vars),
                    not_after: Some(deadline),
                },
            )
            .map_err(unexpected)?;
    }
    Ok(())
}
