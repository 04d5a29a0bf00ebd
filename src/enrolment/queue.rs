//! The enrolment's side of the video-call queue: an enrolment routed to a call joins it, and a
//! withdrawn one leaves it, in the transaction of the move. Working the queue (claims, leases,
//! outcomes) is `verification/`'s, which builds on enrolment; keeping these two steps here
//! means enrolment never imports verification, so the two modules do not import each other.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::{Actor, NewEvent};
use crate::store::{StoreError, Tx};

/// Puts an enrolment in the queue, in the caller's transaction.
pub fn enqueue(
    tx: &mut Tx<'_>,
    enrolment_id: &str,
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<(), StoreError> {
    let id = crate::store::new_row_id();
    tx.enqueue_video_call(&id, enrolment_id, now.naive_utc())?;
    tx.audit(NewEvent::new(
        now,
        actor,
        "verification.queued",
        "video_call",
        id,
        json!({"enrolment": enrolment_id}),
    ))?;
    Ok(())
}

/// Takes an enrolment out of the queue (withdrawal), in the caller's transaction; true when it
/// was still in it.
pub fn close_for_enrolment(tx: &mut Tx<'_>, enrolment_id: &str) -> Result<bool, StoreError> {
    tx.close_video_call_of(enrolment_id)
}
