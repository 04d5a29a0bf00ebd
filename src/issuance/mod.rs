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
//! Invariant: a signature is only ever made for a committed `signing` row, and only by the call
//! that recorded it, so no serial is signed twice and no signed certificate lacks a row. A
//! crash between 3 and 5 leaves a `signing` row; [`Issuer::abandon_stale`] revokes such rows
//! (the signature may exist somewhere) and reopens their enrolment for a new request.

use std::sync::Arc;

use chrono::{DateTime, Duration, Months, SubsecRound, Utc};
use serde_json::json;

use crate::audit::{Actor, NewEvent};
use crate::ca::{self, CaError, IssueRequest, IssuingCa, PersonalProfile, Serial, SubjectInfo};
use crate::clock::Clock;
use crate::enrolment::Status;
use crate::status::{CertificateStatus, Move};
use crate::store::{CertificateRow, Store, StoreError, Tx};

/// CSR bodies above this are refused before parsing.
pub const MAX_CSR_BYTES: usize = 16 * 1024;
/// A `signing` row older than this belongs to a process that died mid-issuance.
pub const STALE_SIGNING_AFTER: Duration = Duration::minutes(5);

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
    #[error("issuance failed: {0}")]
    Unexpected(String),
}

impl From<StoreError> for IssuanceError {
    fn from(e: StoreError) -> Self {
        IssuanceError::Unexpected(e.to_string())
    }
}

impl IssuanceError {
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

