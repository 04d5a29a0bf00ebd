//! The video-call verification queue: applicants wait in the order they joined; an operator
//! claims the head under a lease, holds the call and records the outcome.
//!
//! Invariants:
//! - An applicant is held by at most one operator: a claim takes the head of the queue in one
//!   write transaction (PostgreSQL `FOR UPDATE SKIP LOCKED`, SQLite's IMMEDIATE transaction),
//!   also across server processes.
//! - Only the holder of an unexpired lease records an outcome. A lapsed lease needs no job to
//!   clean it up: the entry counts as waiting again, at its original place (the head).
//! - A no-show puts the applicant at the back; after `max_no_show_requeues` re-queues the next
//!   no-show expires the enrolment.

mod call;
mod outcome;
pub mod recording;

pub use call::{CallState, VideoCallStatus};
pub use outcome::{
    Decision, Outcome, OutcomeForm, Recording, RecordingForm, CHECKLIST_ITEMS, REJECT_REASONS,
};

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{Actor, NewEvent};
use crate::clock::Clock;
use crate::enrolment::documents::DocumentKind;
use crate::enrolment::status::{Event, Status};
use crate::enrolment::transition::{transition, Details, MoveError};
use crate::secrets::random_token;
use crate::settings::{range, Invalid, Secret};
use crate::store::{EnrolmentRow, OutcomeRow, RecordingRow, Store, StoreError, Tx, VideoCallRow};

