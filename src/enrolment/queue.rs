//! The enrolment's side of the video-call queue: an enrolment routed to a call joins it, and a
//! withdrawn one leaves it, in the transaction of the move. Working the queue (claims, leases,
//! outcomes) is `verification/`'s, which builds on enrolment; keeping these two steps here
//! means enrolment never imports verification, so the two modules do not import each other.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::{Actor, NewEvent};
use crate::store::{StoreError, Tx, VideoCallRow};

/// Puts an enrolment in the queue, in the caller's transaction.
pub fn enqueue(
    tx: &mut Tx<'_>,
    enrolment_id: &str,
    now: DateTime<Utc>,
    actor: &Actor,
) -> Result<(), StoreError> {
    let id = uuid::Uuid::new_v4().to_string();
    tx.insert_video_call(&VideoCallRow {
        id: id.clone(),
        enrolment_id: enrolment_id.to_string(),
        status: "waiting".into(),
        queued_at: now.naive_utc(),
        no_shows: 0,
        claimed_by: None,
        claimed_at: None,
        lease_expires_at: None,
        room_ref: None,
    })?;
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
    match tx.video_call_for_enrolment(enrolment_id)? {
        Some(mut call) if call.status != "done" => {
            call.status = "done".into();
            call.lease_expires_at = None;
            tx.update_video_call(&call)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}
