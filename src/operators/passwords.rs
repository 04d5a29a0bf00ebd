//! Passwords: argon2id hashing off the async workers, the strength rule, generated one-time
//! passwords, and an operator's own password change.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde_json::json;

use super::totp::NewTotp;
use super::{operator_parts, Accounts, OperatorsError, Principal};
use crate::audit::NewEvent;
use crate::secrets::random_bytes;

impl Accounts {
    /// The caller's own password change; it ends the operator's other sessions (pages and
    /// API alike). At first sign-in (a one-time password) it also replaces the TOTP secret
    /// the administrator saw, returning the new one, shown once, as the first-sign-in page
    /// does.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &str,
    ) -> Result<Option<NewTotp>, OperatorsError> {
        let (id, username, session) = operator_parts(principal)?;
        check_password_strength(current, new)?;
        let lookup = id.to_string();
        let row = self
            .store
            .read(move |tx| tx.operator_by_id(&lookup))
            .await?
            .ok_or(OperatorsError::NotFound)?;
        if !verify_password(current.to_string(), row.password_hash.clone()).await? {
            return Err(OperatorsError::InvalidCredentials);
        }
        let hash = hash_password(new.to_string()).await?;
        if row.must_change_password {
            let (shown, sealed) = self.fresh_totp(id, username)?;
            self.store_first_sign_in(principal, hash, sealed, None)
                .await?;
            return Ok(Some(shown));
        }
        let (id, session) = (id.to_string(), session.to_string());
        let (actor, now) = (principal.actor(), self.clock.now());
        self.store
            .write(move |tx| {
                // An administrator's reset meanwhile ended this session too.
                if !tx.set_password(&id, &hash)? {
                    return Err(OperatorsError::Unauthenticated);
                }
                let ended = tx.revoke_other_operator_sessions(&id, &session)?;
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "operator.password_changed",
                    "operator",
                    &id,
                    json!({"sessions_ended": ended}),
                ))?;
                Ok::<_, OperatorsError>(())
            })
            .await?;
        Ok(None)
    }
}

/// An argon2 hash of a random password nobody knows, for unknown usernames.
pub(super) const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$TQ2ZtZ5cOqo+KQ3p8bYtAPmdRGJLqwg0w8RzJ8aL0x8";

/// Argon2id (library defaults: 19 MiB, 2 passes), off the async workers.
pub(super) async fn hash_password(password: String) -> Result<String, OperatorsError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&random_bytes::<16>())
            .map_err(|e| OperatorsError::Crypto(format!("salt: {e}")))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| OperatorsError::Crypto(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| OperatorsError::Crypto(format!("blocking task: {e}")))?
}

pub(super) async fn verify_password(
    password: String,
    hash: String,
) -> Result<bool, OperatorsError> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash)
            .map_err(|e| OperatorsError::Crypto(format!("stored password hash: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| OperatorsError::Crypto(format!("blocking task: {e}")))?
}

pub(super) fn check_password_strength(current: &str, new: &str) -> Result<(), OperatorsError> {
    let n = new.chars().count();
    if n < 12 {
        return Err(OperatorsError::WeakPassword("at least 12 characters"));
    }
    if n > 128 {
        return Err(OperatorsError::WeakPassword("at most 128 characters"));
    }
    if new == current {
        return Err(OperatorsError::WeakPassword(
            "must differ from the current one",
        ));
    }
    Ok(())
}

/// 16 characters from an alphabet without look-alikes (no 0/O, 1/l/I).
pub(super) fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(16);
    while out.len() < 16 {
        for b in random_bytes::<32>() {
            // Rejection sampling keeps the distribution uniform.
            let limit = 256 - 256 % ALPHABET.len();
            if usize::from(b) < limit && out.len() < 16 {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_sixteen_unambiguous_characters() {
        let p = generate_password();
        assert_eq!(p.len(), 16);
        assert!(!p.contains(['0', 'O', '1', 'l', 'I']));
        assert_ne!(p, generate_password());
    }

    #[test]
    fn dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
