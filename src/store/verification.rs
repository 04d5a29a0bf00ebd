//! The video-call queue and its outcomes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    operators, recording_webhook_nonces, video_call_outcomes, video_call_recordings, video_calls,
};
use super::{dispatch, Conn, StoreError, Tx};
use crate::states::video_call::VideoCallStatus;

#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = video_calls, treat_none_as_null = true)]
pub struct VideoCallRow {
    pub id: String,
    pub enrolment_id: String,
    pub status: VideoCallStatus,
    pub queued_at: NaiveDateTime,
    pub no_shows: i32,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<NaiveDateTime>,
    pub lease_expires_at: Option<NaiveDateTime>,
    pub room_ref: Option<String>,
}

/// A call room's recording, as the video system's webhook reported it.
#[derive(Clone, Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = video_call_recordings)]
pub struct RecordingRow {
    pub room_ref: String,
    pub video_call_id: String,
    pub uri: String,
    pub sha256: String,
    pub received_at: NaiveDateTime,
}

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = video_call_outcomes)]
pub struct OutcomeRow {
    pub id: String,
    pub video_call_id: String,
    pub enrolment_id: String,
    pub operator_id: String,
    pub outcome: String,
    pub checklist: String,
    pub reason_code: Option<String>,
    pub note: Option<String>,
    pub recording_uri: Option<String>,
    pub recording_sha256: Option<String>,
    pub claimed_at: NaiveDateTime,
    pub decided_at: NaiveDateTime,
}

/// Entries an operator may take at `now`: waiting, or claimed under a lease that has lapsed.
macro_rules! available {
    ($now:expr) => {
        video_calls::status
            .eq(VideoCallStatus::Waiting)
            .or(video_calls::status
                .eq(VideoCallStatus::Claimed)
                .and(video_calls::lease_expires_at.assume_not_null().le($now)))
    };
}

