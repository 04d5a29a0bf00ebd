//! Operator accounts (roles, argon2 passwords, mandatory TOTP with a replay guard, lock-out),
//! their bearer sessions, and integration API keys with scopes. Both kinds of credential
//! resolve to a [`Principal`] that every operation checks.

mod credentials;
mod settings;

pub use credentials::{Principal, Scope};
pub use settings::Settings;

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use totp_rs::{Algorithm, TOTP};

use crate::audit::{Actor, NewEvent};
use crate::clock::Clock;
use crate::secrets::{constant_time_eq, random_bytes, random_token, sha256_hex, MasterKey};
use crate::store::{ApiKeyRow, OperatorRow, SessionRow, Store, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Video-call verification.
    Operator,
    /// Approvals, issuance, revocation.
    RaOfficer,
    Admin,
    /// Read-only.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Operator, Role::RaOfficer, Role::Admin, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::RaOfficer => "ra_officer",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Result<Self, OperatorsError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| OperatorsError::InvalidRole(s.to_string()))
    }
}

/// 3 to 32 characters: lower-case letters, digits, `.`, `_`, `-`, starting with a letter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Self, OperatorsError> {
        let ok = (3..=32).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(OperatorsError::InvalidUsername)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorsError {
    #[error("username must be 3-32 characters: lower-case letters, digits, '.', '_', '-', starting with a letter")]
    InvalidUsername,
    #[error("unknown role `{0}`; allowed: operator, ra_officer, admin, auditor")]
    InvalidRole(String),
    #[error("unknown scope `{0}`; allowed: enrol, lifecycle, reports")]
    InvalidScope(String),
    #[error("API key name must be 1-100 characters")]
    InvalidName,
    #[error("password too weak: {0}")]
    WeakPassword(&'static str),
    #[error("username already exists")]
    UsernameTaken,
    #[error("wrong username, password or authentication code")]
    InvalidCredentials,
    #[error("account locked until {until}")]
    Locked { until: DateTime<Utc> },
    #[error("missing or unknown credentials")]
    Unauthenticated,
    #[error("session expired; sign in again")]
    SessionExpired,
    #[error("not allowed for this principal; needs {needed}")]
    Forbidden { needed: String },
    #[error("the one-time password must be changed first")]
    PasswordChangeRequired,
    #[error("the code does not match the new authenticator secret")]
    TotpEnrolmentCodeInvalid,
    #[error("first sign-in is already complete")]
    FirstSignInDone,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] StoreError),
}

/// Credentials shown once, when an account is created: never stored in clear, never logged.
pub struct NewOperatorCredentials {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub one_time_password: String,
    pub totp_secret_base32: String,
    pub otpauth_url: String,
}

/// What an administrator's reset produced; shown once.
pub struct ResetCredentials {
    pub username: String,
    pub one_time_password: Option<String>,
    pub totp_secret_base32: Option<String>,
    pub otpauth_url: Option<String>,
}

pub struct NewApiKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The full bearer token; shown once.
    pub token: String,
}

pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub must_change_password: bool,
    pub role: Role,
}

/// A TOTP secret offered at first sign-in, not yet confirmed. It travels sealed (bound to the
/// operator and the session) in the page's form, so no server-side state is kept between
/// showing the QR code and the operator confirming it.
pub struct PendingTotp {
    /// Base64 of the sealed secret, for a hidden form field.
    pub sealed: String,
    pub secret_base32: String,
    pub otpauth_url: String,
}

const TOTP_ISSUER: &str = "ca-enrol";
const TOTP_PURPOSE: &str = "operator-totp";
const PENDING_TOTP_PURPOSE: &str = "operator-totp-pending";

/// The account service: everything about who may act.
#[derive(Clone)]
pub struct Accounts {
    store: Store,
    keys: MasterKey,
    clock: Arc<dyn Clock>,
    policy: Settings,
}

impl Accounts {
    pub fn new(store: Store, keys: MasterKey, clock: Arc<dyn Clock>, policy: Settings) -> Self {
        Self {
            store,
            keys,
            clock,
            policy,
        }
    }

    fn totp(&self, username: &str, secret: Vec<u8>) -> Result<TOTP, OperatorsError> {
        TOTP::new(
            Algorithm::SHA1,
            6,
            1,
            30,
            secret,
            Some(TOTP_ISSUER.to_string()),
            username.to_string(),
        )
        .map_err(|e| StoreError::Unexpected(format!("totp: {e:?}")).into())
    }

