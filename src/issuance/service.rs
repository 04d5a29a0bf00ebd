//! The RA's issuance service (Boulder's `ra/`): the one place that composes the CA-facing
//! [`Issuer`] steps with what the RA owes around them. Front ends parse, authorise, call it and
//! map its answer; they never open the transactions themselves.
//!
//! - **Recording transaction:** the idempotency key claimed, the enrolment moved
//!   `contract_signed` → `certificate_issued` (or, for a rekey, the replaced certificate checked
//!   again, race-free), and the certificate recorded in `signing`.
//! - **Storing transaction:** the signed certificate stored, its acceptance record made (its
//!   PDF is made on first need, `Acceptance::record_pdf`) and the idempotency key's answer
//!   written.
//!
//! Both are shared by the requests that queue together on the issuer's [`Batcher`]
//! (`batch.rs`); what the RA adds to each request is its [`Steps`] (`RaSteps` here).
//!
//! Idempotency: a key is *claimed* in the recording transaction (a row whose body is the serial
//! being issued) and *answered* in the storing one. Write transactions behave as if one ran after another
//! (SQLite's single writer; PostgreSQL's SERIALIZABLE), so of N concurrent requests with one
//! key exactly one claims it. The others fail somewhere on the way (the claim, the enrolment
//! already moved, the key already certified) and then read the key again: they wait for the
//! winner's answer and return it. A claim whose certificate left `signing` without an answer
//! (the signer failed, or the recovery job revoked a row a stopped process left) is free again.
//! A claim whose certificate is still `signing` well after it was recorded belongs to a stopped
//! process: its retries answer [`IssuanceError::Interrupted`] until recovery frees it.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    abandon_issuance, begin_issuance, Batcher, IssuanceError, IssuanceOrder, IssuedCertificate,
    Issuer, Prepared, Signed, Steps, Term,
};
use crate::acceptance::{Acceptance, AcceptanceError, RenderedRecord};
use crate::audit::{Actor, NewEvent};
use crate::ca::{certificate_to_pem, pem_to_der, SubjectInfo};
use crate::clock::Clock;
use crate::enrolment::status::Status;
use crate::renewal::replaceable;
use crate::states::certificate::signing_interrupted;
use crate::status::CertificateStatus;
use crate::store::{CertificateRow, EnrolmentRow, IdempotencyRow, Store, StoreError, Tx};

/// Operation names under which the keys are stored (one key cannot replay another operation).
const ISSUE_OPERATION: &str = "issue_certificate";
const REKEY_OPERATION: &str = "rekey_certificate";
/// `response_status` of a claimed key: its issuance is in progress, its body is the serial.
const CLAIMED: i32 = 0;
/// `response_status` of an answered key: the HTTP status the first answer went out with.
const ANSWERED: i32 = 201;
/// How long a concurrent retry waits for the first request's answer: signing takes
/// milliseconds, so only a stopped process makes it wait this long (the clock's
/// [`SIGNING_INTERRUPTED_AFTER`], on the timer: it ends the wait even under a stopped clock).
const WAIT_FOR_ANSWER: StdDuration = StdDuration::from_secs(30);

/// A caller's `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// None for an absent or empty header; otherwise 1-128 visible ASCII characters.
    pub fn parse(key: Option<String>) -> Result<Option<Self>, IssuanceError> {
        match key.filter(|k| !k.is_empty()) {
            None => Ok(None),
            Some(k) if k.len() <= 128 && k.bytes().all(|b| b.is_ascii_graphic()) => {
                Ok(Some(Self(k)))
            }
            Some(_) => Err(IssuanceError::IdempotencyKeyInvalid),
        }
    }
}

/// The RA-facing issuance service.
#[derive(Clone)]
pub struct Issuance {
    store: Store,
    issuer: Issuer,
    batcher: Batcher,
    acceptance: Acceptance,
    clock: Arc<dyn Clock>,
}