impl Tx<'_> {
    pub fn insert_video_call(&mut self, row: &VideoCallRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(video_calls::table).values(row).execute(c))?;
        Ok(())
    }

    /// Saves every column of the entry.
    pub fn update_video_call(&mut self, row: &VideoCallRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::update(video_calls::table.find(&row.id)).set(row).execute(c))?;
        Ok(())
    }

    /// A new queue entry `id` for the enrolment, `waiting` since `at`.
    pub fn enqueue_video_call(
        &mut self,
        id: &str,
        enrolment_id: &str,
        at: NaiveDateTime,
    ) -> Result<(), StoreError> {
        self.insert_video_call(&VideoCallRow {
            id: id.to_string(),
            enrolment_id: enrolment_id.to_string(),
            status: VideoCallStatus::Waiting,
            queued_at: at,
            no_shows: 0,
            claimed_by: None,
            claimed_at: None,
            lease_expires_at: None,
            room_ref: None,
        })
    }

    /// Closes the enrolment's queue entry (withdrawal); true when it was still open.
    pub fn close_video_call_of(&mut self, enrolment_id: &str) -> Result<bool, StoreError> {
        match self.video_call_for_enrolment(enrolment_id)? {
            Some(mut call) if call.status != VideoCallStatus::Done => {
                call.status = VideoCallStatus::Done;
                call.lease_expires_at = None;
                self.update_video_call(&call)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The entry, locked for this transaction on PostgreSQL (SQLite write transactions
    /// already hold the database lock), so an outcome and a re-claim cannot interleave.
    pub fn video_call_for_update(&mut self, id: &str) -> Result<Option<VideoCallRow>, StoreError> {
        let q = || video_calls::table.find(id);
        Ok(match &mut self.conn {
            Conn::Sqlite(c) => q().select(VideoCallRow::as_select()).first(*c).optional()?,
            Conn::Pg(c) => q()
                .select(VideoCallRow::as_select())
                .for_update()
                .first(*c)
                .optional()?,
        })
    }

    /// The entry, unlocked (for reads).
    /// The call whose current room is `room_ref`.
    pub fn video_call_by_room(
        &mut self,
        room_ref: &str,
    ) -> Result<Option<VideoCallRow>, StoreError> {
        Ok(dispatch!(self, c => video_calls::table
            .filter(video_calls::room_ref.eq(room_ref))
            .select(VideoCallRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Records a webhook delivery's nonce; `false` if it was seen before. A concurrent insert
    /// of the same nonce fails on the primary key (`Conflict`).
    pub fn insert_webhook_nonce(
        &mut self,
        nonce: &str,
        at: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let seen: i64 = dispatch!(self, c => recording_webhook_nonces::table
            .filter(recording_webhook_nonces::nonce.eq(nonce))
            .count()
            .get_result(c))?;
        if seen > 0 {
            return Ok(false);
        }
        dispatch!(self, c => diesel::insert_into(recording_webhook_nonces::table)
            .values((
                recording_webhook_nonces::nonce.eq(nonce),
                recording_webhook_nonces::received_at.eq(at),
            ))
            .execute(c))?;
        Ok(true)
    }

    /// Attaches a room's recording; a later report for the same room replaces it.
    pub fn put_recording(&mut self, row: &RecordingRow) -> Result<(), StoreError> {
        let replaced = dispatch!(self, c => diesel::update(
                video_call_recordings::table.find(&row.room_ref),
            )
            .set(row)
            .execute(c))?;
        if replaced == 0 {
            dispatch!(self, c => diesel::insert_into(video_call_recordings::table)
                .values(row)
                .execute(c))?;
        }
        Ok(())
    }

    pub fn recording_for_room(
        &mut self,
        room_ref: &str,
    ) -> Result<Option<RecordingRow>, StoreError> {
        Ok(dispatch!(self, c => video_call_recordings::table
            .find(room_ref)
            .select(RecordingRow::as_select())
            .first(c)
            .optional())?)
    }

    pub fn video_call(&mut self, id: &str) -> Result<Option<VideoCallRow>, StoreError> {
        Ok(dispatch!(self, c => video_calls::table
            .find(id)
            .select(VideoCallRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Ids of the entries `operator_id` holds under a lease that has not lapsed at `now`,
    /// oldest claim first.
    pub fn calls_held_by(
        &mut self,
        operator_id: &str,
        now: NaiveDateTime,
    ) -> Result<Vec<String>, StoreError> {
        Ok(dispatch!(self, c => video_calls::table
            .filter(video_calls::status.eq(VideoCallStatus::Claimed))
            .filter(video_calls::claimed_by.eq(operator_id))
            .filter(video_calls::lease_expires_at.assume_not_null().gt(now))
            .order(video_calls::claimed_at.asc())
            .select(video_calls::id)
            .load(c))?)
    }

    pub fn video_call_for_enrolment(
        &mut self,
        enrolment_id: &str,
    ) -> Result<Option<VideoCallRow>, StoreError> {
        Ok(dispatch!(self, c => video_calls::table
            .filter(video_calls::enrolment_id.eq(enrolment_id))
            .select(VideoCallRow::as_select())
            .first(c)
            .optional())?)
    }

    /// The head of the queue at `now`, locked for this transaction. PostgreSQL skips rows
    /// other claimers hold (`FOR UPDATE SKIP LOCKED`), so concurrent claimers in any number of
    /// processes each get a different entry without waiting; on SQLite the IMMEDIATE write
    /// transaction already serialises claimers.
    pub fn head_of_queue(
        &mut self,
        now: NaiveDateTime,
    ) -> Result<Option<VideoCallRow>, StoreError> {
        let q = || {
            video_calls::table
                .filter(available!(now))
                .order((video_calls::queued_at.asc(), video_calls::id.asc()))
        };
        Ok(match &mut self.conn {
            Conn::Sqlite(c) => q().select(VideoCallRow::as_select()).first(*c).optional()?,
            Conn::Pg(c) => q()
                .select(VideoCallRow::as_select())
                .for_update()
                .skip_locked()
                .first(*c)
                .optional()?,
        })
    }

    /// Entries available at `now` that joined before `queued_at` (ties broken by id): how
    /// many are ahead in the queue.
    pub fn queue_ahead_of(
        &mut self,
        queued_at: NaiveDateTime,
        id: &str,
        now: NaiveDateTime,
    ) -> Result<i64, StoreError> {
        Ok(dispatch!(self, c => video_calls::table
            .filter(available!(now))
            .filter(
                video_calls::queued_at
                    .lt(queued_at)
                    .or(video_calls::queued_at.eq(queued_at).and(video_calls::id.lt(id))),
            )
            .count()
            .get_result(c))?)
    }

    /// When each entry available at `now` joined the queue, oldest first.
    pub fn queue_joined_times(
        &mut self,
        now: NaiveDateTime,
    ) -> Result<Vec<NaiveDateTime>, StoreError> {
        Ok(dispatch!(self, c => video_calls::table
            .filter(available!(now))
            .order(video_calls::queued_at.asc())
            .select(video_calls::queued_at)
            .load(c))?)
    }

    /// Entries under a lease that has not lapsed at `now`.
    pub fn calls_in_progress(&mut self, now: NaiveDateTime) -> Result<i64, StoreError> {
        Ok(dispatch!(self, c => video_calls::table
            .filter(video_calls::status.eq(VideoCallStatus::Claimed))
            .filter(video_calls::lease_expires_at.assume_not_null().gt(now))
            .count()
            .get_result(c))?)
    }

    /// Operators holding a lease or who recorded an outcome since `since`.
    pub fn operators_active_since(&mut self, since: NaiveDateTime) -> Result<i64, StoreError> {
        let mut ids: Vec<String> = dispatch!(self, c => video_calls::table
            .filter(video_calls::status.eq(VideoCallStatus::Claimed))
            .filter(video_calls::claimed_at.assume_not_null().ge(since))
            .select(video_calls::claimed_by.assume_not_null())
            .load(c))?;
        let decided: Vec<String> = dispatch!(self, c => video_call_outcomes::table
            .filter(video_call_outcomes::decided_at.ge(since))
            .select(video_call_outcomes::operator_id)
            .load(c))?;
        ids.extend(decided);
        ids.sort();
        ids.dedup();
        Ok(i64::try_from(ids.len()).unwrap_or(i64::MAX))
    }

    pub fn insert_outcome(&mut self, row: &OutcomeRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(video_call_outcomes::table).values(row).execute(c))?;
        Ok(())
    }

    /// (claimed, decided) times of the `limit` most recent outcomes.
    pub fn recent_handling_times(
        &mut self,
        limit: i64,
    ) -> Result<Vec<(NaiveDateTime, NaiveDateTime)>, StoreError> {
        Ok(dispatch!(self, c => video_call_outcomes::table
            .order(video_call_outcomes::decided_at.desc())
            .limit(limit)
            .select((video_call_outcomes::claimed_at, video_call_outcomes::decided_at))
            .load(c))?)
    }

    /// (operator username, outcome) of every outcome decided since `since`.
    pub fn outcomes_since(
        &mut self,
        since: NaiveDateTime,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(dispatch!(self, c => video_call_outcomes::table
            .inner_join(operators::table.on(operators::id.eq(video_call_outcomes::operator_id)))
            .filter(video_call_outcomes::decided_at.ge(since))
            .select((operators::username, video_call_outcomes::outcome))
            .load(c))?)
    }
}