    /// Creates an account with a one-time password and a fresh TOTP secret.
    pub async fn create_operator(
        &self,
        actor: &Actor,
        username: &str,
        role: Role,
    ) -> Result<NewOperatorCredentials, OperatorsError> {
        let username = Username::parse(username)?;
        let one_time_password = generate_password();
        let password_hash = hash_password(one_time_password.clone()).await?;
        let secret = random_bytes::<20>().to_vec();
        let id = uuid::Uuid::new_v4().to_string();
        let totp = self.totp(username.as_str(), secret.clone())?;
        let sealed = self
            .keys
            .seal(TOTP_PURPOSE, id.as_bytes(), &secret)
            .map_err(|e| StoreError::Unexpected(e.to_string()))?;
        let now = self.clock.now();
        let row = OperatorRow {
            id: id.clone(),
            username: username.as_str().to_string(),
            role: role.as_str().to_string(),
            password_hash,
            must_change_password: true,
            totp_secret_sealed: sealed,
            last_totp_step: 0,
            failed_logins: 0,
            locked_until: None,
            disabled: false,
            created_at: now.naive_utc(),
        };
        let event = NewEvent::new(
            now,
            actor,
            "operator.created",
            "operator",
            &id,
            json!({"username": row.username, "role": row.role}),
        );
        self.store
            .write(move |tx| {
                tx.insert_operator(&row).map_err(|e| match e {
                    StoreError::Conflict(_) => OperatorsError::UsernameTaken,
                    e => e.into(),
                })?;
                tx.audit(event)?;
                Ok::<_, OperatorsError>(())
            })
            .await?;
        Ok(NewOperatorCredentials {
            id,
            username: username.0,
            role,
            one_time_password,
            totp_secret_base32: totp.get_secret_base32(),
            otpauth_url: totp.get_url(),
        })
    }

    /// Creates `admin` when no active administrator exists (first run). Returns None when one
    /// exists, also when another process created it a moment ago.
    pub async fn bootstrap_admin(&self) -> Result<Option<NewOperatorCredentials>, OperatorsError> {
        let admins = self
            .store
            .read(|tx| tx.count_active_operators_with_role(Role::Admin.as_str()))
            .await?;
        if admins > 0 {
            return Ok(None);
        }
        match self
            .create_operator(&Actor::System, "admin", Role::Admin)
            .await
        {
            Ok(creds) => Ok(Some(creds)),
            Err(OperatorsError::UsernameTaken) => Ok(None),
            Err(e) => Err(e),
        }
    }

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

