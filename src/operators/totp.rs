//! TOTP (RFC 6238, SHA-1, 6 digits, 30 s): the one code check used by sign-in and by
//! first-sign-in enrolment, and the first-sign-in enrolment of a secret only the operator
//! knows.

use chrono::{DateTime, Utc};
use serde_json::json;
use totp_rs::{Algorithm, TOTP};

use super::passwords::{check_password_strength, hash_password, verify_password};
use super::{operator_parts, Accounts, OperatorsError, Principal};
use crate::audit::NewEvent;
use crate::secrets::{constant_time_eq, random_bytes};
use crate::store::OperatorRow;

/// A TOTP secret offered at first sign-in, not yet confirmed. It travels sealed (bound to the
/// operator and the session) in the page's form, so no server-side state is kept between
/// showing the QR code and the operator confirming it.
pub struct PendingTotp {
    /// Base64 of the sealed secret, for a hidden form field.
    pub sealed: String,
    pub secret_base32: String,
    pub otpauth_url: String,
}

/// A confirmed TOTP secret shown once: after an administrator's reset, or to an operator
/// completing first sign-in through the API.
pub struct NewTotp {
    pub secret_base32: String,
    pub otpauth_url: String,
}

/// Sealing purpose of the confirmed secret, bound to the operator's id.
const TOTP_PURPOSE: &str = "operator-totp";
/// Sealing purpose of a secret offered at first sign-in, bound to operator and session.
const PENDING_TOTP_PURPOSE: &str = "operator-totp-pending";
/// RFC 6238's time step.
const STEP_SECONDS: i64 = 30;

/// The time step `code` belongs to, accepting one step of clock drift either way. Sign-in
/// and first-sign-in enrolment both check codes here; the caller's replay guard then
/// consumes the step.
fn matching_step(totp: &TOTP, code: &str, now: DateTime<Utc>) -> Option<i64> {
    let current = now.timestamp().div_euclid(STEP_SECONDS);
    let code = code.trim();
    [current - 1, current, current + 1]
        .into_iter()
        .find(|step| {
            let expected = totp.generate(u64::try_from(step * STEP_SECONDS).unwrap_or(0));
            constant_time_eq(expected.as_bytes(), code.as_bytes())
        })
}

impl Accounts {
    pub(super) fn totp(&self, username: &str, secret: Vec<u8>) -> Result<TOTP, OperatorsError> {
        TOTP::new(
            Algorithm::SHA1,
            6,
            1,
            STEP_SECONDS as u64,
            secret,
            Some(self.totp_issuer.to_string()),
            username.to_string(),
        )
        .map_err(|e| OperatorsError::Crypto(format!("totp: {e:?}")))
    }

    /// A fresh secret for operator `id`: what to show once, and what to store.
    pub(super) fn fresh_totp(
        &self,
        id: &str,
        username: &str,
    ) -> Result<(NewTotp, Vec<u8>), OperatorsError> {
        let secret = random_bytes::<20>().to_vec();
        let sealed = self
            .keys
            .seal(TOTP_PURPOSE, id.as_bytes(), &secret)
            .map_err(|e| OperatorsError::Crypto(format!("seal TOTP secret: {e}")))?;
        let totp = self.totp(username, secret)?;
        Ok((
            NewTotp {
                secret_base32: totp.get_secret_base32(),
                otpauth_url: totp.get_url(),
            },
            sealed,
        ))
    }

    /// The time step of `code` under the operator's confirmed secret, if it matches.
    pub(super) fn matching_totp_step(
        &self,
        row: &OperatorRow,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, OperatorsError> {
        let secret = self
            .keys
            .open(TOTP_PURPOSE, row.id.as_bytes(), &row.totp_secret_sealed)
            .map_err(|e| OperatorsError::Crypto(format!("open TOTP secret: {e}")))?;
        let totp = self.totp(&row.username, secret)?;
        Ok(matching_step(&totp, code, now))
    }

    /// A new TOTP secret for `principal`'s first sign-in.
    pub fn begin_totp_enrolment(
        &self,
        principal: &Principal,
    ) -> Result<PendingTotp, OperatorsError> {
        let (_, username, _) = operator_parts(principal)?;
        let secret = random_bytes::<20>().to_vec();
        let sealed = self
            .keys
            .seal(
                PENDING_TOTP_PURPOSE,
                pending_aad(principal)?.as_bytes(),
                &secret,
            )
            .map_err(|e| OperatorsError::Crypto(format!("seal TOTP secret: {e}")))?;
        let totp = self.totp(username, secret)?;
        Ok(PendingTotp {
            sealed: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sealed),
            secret_base32: totp.get_secret_base32(),
            otpauth_url: totp.get_url(),
        })
    }