/// Mean handling time assumed before any call has been handled.
const DEFAULT_HANDLING_MINUTES: i64 = 10;
/// How many recent calls the handling-time mean uses.
const HANDLING_SAMPLE: i64 = 20;
/// An operator counts as on duty when they claimed or finished a call this recently.
const ON_DUTY_WINDOW_MINUTES: i64 = 60;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub lease_minutes: u32,
    /// How often a no-show goes back into the queue before the enrolment expires.
    pub max_no_show_requeues: u32,
    /// The video system's join link, `{room_id}` standing for the call's room
    /// (e.g. `https://meet.example.vn/{room_id}`); without it the page shows the room id only.
    pub room_url_template: Option<String>,
    /// The secret the video system signs recording webhooks with (HMAC-SHA256); without it
    /// `POST /api/v1/verification/recordings` answers 404 `recording_webhook_disabled`.
    pub recording_webhook_secret: Option<Secret>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            lease_minutes: 15,
            max_no_show_requeues: 3,
            room_url_template: None,
            recording_webhook_secret: None,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), Invalid> {
        range("verification.lease_minutes", self.lease_minutes, 1, 240)?;
        range(
            "verification.max_no_show_requeues",
            self.max_no_show_requeues,
            0,
            20,
        )?;
        if let Some(t) = &self.room_url_template {
            if !t.starts_with("https://") || !t.contains("{room_id}") {
                return Err(Invalid::new(
                    "verification.room_url_template",
                    "expected an https:// URL containing {room_id}",
                ));
            }
        }
        if self
            .recording_webhook_secret
            .as_ref()
            .is_some_and(|s| s.expose().len() < 32)
        {
            return Err(Invalid::new(
                "verification.recording_webhook_secret",
                "expected at least 32 characters",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerificationError {
    #[error("enrolment not found")]
    EnrolmentNotFound,
    #[error("this enrolment has no video call")]
    NotQueued,
    #[error("video call not found")]
    NotFound,
    #[error("nobody is waiting")]
    QueueEmpty,
    #[error("another operator holds this call")]
    NotLeaseHolder,
    #[error("the lease on this call has lapsed; claim the next applicant")]
    LeaseExpired,
    #[error("this call is closed")]
    Closed,
    #[error("the recording webhook is not configured")]
    WebhookDisabled,
    #[error("missing or wrong webhook signature")]
    SignatureInvalid,
    #[error("the webhook timestamp is outside the accepted window")]
    TimestampStale,
    #[error("this webhook delivery was already received")]
    Replayed,
    #[error("no call has this room")]
    RoomUnknown,
    #[error("the webhook body is not the expected JSON: {0}")]
    NoticeMalformed(String),
    #[error("the reported recording is invalid")]
    RecordingInvalid(crate::enrolment::identity::FieldErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn unexpected(e: impl std::fmt::Display) -> VerificationError {
    VerificationError::Store(StoreError::Unexpected(e.to_string()))
}

/// The operator acting on the queue.
pub struct OperatorRef {
    pub id: String,
    pub actor: Actor,
}

/// What the operator needs for the call.
pub struct Claimed {
    pub video_call_id: String,
    /// The room's recording, once the video system reported it.
    pub recording: Option<Recording>,
    pub enrolment: EnrolmentRow,
    pub documents: Vec<DocumentKind>,
    pub room_ref: String,
    pub lease_expires_at: DateTime<Utc>,
    pub no_shows: i32,
}

pub struct CallStatus {
    pub video_call_id: String,
    pub state: CallState,
    pub no_shows: i32,
}

pub struct OutcomeRecorded {
    pub enrolment_status: Status,
    pub requeued: bool,
    pub no_shows: i32,
}

#[derive(Default)]
pub struct Handled {
    pub approved: i64,
    pub rejected: i64,
    pub no_show: i64,
}

pub struct Stats {
    pub waiting: i64,
    pub in_call: i64,
    pub oldest_wait: Option<Duration>,
    pub median_wait: Option<Duration>,
    /// Per operator username, since midnight in Vietnam.
    pub handled_today: BTreeMap<String, Handled>,
}

/// The queue service.
#[derive(Clone)]
pub struct Verification {
    store: Store,
    clock: Arc<dyn Clock>,
    settings: Settings,
}

impl Verification {
    pub fn new(store: Store, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        Self {
            store,
            clock,
            settings,
        }
    }

    /// The join link of a call's room, from `room_url_template`. Room ids are our own
    /// URL-safe tokens (`random_token`), so they go into the URL as they are.
    pub fn room_url(&self, room_ref: &str) -> Option<String> {
        self.settings
            .room_url_template
            .as_ref()
            .map(|t| t.replace("{room_id}", room_ref))
    }

    fn lease(&self) -> Duration {
        Duration::minutes(i64::from(self.settings.lease_minutes))
    }

    /// Where an applicant stands: position and estimated wait, or the room once a call began.
    pub async fn status_for(&self, enrolment_id: &str) -> Result<CallStatus, VerificationError> {
        let now = self.clock.now().naive_utc();
        let eid = enrolment_id.to_string();
        self.store
            .read(move |tx| {
                let Some(call) = tx.video_call_for_enrolment(&eid)? else {
                    return Err(match tx.enrolment_by_id(&eid)? {
                        Some(_) => VerificationError::NotQueued,
                        None => VerificationError::EnrolmentNotFound,
                    });
                };
                let holds_lease = call.status == VideoCallStatus::Claimed
                    && call.lease_expires_at.is_some_and(|t| t > now);
                let state = match (call.status, &call.room_ref) {
                    (VideoCallStatus::Done, _) => CallState::Done,
                    (_, Some(room)) if holds_lease => CallState::InCall {
                        room_ref: room.clone(),
                    },
                    _ => {
                        let position = tx.queue_ahead_of(call.queued_at, &call.id, now)? + 1;
                        CallState::Waiting {
                            position,
                            estimated_wait: estimate_wait(tx, position, now)?,
                        }
                    }
                };
                Ok(CallStatus {
                    video_call_id: call.id,
                    state,
                    no_shows: call.no_shows,
                })
            })
            .await
    }

    /// Takes the head of the queue under a fresh lease. `QueueEmpty` when nobody waits.
    pub async fn claim(&self, op: &OperatorRef) -> Result<Claimed, VerificationError> {
        let now = self.clock.now();
        let lease_until = now + self.lease();
        let (op_id, actor) = (op.id.clone(), op.actor.clone());
        self.store
            .write(move |tx| {
                let mut call = tx
                    .head_of_queue(now.naive_utc())?
                    .ok_or(VerificationError::QueueEmpty)?;
                let lapsed_from = call
                    .claimed_by
                    .take()
                    .filter(|_| call.status == VideoCallStatus::Claimed);
                let room_ref = random_token("vc-");
                call.status = VideoCallStatus::Claimed;
                call.claimed_by = Some(op_id);
                call.claimed_at = Some(now.naive_utc());
                call.lease_expires_at = Some(lease_until.naive_utc());
                call.room_ref = Some(room_ref.clone());
                tx.update_video_call(&call)?;
                let enrolment = tx
                    .enrolment_by_id(&call.enrolment_id)?
                    .ok_or_else(|| unexpected("queued enrolment missing"))?;
                let documents = tx
                    .document_kinds(&enrolment.id)?
                    .iter()
                    .filter_map(|k| DocumentKind::parse(k))
                    .collect();
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "verification.claimed",
                    "video_call",
                    &call.id,
                    json!({
                        "enrolment": enrolment.id,
                        "lease_expires_at": crate::audit::format_time(&lease_until),
                        "lease_lapsed_from": lapsed_from,
                    }),
                ))?;
                Ok(Claimed {
                    video_call_id: call.id,
                    recording: None,
                    enrolment,
                    documents,
                    room_ref,
                    lease_expires_at: lease_until,
                    no_shows: call.no_shows,
                })
            })
            .await
    }

    /// The call the caller holds, as [`Verification::claim`] handed it over (the workstation
    /// page shows it again on every visit). Only the lease holder sees it.
    pub async fn held(
        &self,
        op: &OperatorRef,
        video_call_id: &str,
    ) -> Result<Claimed, VerificationError> {
        let now = self.clock.now().naive_utc();
        let (op_id, id) = (op.id.clone(), video_call_id.to_string());
        self.store
            .read(move |tx| {
                let call = check_held(tx.video_call(&id)?, &op_id, now)?;
                let enrolment = tx
                    .enrolment_by_id(&call.enrolment_id)?
                    .ok_or_else(|| unexpected("queued enrolment missing"))?;
                let documents = tx
                    .document_kinds(&enrolment.id)?
                    .iter()
                    .filter_map(|k| DocumentKind::parse(k))
                    .collect();
                let recording = attached(tx, call.room_ref.as_deref())?;
                Ok(Claimed {
                    recording,
                    room_ref: call.room_ref.unwrap_or_default(),
                    lease_expires_at: call
                        .lease_expires_at
                        .map(|t| t.and_utc())
                        .ok_or_else(|| unexpected("held call without a lease"))?,
                    no_shows: call.no_shows,
                    video_call_id: call.id,
                    enrolment,
                    documents,
                })
            })
            .await
    }

    /// Ids of the calls the caller holds under a live lease, oldest first.
    pub async fn held_by(&self, op: &OperatorRef) -> Result<Vec<String>, VerificationError> {
        let now = self.clock.now().naive_utc();
        let op_id = op.id.clone();
        Ok(self
            .store
            .read(move |tx| tx.calls_held_by(&op_id, now))
            .await?)
    }

    /// Extends the caller's unexpired lease by the lease period from now.
    pub async fn renew(
        &self,
        op: &OperatorRef,
        video_call_id: &str,
    ) -> Result<DateTime<Utc>, VerificationError> {
        let now = self.clock.now();
        let lease_until = now + self.lease();
        let (op_id, actor, id) = (op.id.clone(), op.actor.clone(), video_call_id.to_string());
        self.store
            .write(move |tx| {
                let mut call = held_call(tx, &id, &op_id, now.naive_utc())?;
                call.lease_expires_at = Some(lease_until.naive_utc());
                tx.update_video_call(&call)?;
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "verification.lease_renewed",
                    "video_call",
                    &id,
                    json!({"lease_expires_at": crate::audit::format_time(&lease_until)}),
                ))?;
                Ok(lease_until)
            })
            .await
    }

    /// Records the outcome of the caller's call and moves the enrolment on.
    pub async fn record_outcome(
        &self,
        op: &OperatorRef,
        video_call_id: &str,
        decision: Decision,
    ) -> Result<OutcomeRecorded, VerificationError> {
        let now = self.clock.now();
        let max_requeues = i32::try_from(self.settings.max_no_show_requeues).unwrap_or(i32::MAX);
        let (op_id, actor, id) = (op.id.clone(), op.actor.clone(), video_call_id.to_string());
        self.store
            .write(move |tx| {
                let mut call = held_call(tx, &id, &op_id, now.naive_utc())?;
                let outcome = &decision.outcome;
                let enrolment = tx
                    .enrolment_by_id(&call.enrolment_id)?
                    .ok_or_else(|| unexpected("queued enrolment missing"))?;
                let recording = outcome.recording();
                let (reason, note) = match outcome {
                    Outcome::Rejected { reason, note, .. } => {
                        (Some(reason.to_string()), Some(note.as_str().to_string()))
                    }
                    _ => (None, None),
                };
                tx.insert_outcome(&OutcomeRow {
                    id: crate::store::new_row_id(),
                    video_call_id: call.id.clone(),
                    enrolment_id: enrolment.id.clone(),
                    operator_id: op_id.clone(),
                    outcome: outcome.as_str().to_string(),
                    checklist: json!(decision.checklist).to_string(),
                    reason_code: reason.clone(),
                    note,
                    recording_uri: recording.map(|r| r.uri.as_str().to_string()),
                    recording_sha256: recording.map(|r| r.sha256.clone()),
                    claimed_at: call.claimed_at.unwrap_or(now.naive_utc()),
                    decided_at: now.naive_utc(),
                })?;
                let (event, verified_by) = match outcome {
                    Outcome::Approved { .. } => {
                        (Some(Event::VideoCallApproved), Some("video_call"))
                    }
                    Outcome::Rejected { .. } => (Some(Event::VideoCallRejected), None),
                    Outcome::NoShow { .. } if call.no_shows >= max_requeues => {
                        (Some(Event::NoShowLimitReached), None)
                    }
                    Outcome::NoShow { .. } => (None, None),
                };
                if matches!(outcome, Outcome::NoShow { .. }) {
                    call.no_shows += 1;
                }
                let requeued = event.is_none();
                let next = match event {
                    Some(ev) => {
                        let moved = transition(
                            tx,
                            &enrolment.id,
                            ev,
                            &actor,
                            now,
                            Details {
                                verified_by,
                                facts: json!({"video_call": call.id}),
                            },
                        )
                        .map_err(|e| match e {
                            MoveError::Refused(_) | MoveError::Changed(_) => {
                                VerificationError::Closed
                            }
                            MoveError::NotFound => unexpected("queued enrolment missing"),
                            MoveError::Store(e) => e.into(),
                        })?;
                        call.status = VideoCallStatus::Done;
                        moved.to
                    }
                    None => {
                        // Back of the queue: the applicant missed their turn.
                        call.status = VideoCallStatus::Waiting;
                        call.queued_at = now.naive_utc();
                        call.claimed_by = None;
                        call.claimed_at = None;
                        call.room_ref = None;
                        enrolment.status
                    }
                };
                call.lease_expires_at = None;
                tx.update_video_call(&call)?;
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "verification.outcome_recorded",
                    "video_call",
                    &call.id,
                    json!({
                        "enrolment": enrolment.id,
                        "outcome": outcome.as_str(),
                        "reason_code": reason,
                        "recording_sha256": recording.map(|r| r.sha256.clone()),
                        "no_shows": call.no_shows,
                        "requeued": requeued,
                        "enrolment_status": next.as_str(),
                    }),
                ))?;
                Ok(OutcomeRecorded {
                    enrolment_status: next,
                    requeued,
                    no_shows: call.no_shows,
                })
            })
            .await
    }

    /// A recording webhook delivery: signature and freshness, then, in one transaction, its
    /// nonce (refused if seen) and the recording attached to the call whose current room it
    /// names (`verification.recording_attached`).
    pub async fn receive_recording(
        &self,
        delivery: &recording::Delivery<'_>,
    ) -> Result<String, VerificationError> {
        let secret = self
            .settings
            .recording_webhook_secret
            .as_ref()
            .ok_or(VerificationError::WebhookDisabled)?;
        let now = self.clock.now();
        let notice = recording::check(secret.expose().as_bytes(), delivery, now)?;
        self.store
            .write(move |tx| {
                if !tx.insert_webhook_nonce(&notice.nonce, now.naive_utc())? {
                    return Err(VerificationError::Replayed);
                }
                let call = tx
                    .video_call_by_room(&notice.room_id)?
                    .ok_or(VerificationError::RoomUnknown)?;
                tx.put_recording(&RecordingRow {
                    room_ref: notice.room_id.clone(),
                    video_call_id: call.id.clone(),
                    uri: notice.recording.uri.as_str().to_string(),
                    sha256: notice.recording.sha256.clone(),
                    received_at: now.naive_utc(),
                })?;
                tx.audit(NewEvent::new(
                    now,
                    &Actor::System,
                    "verification.recording_attached",
                    "video_call",
                    &call.id,
                    json!({
                        "room": notice.room_id,
                        "uri": notice.recording.uri.as_str(),
                        "sha256": notice.recording.sha256,
                        "nonce": notice.nonce,
                    }),
                ))?;
                Ok(call.id)
            })
            .await
    }

    /// The outcome form with the room's reported recording when the operator gave none (the
    /// page no longer asks for one once the video system sent it).
    pub async fn with_reported_recording(
        &self,
        video_call_id: &str,
        mut form: OutcomeForm,
    ) -> Result<OutcomeForm, VerificationError> {
        if form.recording.is_some() {
            return Ok(form);
        }
        let id = video_call_id.to_string();
        let reported = self
            .store
            .read(move |tx| {
                let room = tx.video_call(&id)?.and_then(|c| c.room_ref);
                attached(tx, room.as_deref())
            })
            .await?;
        form.recording = reported.map(|r| RecordingForm {
            uri: r.uri.as_str().to_string(),
            sha256: r.sha256,
        });
        Ok(form)
    }

    pub async fn stats(&self) -> Result<Stats, VerificationError> {
        let now = self.clock.now();
        let day_start = crate::vn::day_start(crate::vn::date_of(now)).naive_utc();
        let n = now.naive_utc();
        self.store
            .read(move |tx| {
                let joined = tx.queue_joined_times(n)?;
                let mut waits: Vec<Duration> = joined.iter().map(|t| n - *t).collect();
                waits.sort();
                let mut handled_today: BTreeMap<String, Handled> = BTreeMap::new();
                for (username, outcome) in tx.outcomes_since(day_start)? {
                    let h = handled_today.entry(username).or_default();
                    match outcome.as_str() {
                        "approved" => h.approved += 1,
                        "rejected" => h.rejected += 1,
                        _ => h.no_show += 1,
                    }
                }
                Ok(Stats {
                    waiting: i64::try_from(waits.len()).unwrap_or(i64::MAX),
                    in_call: tx.calls_in_progress(n)?,
                    oldest_wait: waits.last().copied(),
                    median_wait: median(&waits),
                    handled_today,
                })
            })
            .await
    }
}

