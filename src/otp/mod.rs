//! One-time passwords that confirm one thing: a challenge is bound to a purpose (what is being
//! confirmed), a subject (e.g. `contract:<id>`) and the SHA-256 of the document shown to the
//! citizen, so a code sent for one document cannot confirm another.
//!
//! Rules (limits from `[otp]` in the config): 6-digit codes from the CSPRNG, stored only as an
//! HMAC under a key derived from the master key, compared in constant time, never logged;
//! expiry after `code_ttl_seconds`; locked after `max_attempts` wrong codes; single use;
//! a new code for the same subject and purpose only after `resend_cooldown_seconds` (it
//! replaces the previous one); at most `max_sends_per_hour` codes to one recipient in any hour
//! for one purpose and one initiator (the API key or operator asking), so that codes one caller
//! asks for (say, revocation codes) never use up those of another purpose or another caller.
//!
//! Callers:
//! - [`Otp::issue_challenge`] runs in the caller's transaction and enqueues the message in the
//!   outbox there, so the code is sent only if the caller's change commits.
//! - [`Otp::confirm`] verifies a code and runs the caller's action in one transaction: the
//!   challenge is consumed only if the action commits. A wrong code must count even though
//!   that transaction fails, so it is recorded afterwards in a transaction of its own.

mod code;
mod settings;
mod texts;

pub use settings::Settings;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::audit::{Actor, NewEvent};
use crate::clock::Clock;
use crate::notify::{NotifyError, Outbox, OutgoingMessage, Recipient};
use crate::secrets::{constant_time_eq, hmac_sha256, MasterKey};
use crate::store::{OtpChallengeRow, Store, StoreError, Tx};

/// The refusals, each with a stable code for the API.
///
/// Decision: a wrong purpose and a wrong document have their own codes rather than folding into
/// `otp_invalid`. Both are decided before the code is looked at (the digest is not a secret:
/// the app computes it from the document it shows), so telling them apart leaks nothing about
/// the code, and the app can act on them: a changed document needs a fresh code, not a retry.
/// For the same reason they do not count as attempts.
#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    #[error("wrong code; {attempts_left} attempt(s) left")]
    Invalid { attempts_left: u32 },
    /// Longer than any code we send: refused before it is compared, without counting.
    #[error("the code is longer than {max_chars} characters")]
    CodeTooLong { max_chars: usize },
    #[error("too many wrong codes; request a new code")]
    Locked,
    #[error("the code has expired or was replaced by a newer one; request a new code")]
    Expired,
    #[error("the code was already used")]
    AlreadyUsed,
    #[error("the code was issued for another purpose")]
    WrongPurpose,
    #[error("the code was issued for another document")]
    WrongDocument,
    #[error("no code was requested for this")]
    NotFound,
    #[error("a new code can be sent in {retry_after_seconds} s")]
    ResendTooSoon { retry_after_seconds: i64 },
    #[error("too many codes sent to this recipient; try again in {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: i64 },
    /// The caller passed a malformed subject or digest (a programming error upstream).
    #[error("invalid OTP request: {0}")]
    BadRequest(&'static str),
    #[error("OTP: {0}")]
    Unexpected(String),
    #[error("OTP: the database is unavailable")]
    Unavailable,
}

impl OtpError {
    pub fn code(&self) -> &'static str {
        match self {
            OtpError::Invalid { .. } => "otp_invalid",
            OtpError::CodeTooLong { .. } => "otp_code_too_long",
            OtpError::Locked => "otp_locked",
            OtpError::Expired => "otp_expired",
            OtpError::AlreadyUsed => "otp_already_used",
            OtpError::WrongPurpose => "otp_wrong_purpose",
            OtpError::WrongDocument => "otp_wrong_document",
            OtpError::NotFound => "otp_not_found",
            OtpError::ResendTooSoon { .. } => "otp_resend_too_soon",
            OtpError::RateLimited { .. } => "otp_rate_limited",
            OtpError::BadRequest(_) => "otp_bad_request",
            OtpError::Unexpected(_) => "internal_error",
            OtpError::Unavailable => "database_unavailable",
        }
    }
}

impl From<StoreError> for OtpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => OtpError::Unavailable,
            e => OtpError::Unexpected(e.to_string()),
        }
    }
}

impl From<NotifyError> for OtpError {
    fn from(e: NotifyError) -> Self {
        OtpError::Unexpected(e.to_string())
    }
}

