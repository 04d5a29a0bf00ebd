//! One-time-password challenges.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::otp_challenges;
use super::{dispatch, Conn, StoreError, Tx};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = otp_challenges)]
pub struct OtpChallengeRow {
    pub id: String,
    pub purpose: String,
    pub subject: String,
    pub document_digest: String,
    pub channel: String,
    pub recipient_key: String,
    pub masked_destination: String,
    pub code_hmac: String,
    pub status: String,
    pub failed_attempts: i32,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub consumed_at: Option<NaiveDateTime>,
    pub outbox_message_id: String,
    /// Who asked for the code (the caller's audit actor): the hourly cap counts per
    /// recipient, purpose and initiator.
    pub initiator: String,
}

/// The state of a challenge after a wrong code was counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordedFailure {
    pub failed_attempts: i32,
    /// The challenge is locked (by this failure or an earlier one).
    pub locked: bool,
    /// The failure was counted: the challenge was still open.
    pub counted: bool,
}

impl Tx<'_> {
    pub fn insert_otp_challenge(&mut self, row: &OtpChallengeRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(otp_challenges::table).values(row).execute(c))?;
        Ok(())
    }

    pub fn otp_challenge_by_id(&mut self, id: &str) -> Result<Option<OtpChallengeRow>, StoreError> {
        Ok(dispatch!(self, c => otp_challenges::table
            .find(id)
            .select(OtpChallengeRow::as_select())
            .first(c)
            .optional())?)
    }

    /// The most recent challenge for `subject` and `purpose`, whatever its state.
    pub fn latest_otp_challenge(
        &mut self,
        subject: &str,
        purpose: &str,
    ) -> Result<Option<OtpChallengeRow>, StoreError> {
        Ok(dispatch!(self, c => otp_challenges::table
            .filter(otp_challenges::subject.eq(subject))
            .filter(otp_challenges::purpose.eq(purpose))
            .order((otp_challenges::created_at.desc(), otp_challenges::id.desc()))
            .select(OtpChallengeRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Serialises OTP sends to one recipient until this transaction ends, so that concurrent
    /// requests from several processes cannot both pass the hourly cap. SQLite write
    /// transactions already hold the database lock.
    pub fn lock_otp_recipient(&mut self, key: i64) -> Result<(), StoreError> {
        if let Conn::Pg(c) = &mut self.conn {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<diesel::sql_types::BigInt, _>(key)
                .execute(*c)?;
        }
        Ok(())
    }

    /// Send times of challenges to `recipient_key` for `purpose` asked by `initiator`, created
    /// after `since`, oldest first.
    pub fn otp_sends_since(
        &mut self,
        recipient_key: &str,
        purpose: &str,
        initiator: &str,
        since: NaiveDateTime,
    ) -> Result<Vec<NaiveDateTime>, StoreError> {
        Ok(dispatch!(self, c => otp_challenges::table
            .filter(otp_challenges::recipient_key.eq(recipient_key))
            .filter(otp_challenges::purpose.eq(purpose))
            .filter(otp_challenges::initiator.eq(initiator))
            .filter(otp_challenges::created_at.gt(since))
            .order(otp_challenges::created_at.asc())
            .select(otp_challenges::created_at)
            .load(c))?)
    }

    /// Closes every open challenge for `subject` and `purpose`: a new code replaces them.
    pub fn supersede_otp_challenges(
        &mut self,
        subject: &str,
        purpose: &str,
    ) -> Result<usize, StoreError> {
        Ok(dispatch!(self, c => diesel::update(
                otp_challenges::table
                    .filter(otp_challenges::subject.eq(subject))
                    .filter(otp_challenges::purpose.eq(purpose))
                    .filter(otp_challenges::status.eq("pending")),
            )
            .set(otp_challenges::status.eq("superseded"))
            .execute(c))?)
    }

    /// Marks an open challenge used. False when it was no longer open: the condition is part
    /// of the UPDATE, so two concurrent uses of one code cannot both succeed.
    pub fn consume_otp_challenge(
        &mut self,
        id: &str,
        at: NaiveDateTime,
    ) -> Result<bool, StoreError> {
        let n = dispatch!(self, c => diesel::update(
                otp_challenges::table
                    .find(id)
                    .filter(otp_challenges::status.eq("pending")),
            )
            .set((
                otp_challenges::status.eq("consumed"),
                otp_challenges::consumed_at.eq(Some(at)),
            ))
            .execute(c))?;
        Ok(n == 1)
    }

    /// Counts one wrong code on an open challenge, locking it at `max_attempts`. The increment
    /// happens in SQL so concurrent wrong codes all count.
    pub fn record_otp_failure(
        &mut self,
        id: &str,
        max_attempts: i32,
    ) -> Result<RecordedFailure, StoreError> {
        let counted = dispatch!(self, c => diesel::update(
                otp_challenges::table
                    .find(id)
                    .filter(otp_challenges::status.eq("pending")),
            )
            .set(otp_challenges::failed_attempts.eq(otp_challenges::failed_attempts + 1))
            .execute(c))?
            == 1;
        if counted {
            dispatch!(self, c => diesel::update(
                    otp_challenges::table
                        .find(id)
                        .filter(otp_challenges::status.eq("pending"))
                        .filter(otp_challenges::failed_attempts.ge(max_attempts)),
                )
                .set(otp_challenges::status.eq("locked"))
                .execute(c))?;
        }
        let (failed_attempts, status): (i32, String) = dispatch!(self, c => otp_challenges::table
            .find(id)
            .select((otp_challenges::failed_attempts, otp_challenges::status))
            .first(c))?;
        Ok(RecordedFailure {
            failed_attempts,
            locked: status == "locked",
            counted,
        })
    }
}