    /// The pending secret a form carried back (to show the same QR code again after a
    /// mistake); refuses one sealed for another operator or session.
    pub fn reopen_totp_enrolment(
        &self,
        principal: &Principal,
        sealed: &str,
    ) -> Result<(PendingTotp, Vec<u8>), OperatorsError> {
        let (_, username, _) = operator_parts(principal)?;
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sealed)
            .map_err(|_| OperatorsError::TotpEnrolmentCodeInvalid)?;
        let secret = self
            .keys
            .open(
                PENDING_TOTP_PURPOSE,
                pending_aad(principal)?.as_bytes(),
                &bytes,
            )
            .map_err(|_| OperatorsError::TotpEnrolmentCodeInvalid)?;
        let totp = self.totp(username, secret.clone())?;
        Ok((
            PendingTotp {
                sealed: sealed.to_string(),
                secret_base32: totp.get_secret_base32(),
                otpauth_url: totp.get_url(),
            },
            secret,
        ))
    }

    /// First sign-in (or after an administrator's reset): replaces the one-time password and
    /// the TOTP secret the administrator saw with a password and a secret only the operator
    /// knows, in one transaction, confirmed by a code from the new secret.
    pub async fn complete_first_sign_in(
        &self,
        principal: &Principal,
        sealed_secret: &str,
        totp_code: &str,
        new_password: &str,
    ) -> Result<(), OperatorsError> {
        let (id, username, _) = operator_parts(principal)?;
        let (_, secret) = self.reopen_totp_enrolment(principal, sealed_secret)?;
        check_password_strength("", new_password)?;
        let lookup = id.to_string();
        let row = self
            .store
            .read(move |tx| tx.operator_by_id(&lookup))
            .await?
            .ok_or(OperatorsError::NotFound)?;
        if !row.must_change_password {
            return Err(OperatorsError::FirstSignInDone);
        }
        if verify_password(new_password.to_string(), row.password_hash.clone()).await? {
            return Err(OperatorsError::WeakPassword(
                "must differ from the current one",
            ));
        }
        let now = self.clock.now();
        let totp = self.totp(username, secret.clone())?;
        let step =
            matching_step(&totp, totp_code, now).ok_or(OperatorsError::TotpEnrolmentCodeInvalid)?;
        let sealed = self
            .keys
            .seal(TOTP_PURPOSE, id.as_bytes(), &secret)
            .map_err(|e| OperatorsError::Crypto(format!("seal TOTP secret: {e}")))?;
        let hash = hash_password(new_password.to_string()).await?;
        self.store_first_sign_in(principal, hash, sealed, Some(step))
            .await
    }

    /// Stores the operator's own password and TOTP secret, conditional on the one-time
    /// password still being in place (so a double submit cannot apply twice), and ends the
    /// operator's other sessions, as every password change does.
    pub(super) async fn store_first_sign_in(
        &self,
        principal: &Principal,
        password_hash: String,
        totp_sealed: Vec<u8>,
        step: Option<i64>,
    ) -> Result<(), OperatorsError> {
        let (id, _, session) = operator_parts(principal)?;
        let (id, session) = (id.to_string(), session.to_string());
        let (actor, now) = (principal.actor(), self.clock.now());
        self.store
            .write(move |tx| {
                if !tx.complete_first_sign_in(&id, &password_hash, &totp_sealed, step)? {
                    return Err(OperatorsError::FirstSignInDone);
                }
                let ended = tx.revoke_other_operator_sessions(&id, &session)?;
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "operator.first_sign_in_completed",
                    "operator",
                    &id,
                    json!({"password_changed": true, "totp_enrolled": true, "sessions_ended": ended}),
                ))?;
                Ok(())
            })
            .await
    }
}

/// A pending secret belongs to one operator in one session.
fn pending_aad(principal: &Principal) -> Result<String, OperatorsError> {
    let (id, _, session) = operator_parts(principal)?;
    Ok(format!("{id}:{session}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_matches_its_step_and_one_step_of_drift_either_way() {
        let totp = TOTP::new(Algorithm::SHA1, 6, 1, 30, vec![7; 20], None, "op".into()).unwrap();
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let current = now.timestamp().div_euclid(STEP_SECONDS);
        let code_at = |step: i64| totp.generate(u64::try_from(step * STEP_SECONDS).unwrap());
        for drift in [-1, 0, 1] {
            let code = format!(" {} ", code_at(current + drift));
            assert_eq!(matching_step(&totp, &code, now), Some(current + drift));
        }
        for drift in [-2, 2] {
            assert_eq!(matching_step(&totp, &code_at(current + drift), now), None);
        }
        assert_eq!(matching_step(&totp, "", now), None);
    }
}