/// What a code confirms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    ContractSigning,
    CertificateAcceptance,
    Revocation,
    /// Suspension and resumption are purposes of their own so that the message says what
    /// the code does (a code "to revoke" that suspends would mislead the subscriber).
    Suspension,
    Resumption,
    /// Activation of remote signatures (CSC `credentials/authorize`), bound to the hashes.
    Signature,
}

impl Purpose {
    pub const ALL: [Purpose; 6] = [
        Purpose::ContractSigning,
        Purpose::CertificateAcceptance,
        Purpose::Revocation,
        Purpose::Suspension,
        Purpose::Resumption,
        Purpose::Signature,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::ContractSigning => "contract_signing",
            Purpose::CertificateAcceptance => "certificate_acceptance",
            // Stored and capped as revocation codes, as before they had messages of their
            // own: one hourly cap for a caller's lifecycle codes; the subject and digest bind
            // each code to its action.
            Purpose::Revocation | Purpose::Suspension | Purpose::Resumption => "revocation",
            Purpose::Signature => "signature",
        }
    }
}

/// SHA-256 of the document being confirmed: 64 hex digits, kept lower-case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentDigest(String);

impl DocumentDigest {
    pub fn parse(s: &str) -> Result<Self, OtpError> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(OtpError::BadRequest(
                "document digest must be 64 hex digits (SHA-256)",
            ))
        }
    }

    pub fn of(document: &[u8]) -> Self {
        Self(crate::secrets::sha256_hex(document))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A request for a code.
#[derive(Clone)]
pub struct ChallengeRequest {
    pub purpose: Purpose,
    /// What the code is about, e.g. `contract:<id>`; 1 to 200 printable characters.
    pub subject: String,
    pub document_digest: DocumentDigest,
    pub recipient: Recipient,
    pub actor: Actor,
}

/// What the app shows after a send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeSent {
    pub challenge_id: String,
    /// The resend countdown.
    pub resend_after_seconds: i64,
    pub expires_at: DateTime<Utc>,
    pub masked_destination: String,
}

/// Which challenge a code answers.
#[derive(Clone, Debug)]
pub enum ChallengeLookup {
    Id(String),
    /// The latest challenge for this subject (and the check's purpose).
    Subject(String),
}

/// A code to check, and what it must confirm.
/// The longest code `confirm` compares (codes are 6 digits; the rest is room for typing).
pub const MAX_CODE_CHARS: usize = 16;

#[derive(Clone, Debug)]
pub struct Check {
    pub lookup: ChallengeLookup,
    pub purpose: Purpose,
    pub document_digest: DocumentDigest,
    /// As typed by the citizen; surrounding spaces are ignored.
    pub code: String,
    pub actor: Actor,
}

/// Evidence of a successful confirmation, for the caller to keep (contract, acceptance record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedChallenge {
    pub challenge_id: String,
    pub purpose: Purpose,
    pub subject: String,
    pub document_digest: DocumentDigest,
    pub masked_destination: String,
    pub verified_at: DateTime<Utc>,
}

/// The challenge a right code would verify, as [`Otp::preview`] found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    pub challenge_id: String,
    pub channel: String,
    pub masked_destination: String,
}

/// Why `verify` refused. A wrong code still has to be counted, outside the transaction that
/// the refusal rolls back.
enum Refusal {
    Refused(OtpError),
    WrongCode { challenge_id: String },
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Refused(e.into())
    }
}

const CODE_KEY_PURPOSE: &str = "otp-code";
const RECIPIENT_KEY_PURPOSE: &str = "otp-recipient";

/// The OTP service. Cheap to clone.
#[derive(Clone)]
pub struct Otp {
    store: Store,
    code_key: [u8; 32],
    recipient_key: [u8; 32],
    limits: Settings,
    outbox: Outbox,
    clock: Arc<dyn Clock>,
}

