//! Integrations and their API keys (`cak_<id>.<secret>`): scopes instead of roles, the secret
//! stored as a SHA-256 hash, revocable; every key belongs to one integration.

use serde_json::json;

use super::{Accounts, OperatorsError, Principal, Scope};
use crate::audit::{Actor, NewEvent};
use crate::secrets::{constant_time_eq, random_bytes, random_token, sha256_hex};
use crate::store::{ApiKeyRow, IntegrationRow};

pub struct NewApiKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub integration_id: String,
    /// The full bearer token; shown once.
    pub token: String,
}

/// 1 to 100 characters after trimming.
fn valid_name(name: &str) -> Result<&str, OperatorsError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(OperatorsError::InvalidName);
    }
    Ok(name)
}

impl Accounts {
    pub async fn list_integrations(&self) -> Result<Vec<IntegrationRow>, OperatorsError> {
        Ok(self.store.read(|tx| tx.list_integrations()).await?)
    }

    pub async fn create_integration(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<IntegrationRow, OperatorsError> {
        let now = self.clock.now();
        let row = IntegrationRow {
            id: hex::encode(random_bytes::<8>()),
            name: valid_name(name)?.to_string(),
            created_at: now.naive_utc(),
        };
        let event = NewEvent::new(
            now,
            actor,
            "integration.created",
            "integration",
            &row.id,
            json!({"name": row.name}),
        );
        let stored = row.clone();
        self.store
            .write(move |tx| {
                tx.insert_integration(&stored)?;
                tx.audit(event)?;
                Ok::<_, OperatorsError>(())
            })
            .await?;
        Ok(row)
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, OperatorsError> {
        Ok(self.store.read(|tx| tx.list_api_keys()).await?)
    }

    /// A key of `integration_id`; without one, a new integration named after the key is made
    /// with it (a key then reaches only what it made itself, as separate keys are meant to).
    pub async fn create_api_key(
        &self,
        actor: &Actor,
        name: &str,
        scopes: &[String],
        integration_id: Option<&str>,
    ) -> Result<NewApiKey, OperatorsError> {
        let name = valid_name(name)?;
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
        // Either an existing integration (checked in the transaction) or a new one.
        let (integration_id, new_integration) = match integration_id {
            Some(i) => (i.trim().to_string(), None),
            None => {
                let new = IntegrationRow {
                    id: hex::encode(random_bytes::<8>()),
                    name: name.to_string(),
                    created_at: now.naive_utc(),
                };
                (new.id.clone(), Some(new))
            }
        };
        let row = ApiKeyRow {
            id: id.clone(),
            name: name.to_string(),
            scopes: scope_text.clone(),
            secret_hash: sha256_hex(secret.as_bytes()),
            created_at: now.naive_utc(),
            revoked_at: None,
            integration_id: integration_id.clone(),
        };
        let (actor, name_text) = (actor.clone(), name.to_string());
        self.store
            .write(move |tx| {
                if let Some(i) = &new_integration {
                    tx.insert_integration(i)?;
                    tx.audit(NewEvent::new(
                        now,
                        &actor,
                        "integration.created",
                        "integration",
                        &i.id,
                        json!({"name": i.name}),
                    ))?;
                } else if tx.integration_by_id(&row.integration_id)?.is_none() {
                    return Err(OperatorsError::IntegrationNotFound);
                }
                tx.insert_api_key(&row)?;
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "api_key.created",
                    "api_key",
                    &row.id,
                    json!({
                        "name": name_text,
                        "scopes": scope_text,
                        "integration_id": row.integration_id,
                    }),
                ))?;
                Ok::<_, OperatorsError>(())
            })
            .await?;
        Ok(NewApiKey {
            id,
            name: name.to_string(),
            scopes,
            integration_id,
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

    /// An API key token after its `cak_` prefix: `<id>.<secret>`.
    pub(super) async fn authenticate_api_key(
        &self,
        rest: &str,
    ) -> Result<Principal, OperatorsError> {
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
        Ok(Principal::ApiKey {
            id: row.id,
            name: row.name,
            scopes,
            integration_id: row.integration_id,
        })
    }
}
