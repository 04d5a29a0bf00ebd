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

impl super::Contracts {
    /// The number of the contract holding the free-package right of the enrolment's ID
    /// number, None while the right is free: the check `create` and `sign` apply, for a page
    /// that offers the free package only when it may still be taken.
    pub async fn free_package_holder(
        &self,
        enrolment_id: &str,
    ) -> Result<Option<String>, ContractError> {
        let id = enrolment_id.to_string();
        self.store
            .read(move |tx| {
                let enrolment = tx
                    .enrolment_by_id(&id)?
                    .ok_or(ContractError::EnrolmentNotFound)?;
                match refuse_if_free_package_used(tx, &enrolment.id_number) {
                    Ok(()) => Ok(None),
                    Err(ContractError::FreePackageAlreadyUsed { contract_number }) => {
                        Ok(Some(contract_number))
                    }
                    Err(e) => Err(e),
                }
            })
            .await
    }
}
