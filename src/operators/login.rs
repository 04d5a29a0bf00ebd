//! Sign-in with password and TOTP, the lock-out after repeated failures, and the bearer
//! sessions it opens (resolved again on every request by [`Accounts::authenticate`]).

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::passwords::{verify_password, DUMMY_HASH};
use super::settings::LAST_SEEN_EVERY_SECONDS;
use super::{operator_parts, Accounts, OperatorsError, Principal, Role};
use crate::audit::{Actor, NewEvent};
use crate::secrets::{random_token, sha256_hex};
use crate::store::{SessionRow, ANY_CLIENT};

pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub must_change_password: bool,
    pub role: Role,
}

/// The longest username counted: longer ones cannot exist (`Username::parse`), and the
/// count's key stays small whatever a caller sends.
const MAX_COUNTED_USERNAME: usize = 64;

impl Accounts {
    /// Password + TOTP sign-in from `client` (the caller's address, `http::client_address`).
    /// Wrong password, wrong code, a replayed code and an unknown username are all
    /// `InvalidCredentials` to the caller (the audit trail records which). Failures are
    /// counted per (username, client) and per username across all clients, whether the
    /// username exists or not, so the lock-out answers alike for unknown and real accounts,
    /// and failures from one address lock that address out after `login_max_failures`, all
    /// of them only after the much higher `login_account_max_failures`.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        totp_code: &str,
        client: &str,
    ) -> Result<Session, OperatorsError> {
        let now = self.clock.now();
        let name: String = username.chars().take(MAX_COUNTED_USERNAME).collect();
        let (lookup, at) = (name.clone(), client.to_string());
        let (row, locked) = self
            .store
            .read(move |tx| {
                let row = tx.operator_by_username(&lookup)?;
                let locked = tx.login_locked_until(&lookup, &at, now.naive_utc())?;
                Ok::<_, OperatorsError>((row, locked))
            })
            .await?;
        // The same argon2 work on every path, so timing tells neither which names exist
        // nor which are locked.
        let hash = match (&row, locked) {
            (Some(row), None) => row.password_hash.clone(),
            _ => DUMMY_HASH.to_string(),
        };
        let password_ok = verify_password(password.to_string(), hash).await?;
        if let Some(until) = locked {
            return Err(OperatorsError::Locked {
                until: until.and_utc(),
            });
        }
        let Some(row) = row else {
            return Err(self
                .fail_login(name, None, client, "unknown_username", now)
                .await);
        };
        let step = if password_ok {
            self.matching_totp_step(&row, totp_code, now)?
        } else {
            None
        };
        let failure_reason = match (password_ok, step, row.disabled) {
            (_, _, true) => Some("account_disabled"),
            (false, _, _) => Some("wrong_password"),
            (true, None, _) => Some("wrong_totp"),
            (true, Some(_), false) => None,
        };
        if let Some(reason) = failure_reason {
            return Err(self
                .fail_login(name, Some(row.id), client, reason, now)
                .await);
        }
        let step = step.unwrap_or_default();
        let token = random_token("ces_");
        let expires_at = now + Duration::hours(i64::from(self.policy.session_max_hours));
        let session = SessionRow {
            token_hash: sha256_hex(token.as_bytes()),
            operator_id: row.id.clone(),
            created_at: now.naive_utc(),
            last_seen_at: now.naive_utc(),
            expires_at: expires_at.naive_utc(),
            revoked: false,
        };
        let role = Role::parse(&row.role)?;
        let must_change_password = row.must_change_password;
        let actor = Actor::Operator {
            username: row.username.clone(),
        };
        let (id, at, counted) = (row.id.clone(), client.to_string(), name.clone());
        let accepted = self
            .store
            .write(move |tx| {
                if !tx.consume_totp_step(&id, step)? {
                    // Not this transaction's change to make: a replay is a failure, recorded
                    // in its own transaction below.
                    tx.audit(NewEvent::new(
                        now,
                        &actor,
                        "operator.login_replay_refused",
                        "operator",
                        &id,
                        json!({"totp_step": step}),
                    ))?;
                    return Ok::<_, OperatorsError>(false);
                }
                tx.clear_login_failures(&counted, &at)?;
                tx.insert_session(&session)?;
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "operator.login",
                    "operator",
                    &id,
                    json!({"session": &session.token_hash[..16], "client": at}),
                ))?;
                Ok(true)
            })
            .await?;
        if !accepted {
            return Err(self
                .fail_login(name, Some(row.id), client, "replayed_totp", now)
                .await);
        }
        Ok(Session {
            token,
            expires_at,
            must_change_password,
            role,
        })
    }

    /// Counts a failed sign-in (see [`Accounts::login`]) with its audit event: on the
    /// operator when the username exists, else on the username tried.
    async fn fail_login(
        &self,
        username: String,
        operator_id: Option<String>,
        client: &str,
        reason: &'static str,
        now: DateTime<Utc>,
    ) -> OperatorsError {
        let per_client = i32::try_from(self.policy.login_max_failures).unwrap_or(i32::MAX);
        let per_account = i32::try_from(self.policy.login_account_max_failures).unwrap_or(i32::MAX);
        let window = Duration::minutes(i64::from(self.policy.login_lockout_minutes));
        let until = now + window;
        let client = client.to_string();
        let result = self
            .store
            .write(move |tx| {
                let locked = tx.record_login_failure(
                    &username,
                    &[(client.as_str(), per_client), (ANY_CLIENT, per_account)],
                    now.naive_utc(),
                    (now - window).naive_utc(),
                    until.naive_utc(),
                )?;
                let (actor, object_type, object_id) = match &operator_id {
                    Some(id) => (
                        Actor::Operator {
                            username: username.clone(),
                        },
                        "operator",
                        id.as_str(),
                    ),
                    None => (Actor::System, "username", username.as_str()),
                };
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "operator.login_failed",
                    object_type,
                    object_id,
                    json!({"reason": reason, "client": client}),
                ))?;
                if locked.is_some() {
                    tx.audit(NewEvent::new(
                        now,
                        &Actor::System,
                        "operator.locked",
                        object_type,
                        object_id,
                        json!({"until": crate::audit::format_time(&until), "client": client}),
                    ))?;
                }
                Ok::<_, OperatorsError>(locked)
            })
            .await;
        match result {
            Ok(Some(_)) => OperatorsError::Locked { until },
            Ok(None) => OperatorsError::InvalidCredentials,
            Err(e) => e,
        }
    }

    pub async fn logout(&self, principal: &Principal) -> Result<(), OperatorsError> {
        let (id, _, session) = operator_parts(principal)?;
        let (id, session, actor) = (id.to_string(), session.to_string(), principal.actor());
        let now = self.clock.now();
        self.store
            .write(move |tx| {
                tx.revoke_session(&session)?;
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "operator.logout",
                    "operator",
                    &id,
                    json!({}),
                ))?;
                Ok::<_, OperatorsError>(())
            })
            .await
    }

    /// Resolves a bearer token (operator session `ces_…` or API key `cak_…`).
    pub async fn authenticate(&self, token: &str) -> Result<Principal, OperatorsError> {
        let now = self.clock.now();
        if let Some(rest) = token.strip_prefix("cak_") {
            return self.authenticate_api_key(rest).await;
        }
        if !token.starts_with("ces_") {
            return Err(OperatorsError::Unauthenticated);
        }
        let hash = sha256_hex(token.as_bytes());
        let lookup = hash.clone();
        let (session, op) = self
            .store
            .read(move |tx| tx.session_with_operator(&lookup))
            .await?
            .ok_or(OperatorsError::Unauthenticated)?;
        let idle = Duration::minutes(i64::from(self.policy.session_idle_minutes));
        if session.revoked || op.disabled {
            return Err(OperatorsError::Unauthenticated);
        }
        if session.expires_at.and_utc() <= now || session.last_seen_at.and_utc() + idle <= now {
            return Err(OperatorsError::SessionExpired);
        }
        // Touch at most once a minute: idle expiry needs no finer grain.
        if now - session.last_seen_at.and_utc() > Duration::seconds(LAST_SEEN_EVERY_SECONDS) {
            self.store
                .touch_session(hash.clone(), now.naive_utc())
                .await?;
        }
        Ok(Principal::Operator {
            id: op.id,
            username: op.username,
            role: Role::parse(&op.role)?,
            must_change_password: op.must_change_password,
            session: hash,
        })
    }
}
