//! The RA's issuance step: a verified, contracted enrolment plus a CSR becomes a certificate,
//! following the record-then-sign cycle (Boulder's ISSUANCE-CYCLE):
//!
//! 1. check the CSR (proof of possession, key policy) and that its key was never certified;
//! 2. build the to-be-signed certificate from the enrolment's verified data (never the CSR's
//!    subject) and lint it against the profile;
//! 3. **record** the serial and the exact TBS bytes in status `signing` (audited, committed);
//! 4. sign through the CA's `Signer` and check the signed certificate carries that TBS;
//! 5. record the certificate in status `pending_acceptance` (audited).
//!
//! Two layers. [`Issuer`] is the CA-facing cycle: [`Issuer::prepare`] (1-2), then steps that
//! run inside a transaction the caller opens ([`Prepared::record`], [`Signed::store`]) around
//! [`Issuer::sign`] (4), each step's value only made by the one before it. [`Issuance`]
//! (`service.rs`) is the RA on top and the only caller in the service: it opens the two
//! transactions and puts into them what the RA owes (the enrolment move or the rekey check,
//! the acceptance record, the `Idempotency-Key` claim and answer); handlers call it.
//!
//! Invariant: a signature is only ever made for a committed `signing` row, and only by the call
//! that recorded it, so no serial is signed twice and no signed certificate lacks a row. A
//! crash between 3 and 5 leaves a `signing` row; [`Issuer::abandon_stale`] revokes such rows
//! (the signature may exist somewhere, never handed out) and reopens their enrolment for a new
//! request, which may carry the same key (a row revoked unsigned never certified it). Until
//! then requests answer [`IssuanceError::Interrupted`].

use std::sync::Arc;

use chrono::{DateTime, Duration, Months, SubsecRound, Utc};
use serde_json::json;

use crate::audit::{Actor, EventText, NewEvent};
use crate::ca::{
    self, CaError, IssueRequest, IssuingCa, LintedTbs, PersonalProfile, Serial, SubjectInfo,
};
use crate::clock::Clock;
use crate::states::certificate::SIGNING_RECOVERED_AFTER;
use crate::status::{CertificateStatus, Move};
use crate::store::{CertificateRow, Store, StoreError, Tx};

mod batch;
mod enrolment;
mod service;
pub use batch::{Bare, Batcher, Steps, MAX_BATCH};
pub use enrolment::{abandon_issuance, begin_issuance};
pub use service::{IdempotencyKey, Issuance};

/// CSR bodies above this are refused before parsing.
pub const MAX_CSR_BYTES: usize = 16 * 1024;
/// A `signing` row older than this belongs to a process that died mid-issuance.
pub const STALE_SIGNING_AFTER: Duration = SIGNING_RECOVERED_AFTER;
/// How often the recovery job looks for stale `signing` rows.
pub const RECOVERY_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum IssuanceError {
    /// The CSR or the subject data was refused by the CA's checks; `code()` says which.
    #[error(transparent)]
    Rejected(CaError),
    #[error("this public key was already certified; generate a new key pair")]
    KeyReused,
    #[error("the enrolment is not ready for issuance: {0}")]
    NotReady(String),
    #[error("a certificate was already issued for this enrolment")]
    AlreadyIssued,
    #[error("not found")]
    NotFound,
    /// A rekey refused: the certificate is not (or no longer) replaceable.
    #[error(transparent)]
    Replacement(crate::renewal::RenewalError),
    #[error("Idempotency-Key must be 1-128 visible ASCII characters")]
    IdempotencyKeyInvalid,
    #[error("this Idempotency-Key was used for another request")]
    IdempotencyKeyReused,
    /// Another request with this key is still being issued (its process may have stopped:
    /// the recovery job frees the key within minutes).
    #[error("a request with this Idempotency-Key is still in progress; retry later")]
    IdempotencyKeyInUse,
    /// The enrolment's certificate was recorded but never signed: the process issuing it
    /// stopped. Nothing was certified; once the recovery job has cancelled the record (within
    /// `retry_after_seconds`), the same request issues.
    #[error("the issuance was interrupted before signing; retry in {retry_after_seconds} s")]
    Interrupted { retry_after_seconds: u32 },
    #[error("issuance failed: {0}")]
    Unexpected(String),
    #[error("issuance: the database is unavailable")]
    Unavailable,
}

impl From<StoreError> for IssuanceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => IssuanceError::Unavailable,
            e => IssuanceError::Unexpected(e.to_string()),
        }
    }
}