impl Otp {
    /// The outbox codes are sent through, for a confirmed change's own messages.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub fn new(
        store: Store,
        keys: &MasterKey,
        limits: Settings,
        outbox: Outbox,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            code_key: keys.derive(CODE_KEY_PURPOSE),
            recipient_key: keys.derive(RECIPIENT_KEY_PURPOSE),
            limits,
            outbox,
            clock,
        }
    }

    /// The code's keyed hash, bound to its challenge so equal codes of two challenges differ.
    fn code_hmac(&self, challenge_id: &str, code: &str) -> String {
        hex::encode(hmac_sha256(
            &self.code_key,
            format!("{challenge_id}:{code}").as_bytes(),
        ))
    }

    /// A keyed hash of the address: counts sends per recipient without storing the address.
    fn recipient_hash(&self, recipient: &Recipient) -> [u8; 32] {
        hmac_sha256(
            &self.recipient_key,
            format!("{}:{}", recipient.channel().as_str(), recipient.address()).as_bytes(),
        )
    }

    /// Creates a challenge for `request`, replacing any open one for the same subject and
    /// purpose, and enqueues its message in `tx`. Appends the `otp.issued` audit event.
    pub fn issue_challenge(
        &self,
        tx: &mut Tx<'_>,
        now: DateTime<Utc>,
        request: ChallengeRequest,
    ) -> Result<ChallengeSent, OtpError> {
        let subject = request.subject.as_str();
        if subject.is_empty()
            || subject.chars().count() > 200
            || subject.chars().any(char::is_control)
        {
            return Err(OtpError::BadRequest(
                "subject must be 1 to 200 printable characters",
            ));
        }
        let now = crate::clock::truncate(now);
        let purpose = request.purpose.as_str();
        let recipient_hash = self.recipient_hash(&request.recipient);
        let recipient_key = hex::encode(recipient_hash);
        let mut lock_key = [0u8; 8];
        lock_key.copy_from_slice(&recipient_hash[..8]);
        tx.lock_otp_recipient(i64::from_be_bytes(lock_key))?;

        let cooldown = Duration::seconds(self.limits.resend_cooldown_seconds.into());
        if let Some(last) = tx.latest_otp_challenge(subject, purpose)? {
            let resend_at = utc(last.created_at) + cooldown;
            if now < resend_at {
                return Err(OtpError::ResendTooSoon {
                    retry_after_seconds: ceil_seconds(resend_at - now),
                });
            }
        }
        let hour = Duration::hours(1);
        let initiator = request.actor.to_string();
        let sends = tx.otp_sends_since(
            &recipient_key,
            purpose,
            &initiator,
            (now - hour).naive_utc(),
        )?;
        let cap = usize::try_from(self.limits.max_sends_per_hour).unwrap_or(usize::MAX);
        if sends.len() >= cap {
            // The window frees a slot when the send `cap` places from the end leaves it.
            let oldest_counted = sends[sends.len() - cap];
            return Err(OtpError::RateLimited {
                retry_after_seconds: ceil_seconds(utc(oldest_counted) + hour - now),
            });
        }

        tx.supersede_otp_challenges(subject, purpose)?;
        let id = crate::store::new_row_id();
        let code = code::generate();
        let ttl = Duration::seconds(self.limits.code_ttl_seconds.into());
        let expires_at = now + ttl;
        let minutes = self.limits.code_ttl_seconds.div_ceil(60);
        let message = texts::message(request.purpose, &code, minutes, request.recipient.clone());
        let masked = request.recipient.masked();
        let message_id = self.outbox.enqueue(
            tx,
            now,
            OutgoingMessage {
                not_after: Some(expires_at),
                ..message
            },
        )?;
        tx.insert_otp_challenge(&OtpChallengeRow {
            id: id.clone(),
            purpose: purpose.to_string(),
            subject: subject.to_string(),
            document_digest: request.document_digest.as_str().to_string(),
            channel: request.recipient.channel().as_str().to_string(),
            recipient_key,
            masked_destination: masked.clone(),
            code_hmac: self.code_hmac(&id, &code),
            status: "pending".into(),
            failed_attempts: 0,
            created_at: now.naive_utc(),
            expires_at: expires_at.naive_utc(),
            consumed_at: None,
            outbox_message_id: message_id.clone(),
            initiator,
        })?;
        tx.audit(NewEvent::new(
            now,
            &request.actor,
            "otp.issued",
            "otp_challenge",
            id.clone(),
            json!({
                "purpose": purpose,
                "subject": subject,
                "document_digest": request.document_digest.as_str(),
                "channel": request.recipient.channel().as_str(),
                "to": masked,
                "expires_at": crate::audit::format_time(&expires_at),
                "outbox_message_id": message_id,
            }),
        ))?;
        Ok(ChallengeSent {
            challenge_id: id,
            resend_after_seconds: cooldown.num_seconds(),
            expires_at,
            masked_destination: masked,
        })
    }

    /// Checks `check` and, if the code is right, runs `action` in the same transaction with the
    /// verified challenge; the challenge is consumed only if `action` succeeds and commits.
    /// A wrong code is recorded in its own audited transaction (the first one is rolled back),
    /// and the refusal returned then reflects it (`otp_invalid` with the attempts left, or
    /// `otp_locked` when this was the last one).
    pub async fn confirm<T, E, F>(&self, check: Check, action: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>, &VerifiedChallenge) -> Result<T, E> + Clone + Send + 'static,
        T: Send + 'static,
        E: From<OtpError> + From<StoreError> + Send + 'static,
    {
        self.confirm_at(check, self.clock.now(), action).await
    }

    /// What [`Otp::confirm`] would verify at `now`, read without changing anything: the
    /// challenge, if the code is right for it and it is still open then. A caller prepares
    /// the evidence it will keep (a document to seal) from it before the transaction, then
    /// confirms at the same `now` and checks that the challenge verified is this one. `None`
    /// for any refusal, which `confirm_at` then makes and records.
    pub async fn preview(
        &self,
        check: &Check,
        now: DateTime<Utc>,
    ) -> Result<Option<Preview>, StoreError> {
        if check.code.trim().chars().count() > MAX_CODE_CHARS {
            return Ok(None);
        }
        let (this, check) = (self.clone(), check.clone());
        self.store
            .read(move |tx| {
                let Some(row) = this.lookup(tx, &check)? else {
                    return Ok(None);
                };
                Ok(this.check_row(&row, now, &check).ok().map(|()| Preview {
                    challenge_id: row.id,
                    channel: row.channel,
                    masked_destination: row.masked_destination,
                }))
            })
            .await
    }

    /// [`Otp::confirm`] at a time the caller fixed (and may have printed in a document).
    pub async fn confirm_at<T, E, F>(
        &self,
        check: Check,
        now: DateTime<Utc>,
        action: F,
    ) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>, &VerifiedChallenge) -> Result<T, E> + Clone + Send + 'static,
        T: Send + 'static,
        E: From<OtpError> + From<StoreError> + Send + 'static,
    {
        if check.code.trim().chars().count() > MAX_CODE_CHARS {
            return Err(E::from(OtpError::CodeTooLong {
                max_chars: MAX_CODE_CHARS,
            }));
        }
        let wrong_code: Arc<Mutex<Option<String>>> = Arc::default();
        let wrong_code_in_tx = wrong_code.clone();
        let this = self.clone();
        let result = self
            .store
            .write(move |tx| match this.verify(tx, now, &check) {
                Ok(verified) => action(tx, &verified),
                Err(Refusal::Refused(e)) => Err(E::from(e)),
                Err(Refusal::WrongCode { challenge_id }) => {
                    *wrong_code_in_tx.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(challenge_id);
                    // Rolls back; the refusal returned is the one recorded below.
                    Err(E::from(OtpError::Invalid { attempts_left: 0 }))
                }
            })
            .await;
        let wrong_code = wrong_code.lock().unwrap_or_else(|p| p.into_inner()).take();
        match (result, wrong_code) {
            (Err(_), Some(challenge_id)) => {
                Err(E::from(self.record_failure(challenge_id, now).await))
            }
            (result, _) => result,
        }
    }

    /// Verifies in the caller's transaction; on success consumes the challenge and appends
    /// `otp.verified`.
    fn verify(
        &self,
        tx: &mut Tx<'_>,
        now: DateTime<Utc>,
        check: &Check,
    ) -> Result<VerifiedChallenge, Refusal> {
        let row = self
            .lookup(tx, check)?
            .ok_or(Refusal::Refused(OtpError::NotFound))?;
        self.check_row(&row, now, check)?;
        // Conditional: of two concurrent uses of one code, one wins.
        if !tx.consume_otp_challenge(&row.id, now.naive_utc())? {
            return Err(Refusal::Refused(OtpError::AlreadyUsed));
        }
        tx.audit(NewEvent::new(
            now,
            &check.actor,
            "otp.verified",
            "otp_challenge",
            row.id.clone(),
            json!({
                "purpose": row.purpose,
                "subject": row.subject,
                "document_digest": row.document_digest,
                "to": row.masked_destination,
            }),
        ))?;
        Ok(VerifiedChallenge {
            challenge_id: row.id,
            purpose: check.purpose,
            subject: row.subject,
            document_digest: check.document_digest.clone(),
            masked_destination: row.masked_destination,
            verified_at: now,
        })
    }

    /// The challenge `check` names.
    fn lookup(
        &self,
        tx: &mut Tx<'_>,
        check: &Check,
    ) -> Result<Option<OtpChallengeRow>, StoreError> {
        match &check.lookup {
            ChallengeLookup::Id(id) => tx.otp_challenge_by_id(id),
            ChallengeLookup::Subject(subject) => {
                tx.latest_otp_challenge(subject, check.purpose.as_str())
            }
        }
    }

    /// Whether `check`'s code verifies `row` at `now` (before it is consumed).
    fn check_row(
        &self,
        row: &OtpChallengeRow,
        now: DateTime<Utc>,
        check: &Check,
    ) -> Result<(), Refusal> {
        let refuse = Refusal::Refused;
        if row.purpose != check.purpose.as_str() {
            return Err(refuse(OtpError::WrongPurpose));
        }
        if row.document_digest != check.document_digest.as_str() {
            return Err(refuse(OtpError::WrongDocument));
        }
        match row.status.as_str() {
            "pending" => {}
            "consumed" => return Err(refuse(OtpError::AlreadyUsed)),
            "locked" => return Err(refuse(OtpError::Locked)),
            // Replaced by a newer code: for the citizen the same as expired.
            _ => return Err(refuse(OtpError::Expired)),
        }
        if now >= utc(row.expires_at) {
            return Err(refuse(OtpError::Expired));
        }
        let given = self.code_hmac(&row.id, check.code.trim());
        if !constant_time_eq(given.as_bytes(), row.code_hmac.as_bytes()) {
            return Err(Refusal::WrongCode {
                challenge_id: row.id.clone(),
            });
        }
        Ok(())
    }

    /// Counts a wrong code in its own transaction; returns the refusal to show.
    async fn record_failure(&self, challenge_id: String, now: DateTime<Utc>) -> OtpError {
        let max_attempts = self.limits.max_attempts;
        let max = i32::try_from(max_attempts).unwrap_or(i32::MAX);
        let outcome = self
            .store
            .write(move |tx| {
                let r = tx.record_otp_failure(&challenge_id, max)?;
                if !r.counted {
                    // Closed meanwhile (used, locked or replaced): nothing changed, and the
                    // unaudited transaction rolls back harmlessly.
                    return Err(if r.locked {
                        OtpError::Locked
                    } else {
                        OtpError::Expired
                    });
                }
                tx.audit(NewEvent::new(
                    now,
                    &Actor::System,
                    if r.locked {
                        "otp.locked"
                    } else {
                        "otp.code_rejected"
                    },
                    "otp_challenge",
                    challenge_id,
                    json!({ "failed_attempts": r.failed_attempts }),
                ))?;
                Ok(if r.locked {
                    OtpError::Locked
                } else {
                    let failed = u32::try_from(r.failed_attempts).unwrap_or(u32::MAX);
                    OtpError::Invalid {
                        attempts_left: max_attempts.saturating_sub(failed),
                    }
                })
            })
            .await;
        outcome.unwrap_or_else(|e| e)
    }
}

fn utc(t: chrono::NaiveDateTime) -> DateTime<Utc> {
    DateTime::<Utc>::from_naive_utc_and_offset(t, Utc)
}

/// Whole seconds, rounded up, so a countdown never reaches 0 early.
fn ceil_seconds(d: Duration) -> i64 {
    let ms = d.num_milliseconds().max(0);
    (ms + 999) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_digest_is_64_hex_digits_kept_lower_case() {
        let upper = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        let d = DocumentDigest::parse(upper).unwrap();
        assert_eq!(d, DocumentDigest::of(b""));
        assert!(DocumentDigest::parse(&upper[1..]).is_err());
        assert!(DocumentDigest::parse(&upper.replace('E', "g")).is_err());
    }

    #[test]
    fn countdowns_round_up_to_whole_seconds() {
        assert_eq!(ceil_seconds(Duration::milliseconds(59_001)), 60);
        assert_eq!(ceil_seconds(Duration::seconds(60)), 60);
        assert_eq!(ceil_seconds(Duration::seconds(-3)), 0);
    }
}
