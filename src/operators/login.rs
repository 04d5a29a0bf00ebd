//! Sign-in with password and TOTP, the lock-out after repeated failures, and the bearer
//! sessions it opens (resolved again on every request by [`Accounts::authenticate`]).

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::passwords::{verify_password, DUMMY_HASH};
use super::settings::LAST_SEEN_EVERY_SECONDS;
use super::{operator_parts, Accounts, OperatorsError, Principal, Role};
use crate::audit::{Actor, NewEvent};
use crate::secrets::{random_token, sha256_hex};
use crate::store::{OperatorRow, SessionRow};

pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub must_change_password: bool,
    pub role: Role,
}

impl Accounts {
    /// Password + TOTP sign-in. Wrong password, wrong code and a replayed code are all
    /// `InvalidCredentials` to the caller (the audit trail records which); after
    /// `login_max_failures` failures the account locks for `login_lockout_minutes`.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        totp_code: &str,
    ) -> Result<Session, OperatorsError> {
        let now = self.clock.now();
        let name = username.to_string();
        let row = self
            .store
            .read(move |tx| tx.operator_by_username(&name))
            .await?;
        let Some(row) = row else {
            // Same work as for a real account, so timing does not reveal which names exist.
            let _ = verify_password(password.to_string(), DUMMY_HASH.to_string()).await;
            tracing::warn!(username, "login for unknown operator");
            return Err(OperatorsError::InvalidCredentials);
        };
        if let Some(until) = row.locked_until {
            let until = until.and_utc();
            if until > now {
                return Err(OperatorsError::Locked { until });
            }
        }
        let password_ok = verify_password(password.to_string(), row.password_hash.clone()).await?;
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
        let actor = Actor::Operator {
            username: row.username.clone(),
        };
        if let Some(reason) = failure_reason {
            return Err(self.fail_login(row, actor, reason, now).await);
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
        let id = row.id.clone();
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
                tx.insert_session(&session)?;
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "operator.login",
                    "operator",
                    &id,
                    json!({"session": &session.token_hash[..16]}),
                ))?;
                Ok(true)
            })
            .await?;
        if !accepted {
            let actor = Actor::Operator {
                username: row.username.clone(),
            };
            return Err(self.fail_login(row, actor, "replayed_totp", now).await);
        }
        Ok(Session {
            token,
            expires_at,
            must_change_password,
            role,
        })
    }

    async fn fail_login(
        &self,
        row: OperatorRow,
        actor: Actor,
        reason: &'static str,
        now: DateTime<Utc>,
    ) -> OperatorsError {
        let max = i32::try_from(self.policy.login_max_failures).unwrap_or(i32::MAX);
        let until = now + Duration::minutes(i64::from(self.policy.login_lockout_minutes));
        let id = row.id;
        let result = self
            .store
            .write(move |tx| {
                let locked = tx.record_login_failure(&id, max, until.naive_utc())?;
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "operator.login_failed",
                    "operator",
                    &id,
                    json!({"reason": reason}),
                ))?;
                if locked.is_some() {
                    tx.audit(NewEvent::new(
                        now,
                        &Actor::System,
                        "operator.locked",
                        "operator",
                        &id,
                        json!({"until": crate::audit::format_time(&until)}),
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
