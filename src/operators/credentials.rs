//! Who is calling, and the checks every operation makes on it.

use super::{OperatorsError, Role};
use crate::audit::Actor;

/// What an integration API key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Enrolment, contracts, issuance and acceptance on a subscriber's behalf (the provider's
    /// app backend, the VNeID hub connector).
    Enrol,
    /// Subscriber-requested revocation, suspension and renewal.
    Lifecycle,
    /// Adoption reports for local authorities.
    Reports,
    /// Together with `enrol` or `lifecycle`: reach every integration's enrolments, contracts
    /// and certificates, not only the key's own (the provider's own call centre). Only this
    /// scope lifts the integration check; grant it to the provider's own tools alone.
    AllIntegrations,
    /// Remote signing for the subscribers of the key's integration (the CSC API).
    Sign,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::Enrol,
        Scope::Lifecycle,
        Scope::Reports,
        Scope::AllIntegrations,
        Scope::Sign,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Enrol => "enrol",
            Scope::Lifecycle => "lifecycle",
            Scope::Reports => "reports",
            Scope::AllIntegrations => "all_integrations",
            Scope::Sign => "sign",
        }
    }

    pub fn parse(s: &str) -> Result<Self, OperatorsError> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| OperatorsError::InvalidScope(s.to_string()))
    }
}

#[derive(Clone, Debug)]
pub enum Principal {
    Operator {
        id: String,
        username: String,
        role: Role,
        must_change_password: bool,
        /// Hash of the session token (identifies the session, not a secret).
        session: String,
    },
    ApiKey {
        id: String,
        name: String,
        scopes: Vec<Scope>,
        /// The integration the key belongs to: it reaches that integration's objects only
        /// (unless `scopes` holds `all_integrations`).
        integration_id: String,
    },
}

impl Principal {
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Operator { username, .. } => Actor::Operator {
                username: username.clone(),
            },
            Principal::ApiKey { id, .. } => Actor::ApiKey { id: id.clone() },
        }
    }

    /// An operator whose one-time password is unchanged may only change it (or sign out).
    pub fn require_usable(&self) -> Result<(), OperatorsError> {
        match self {
            Principal::Operator {
                must_change_password: true,
                ..
            } => Err(OperatorsError::PasswordChangeRequired),
            _ => Ok(()),
        }
    }

    /// An operator session with one of `roles`.
    pub fn require_role(&self, roles: &[Role]) -> Result<(), OperatorsError> {
        self.require_usable()?;
        match self {
            Principal::Operator { role, .. } if roles.contains(role) => Ok(()),
            _ => Err(OperatorsError::Forbidden {
                needed: format!(
                    "role {}",
                    roles
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            }),
        }
    }

    /// An API key holding `scope`.
    pub fn require_scope(&self, scope: Scope) -> Result<(), OperatorsError> {
        match self {
            Principal::ApiKey { scopes, .. } if scopes.contains(&scope) => Ok(()),
            _ => Err(OperatorsError::Forbidden {
                needed: format!("API key scope {}", scope.as_str()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operator(role: Role, must_change_password: bool) -> Principal {
        Principal::Operator {
            id: "1".into(),
            username: "u".into(),
            role,
            must_change_password,
            session: "s".into(),
        }
    }

    #[test]
    fn role_check_refuses_other_roles_and_api_keys() {
        assert!(operator(Role::Admin, false)
            .require_role(&[Role::Admin])
            .is_ok());
        assert!(operator(Role::Auditor, false)
            .require_role(&[Role::Admin])
            .is_err());
        let key = Principal::ApiKey {
            id: "k".into(),
            name: "n".into(),
            scopes: vec![Scope::Enrol],
            integration_id: "i".into(),
        };
        assert!(key.require_role(&[Role::Admin]).is_err());
        assert!(key.require_scope(Scope::Enrol).is_ok());
        assert!(key.require_scope(Scope::Lifecycle).is_err());
    }

    #[test]
    fn unchanged_one_time_password_blocks_every_role() {
        assert!(matches!(
            operator(Role::Admin, true).require_role(&[Role::Admin]),
            Err(OperatorsError::PasswordChangeRequired)
        ));
    }
}
