//! Operator accounts (roles, argon2 passwords, mandatory TOTP with a replay guard, lock-out),
//! their bearer sessions, and integration API keys with scopes. Both kinds of credential
//! resolve to a [`Principal`] that every operation checks.
//!
//! One service, [`Accounts`], split by concept: `role` (roles, usernames), `accounts`
//! (creation and administration), `login` (sign-in, lock-out, sessions), `totp` (code check,
//! first-sign-in enrolment), `passwords` (argon2, strength, own change), `api_keys`, and
//! `credentials` (the [`Principal`] and its checks).

mod accounts;
mod api_keys;
mod credentials;
mod login;
mod passwords;
mod role;
mod settings;
mod totp;

pub use accounts::{NewOperatorCredentials, ResetCredentials};
pub use api_keys::NewApiKey;
pub use credentials::{Principal, Scope};
pub use login::Session;
pub use role::{Role, Username};
pub use settings::Settings;
pub use totp::{NewTotp, PendingTotp};

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::secrets::MasterKey;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum OperatorsError {
    #[error("username must be 3-32 characters: lower-case letters, digits, '.', '_', '-', starting with a letter")]
    InvalidUsername,
    #[error("unknown role `{0}`; allowed: operator, ra_officer, admin, auditor")]
    InvalidRole(String),
    #[error("unknown scope `{0}`; allowed: enrol, lifecycle, reports, all_integrations")]
    InvalidScope(String),
    #[error("API key or integration name must be 1-100 characters")]
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
    #[error("no such integration")]
    IntegrationNotFound,
    /// Hashing, TOTP or sealing failed: a fault of ours, not of the caller's input.
    #[error("credential cryptography: {0}")]
    Crypto(String),
    #[error(transparent)]
    Unexpected(#[from] StoreError),
}

/// The account service: everything about who may act.
#[derive(Clone)]
pub struct Accounts {
    store: Store,
    keys: MasterKey,
    clock: Arc<dyn Clock>,
    policy: Settings,
    /// The issuer of TOTP enrolments: the name the authenticator app shows.
    totp_issuer: Arc<str>,
}

impl Accounts {
    pub fn new(store: Store, keys: MasterKey, clock: Arc<dyn Clock>, policy: Settings) -> Self {
        Self {
            store,
            keys,
            clock,
            policy,
            totp_issuer: Arc::from("ca-enrol"),
        }
    }

    /// Authenticator entries named after the provider (`contract.provider.name`), so an
    /// operator finds them among others. A colon separates issuer and account in the otpauth
    /// label (and the TOTP library refuses one), so it becomes a space.
    pub fn with_totp_issuer(mut self, provider: &str) -> Self {
        let issuer = provider.replace(':', " ");
        let issuer = issuer.trim();
        if !issuer.is_empty() {
            self.totp_issuer = Arc::from(issuer);
        }
        self
    }
}

/// The guard of everything only an operator's own session may do (an API key may not):
/// the operator's id, username and session hash.
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