impl IssuanceError {
    /// For a `signing` row recorded at `recorded_at` whose issuance stopped: the wait until
    /// the recovery job has surely cancelled it (its age limit, then one more run).
    fn interrupted(recorded_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        let until_stale = (recorded_at + STALE_SIGNING_AFTER - now)
            .num_seconds()
            .max(0);
        let every = i64::try_from(RECOVERY_EVERY.as_secs()).unwrap_or(i64::MAX);
        let seconds = until_stale.saturating_add(every).max(1);
        IssuanceError::Interrupted {
            retry_after_seconds: u32::try_from(seconds).unwrap_or(u32::MAX),
        }
    }

    fn from_ca(e: CaError) -> Self {
        match e {
            CaError::CsrTooLarge { .. }
            | CaError::CsrMalformed(_)
            | CaError::CsrSignatureInvalid
            | CaError::CsrKeyTooSmall { .. }
            | CaError::CsrRsaExponent
            | CaError::CsrKeyUnsupported(_)
            | CaError::CsrSignatureAlgorithm(_)
            | CaError::SubjectInvalid(_)
            | CaError::ValidityInvalid(_) => IssuanceError::Rejected(e),
            other => IssuanceError::Unexpected(other.to_string()),
        }
    }
}

/// How long a certificate is valid from its notBefore (now).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Term {
    /// The package's term: notAfter is one second before the same instant `n` months on.
    Months(u32),
    /// Up to this notAfter (a rekey keeps the remaining term of the certificate it replaces).
    Until(DateTime<Utc>),
}

/// What is to be certified, from the enrolment and its signed contract.
#[derive(Clone, Debug)]
pub struct IssuanceOrder {
    pub enrolment_id: String,
    pub subject: SubjectInfo,
    pub package_code: String,
    pub term: Term,
    /// The certificate this one replaces once accepted (renewal or rekey).
    pub supersedes: Option<String>,
}

#[derive(Clone, Debug)]
pub struct IssuedCertificate {
    pub serial: String,
    pub enrolment_id: String,
    pub status: CertificateStatus,
    pub cert_der: Vec<u8>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub supersedes: Option<String>,
}

#[derive(Clone)]
pub struct Issuer {
    store: Store,
    ca: Arc<IssuingCa>,
    profile: Arc<PersonalProfile>,
    clock: Arc<dyn Clock>,
}

/// `C=VN, ST=…, L=…, CN=…, UID=CCCD:…`, for people and searches (the certificate holds the
/// encoded name).
pub fn subject_dn(s: &SubjectInfo) -> String {
    let mut dn = format!("C=VN, ST={}", s.province);
    if let Some(l) = &s.locality {
        dn.push_str(&format!(", L={l}"));
    }
    dn.push_str(&format!(", CN={}, UID=CCCD:{}", s.full_name, s.id_number));
    dn
}

/// Steps 1 and 2 done for one order: the CSR checked, the TBS built and linted. Only
/// [`Prepared::record`] moves it on.
pub struct Prepared {
    row: CertificateRow,
    linted: LintedTbs,
    event: EventText,
    issued: IssuedCertificate,
}

impl Prepared {
    /// The serial the certificate will carry.
    pub fn serial(&self) -> &str {
        &self.row.serial
    }

    /// Step 3, in the caller's write transaction: refuses a key certified before, then stores
    /// the row in `signing` with its audit event. Runs again when its transaction does (a
    /// batch with a refused certificate, PostgreSQL's ordering).
    fn write_record(&self, tx: &mut Tx<'_>) -> Result<(), IssuanceError> {
        // A key certified before (or being signed) is refused by the unique index
        // `certificates_spki`, whose predicate is exactly that: no lookup first.
        tx.insert_certificate(&self.row).map_err(|e| match e {
            StoreError::Conflict(c) if c.contains("spki") => IssuanceError::KeyReused,
            e => e.into(),
        })?;
        tx.audit_text(&self.event)?;
        Ok(())
    }

    /// The only way to a signature, taken only once [`Prepared::write_record`] ran in a
    /// transaction that committed; it consumes the TBS, which is then signed at most once.
    fn recorded(self) -> Recorded {
        Recorded {
            row: self.row,
            linted: self.linted,
            issued: self.issued,
        }
    }
}

/// A committed `signing` row with its TBS: what [`Issuer::sign`] takes.
pub struct Recorded {
    row: CertificateRow,
    linted: LintedTbs,
    issued: IssuedCertificate,
}

impl Recorded {
    pub fn serial(&self) -> &str {
        &self.issued.serial
    }
}

/// A signed certificate not yet stored: [`Signed::store`] does step 5. `Clone` so that its
/// storing write may run again (`Store::write_blocking`).
#[derive(Clone)]
pub struct Signed {
    row: CertificateRow,
    issued: IssuedCertificate,
    signed_at: DateTime<Utc>,
    event: EventText,
}

impl Signed {
    /// The certificate's row as [`Signed::store`] will leave it (`pending_acceptance`, with
    /// its bytes), for work done before that transaction (the acceptance record).
    pub fn certificate(&self) -> CertificateRow {
        CertificateRow {
            status: self.issued.status,
            cert_der: Some(self.issued.cert_der.clone()),
            signed_at: Some(self.signed_at.naive_utc()),
            ..self.row.clone()
        }
    }

