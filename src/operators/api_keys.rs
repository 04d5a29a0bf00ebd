//! Integration API keys (`cak_<id>.<secret>`): scopes instead of roles, the secret stored as
//! a SHA-256 hash, revocable.

use serde_json::json;

use super::{Accounts, OperatorsError, Principal, Scope};
use crate::audit::{Actor, NewEvent};
use crate::secrets::{constant_time_eq, random_bytes, random_token, sha256_hex};
use crate::store::ApiKeyRow;

pub struct NewApiKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The full bearer token; shown once.
    pub token: String,
}

impl Accounts {
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>, OperatorsError> {
        Ok(self.store.read(|tx| tx.list_api_keys()).await?)
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
        })
    }
}
