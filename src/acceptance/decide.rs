//! The citizen's decision: the code sent by SMS bound to the record's digest, acceptance
//! (`pending_acceptance` → `active`, the replaced certificate superseded) or rejection, and
//! the one way a pending record closes without confirmation (the deadline's too).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{
    not_pending, pdf, pending_certificate, unexpected, Acceptance, AcceptanceError, Record,
    MAX_REASON_CHARS, REVOCATION_REASON,
};
use crate::audit::{Actor, NewEvent};
use crate::contract::{release_free_package, DocumentInput, MadeDocument};
use crate::enrolment::identity::PhoneNumber;
use crate::enrolment::status::Event;
use crate::enrolment::transition::{transition, Details, MoveError};
use crate::notify::{CertificateNotice, Recipient};
use crate::otp::{
    ChallengeLookup, ChallengeRequest, ChallengeSent, Check, DocumentDigest, OtpError, Purpose,
};
use crate::status::{supersede, Move, StatusError};
use crate::store::{AcceptanceDecision, Tx};

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

fn otp_subject(serial: &str) -> String {
    format!("certificate:{serial}")
}

impl Acceptance {
    /// Sends a code by SMS to the enrolment's phone, bound to the record's digest.
    pub async fn send_otp(
        &self,
        actor: &Actor,
        serial: &str,
    ) -> Result<ChallengeSent, AcceptanceError> {
        let record = self.record(serial).await?;
        if record.status == "pending" {
            // The code is bound to the PDF's digest: the PDF exists from here on.
            self.record_pdf(&record.serial).await?;
        }
        let now = self.clock.now();
        let (actor, otp) = (actor.clone(), self.otp.clone());
        self.store
            .write(move |tx| {
                let certificate = pending_certificate(tx, &record.serial)?;
                let enrolment = tx
                    .enrolment_by_id(&certificate.enrolment_id)?
                    .ok_or_else(|| unexpected("certificate without its enrolment"))?;
                let phone = PhoneNumber::parse("phone", &enrolment.phone).map_err(unexpected)?;
                let (digest, _) = pdf::record_version(tx, &record.serial, &record.document_sha256)?;
                let digest = DocumentDigest::parse(&digest).map_err(unexpected)?;
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
    /// is, without looking at the code, so a retry after a lost answer is harmless
    /// ([`Acceptance::prepare_acceptance`], then [`Acceptance::commit_acceptance`]).
    pub async fn accept(
        &self,
        actor: &Actor,
        serial: &str,
        request: AcceptRequest,
    ) -> Result<Record, AcceptanceError> {
        let prepared = self.prepare_acceptance(actor, serial, request).await?;
        self.commit_acceptance(prepared).await
    }

    /// Everything but the transaction: the request's checks and, when the code looks right
    /// (`Otp::preview`), the accepted record rendered and sealed with the acceptance time
    /// fixed now, which the transaction records.
    pub async fn prepare_acceptance(
        &self,
        actor: &Actor,
        serial: &str,
        request: AcceptRequest,
    ) -> Result<PreparedAcceptance, AcceptanceError> {
        if !request.agree {
            return Err(AcceptanceError::AgreementRequired);
        }
        let record = self.record(serial).await?;
        let (digest_of, html_sha256) = (record.serial.clone(), record.document_sha256.clone());
        let ((digest, template), contents) = self
            .store
            .read(move |tx| {
                let version = pdf::record_version(tx, &digest_of, &html_sha256)?;
                // What the accepted PDF shows; the transaction reads it again.
                Ok::<_, AcceptanceError>((version, pdf::contents_of(tx, &digest_of)?))
            })
            .await?;
        let serial = record.serial.clone();
        let mut prepared = PreparedAcceptance {
            actor: actor.clone(),
            check: Check {
                lookup: match request.challenge_id {
                    Some(id) => ChallengeLookup::Id(id),
                    None => ChallengeLookup::Subject(otp_subject(&serial)),
                },
                purpose: Purpose::CertificateAcceptance,
                document_digest: DocumentDigest::parse(&digest).map_err(unexpected)?,
                code: request.otp_code,
                actor: actor.clone(),
            },
            serial,
            at: self.clock.now(),
            client_ip: request.client_ip,
            user_agent: request.user_agent,
            made: None,
            accepted: None,
        };
        match record.status.as_str() {
            "pending" => {}
            "accepted" => {
                prepared.accepted = Some(record);
                return Ok(prepared);
            }
            other => {
                return Err(AcceptanceError::NotPending {
                    status: other.to_string(),
                })
            }
        }
        // A wrong or spent code renders nothing: the transaction refuses it and counts it.
        let Some(preview) = self.otp.preview(&prepared.check, prepared.at).await? else {
            return Ok(prepared);
        };
        let input = self.accepted_input(
            &record,
            &contents,
            &prepared,
            (
                &preview.challenge_id,
                &preview.channel,
                &preview.masked_destination,
            ),
            (&digest, template),
        )?;
        prepared.made = Some(input.make_blocking().await?);
        Ok(prepared)
    }

    /// The accepted PDF's input for `record` (with what it shows, `pdf::contents_of`) as
    /// accepted with `p` under the verified challenge `(id, channel, masked destination)`,
    /// in the template of the record its code was bound to (`(digest, template)`).
    fn accepted_input(
        &self,
        record: &Record,
        (certificate, enrolment, contract_number, package_name): &pdf::Shown,
        p: &PreparedAcceptance,
        (challenge_id, channel, masked_destination): (&str, &str, &str),
        (record_sha256, template): (&str, &'static str),
    ) -> Result<DocumentInput, AcceptanceError> {
        let cert_der = certificate
            .cert_der
            .as_deref()
            .ok_or_else(|| unexpected("accepted certificate without its bytes"))?;
        pdf::accepted(
            &pdf::Contents {
                environment: self.environment,
                provider: &self.provider,
                made: record.created_at.and_utc(),
                subscriber: enrolment,
                contract_number,
                package_name,
                certificate,
                cert_der,
            },
            &pdf::Evidence {
                accepted_at: p.at,
                channel,
                masked_destination,
                challenge_id,
                record_sha256,
                client_ip: p.client_ip.as_deref(),
                user_agent: p.user_agent.as_deref(),
            },
            template,
            self.sealing.clone(),
        )
    }

    /// The transaction: the code verified and consumed, the record closed with its
    /// evidence, the accepted PDF stored (the one prepared if what it shows is unchanged,
    /// else rendered again), the certificate `active`, all audited together.
    pub async fn commit_acceptance(
        &self,
        p: PreparedAcceptance,
    ) -> Result<Record, AcceptanceError> {
        if let Some(record) = p.accepted {
            return Ok(record);
        }
        let this = self.clone();
        let serial = p.serial.clone();
        let subject = otp_subject(&serial);
        let (check, at) = (p.check.clone(), p.at);
        let result = self
            .otp
            .confirm_at(check, at, move |tx, verified| {
                let in_tx = &p.serial;
                // The digest binds the code to the record's bytes; the subject keeps that
                // true even for two records with identical bytes.
                if verified.subject != subject {
                    return Err(AcceptanceError::Otp(OtpError::WrongDocument));
                }
                let channel = tx
                    .otp_challenge_by_id(&verified.challenge_id)?
                    .map(|c| c.channel)
                    .ok_or_else(|| unexpected("verified challenge vanished"))?;
                let by = &p.actor;
                let decided_by = by.to_string();
                if !tx.decide_acceptance_record(
                    in_tx,
                    &AcceptanceDecision {
                        status: "accepted",
                        decided_at: at.naive_utc(),
                        decided_by: &decided_by,
                        otp_challenge_id: Some(&verified.challenge_id),
                        otp_channel: Some(&channel),
                        otp_masked_destination: Some(&verified.masked_destination),
                        client_ip: p.client_ip.as_deref(),
                        user_agent: p.user_agent.as_deref(),
                        rejection_reason: None,
                    },
                )? {
                    return Err(not_pending(tx, in_tx));
                }
                if !tx.decide_pending_certificate(in_tx, Move::Accept, at.naive_utc(), None)? {
                    return Err(not_pending(tx, in_tx));
                }
                let row = tx
                    .acceptance_record(in_tx)?
                    .ok_or_else(|| unexpected("acceptance record vanished"))?;
                let shown = pdf::contents_of(tx, in_tx)?;
                let (_, template) = pdf::record_version(tx, in_tx, &row.document_sha256)?;
                let accepted_pdf_sha256 = this
                    .accepted_input(
                        &row,
                        &shown,
                        &p,
                        (
                            &verified.challenge_id,
                            &channel,
                            &verified.masked_destination,
                        ),
                        (verified.document_digest.as_str(), template),
                    )?
                    .store(tx, pdf::ACCEPTED, in_tx, p.made)?
                    .document_sha256;
                let supersedes = tx
                    .certificate(in_tx)?
                    .ok_or(AcceptanceError::NotFound)?
                    .supersedes;
                // A registration from the VNeID hub: the hub hears the certificate is active.
                let hub_callback = tx.enqueue_hub_callback(
                    &row.enrolment_id,
                    "active",
                    Some(in_tx),
                    at.naive_utc(),
                )?;
                tx.audit(NewEvent::new(
                    at,
                    by,
                    "certificate.accepted",
                    "certificate",
                    in_tx,
                    json!({
                        "enrolment_id": row.enrolment_id,
                        "contract_id": row.contract_id,
                        "record_sha256": row.document_sha256,
                        "accepted_pdf_sha256": accepted_pdf_sha256,
                        "otp_challenge_id": verified.challenge_id,
                        "channel": channel,
                        "to": verified.masked_destination,
                        "client_ip": p.client_ip,
                        "user_agent": p.user_agent,
                        "supersedes": supersedes,
                        "hub_callback": hub_callback,
                    }),
                ))?;
                // A renewal or rekey: the certificate it replaces is revoked now, in this
                // transaction, and not a moment before.
                if let Some(old) = &supersedes {
                    supersede(tx, at, by, old, in_tx).map_err(|e| match e {
                        StatusError::NotAllowed { .. } => AcceptanceError::ReplacedSuspended {
                            serial: old.clone(),
                        },
                        other => unexpected(other),
                    })?;
                }
                let notice = match &supersedes {
                    Some(old) => CertificateNotice::Renewed { replaced: old },
                    None => CertificateNotice::Active,
                };
                this.outbox
                    .notify_certificate(tx, at, in_tx, notice)
                    .map_err(unexpected)?;
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
}

/// An acceptance checked and, when its code looked right, its accepted record made, before
/// the transaction ([`Acceptance::commit_acceptance`]).
#[derive(Clone)]
pub struct PreparedAcceptance {
    actor: Actor,
    serial: String,
    check: Check,
    /// The acceptance time: printed in the PDF, recorded as `decided_at` and the OTP's time.
    at: DateTime<Utc>,
    client_ip: Option<String>,
    user_agent: Option<String>,
    made: Option<MadeDocument>,
    /// Accepted already: the answer, without looking at the code.
    accepted: Option<Record>,
}

impl PreparedAcceptance {
    /// The SHA-256 of the accepted PDF made before the transaction, if one was.
    pub fn rendered_sha256(&self) -> Option<String> {
        self.made.as_ref().map(MadeDocument::sha256)
    }
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
pub(super) struct Closing<'a> {
    pub(super) serial: &'a str,
    pub(super) status: &'static str,
    pub(super) event: Event,
    pub(super) action: &'static str,
    pub(super) reason: &'a str,
}

/// Closes the record, revokes the certificate, releases the free package and closes the
/// enrolment, audited. `NotPending` when the certificate was decided meanwhile.
pub(super) fn close(
    tx: &mut Tx<'_>,
    c: Closing<'_>,
    at: DateTime<Utc>,
    actor: &Actor,
) -> Result<Record, AcceptanceError> {
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
