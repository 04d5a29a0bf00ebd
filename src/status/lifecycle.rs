//! Revoke, suspend, resume. An RA officer acts directly; a subscriber's request (through an
//! integration API key) is confirmed by an OTP sent to the enrolment's phone, bound to the
//! serial, the action and the reason, so a code for "suspend" cannot confirm "revoke".
//!
//! Revoked is final. OCSP and CRL see a change on their next request: the status row's
//! trigger bumps the versions they compare against.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{CertificateStatus, Move, StatusError, StatusService};
use crate::audit::{Actor, NewEvent};
use crate::ca::RevocationReason;
use crate::enrolment::identity::PhoneNumber;
use crate::notify::{CertificateNotice, Outbox, Recipient};
use crate::otp::{
    ChallengeLookup, ChallengeRequest, ChallengeSent, Check, DocumentDigest, Purpose,
};
use crate::store::Tx;

/// The longest note kept with a change.
const MAX_NOTE_CHARS: usize = 1000;

/// A status change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Revoke(RevocationReason),
    Suspend,
    Resume,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Revoke(_) => "revoke",
            Change::Suspend => "suspend",
            Change::Resume => "resume",
        }
    }

    /// The reasons a revocation may give (RFC 5280; certificateHold is `Suspend`).
    pub fn revoke(reason: &str) -> Result<Change, StatusError> {
        match RevocationReason::parse(reason) {
            Some(RevocationReason::CertificateHold) | None => {
                Err(StatusError::BadReason(reason.to_string()))
            }
            Some(r) => Ok(Change::Revoke(r)),
        }
    }

    /// Its move in the lifecycle table.
    fn as_move(self) -> Move {
        match self {
            Change::Revoke(_) => Move::Revoke,
            Change::Suspend => Move::Suspend,
            Change::Resume => Move::Resume,
        }
    }

    /// What the subscriber's code is for: its message names this very action.
    fn otp_purpose(self) -> Purpose {
        match self {
            Change::Revoke(_) => Purpose::Revocation,
            Change::Suspend => Purpose::Suspension,
            Change::Resume => Purpose::Resumption,
        }
    }

    fn otp_subject(self, serial: &str) -> String {
        format!("certificate:{serial}:{}", self.as_str())
    }

    /// What the subscriber's code confirms: this serial, this action, this reason.
    fn digest(self, serial: &str) -> DocumentDigest {
        let reason = match self {
            Change::Revoke(r) => r.as_str(),
            Change::Suspend => "certificateHold",
            Change::Resume => "",
        };
        DocumentDigest::of(format!("{serial}\n{}\n{reason}", self.as_str()).as_bytes())
    }
}

/// The status after a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changed {
    pub serial: String,
    pub status: CertificateStatus,
    pub revoked_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

fn check_note(note: &str) -> Result<(), StatusError> {
    if note.chars().count() > MAX_NOTE_CHARS || note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(StatusError::BadNote);
    }
    Ok(())
}

/// The status a change leads to from `from`, or why not.
fn target(change: Change, from: CertificateStatus) -> Result<CertificateStatus, StatusError> {
    match from.after(change.as_move()) {
        Some(to) => Ok(to),
        None if from == CertificateStatus::Revoked => Err(StatusError::AlreadyRevoked),
        None => Err(StatusError::NotAllowed {
            action: change.as_str(),
            status: from.as_str().to_string(),
        }),
    }
}