/// The recording reported for a room, if any.
fn attached(tx: &mut Tx<'_>, room: Option<&str>) -> Result<Option<Recording>, VerificationError> {
    let Some(room) = room else { return Ok(None) };
    let Some(row) = tx.recording_for_room(room)? else {
        return Ok(None);
    };
    // Checked when it arrived; a row that no longer parses is a defect, not a refusal.
    Recording::parse(&RecordingForm {
        uri: row.uri,
        sha256: row.sha256,
    })
    .map(Some)
    .map_err(|_| unexpected("stored recording no longer parses"))
}

/// The call `id`, locked, if `operator_id` holds its lease at `now`.
fn held_call(
    tx: &mut Tx<'_>,
    id: &str,
    operator_id: &str,
    now: NaiveDateTime,
) -> Result<VideoCallRow, VerificationError> {
    check_held(tx.video_call_for_update(id)?, operator_id, now)
}

/// The entry if `operator_id` holds it under a lease that has not lapsed at `now`.
fn check_held(
    call: Option<VideoCallRow>,
    operator_id: &str,
    now: NaiveDateTime,
) -> Result<VideoCallRow, VerificationError> {
    let call = call.ok_or(VerificationError::NotFound)?;
    match call.status {
        VideoCallStatus::Done => return Err(VerificationError::Closed),
        VideoCallStatus::Waiting => return Err(VerificationError::LeaseExpired),
        VideoCallStatus::Claimed => {}
    }
    if call.claimed_by.as_deref() != Some(operator_id) {
        return Err(VerificationError::NotLeaseHolder);
    }
    if call.lease_expires_at.is_none_or(|t| t <= now) {
        return Err(VerificationError::LeaseExpired);
    }
    Ok(call)
}