    /// Runs the whole cycle. `prepare` runs inside the recording transaction with the new
    /// serial, before the row is written: it is where the caller moves the enrolment on (and
    /// refuses if it cannot).
    /// `finish` runs inside the transaction that stores the signed certificate (the caller
    /// remembers its answer there, e.g. for an `Idempotency-Key`). Blocking: call from a
    /// blocking context.
    pub fn issue_blocking(
        &self,
        actor: &Actor,
        order: &IssuanceOrder,
        csr: &[u8],
        prepare: impl FnOnce(&mut Tx<'_>, &str) -> Result<(), IssuanceError>,
        finish: impl FnOnce(&mut Tx<'_>, &IssuedCertificate) -> Result<(), IssuanceError>,
    ) -> Result<IssuedCertificate, IssuanceError> {
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
        let serial = Serial::random().map_err(IssuanceError::from_ca)?;
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
        let row = CertificateRow {
            serial: serial_hex.clone(),
            ca_name: self.ca.name().to_string(),
            enrolment_id: order.enrolment_id.clone(),
            package_code: order.package_code.clone(),
            status: CertificateStatus::Signing,
            subject_dn: subject_dn(&order.subject),
            spki_sha256: spki_sha256.clone(),
            key_description: checked.key.to_string(),
            not_before: not_before.naive_utc(),
            not_after: not_after.naive_utc(),
            crl_shard: i32::try_from(self.profile.crl_shard(&serial)).unwrap_or(0),
            tbs_der: tbs.clone(),
            cert_der: None,
            created_at: now.naive_utc(),
            signed_at: None,
            revoked_at: None,
            revocation_reason: None,
            supersedes: order.supersedes.clone(),
        };
        let event = NewEvent::new(
            now,
            actor,
            "certificate.recorded",
            "certificate",
            &serial_hex,
            json!({
                "enrolment_id": order.enrolment_id,
                "package": order.package_code,
                "key": row.key_description,
                "spki_sha256": spki_sha256,
                "tbs_sha256": crate::secrets::sha256_hex(&tbs),
                "not_after": crate::audit::format_time(&not_after),
                "supersedes": order.supersedes,
            }),
        );
        self.store.write_blocking(|tx| {
            if tx.spki_certified(&row.spki_sha256)? {
                return Err(IssuanceError::KeyReused);
            }
            prepare(tx, &row.serial)?;
            tx.insert_certificate(&row).map_err(|e| match e {
                StoreError::Conflict(c) if c.contains("spki") => IssuanceError::KeyReused,
                e => e.into(),
            })?;
            tx.audit(event)?;
            Ok(())
        })?;

        let cert_der = match ca::sign_certificate(&self.ca, linted) {
            Ok(der) => der,
            Err(e) => {
                // No certificate came out of this call; revoke the row so the serial is never
                // reused and say why in the trail.
                self.abandon(actor, &serial_hex, &e.to_string())?;
                return Err(IssuanceError::Unexpected(e.to_string()));
            }
        };
        let signed_at = self.clock.now();
        let event = NewEvent::new(
            signed_at,
            actor,
            "certificate.signed",
            "certificate",
            &serial_hex,
            json!({"cert_sha256": crate::secrets::sha256_hex(&cert_der)}),
        );
        let issued = IssuedCertificate {
            serial: serial_hex.clone(),
            enrolment_id: order.enrolment_id.clone(),
            status: Move::Sign.to(),
            cert_der,
            not_before,
            not_after,
            supersedes: order.supersedes.clone(),
        };
        self.store.write_blocking(|tx| {
            if !tx.record_signed_certificate(
                &serial_hex,
                &issued.cert_der,
                signed_at.naive_utc(),
            )? {
                return Err(IssuanceError::Unexpected(format!(
                    "certificate {serial_hex} left `signing` while being signed"
                )));
            }
            finish(tx, &issued)?;
            tx.audit(event)?;
            Ok(())
        })?;
        Ok(issued)
    }

    fn abandon(&self, actor: &Actor, serial: &str, why: &str) -> Result<(), IssuanceError> {
        let now = self.clock.now();
        let event = NewEvent::new(
            now,
            actor,
            "certificate.abandoned",
            "certificate",
            serial,
            json!({"reason": why}),
        );
        self.store.write_blocking(|tx| {
            tx.revoke_unsigned(serial, now.naive_utc(), "cessationOfOperation")?;
            tx.audit(event)?;
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

/// Issues the certificate of a verified, contracted enrolment: the subject comes from the
/// enrolment's verified data and the term from its signed contract; the move from
/// `contract_signed` to `certificate_issued` happens in the recording transaction, so a second
/// request for the same enrolment is refused even when both race. Blocking.
impl Issuer {
    pub fn issue_for_enrolment_blocking(
        &self,
        actor: &Actor,
        enrolment_id: &str,
        csr: &[u8],
        finish: impl FnOnce(&mut Tx<'_>, &IssuedCertificate) -> Result<(), IssuanceError>,
    ) -> Result<IssuedCertificate, IssuanceError> {
        let (enrolment, contract) = self.store.read_blocking(|tx| {
            let enrolment = tx
                .enrolment_by_id(enrolment_id)?
                .ok_or(IssuanceError::NotFound)?;
            let contract = tx.signed_contract_for(enrolment_id)?;
            Ok::<_, IssuanceError>((enrolment, contract))
        })?;
        match enrolment.status {
            Status::ContractSigned => {}
            Status::CertificateIssued => return Err(IssuanceError::AlreadyIssued),
            other => {
                return Err(IssuanceError::NotReady(format!(
                    "the enrolment is `{other}`; issuance needs a signed contract (`{}`)",
                    Status::ContractSigned
                )))
            }
        }
        let contract =
            contract.ok_or_else(|| IssuanceError::NotReady("no signed contract".into()))?;
        let order = IssuanceOrder {
            enrolment_id: enrolment.id.clone(),
            subject: SubjectInfo {
                full_name: enrolment.full_name,
                id_number: enrolment.id_number,
                province: enrolment.permanent_province,
                locality: Some(enrolment.permanent_ward),
                email: enrolment.email,
            },
            package_code: contract.package_code,
            term: Term::Months(
                u32::try_from(contract.term_months)
                    .map_err(|_| IssuanceError::Unexpected("negative contract term".into()))?,
            ),
            // A renewal's certificate replaces the renewed one once accepted.
            supersedes: enrolment.renews,
        };
        let now = self.clock.now();
        let expected_contract = contract.id;
        self.issue_blocking(
            actor,
            &order,
            csr,
            |tx, _| {
                let started = crate::contract::begin_issuance(tx, enrolment_id, now, actor)
                    .map_err(|e| match e {
                        crate::contract::ContractError::NotReady(_) => IssuanceError::AlreadyIssued,
                        other => IssuanceError::Unexpected(other.to_string()),
                    })?;
                if started.contract_id != expected_contract {
                    return Err(IssuanceError::NotReady(
                        "the contract changed; try again".into(),
                    ));
                }
                Ok(())
            },
            finish,
        )
    }

    /// [`Issuer::abandon_stale`] giving each enrolment back its `contract_signed` state, so the
    /// citizen can ask again (with a new key).
    pub fn recover_blocking(&self) -> Result<Vec<String>, IssuanceError> {
        let now = self.clock.now();
        self.abandon_stale(|tx, enrolment_id| {
            crate::contract::abandon_issuance(
                tx,
                enrolment_id,
                now,
                &Actor::System,
                "issuance stopped between record and sign",
            )
            .map(|_| ())
            .map_err(|e| IssuanceError::Unexpected(e.to_string()))
        })
    }
}
