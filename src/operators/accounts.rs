//! Account administration: creation (with the first administrator at first run), listing,
//! disabling and an administrator's credential reset.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::passwords::{generate_password, hash_password};
use super::{operator_parts, Accounts, OperatorsError, Principal, Role, Username};
use crate::audit::{Actor, NewEvent};
use crate::store::{OperatorRow, StoreError};

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

impl Accounts {
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
        let id = uuid::Uuid::new_v4().to_string();
        let (totp, sealed) = self.fresh_totp(&id, username.as_str())?;
        let now = self.clock.now();
        let row = OperatorRow {
            id: id.clone(),
            username: username.as_str().to_string(),
            role: role.as_str().to_string(),
            password_hash,
            must_change_password: true,
            totp_secret_sealed: sealed,
            last_totp_step: 0,
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
            username: username.as_str().to_string(),
            role,
            one_time_password,
            totp_secret_base32: totp.secret_base32,
            otpauth_url: totp.otpauth_url,
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

    /// Every account, by username (administration page).
    pub async fn list_operators(&self) -> Result<Vec<OperatorRow>, OperatorsError> {
        Ok(self.store.read(|tx| tx.list_operators()).await?)
    }

    /// The usernames locked from every address now (the account-wide ceiling), with the
    /// lock's end (administration page; a reset lifts it).
    pub async fn account_locks(&self) -> Result<HashMap<String, DateTime<Utc>>, OperatorsError> {
        let now = self.clock.now().naive_utc();
        let locks = self.store.read(move |tx| tx.account_locks(now)).await?;
        Ok(locks
            .into_iter()
            .filter_map(|(name, until)| Some((name, until?.and_utc())))
            .collect())
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
        self.reset(&principal.actor(), row, password, totp).await
    }

    /// The same reset from the command line (`ca-enrol operator reset`), by username: the
    /// way back in when the only administrator lost their phone. Audited with actor `cli`.
    pub async fn reset_credentials_of(
        &self,
        actor: &Actor,
        username: &str,
        password: bool,
        totp: bool,
    ) -> Result<ResetCredentials, OperatorsError> {
        let lookup = username.to_string();
        let row = self
            .store
            .read(move |tx| tx.operator_by_username(&lookup))
            .await?
            .ok_or(OperatorsError::NotFound)?;
        self.reset(actor, row, password, totp).await
    }

    async fn reset(
        &self,
        actor: &Actor,
        row: OperatorRow,
        password: bool,
        totp: bool,
    ) -> Result<ResetCredentials, OperatorsError> {
        let one_time_password = password.then(generate_password);
        let password_hash = match &one_time_password {
            Some(p) => Some(hash_password(p.clone()).await?),
            None => None,
        };
        let (totp_view, sealed) = if totp {
            let (view, sealed) = self.fresh_totp(&row.id, &row.username)?;
            (Some(view), Some(sealed))
        } else {
            (None, None)
        };
        let (id, actor, now) = (row.id.clone(), actor.clone(), self.clock.now());
        let username = row.username.clone();
        self.store
            .write(move |tx| {
                // The reset also lifts the lock-out, from every address.
                tx.clear_all_login_failures(&username)?;
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
            totp_secret_base32: totp_view.as_ref().map(|v| v.secret_base32.clone()),
            otpauth_url: totp_view.map(|v| v.otpauth_url),
        })
    }
}