/// Rounds of calls before this applicant's turn (the operators on duty take one applicant
/// each per round), each taking the recent mean handling time. An upper estimate.
fn estimate_wait(
    tx: &mut Tx<'_>,
    position: i64,
    now: NaiveDateTime,
) -> Result<Duration, StoreError> {
    let recent = tx.recent_handling_times(HANDLING_SAMPLE)?;
    let mean = if recent.is_empty() {
        Duration::minutes(DEFAULT_HANDLING_MINUTES)
    } else {
        let total: Duration = recent.iter().map(|(c, d)| *d - *c).sum();
        total / i32::try_from(recent.len()).unwrap_or(i32::MAX)
    };
    let on_duty = tx
        .operators_active_since(now - Duration::minutes(ON_DUTY_WINDOW_MINUTES))?
        .max(1);
    let rounds = (position + on_duty - 1) / on_duty;
    Ok(mean * i32::try_from(rounds).unwrap_or(i32::MAX))
}

fn median(sorted: &[Duration]) -> Option<Duration> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_url_template_is_https_and_names_the_room() {
        let with = |t: &str| Settings {
            room_url_template: Some(t.into()),
            ..Settings::default()
        };
        assert!(with("https://meet.example.vn/{room_id}").validate().is_ok());
        for bad in [
            "http://meet.example.vn/{room_id}",
            "https://meet.example.vn/",
        ] {
            let e = with(bad).validate().unwrap_err();
            assert_eq!(e.key, "verification.room_url_template", "{bad}");
        }
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        let m = |v: &[i64]| median(&v.iter().map(|s| Duration::seconds(*s)).collect::<Vec<_>>());
        assert_eq!(m(&[]), None);
        assert_eq!(m(&[5]), Some(Duration::seconds(5)));
        assert_eq!(m(&[1, 3, 10]), Some(Duration::seconds(3)));
        assert_eq!(m(&[1, 3, 5, 10]), Some(Duration::seconds(4)));
    }
}
