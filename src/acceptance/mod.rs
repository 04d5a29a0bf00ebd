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
//! its enrolment and its signed contract: its row (and HTML) in the transaction that stores
//! the signed certificate ([`Acceptance::make_record`]), its PDF, which the acceptance code is
//! bound to, the first time it is needed ([`Acceptance::record_pdf`]); neither changes once
//! stored.
//!
//! Files by concept: `record` (making and reading the record), `decide` (the code, acceptance,
//! rejection and the closing they share with the deadline), `deadline` (reminders, then
//! revocation); `document` renders the record.

mod deadline;
mod decide;
mod document;
mod pdf;
mod record;

pub use deadline::DeadlineRun;
pub use decide::{AcceptRequest, PreparedAcceptance};
pub use document::CONTENT_TYPE as DOCUMENT_CONTENT_TYPE;
pub use pdf::{ACCEPTED as PDF_ACCEPTED, RECORD as PDF_RECORD};
pub use record::RenderedRecord;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::contract::{Environment, Provider};
use crate::notify::Outbox;
use crate::otp::{Otp, OtpError};
use crate::settings::{range, Invalid};
use crate::status::CertificateStatus;
use crate::store::{AcceptanceRow, CertificateRow, Store, StoreError, Tx};

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
    #[error("the certificate's acceptance record is not accepted yet")]
    NotAccepted,
    /// A record decided without a PDF version: nobody asked for it while it was pending, or
    /// it was made before records were rendered as PDF.
    #[error("the acceptance record has no PDF version")]
    NoPdf,
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

/// The acceptance service.
#[derive(Clone)]
pub struct Acceptance {
    store: Store,
    otp: Otp,
    outbox: Outbox,
    clock: Arc<dyn Clock>,
    provider: Arc<Provider>,
    settings: Arc<Settings>,
    environment: Environment,
    /// Seals the accepted record.
    sealing: Arc<crate::ca::SealingKey>,
}

impl Acceptance {
    // Each is one of the service's collaborators, wired once in `app::prepare`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        otp: Otp,
        outbox: Outbox,
        clock: Arc<dyn Clock>,
        provider: Provider,
        settings: Settings,
        environment: Environment,
        sealing: Arc<crate::ca::SealingKey>,
    ) -> Self {
        Self {
            store,
            otp,
            outbox,
            clock,
            provider: Arc::new(provider),
            settings: Arc::new(settings),
            environment,
            sealing,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The deadline of a certificate signed at `signed_at`.
    pub fn deadline(&self, signed_at: DateTime<Utc>) -> DateTime<Utc> {
        signed_at + Duration::days(i64::from(self.settings.deadline_days))
    }

    /// A PDF version (`PDF_RECORD`, made on first need, or `PDF_ACCEPTED`) as stored;
    /// `NotAccepted` for the accepted version of a record not accepted.
    pub async fn pdf(
        &self,
        serial: &str,
        kind: &'static str,
    ) -> Result<crate::store::PdfDocumentRow, AcceptanceError> {
        if kind == pdf::RECORD {
            return self.record_pdf(serial).await;
        }
        let serial = serial.to_ascii_lowercase();
        self.store
            .read(move |tx| {
                tx.certificate(&serial)?.ok_or(AcceptanceError::NotFound)?;
                tx.pdf_document(kind, &serial)?
                    .ok_or(if kind == pdf::ACCEPTED {
                        AcceptanceError::NotAccepted
                    } else {
                        AcceptanceError::NoPdf
                    })
            })
            .await
    }

    /// [`Acceptance::pdf`] for an operator's page: the view is audited
    /// (`acceptance.document_read`, with the version and its SHA-256).
    pub async fn view_pdf(
        &self,
        reader: &crate::audit::Actor,
        serial: &str,
        kind: &'static str,
    ) -> Result<crate::store::PdfDocumentRow, AcceptanceError> {
        let doc = self.pdf(serial, kind).await?;
        let details = serde_json::json!({"kind": kind, "sha256": doc.document_sha256});
        crate::contract::audit_view(
            &self.store,
            self.clock.now(),
            reader,
            "acceptance.document_read",
            ("certificate", &doc.subject),
            details,
        )
        .await?;
        Ok(doc)
    }

    /// The certificate row, if it exists.
    pub async fn certificate(&self, serial: &str) -> Result<CertificateRow, AcceptanceError> {
        let serial = serial.to_ascii_lowercase();
        self.store
            .read(move |tx| tx.certificate(&serial))
            .await?
            .ok_or(AcceptanceError::NotFound)
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