    /// The TOTP time step `code` belongs to (one step of drift either way), if any.
    fn matching_totp_step(
        &self,
        row: &OperatorRow,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, OperatorsError> {
        let secret = self
            .keys
            .open(TOTP_PURPOSE, row.id.as_bytes(), &row.totp_secret_sealed)
            .map_err(|e| StoreError::Unexpected(e.to_string()))?;
        let totp = self.totp(&row.username, secret)?;
        let current = now.timestamp().div_euclid(30);
        let code = code.trim();
        Ok([current - 1, current, current + 1]
            .into_iter()
            .find(|step| {
                let expected = totp.generate(u64::try_from(step * 30).unwrap_or(0));
                constant_time_eq(expected.as_bytes(), code.as_bytes())
            }))
    }

    pub async fn logout(&self, principal: &Principal) -> Result<(), OperatorsError> {
        let Principal::Operator { id, session, .. } = principal else {
            return Err(OperatorsError::Forbidden {
                needed: "an operator session".into(),
            });
        };
        let (id, session, actor) = (id.clone(), session.clone(), principal.actor());
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

    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new: &str,
    ) -> Result<(), OperatorsError> {
        let Principal::Operator { id, .. } = principal else {
            return Err(OperatorsError::Forbidden {
                needed: "an operator session".into(),
            });
        };
        check_password_strength(current, new)?;
        let lookup = id.clone();
        let row = self
            .store
            .read(move |tx| tx.operator_by_id(&lookup))
            .await?
            .ok_or(OperatorsError::NotFound)?;
        if !verify_password(current.to_string(), row.password_hash).await? {
            return Err(OperatorsError::InvalidCredentials);
        }
        let hash = hash_password(new.to_string()).await?;
        let (id, actor, now) = (id.clone(), principal.actor(), self.clock.now());
        self.store
            .write(move |tx| {
                tx.set_password(&id, &hash)?;
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "operator.password_changed",
                    "operator",
                    &id,
                    json!({}),
                ))?;
                Ok::<_, OperatorsError>(())
            })
            .await
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
            .map_err(|e| StoreError::Unexpected(e.to_string()))?;
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
        let current = now.timestamp().div_euclid(30);
        let code = totp_code.trim();
        let step = [current - 1, current, current + 1]
            .into_iter()
            .find(|step| {
                let expected = totp.generate(u64::try_from(step * 30).unwrap_or(0));
                constant_time_eq(expected.as_bytes(), code.as_bytes())
            })
            .ok_or(OperatorsError::TotpEnrolmentCodeInvalid)?;
        let sealed = self
            .keys
            .seal(TOTP_PURPOSE, id.as_bytes(), &secret)
            .map_err(|e| StoreError::Unexpected(e.to_string()))?;
        let hash = hash_password(new_password.to_string()).await?;
        let (id, actor) = (id.to_string(), principal.actor());
        self.store
            .write(move |tx| {
                // Conditional on the flag, so a double submit cannot apply twice.
                if !tx.complete_first_sign_in(&id, &hash, &sealed, step)? {
                    return Err(OperatorsError::FirstSignInDone);
                }
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "operator.first_sign_in_completed",
                    "operator",
                    &id,
                    json!({"password_changed": true, "totp_enrolled": true}),
                ))?;
                Ok(())
            })
            .await
    }

    /// Every account, by username (administration page).
    pub async fn list_operators(&self) -> Result<Vec<OperatorRow>, OperatorsError> {
        Ok(self.store.read(|tx| tx.list_operators()).await?)
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, OperatorsError> {
        Ok(self.store.read(|tx| tx.list_api_keys()).await?)
    }

    /// Disables (ending its sessions) or re-enables an account. An administrator cannot
    /// disable their own account, so the last one cannot lock everyone out by mistake.
    pub async fn set_disabled(
        &self,
        principal: &Principal,
        id: &str,
        disabled: bool,
    ) -> Result<(), OperatorsError> {
        let (own_id, _, _) = operator_parts(principal)?;
        if disabled && own_id == id {
            return Err(OperatorsError::Forbidden {
                needed: "another administrator to disable this account".into(),
            });
        }
        let (id, actor, now) = (id.to_string(), principal.actor(), self.clock.now());
        self.store
            .write(move |tx| {
                if !tx.set_operator_disabled(&id, disabled)? {
                    return Err(OperatorsError::NotFound);
                }
                if disabled {
                    tx.revoke_operator_sessions(&id)?;
                }
                let action = if disabled {
                    "operator.disabled"
                } else {
                    "operator.enabled"
                };
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    action,
                    "operator",
                    &id,
                    json!({}),
                ))?;
                Ok(())
            })
            .await
    }

    /// An administrator's reset of a password or TOTP secret (lost phone, forgotten
    /// password): the new credential is shown once to the administrator, the operator's
    /// sessions end, and the next sign-in is a first sign-in again (own password, own new
    /// TOTP secret), so what the administrator saw does not stay in use.
    pub async fn reset_credentials(
        &self,
        principal: &Principal,
        id: &str,
        password: bool,
        totp: bool,
    ) -> Result<ResetCredentials, OperatorsError> {
        let lookup = id.to_string();
        let row = self
            .store
            .read(move |tx| tx.operator_by_id(&lookup))
            .await?
            .ok_or(OperatorsError::NotFound)?;
        let one_time_password = password.then(generate_password);
        let password_hash = match &one_time_password {
            Some(p) => Some(hash_password(p.clone()).await?),
            None => None,
        };
        let (totp_view, sealed) = if totp {
            let secret = random_bytes::<20>().to_vec();
            let view = self.totp(&row.username, secret.clone())?;
            let sealed = self
                .keys
                .seal(TOTP_PURPOSE, row.id.as_bytes(), &secret)
                .map_err(|e| StoreError::Unexpected(e.to_string()))?;
            (
                Some((view.get_secret_base32(), view.get_url())),
                Some(sealed),
            )
        } else {
            (None, None)
        };
        let (id, actor, now) = (row.id.clone(), principal.actor(), self.clock.now());
        self.store
            .write(move |tx| {
                if !tx.reset_operator_credentials(
                    &id,
                    password_hash.as_deref(),
                    sealed.as_deref(),
                )? {
                    return Err(OperatorsError::NotFound);
                }
                tx.revoke_operator_sessions(&id)?;
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "operator.credentials_reset",
                    "operator",
                    &id,
                    json!({"password": password, "totp": totp}),
                ))?;
                Ok(())
            })
            .await?;
        Ok(ResetCredentials {
            username: row.username,
            one_time_password,
            totp_secret_base32: totp_view.as_ref().map(|(s, _)| s.clone()),
            otpauth_url: totp_view.map(|(_, u)| u),
        })
    }

    pub async fn create_api_key(
        &self,
        actor: &Actor,
        name: &str,
        scopes: &[String],
    ) -> Result<NewApiKey, OperatorsError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(OperatorsError::InvalidName);
        }
        let scopes = scopes
            .iter()
            .map(|s| Scope::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        if scopes.is_empty() {
            return Err(OperatorsError::InvalidScope(String::new()));
        }
        let id = hex::encode(random_bytes::<8>());
        let secret = random_token("");
        let token = format!("cak_{id}.{secret}");
        let now = self.clock.now();
        let scope_text = scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let row = ApiKeyRow {
            id: id.clone(),
            name: name.to_string(),
            scopes: scope_text.clone(),
            secret_hash: sha256_hex(secret.as_bytes()),
            created_at: now.naive_utc(),
            revoked_at: None,
        };
        let event = NewEvent::new(
            now,
            actor,
            "api_key.created",
            "api_key",
            &id,
            json!({"name": name, "scopes": scope_text}),
        );
        self.store
            .write(move |tx| {
                tx.insert_api_key(&row)?;
                tx.audit(event)?;
                Ok::<_, OperatorsError>(())
            })
            .await?;
        Ok(NewApiKey {
            id,
            name: name.to_string(),
            scopes,
            token,
        })
    }

    pub async fn revoke_api_key(&self, actor: &Actor, id: &str) -> Result<(), OperatorsError> {
        let (id, actor, now) = (id.to_string(), actor.clone(), self.clock.now());
        self.store
            .write(move |tx| {
                if !tx.revoke_api_key(&id, now.naive_utc())? {
                    return Err(OperatorsError::NotFound);
                }
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "api_key.revoked",
                    "api_key",
                    &id,
                    json!({}),
                ))?;
                Ok(())
            })
            .await
    }

    /// Resolves a bearer token (operator session `ces_…` or API key `cak_…`).
    pub async fn authenticate(&self, token: &str) -> Result<Principal, OperatorsError> {
        let now = self.clock.now();
        if let Some(rest) = token.strip_prefix("cak_") {
            let (id, secret) = rest
                .split_once('.')
                .ok_or(OperatorsError::Unauthenticated)?;
            let lookup = id.to_string();
            let row = self
                .store
                .read(move |tx| tx.api_key_by_id(&lookup))
                .await?
                .ok_or(OperatorsError::Unauthenticated)?;
            let presented = sha256_hex(secret.as_bytes());
            if row.revoked_at.is_some()
                || !constant_time_eq(presented.as_bytes(), row.secret_hash.as_bytes())
            {
                return Err(OperatorsError::Unauthenticated);
            }
            let scopes = row
                .scopes
                .split_whitespace()
                .filter_map(|s| Scope::parse(s).ok())
                .collect();
            return Ok(Principal::ApiKey {
                id: row.id,
                name: row.name,
                scopes,
            });
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
        if now - session.last_seen_at.and_utc() > Duration::seconds(60) {
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

fn operator_parts(principal: &Principal) -> Result<(&str, &str, &str), OperatorsError> {
    match principal {
        Principal::Operator {
            id,
            username,
            session,
            ..
        } => Ok((id, username, session)),
        Principal::ApiKey { .. } => Err(OperatorsError::Forbidden {
            needed: "an operator session".into(),
        }),
    }
}

/// A pending secret belongs to one operator in one session.
fn pending_aad(principal: &Principal) -> Result<String, OperatorsError> {
    let (id, _, session) = operator_parts(principal)?;
    Ok(format!("{id}:{session}"))
}

/// An argon2 hash of a random password nobody knows, for unknown usernames.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$TQ2ZtZ5cOqo+KQ3p8bYtAPmdRGJLqwg0w8RzJ8aL0x8";

/// Argon2id (library defaults: 19 MiB, 2 passes), off the async workers.
pub async fn hash_password(password: String) -> Result<String, OperatorsError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&random_bytes::<16>())
            .map_err(|e| StoreError::Unexpected(format!("salt: {e}")))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Unexpected(format!("argon2: {e}")).into())
    })
    .await
    .map_err(|e| StoreError::Unexpected(format!("blocking task: {e}")))?
}

async fn verify_password(password: String, hash: String) -> Result<bool, OperatorsError> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash)
            .map_err(|e| StoreError::Unexpected(format!("stored password hash: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|e| StoreError::Unexpected(format!("blocking task: {e}")))?
}

fn check_password_strength(current: &str, new: &str) -> Result<(), OperatorsError> {
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
fn generate_password() -> String {
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
    fn usernames_are_lower_case_and_bounded() {
        assert!(Username::parse("nguyen.van-a_1").is_ok());
        for bad in ["ab", "Admin", "1abc", "a b", "quá", &"a".repeat(33)] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

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
