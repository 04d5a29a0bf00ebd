//! The free package's one-per-ID-number right: refused when already taken, given back when
//! the citizen rejected the certificate.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::ContractError;
use crate::audit::{Actor, NewEvent};
use crate::store::Tx;

pub(super) fn refuse_if_free_package_used(
    tx: &mut Tx<'_>,
    id_number: &str,
) -> Result<(), ContractError> {
    let Some(holder) = tx.free_package_holder(id_number)? else {
        return Ok(());
    };
    let contract_number = tx
        .contract_by_id(&holder)?
        .map(|c| c.number)
        .unwrap_or(holder);
    Err(ContractError::FreePackageAlreadyUsed { contract_number })
}

/// Gives the free-package right of `contract_id` back (the citizen rejected the certificate
/// at acceptance because its contents were wrong). False when it held none.
pub fn release_free_package(
    tx: &mut Tx<'_>,
    contract_id: &str,
    at: DateTime<Utc>,
    actor: &Actor,
    reason: &str,
) -> Result<bool, ContractError> {
    if !tx.release_free_package_claim(contract_id, at.naive_utc(), reason)? {
        return Ok(false);
    }
    tx.audit(NewEvent::new(
        at,
        actor,
        "contract.free_package_released",
        "contract",
        contract_id,
        json!({"reason": reason}),
    ))?;
    Ok(true)
}
