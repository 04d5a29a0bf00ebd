//! One enrolment move, in the caller's transaction: read the enrolment, apply the event to its
//! status ([`Status::apply`]), update it on the condition that it is still in that status, and
//! append the audit event. Every module that moves an enrolment (routing, withdrawal, the
//! video-call outcome, contract signing, issuance, acceptance) calls [`transition`], so every
//! move is audited in one shape: action `enrolment.<event>`, object the enrolment, details
//! `from`, `to`, `verified_by` when the move sets it, and the caller's facts beside them.
//! A move that closes an enrolment the VNeID hub registered queues the hub's callback too.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::status::{Event, Status, TransitionError};
use crate::audit::{Actor, NewEvent};
use crate::store::{EnrolmentRow, StoreError, Tx};

/// What the caller adds to a move.
#[derive(Default)]
pub struct Details<'a> {
    /// Set with the move: how the identity was verified (routing, an approved video call).
    pub verified_by: Option<&'a str>,
    /// More facts for the audit event (the contract, the certificate, a reason, …); a JSON
    /// object, or `Value::Null` for none.
    pub facts: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error("enrolment not found")]
    NotFound,
    /// The state machine refuses the event in the current status.
    #[error(transparent)]
    Refused(TransitionError),
    /// The enrolment left the status it was read in before the update (a concurrent move).
    #[error("the enrolment left `{0}` meanwhile")]
    Changed(Status),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The enrolment as moved (status, `verified_by` and `updated_at` set), and where it came from.
pub struct Moved {
    pub from: Status,
    pub to: Status,
    pub enrolment: EnrolmentRow,
}

/// The audit action of a move.
fn action(event: Event) -> &'static str {
    match event {
        Event::Routed { .. } => "enrolment.routed",
        Event::VideoCallApproved => "enrolment.video_call_approved",
        Event::VideoCallRejected => "enrolment.video_call_rejected",
        Event::NoShowLimitReached => "enrolment.no_show_limit_reached",
        Event::Withdrawn => "enrolment.withdrawn",
        Event::ContractSigned => "enrolment.contract_signed",
        Event::IssuanceStarted => "enrolment.issuance_started",
        Event::IssuanceAbandoned => "enrolment.issuance_abandoned",
        Event::CertificateRejected => "enrolment.certificate_rejected",
        Event::AcceptanceExpired => "enrolment.acceptance_expired",
    }
}

/// Moves enrolment `id` by `event` (see the module doc). Inside a write transaction.
pub fn transition(
    tx: &mut Tx<'_>,
    id: &str,
    event: Event,
    actor: &Actor,
    at: DateTime<Utc>,
    details: Details<'_>,
) -> Result<Moved, MoveError> {
    let mut enrolment = tx.enrolment_by_id(id)?.ok_or(MoveError::NotFound)?;
    let from = enrolment.status;
    let to = from.apply(event).map_err(MoveError::Refused)?;
    if !tx.set_enrolment_status(id, from, to, details.verified_by, at.naive_utc())? {
        return Err(MoveError::Changed(from));
    }
    let mut audit = match details.facts {
        Value::Object(facts) => facts,
        _ => Map::new(),
    };
    audit.insert("from".into(), from.as_str().into());
    audit.insert("to".into(), to.as_str().into());
    if let Some(v) = details.verified_by {
        audit.insert("verified_by".into(), v.into());
    }
    // The hub hears of every end of a registration it made (no-op for other enrolments); the
    // message is covered by this move's event, which names it.
    if matches!(to, Status::Rejected | Status::Expired | Status::Withdrawn) {
        if let Some(message) = tx.enqueue_hub_callback(id, to.as_str(), None, at.naive_utc())? {
            audit.insert("hub_callback".into(), message.into());
        }
    }
    tx.audit(NewEvent::new(
        at,
        actor,
        action(event),
        "enrolment",
        id,
        Value::Object(audit),
    ))?;
    enrolment.status = to;
    if let Some(v) = details.verified_by {
        enrolment.verified_by = Some(v.to_string());
    }
    enrolment.updated_at = at.naive_utc();
    Ok(Moved {
        from,
        to,
        enrolment,
    })
}