/// Applies `change` in `tx` with its audit event.
// The change and everything it owes in its transaction: audit, outbox.
#[allow(clippy::too_many_arguments)]
fn apply(
    tx: &mut Tx<'_>,
    outbox: &Outbox,
    now: DateTime<Utc>,
    actor: &Actor,
    serial: &str,
    change: Change,
    note: &str,
    confirmed_by: Option<&str>,
) -> Result<Changed, StatusError> {
    let row = tx
        .certificate_status(serial)?
        .ok_or(StatusError::NotFound)?;
    let from = row.status;
    let to = target(change, from)?;
    let (revoked_at, reason) = match change {
        Change::Revoke(r) => (Some(now), Some(r.as_str())),
        Change::Suspend => (Some(now), Some(RevocationReason::CertificateHold.as_str())),
        Change::Resume => (None, None),
    };
    if !tx.change_certificate_status(serial, from, to, revoked_at.map(|t| t.naive_utc()), reason)? {
        // Another writer changed it since we read it in this transaction (PostgreSQL read
        // committed); the caller may retry and get the accurate refusal.
        return Err(StatusError::Concurrent);
    }
    let action = match change {
        Change::Revoke(_) => "certificate.revoked",
        Change::Suspend => "certificate.suspended",
        Change::Resume => "certificate.resumed",
    };
    tx.audit(NewEvent::new(
        now,
        actor,
        action,
        "certificate",
        serial,
        json!({
            "from": from.as_str(),
            "to": to.as_str(),
            "reason": reason,
            "note": note,
            "otp_challenge": confirmed_by,
        }),
    ))?;
    // A subscriber's change is confirmed by their code; any other is the provider's.
    let by_subscriber = confirmed_by.is_some();
    let notice = match change {
        Change::Revoke(r) => CertificateNotice::Revoked {
            reason: r.as_str(),
            by_subscriber,
        },
        Change::Suspend => CertificateNotice::Suspended { by_subscriber },
        Change::Resume => CertificateNotice::Resumed { by_subscriber },
    };
    outbox
        .notify_certificate(tx, now, serial, notice)
        .map_err(|e| StatusError::Unexpected(e.to_string()))?;
    Ok(Changed {
        serial: serial.to_string(),
        status: to,
        revoked_at,
        reason: reason.map(str::to_string),
    })
}

/// In the transaction that accepts `by`, a renewal or rekey of `serial`: revokes `serial`
/// with reason `superseded`. A certificate that already ended (revoked or expired) is left as
/// it is. A suspended certificate is refused
/// (`NotAllowed`): a replacement must not lift a hold that an officer or the subscriber put.
pub fn supersede(
    tx: &mut Tx<'_>,
    now: DateTime<Utc>,
    actor: &Actor,
    serial: &str,
    by: &str,
) -> Result<(), StatusError> {
    let row = tx
        .certificate_status(serial)?
        .ok_or(StatusError::NotFound)?;
    if row.status.has_ended() {
        return Ok(());
    }
    let from = row.status;
    let Some(to) = from.after(Move::Supersede) else {
        return Err(StatusError::NotAllowed {
            action: "supersede",
            status: from.as_str().to_string(),
        });
    };
    let reason = RevocationReason::Superseded.as_str();
    if !tx.change_certificate_status(serial, from, to, Some(now.naive_utc()), Some(reason))? {
        return Err(StatusError::Concurrent);
    }
    tx.audit(NewEvent::new(
        now,
        actor,
        "certificate.revoked",
        "certificate",
        serial,
        json!({
            "from": from.as_str(),
            "to": to.as_str(),
            "reason": reason,
            "superseded_by": by,
        }),
    ))?;
    Ok(())
}

/// Marks `serial` expired if it is active or suspended and `now` is past its notAfter,
/// audited. Its revocation columns stay: a certificate suspended when it expired keeps its
/// hold in OCSP and on the CRL (RFC 5280 §3.3: an entry stays at least until a CRL issued
/// after the expiry carried it); an expired certificate that was valid leaves the CRL, where
/// it never was, and OCSP says good in RFC 6960's sense (not revoked).
/// `Concurrent` when there is nothing to do (another process did it meanwhile).
pub fn expire(tx: &mut Tx<'_>, now: DateTime<Utc>, serial: &str) -> Result<(), StatusError> {
    let row = tx
        .certificate_status(serial)?
        .ok_or(StatusError::NotFound)?;
    if !tx.expire_certificate(serial, now.naive_utc())? {
        return Err(StatusError::Concurrent);
    }
    tx.audit(NewEvent::new(
        now,
        &Actor::System,
        "certificate.expired",
        "certificate",
        serial,
        json!({"from": row.status.as_str(), "to": Move::Expire.to().as_str()}),
    ))?;
    Ok(())
}

impl StatusService {
    /// An RA officer's change, effective at once.
    pub async fn change(
        &self,
        outbox: &Outbox,
        actor: &Actor,
        serial: &str,
        change: Change,
        note: &str,
    ) -> Result<Changed, StatusError> {
        check_note(note)?;
        let (actor, serial, note) = (actor.clone(), serial.to_string(), note.to_string());
        let now = self.inner.clock.now();
        let outbox = outbox.clone();
        self.inner
            .store
            .write(move |tx| apply(tx, &outbox, now, &actor, &serial, change, &note, None))
            .await
    }