    /// Step 5, in the caller's write transaction: the certificate stored in
    /// `pending_acceptance` with its audit event.
    pub fn store(self, tx: &mut Tx<'_>) -> Result<IssuedCertificate, IssuanceError> {
        self.write_store(tx)?;
        Ok(self.issued)
    }

    /// [`Signed::store`]'s writes, which a batch may run again (`batch`).
    fn write_store(&self, tx: &mut Tx<'_>) -> Result<(), IssuanceError> {
        let serial = &self.issued.serial;
        if !tx.record_signed_certificate(
            serial,
            &self.issued.cert_der,
            self.signed_at.naive_utc(),
        )? {
            return Err(IssuanceError::Unexpected(format!(
                "certificate {serial} left `signing` while being signed"
            )));
        }
        tx.audit_text(&self.event)?;
        Ok(())
    }
}

impl Issuer {
    pub fn new(
        store: Store,
        ca: Arc<IssuingCa>,
        profile: Arc<PersonalProfile>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            ca,
            profile,
            clock,
        }
    }

    /// The whole cycle for an order, with nothing of the RA around it (no enrolment move,
    /// acceptance record or idempotency: [`Issuance`] adds those). Blocking.
    pub fn issue_blocking(
        &self,
        actor: &Actor,
        order: &IssuanceOrder,
        csr: &[u8],
    ) -> Result<IssuedCertificate, IssuanceError> {
        let prepared = self.prepare(actor, order, csr)?;
        // The TBS it carries signs at most once: `recorded` consumes it, after the commit.
        self.store.write_blocking(|tx| prepared.write_record(tx))?;
        let recorded = prepared.recorded();
        let signed = self.sign(actor, recorded, |_, _| Ok(()))?;
        self.store.write_blocking(|tx| signed.store(tx))
    }

    /// Steps 1 and 2: checks the CSR, builds the TBS from the order and lints it. No writes.
    pub fn prepare(
        &self,
        actor: &Actor,
        order: &IssuanceOrder,
        csr: &[u8],
    ) -> Result<Prepared, IssuanceError> {
        let checked = ca::check_csr(csr, MAX_CSR_BYTES).map_err(IssuanceError::from_ca)?;
        let spki_sha256 = hex::encode(checked.spki_sha256);
        let now = self.clock.now();
        let not_before = now.trunc_subsecs(0);
        let not_after = match order.term {
            Term::Months(n) => {
                not_before
                    .checked_add_months(Months::new(n))
                    .ok_or_else(|| IssuanceError::Unexpected("term out of range".into()))?
                    - Duration::seconds(1)
            }
            Term::Until(t) => t.trunc_subsecs(0),
        };
        let serial = Serial::generate().map_err(IssuanceError::from_ca)?;
        let request = IssueRequest {
            serial: serial.clone(),
            subject: order.subject.clone(),
            spki_der: checked.spki_der,
            not_before,
            not_after,
            package_name: order.package_code.clone(),
        };
        let tbs =
            ca::build_tbs(&self.ca, &self.profile, &request).map_err(IssuanceError::from_ca)?;
        let linted = ca::lint_tbs(&tbs, &self.profile, &self.ca, &request)
            .map_err(IssuanceError::from_ca)?;

        let serial_hex = serial.hex();
        let event = NewEvent::new(
            now,
            actor,
            "certificate.recorded",
            "certificate",
            &serial_hex,
            json!({
                "enrolment_id": order.enrolment_id,
                "package": order.package_code,
                "key": checked.key.to_string(),
                "spki_sha256": spki_sha256,
                "tbs_sha256": crate::secrets::sha256_hex(&tbs),
                "not_after": crate::audit::format_time(&not_after),
                "supersedes": order.supersedes,
            }),
        )
        .into_text();
        let row = CertificateRow {
            serial: serial_hex.clone(),
            ca_name: self.ca.name().to_string(),
            enrolment_id: order.enrolment_id.clone(),
            package_code: order.package_code.clone(),
            status: CertificateStatus::Signing,
            subject_dn: subject_dn(&order.subject),
            spki_sha256,
            key_description: checked.key.to_string(),
            not_before: not_before.naive_utc(),
            not_after: not_after.naive_utc(),
            crl_shard: i32::try_from(self.profile.crl_shard(&serial)).unwrap_or(0),
            tbs_der: tbs,
            cert_der: None,
            created_at: now.naive_utc(),
            signed_at: None,
            revoked_at: None,
            revocation_reason: None,
            supersedes: order.supersedes.clone(),
        };
        let issued = IssuedCertificate {
            serial: serial_hex,
            enrolment_id: order.enrolment_id.clone(),
            status: Move::Sign.to(),
            cert_der: Vec::new(),
            not_before,
            not_after,
            supersedes: order.supersedes.clone(),
        };
        Ok(Prepared {
            row,
            linted,
            event,
            issued,
        })
    }

    /// Step 4: signs the recorded TBS. When the signer fails, no certificate came out of the
    /// call: the row is revoked at once (so the serial is never reused), the trail says why,
    /// and `reopen` runs in that transaction (the RA service gives the enrolment back there).
    pub fn sign(
        &self,
        actor: &Actor,
        recorded: Recorded,
        mut reopen: impl FnMut(&mut Tx<'_>, &str) -> Result<(), IssuanceError>,
    ) -> Result<Signed, IssuanceError> {
        let Recorded {
            row,
            linted,
            mut issued,
        } = recorded;
        let cert_der = match ca::sign_certificate(&self.ca, linted) {
            Ok(der) => der,
            Err(e) => {
                let why = e.to_string();
                self.abandon(actor, &issued.serial, &why, |tx| reopen(tx, &why))?;
                return Err(IssuanceError::Unexpected(why));
            }
        };
        let signed_at = self.clock.now();
        let event = NewEvent::new(
            signed_at,
            actor,
            "certificate.signed",
            "certificate",
            &issued.serial,
            json!({"cert_sha256": crate::secrets::sha256_hex(&cert_der)}),
        )
        .into_text();
        issued.cert_der = cert_der;
        Ok(Signed {
            row,
            issued,
            signed_at,
            event,
        })
    }

    fn abandon(
        &self,
        actor: &Actor,
        serial: &str,
        why: &str,
        reopen: impl FnMut(&mut Tx<'_>) -> Result<(), IssuanceError>,
    ) -> Result<(), IssuanceError> {
        let now = self.clock.now();
        let event = NewEvent::new(
            now,
            actor,
            "certificate.abandoned",
            "certificate",
            serial,
            json!({"reason": why}),
        );
        // Borrowed by each run of the transaction (PostgreSQL may run it again).
        let reopen = std::cell::RefCell::new(reopen);
        self.store.write_blocking(|tx| {
            // Conditional: the recovery job may have abandoned it already (and reopened).
            if tx.revoke_unsigned(serial, now.naive_utc(), "cessationOfOperation")? {
                (reopen.borrow_mut())(tx)?;
            }
            tx.audit(event.clone())?;
            Ok(())
        })
    }

    /// Revokes every certificate left in `signing` for longer than [`STALE_SIGNING_AFTER`]
    /// (a process died between record and sign). `reopen` runs in the same transaction for
    /// each, to give the enrolment back, except for a rekey: its enrolment still holds the
    /// certificate it was to replace. Returns the serials.
    pub fn abandon_stale(
        &self,
        reopen: impl Fn(&mut Tx<'_>, &str) -> Result<(), IssuanceError>,
    ) -> Result<Vec<String>, IssuanceError> {
        let now = self.clock.now();
        let cutoff = (now - STALE_SIGNING_AFTER).naive_utc();
        let stale = self
            .store
            .read_blocking(|tx| tx.stale_signing_certificates(cutoff))?;
        let mut done = Vec::new();
        for serial in stale {
            let revoked = self.store.write_blocking(|tx| {
                let Some(row) = tx.certificate(&serial)? else {
                    return Ok(false);
                };
                // Conditional: another process may have abandoned it a moment ago.
                if !tx.revoke_unsigned(&serial, now.naive_utc(), "cessationOfOperation")? {
                    return Ok(false);
                }
                let rekey = match &row.supersedes {
                    Some(old) => tx
                        .certificate(old)?
                        .is_some_and(|o| o.enrolment_id == row.enrolment_id),
                    None => false,
                };
                if !rekey {
                    reopen(tx, &row.enrolment_id)?;
                }
                tx.audit(NewEvent::new(
                    now,
                    &Actor::System,
                    "certificate.abandoned",
                    "certificate",
                    &serial,
                    json!({
                        "reason": "left in signing (process stopped between record and sign)",
                        "enrolment_reopened": !rekey,
                    }),
                ))?;
                Ok::<_, IssuanceError>(true)
            })?;
            if revoked {
                done.push(serial);
            }
        }
        Ok(done)
    }
}

impl Issuer {
    /// [`Issuer::abandon_stale`] giving each enrolment back its `contract_signed` state, so the
    /// citizen can ask again (with a new key).
    pub fn recover_blocking(&self) -> Result<Vec<String>, IssuanceError> {
        let now = self.clock.now();
        self.abandon_stale(|tx, enrolment_id| {
            abandon_issuance(
                tx,
                enrolment_id,
                now,
                &Actor::System,
                "issuance stopped between record and sign",
            )
            .map(|_| ())
        })
    }
}
