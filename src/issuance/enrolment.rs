//! The enrolment's moves for issuance, on the one enrolment transition: `contract_signed` →
//! `certificate_issued` when a certificate is recorded, and back when an issuance is abandoned
//! before a certificate existed. Both name the signed contract in the audit event.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::IssuanceError;
use crate::audit::Actor;
use crate::enrolment::status::{Event, Status};
use crate::enrolment::transition::{transition, Details, MoveError};
use crate::store::Tx;

/// In the transaction that records the certificate: the enrolment's signed contract's id, with
/// the enrolment moved `contract_signed` → `certificate_issued` (audited). `NotReady` when the
/// enrolment is anywhere else, so one signed contract gives at most one issuance.
pub fn begin_issuance(
    tx: &mut Tx<'_>,
    enrolment_id: &str,
    at: DateTime<Utc>,
    actor: &Actor,
) -> Result<String, IssuanceError> {
    // The status alone: this runs on SQLite's writer lane, and the move reads the row anyway.
    let status = tx
        .enrolment_status(enrolment_id)?
        .ok_or(IssuanceError::NotFound)?;
    if status != Status::ContractSigned {
        return Err(IssuanceError::NotReady(format!(
            "the enrolment is `{status}`, not `contract_signed`"
        )));
    }
    move_for_contract(tx, enrolment_id, Event::IssuanceStarted, at, actor, None)
}

/// The opposite of [`begin_issuance`], for an issuance abandoned before a certificate
/// existed: the enrolment goes back to `contract_signed` (audited, with `reason`) and its
/// signed contract (whose id it answers) stands for the next attempt.
pub fn abandon_issuance(
    tx: &mut Tx<'_>,
    enrolment_id: &str,
    at: DateTime<Utc>,
    actor: &Actor,
    reason: &str,
) -> Result<String, IssuanceError> {
    move_for_contract(
        tx,
        enrolment_id,
        Event::IssuanceAbandoned,
        at,
        actor,
        Some(reason),
    )
}

fn move_for_contract(
    tx: &mut Tx<'_>,
    enrolment_id: &str,
    event: Event,
    at: DateTime<Utc>,
    actor: &Actor,
    reason: Option<&str>,
) -> Result<String, IssuanceError> {
    // Its id only: the row's document and drawn signature are large, and this runs in the
    // recording transaction, on SQLite's writer lane.
    let contract_id = tx
        .signed_contract_ref(enrolment_id)?
        .ok_or_else(|| IssuanceError::NotReady("no signed contract".into()))?
        .id;
    let facts = match reason {
        Some(reason) => json!({"contract_id": contract_id, "reason": reason}),
        None => json!({"contract_id": contract_id}),
    };
    transition(
        tx,
        enrolment_id,
        event,
        actor,
        at,
        Details {
            verified_by: None,
            facts,
        },
    )
    .map_err(|e| match e {
        MoveError::NotFound => IssuanceError::NotFound,
        MoveError::Store(e) => e.into(),
        e => IssuanceError::NotReady(e.to_string()),
    })?;
    Ok(contract_id)
}