    /// A subscriber's request: checks the change is possible now and sends the OTP to the
    /// enrolment's phone.
    pub async fn request_change(
        &self,
        otp: &crate::otp::Otp,
        actor: &Actor,
        serial: &str,
        change: Change,
    ) -> Result<ChallengeSent, StatusError> {
        let (actor, serial) = (actor.clone(), serial.to_string());
        let now = self.inner.clock.now();
        let otp = otp.clone();
        self.inner
            .store
            .write(move |tx| {
                let row = tx
                    .certificate_status(&serial)?
                    .ok_or(StatusError::NotFound)?;
                target(change, row.status)?;
                let cert = tx.certificate(&serial)?.ok_or(StatusError::NotFound)?;
                let enrolment = tx
                    .enrolment_by_id(&cert.enrolment_id)?
                    .ok_or_else(|| StatusError::Unexpected("enrolment missing".into()))?;
                let phone = PhoneNumber::parse("phone", &enrolment.phone)
                    .map_err(|e| StatusError::Unexpected(format!("stored phone: {e:?}")))?;
                Ok(otp.issue_challenge(
                    tx,
                    now,
                    ChallengeRequest {
                        purpose: change.otp_purpose(),
                        subject: change.otp_subject(&serial),
                        document_digest: change.digest(&serial),
                        recipient: Recipient::Phone(phone),
                        actor,
                    },
                )?)
            })
            .await
    }

    /// A subscriber's confirmation: the code must answer the request for this very change.
    pub async fn confirm_change(
        &self,
        otp: &crate::otp::Otp,
        actor: &Actor,
        serial: &str,
        change: Change,
        note: &str,
        code: &str,
    ) -> Result<Changed, StatusError> {
        check_note(note)?;
        let now = self.inner.clock.now();
        let check = Check {
            lookup: ChallengeLookup::Subject(change.otp_subject(serial)),
            purpose: change.otp_purpose(),
            document_digest: change.digest(serial),
            code: code.to_string(),
            actor: actor.clone(),
        };
        let (actor, serial, note) = (actor.clone(), serial.to_string(), note.to_string());
        // The notice goes through the outbox the code came through.
        let outbox = otp.outbox().clone();
        otp.confirm(check, move |tx, verified| {
            apply(
                tx,
                &outbox,
                now,
                &actor,
                &serial,
                change,
                &note,
                Some(&verified.challenge_id),
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_is_final_and_only_possible_moves_are_allowed() {
        use CertificateStatus as S;
        let revoke = Change::Revoke(RevocationReason::KeyCompromise);
        for change in [revoke, Change::Suspend, Change::Resume] {
            assert!(matches!(
                target(change, S::Revoked),
                Err(StatusError::AlreadyRevoked)
            ));
        }
        assert_eq!(target(revoke, S::PendingAcceptance).ok(), Some(S::Revoked));
        assert_eq!(target(revoke, S::Suspended).ok(), Some(S::Revoked));
        assert_eq!(target(Change::Suspend, S::Active).ok(), Some(S::Suspended));
        assert_eq!(target(Change::Resume, S::Suspended).ok(), Some(S::Active));
        assert!(matches!(
            target(Change::Resume, S::Active),
            Err(StatusError::NotAllowed { action: "resume", status }) if status == "active"
        ));
        assert!(target(Change::Suspend, S::PendingAcceptance).is_err());
        assert!(target(revoke, S::Expired).is_err());
    }

    #[test]
    fn certificate_hold_is_not_a_revocation_reason() {
        assert!(Change::revoke("certificateHold").is_err());
        assert!(Change::revoke("removeFromCRL").is_err());
        assert_eq!(
            Change::revoke("superseded").ok(),
            Some(Change::Revoke(RevocationReason::Superseded))
        );
    }

    #[test]
    fn an_otp_for_one_change_does_not_confirm_another() {
        let a = Change::Revoke(RevocationReason::KeyCompromise).digest("01");
        let b = Change::Revoke(RevocationReason::Superseded).digest("01");
        let c = Change::Suspend.digest("01");
        assert_ne!(a.as_str(), b.as_str());
        assert_ne!(a.as_str(), c.as_str());
    }
}