impl Issuance {
    pub fn new(
        store: Store,
        issuer: Issuer,
        acceptance: Acceptance,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            batcher: Batcher::new(issuer.clone()),
            issuer,
            acceptance,
            clock,
        }
    }

    /// Issues the certificate of a verified, contracted enrolment: the subject comes from the
    /// enrolment's verified data and the term from its signed contract; the move from
    /// `contract_signed` to `certificate_issued` happens in the recording transaction, so a
    /// second request for the same enrolment is refused even when both race (unless it is a
    /// retry with the same key: it gets the first answer).
    pub async fn issue_for_enrolment(
        &self,
        actor: &Actor,
        enrolment_id: &str,
        csr: Vec<u8>,
        key: Option<IdempotencyKey>,
    ) -> Result<IssuedCertificate, IssuanceError> {
        let claim = key.map(|k| Claim::new(actor, k, ISSUE_OPERATION, enrolment_id, &csr));
        let (this, actor, id) = (self.clone(), actor.clone(), enrolment_id.to_string());
        self.idempotent(claim, move |claim| async move {
            let (a, i) = (actor.clone(), id.clone());
            let that = this.clone();
            let (prepared, contract_id) =
                crate::store::in_place(move || that.prepare_for_enrolment(&a, &i, &csr))
                    .await
                    .map_err(IssuanceError::Unexpected)??;
            let steps = RaSteps {
                service: this.clone(),
                actor: actor.clone(),
                claim,
                kind: Kind::Enrolment { id, contract_id },
                record: None,
            };
            this.batcher.issue(actor, prepared, Box::new(steps)).await
        })
        .await
    }

    /// Rekeys `serial` with the key of `csr`: a certificate for the same enrolment and
    /// package, ending when `serial` ends, `pending_acceptance` and superseding `serial` once
    /// accepted.
    pub async fn rekey(
        &self,
        actor: &Actor,
        serial: &str,
        csr: Vec<u8>,
        key: Option<IdempotencyKey>,
    ) -> Result<IssuedCertificate, IssuanceError> {
        let serial = serial.to_ascii_lowercase();
        let claim = key.map(|k| Claim::new(actor, k, REKEY_OPERATION, &serial, &csr));
        let (this, actor) = (self.clone(), actor.clone());
        self.idempotent(claim, move |claim| async move {
            let (a, old) = (actor.clone(), serial.clone());
            let that = this.clone();
            let prepared = crate::store::in_place(move || that.prepare_rekey(&a, &old, &csr))
                .await
                .map_err(IssuanceError::Unexpected)??;
            let steps = RaSteps {
                service: this.clone(),
                actor: actor.clone(),
                claim,
                kind: Kind::Rekey { serial },
                record: None,
            };
            this.batcher.issue(actor, prepared, Box::new(steps)).await
        })
        .await
    }

    /// Answers from the key if it was used; otherwise runs `attempt` and, when it fails,
    /// looks at the key again: a concurrent request with the same key that claimed it first
    /// is why this one failed, and its answer is this one's.
    async fn idempotent<F>(
        &self,
        claim: Option<Claim>,
        attempt: impl FnOnce(Option<Claim>) -> F,
    ) -> Result<IssuedCertificate, IssuanceError>
    where
        F: std::future::Future<Output = Result<IssuedCertificate, IssuanceError>>,
    {
        if let Some(claim) = &claim {
            if let Some(answer) = self.answer(claim).await? {
                return Ok(answer);
            }
        }
        let again = claim.clone();
        match (attempt(claim).await, again) {
            (Err(e), Some(claim)) => match self.answer(&claim).await? {
                Some(answer) => Ok(answer),
                None => Err(e),
            },
            (result, _) => result,
        }
    }

    /// The key's answer, waiting while another request holds the claim; None when the key is
    /// free (never used, or its claim was abandoned).
    async fn answer(&self, claim: &Claim) -> Result<Option<IssuedCertificate>, IssuanceError> {
        let deadline = Instant::now() + WAIT_FOR_ANSWER;
        let mut pause = StdDuration::from_millis(10);
        loop {
            let c = claim.clone();
            match self.store.read(move |tx| c.look(tx)).await? {
                Held::Free | Held::Abandoned(_) => return Ok(None),
                Held::Answered(answer) => return Ok(Some(answer)),
                Held::InProgress { recorded_at } => {
                    // Still `signing` long after it was recorded: its process stopped, and no
                    // answer comes before the recovery job cancels the record.
                    let now = self.clock.now();
                    if signing_interrupted(recorded_at, now) || Instant::now() >= deadline {
                        return Err(IssuanceError::interrupted(recorded_at, now));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(StdDuration::from_millis(200));
                }
            }
        }
    }

    /// Everything before the recording transaction: the enrolment ready, the order from it
    /// and its signed contract, the certificate prepared. Returns the contract's id, which the
    /// recording transaction checks again.
    fn prepare_for_enrolment(
        &self,
        actor: &Actor,
        enrolment_id: &str,
        csr: &[u8],
    ) -> Result<(Prepared, String), IssuanceError> {
        let (enrolment, contract, certificates) = self.store.read_blocking(|tx| {
            let enrolment = tx
                .enrolment_by_id(enrolment_id)?
                .ok_or(IssuanceError::NotFound)?;
            let contract = tx.signed_contract_ref(enrolment_id)?;
            // Only a refusal reads them: whether the issuance was interrupted.
            let certificates = match enrolment.status {
                Status::CertificateIssued => tx.certificates_for_enrolment(enrolment_id)?,
                _ => Vec::new(),
            };
            Ok::<_, IssuanceError>((enrolment, contract, certificates))
        })?;
        match enrolment.status {
            Status::ContractSigned => {}
            Status::CertificateIssued => {
                return Err(interrupted(&certificates, self.clock.now())
                    .unwrap_or(IssuanceError::AlreadyIssued))
            }
            _ => {
                return Err(IssuanceError::NotReady(format!(
                    "the enrolment is `{}`; issuance needs a signed contract (`contract_signed`)",
                    enrolment.status
                )))
            }
        }
        let contract =
            contract.ok_or_else(|| IssuanceError::NotReady("no signed contract".into()))?;
        let term = u32::try_from(contract.term_months)
            .map_err(|_| IssuanceError::Unexpected("negative contract term".into()))?;
        let order = IssuanceOrder {
            subject: subject_of(&enrolment),
            enrolment_id: enrolment.id,
            package_code: contract.package_code,
            term: Term::Months(term),
            // A renewal's certificate replaces the renewed one once accepted.
            supersedes: enrolment.renews,
        };
        let prepared = self.prepare(actor, &order, csr, ("enrolment", enrolment_id))?;
        Ok((prepared, contract.id))
    }

    /// Everything before a rekey's recording transaction.
    fn prepare_rekey(
        &self,
        actor: &Actor,
        serial: &str,
        csr: &[u8],
    ) -> Result<Prepared, IssuanceError> {
        let now = self.clock.now();
        let (old, enrolment) = self.store.read_blocking(|tx| {
            let old = replaceable(tx, serial, now).map_err(IssuanceError::Replacement)?;
            let enrolment = tx.enrolment_by_id(&old.enrolment_id)?.ok_or_else(|| {
                IssuanceError::Unexpected("certificate without its enrolment".into())
            })?;
            Ok::<_, IssuanceError>((old, enrolment))
        })?;
        let order = IssuanceOrder {
            subject: subject_of(&enrolment),
            enrolment_id: enrolment.id,
            package_code: old.package_code,
            term: Term::Until(old.not_after.and_utc()),
            supersedes: Some(serial.to_string()),
        };
        self.prepare(actor, &order, csr, ("certificate", serial))
    }

    /// [`Issuer::prepare`]; a CSR (or subject) the CA's checks refuse is a refused issuance
    /// attempt, recorded as `certificate.request_refused` on `object` (the enrolment, or the
    /// certificate being rekeyed) with the code and the CSR's digest, in a transaction of its
    /// own since nothing else is written.
    fn prepare(
        &self,
        actor: &Actor,
        order: &IssuanceOrder,
        csr: &[u8],
        (object_type, object_id): (&'static str, &str),
    ) -> Result<Prepared, IssuanceError> {
        match self.issuer.prepare(actor, order, csr) {
            Err(IssuanceError::Rejected(e)) => {
                let now = self.clock.now();
                self.store.write_blocking(|tx| {
                    tx.audit(NewEvent::new(
                        now,
                        actor,
                        "certificate.request_refused",
                        object_type,
                        object_id,
                        json!({
                            "code": e.code(),
                            "csr_sha256": crate::secrets::sha256_hex(csr),
                            "csr_bytes": csr.len(),
                        }),
                    ))
                })?;
                Err(IssuanceError::Rejected(e))
            }
            other => other,
        }
    }
}

/// What a request issues for.
enum Kind {
    /// The enrolment's certificate, under the signed contract read before recording.
    Enrolment { id: String, contract_id: String },
    /// A rekey of this certificate.
    Rekey { serial: String },
}

/// The RA's part of one request in its batch: the claim and the enrolment's move (or the
/// rekey's check) with the record, then the acceptance record and the key's answer with the
/// stored certificate.
struct RaSteps {
    service: Issuance,
    actor: Actor,
    claim: Option<Claim>,
    kind: Kind,
    /// The acceptance record, rendered once the certificate is signed: the storing
    /// transaction only stores it.
    record: Option<RenderedRecord>,
}

impl Steps for RaSteps {
    fn before_record(&mut self, tx: &mut Tx<'_>, serial: &str) -> Result<(), IssuanceError> {
        let now = self.service.clock.now();
        if let Some(claim) = &self.claim {
            claim.take(tx, serial, now)?;
        }
        match &self.kind {
            Kind::Enrolment { id, contract_id } => {
                // Anything but `contract_signed` now means a concurrent request moved it first.
                let started_with =
                    begin_issuance(tx, id, now, &self.actor).map_err(|e| match e {
                        IssuanceError::NotReady(_) => IssuanceError::AlreadyIssued,
                        e => e,
                    })?;
                if &started_with != contract_id {
                    return Err(IssuanceError::NotReady(
                        "the contract changed; try again".into(),
                    ));
                }
            }
            Kind::Rekey { serial: old } => {
                // The check again where it is race-free: in the recording write transaction.
                replaceable(tx, old, now).map_err(IssuanceError::Replacement)?;
                tx.audit(NewEvent::new(
                    now,
                    &self.actor,
                    "certificate.rekey_requested",
                    "certificate",
                    old,
                    json!({"new_serial": serial}),
                ))?;
            }
        }
        Ok(())
    }

    fn reopen(&mut self, tx: &mut Tx<'_>, why: &str) -> Result<(), IssuanceError> {
        match &self.kind {
            // A signer error gives the enrolment back with the revocation, so a retry issues.
            Kind::Enrolment { id, .. } => {
                let reason = format!("signing failed: {why}");
                let now = self.service.clock.now();
                abandon_issuance(tx, id, now, &self.actor, &reason).map(|_| ())
            }
            // The enrolment still holds the certificate this one was to replace.
            Kind::Rekey { .. } => Ok(()),
        }
    }

    fn after_sign(&mut self, signed: &Signed) -> Result<(), IssuanceError> {
        // Every certificate awaiting acceptance has its record from the moment it exists
        // (its PDF is made on first need); the record is rendered here, off the write lane.
        let record = self
            .service
            .acceptance
            .render_record_blocking(signed.certificate())
            .map_err(|e| match e {
                // Its row stays `signing`: the recovery job revokes it and gives the enrolment back.
                AcceptanceError::Store(e) => IssuanceError::from(e),
                e => IssuanceError::Unexpected(e.to_string()),
            })?;
        self.record = Some(record);
        Ok(())
    }

    fn after_store(
        &mut self,
        tx: &mut Tx<'_>,
        issued: &IssuedCertificate,
    ) -> Result<(), IssuanceError> {
        let record = self
            .record
            .as_ref()
            .ok_or_else(|| IssuanceError::Unexpected("certificate stored unsigned".into()))?;
        self.service
            .acceptance
            .make_record(tx, record)
            .map_err(|e| IssuanceError::Unexpected(e.to_string()))?;
        if let Some(claim) = &self.claim {
            claim.answer(tx, issued)?;
        }
        Ok(())
    }
}

/// For an enrolment in `certificate_issued`: `Interrupted` when its only certificate is a
/// record its process stopped before signing (nothing was issued; a request must wait for
/// the recovery job instead of being told a certificate exists).
fn interrupted(certificates: &[CertificateRow], now: DateTime<Utc>) -> Option<IssuanceError> {
    if certificates.iter().any(|c| c.cert_der.is_some()) {
        return None;
    }
    let recorded_at = certificates
        .iter()
        .filter(|c| c.status == CertificateStatus::Signing)
        .map(|c| c.created_at.and_utc())
        .max()?;
    signing_interrupted(recorded_at, now).then(|| IssuanceError::interrupted(recorded_at, now))
}

/// The certificate's subject: the enrolment's verified identity, never the CSR's.
fn subject_of(enrolment: &EnrolmentRow) -> SubjectInfo {
    SubjectInfo {
        full_name: enrolment.full_name.clone(),
        id_number: enrolment.id_number.clone(),
        province: enrolment.permanent_province.clone(),
        locality: Some(enrolment.permanent_ward.clone()),
        email: enrolment.email.clone(),
    }
}

/// A key with the request it came with, in the caller's namespace.
#[derive(Clone)]
struct Claim {
    principal: String,
    key: String,
    operation: &'static str,
    request_sha256: String,
}

/// What a key holds.
enum Held {
    Free,
    /// Claimed by a request whose certificate, recorded at `recorded_at`, is still `signing`.
    InProgress {
        recorded_at: DateTime<Utc>,
    },
    /// Claimed for this serial, whose certificate left `signing` without an answer.
    Abandoned(String),
    Answered(IssuedCertificate),
}

/// The answer as stored: the fields of the API's answer but the chain, which is the CA's.
/// Rows written before the service existed also carry `chain_pem`, ignored on reading.
#[derive(Serialize, Deserialize)]
struct StoredAnswer {
    serial: String,
    status: CertificateStatus,
    enrolment_id: String,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    certificate_pem: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    supersedes: Option<String>,
}

impl Claim {
    /// `target` is the enrolment id or the replaced serial: the request's fingerprint is
    /// `target \n csr`, as it always was.
    fn new(
        actor: &Actor,
        key: IdempotencyKey,
        operation: &'static str,
        target: &str,
        csr: &[u8],
    ) -> Self {
        let mut request = Vec::with_capacity(target.len() + 1 + csr.len());
        request.extend_from_slice(target.as_bytes());
        request.push(b'\n');
        request.extend_from_slice(csr);
        Self {
            principal: actor.to_string(),
            key: key.0,
            operation,
            request_sha256: crate::secrets::sha256_hex(&request),
        }
    }

    fn look(&self, tx: &mut Tx<'_>) -> Result<Held, IssuanceError> {
        let Some(row) = tx.idempotency_record(&self.principal, &self.key)? else {
            return Ok(Held::Free);
        };
        if row.operation != self.operation || row.request_sha256 != self.request_sha256 {
            return Err(IssuanceError::IdempotencyKeyReused);
        }
        if row.response_status != CLAIMED {
            return Ok(Held::Answered(read_answer(&row.response_body)?));
        }
        let signing = tx
            .certificate(&row.response_body)?
            .filter(|c| c.status == CertificateStatus::Signing);
        if let Some(c) = signing {
            return Ok(Held::InProgress {
                recorded_at: c.created_at.and_utc(),
            });
        }
        // The storing transaction answers the key and moves the certificate out of `signing`
        // together, but on PostgreSQL each statement of a read sees its own snapshot: the
        // certificate may have been read after that commit and the key before it. Read the key
        // again (a later snapshot) before calling the claim abandoned.
        match tx.idempotency_record(&self.principal, &self.key)? {
            Some(again) if again.response_status != CLAIMED => {
                Ok(Held::Answered(read_answer(&again.response_body)?))
            }
            _ => Ok(Held::Abandoned(row.response_body)),
        }
    }

    /// In the recording transaction: the key claimed for `serial`, or `IdempotencyKeyInUse`
    /// when another request holds or answered it (the caller then reads its answer).
    fn take(&self, tx: &mut Tx<'_>, serial: &str, at: DateTime<Utc>) -> Result<(), IssuanceError> {
        let taken = match self.look(tx)? {
            Held::Free => tx
                .insert_idempotency_record(&IdempotencyRow {
                    principal: self.principal.clone(),
                    idempotency_key: self.key.clone(),
                    operation: self.operation.into(),
                    request_sha256: self.request_sha256.clone(),
                    response_status: CLAIMED,
                    response_body: serial.into(),
                    created_at: at.naive_utc(),
                })
                .map(|()| true)
                .or_else(|e| match e {
                    StoreError::Conflict(_) => Ok(false),
                    e => Err(e),
                })?,
            Held::Abandoned(old) => tx.replace_idempotency_answer(
                &self.principal,
                &self.key,
                (CLAIMED, &old),
                (CLAIMED, serial),
            )?,
            Held::InProgress { .. } | Held::Answered(_) => false,
        };
        if taken {
            Ok(())
        } else {
            Err(IssuanceError::IdempotencyKeyInUse)
        }
    }

    /// In the storing transaction: the claim becomes the answer.
    fn answer(&self, tx: &mut Tx<'_>, issued: &IssuedCertificate) -> Result<(), IssuanceError> {
        let body = serde_json::to_string(&StoredAnswer {
            serial: issued.serial.clone(),
            status: issued.status,
            enrolment_id: issued.enrolment_id.clone(),
            not_before: issued.not_before,
            not_after: issued.not_after,
            certificate_pem: certificate_to_pem(&issued.cert_der),
            supersedes: issued.supersedes.clone(),
        })
        .map_err(|e| IssuanceError::Unexpected(e.to_string()))?;
        if tx.replace_idempotency_answer(
            &self.principal,
            &self.key,
            (CLAIMED, &issued.serial),
            (ANSWERED, &body),
        )? {
            Ok(())
        } else {
            Err(IssuanceError::Unexpected(
                "the idempotency claim changed during issuance".into(),
            ))
        }
    }
}

fn read_answer(body: &str) -> Result<IssuedCertificate, IssuanceError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        IssuanceError::Unexpected(format!("stored idempotent answer: {e}"))
    };
    let stored: StoredAnswer = serde_json::from_str(body).map_err(|e| unreadable(&e))?;
    let cert_der = pem_to_der(stored.certificate_pem.as_bytes(), "CERTIFICATE")
        .ok_or_else(|| unreadable(&"no certificate"))?;
    Ok(IssuedCertificate {
        serial: stored.serial,
        enrolment_id: stored.enrolment_id,
        status: stored.status,
        cert_der,
        not_before: stored.not_before,
        not_after: stored.not_after,
        supersedes: stored.supersedes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idempotency_key_is_absent_empty_or_1_to_128_visible_ascii_characters() {
        assert_eq!(IdempotencyKey::parse(None).unwrap(), None);
        assert_eq!(IdempotencyKey::parse(Some(String::new())).unwrap(), None);
        let max = "k".repeat(128);
        assert_eq!(
            IdempotencyKey::parse(Some(max.clone())).unwrap(),
            Some(IdempotencyKey(max))
        );
        for bad in ["k".repeat(129), "with space".into(), "khóa".into()] {
            assert!(matches!(
                IdempotencyKey::parse(Some(bad)),
                Err(IssuanceError::IdempotencyKeyInvalid)
            ));
        }
    }

    #[test]
    fn answers_stored_by_the_api_before_the_service_existed_still_read() {
        // The shape `api::certificates` stored: the view with the chain.
        let cert = b"\x30\x03\x02\x01\x05";
        let body = serde_json::json!({
            "serial": "0a1b",
            "status": "pending_acceptance",
            "enrolment_id": "e-1",
            "not_before": "2026-11-23T10:00:00Z",
            "not_after": "2027-11-23T09:59:59Z",
            "certificate_pem": certificate_to_pem(cert),
            "chain_pem": "-----BEGIN CERTIFICATE-----\n...",
        })
        .to_string();
        let answer = read_answer(&body).unwrap();
        assert_eq!(answer.serial, "0a1b");
        assert_eq!(answer.cert_der, cert);
        assert_eq!(answer.supersedes, None);
        assert_eq!(
            answer.not_after,
            "2027-11-23T09:59:59Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
