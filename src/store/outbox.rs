//! The outbox: messages written in the transaction that caused them, delivered later by the
//! dispatcher (`notify::Dispatcher`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::outbox_messages;
use super::{dispatch, Conn, Store, StoreError, Tx};

#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox_messages)]
pub struct OutboxRow {
    pub id: String,
    pub channel: String,
    pub kind: String,
    pub masked_destination: String,
    pub payload_sealed: Vec<u8>,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub not_after: Option<NaiveDateTime>,
    pub claimed_until: Option<NaiveDateTime>,
    pub claim_token: Option<String>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    /// A person is waiting for it (a code, the signed contract): claimed before the others.
    pub urgent: bool,
}

/// How one delivery attempt ended.
#[derive(Clone, Debug)]
pub enum OutboxUpdate {
    Sent {
        attempts: i32,
        at: NaiveDateTime,
    },
    Retry {
        attempts: i32,
        next_attempt_at: NaiveDateTime,
        error: String,
    },
    Failed {
        attempts: i32,
        error: String,
    },
}

impl Tx<'_> {
    pub fn insert_outbox_message(&mut self, row: &OutboxRow) -> Result<(), StoreError> {
        dispatch!(self, c => diesel::insert_into(outbox_messages::table).values(row).execute(c))?;
        Ok(())
    }

    pub fn outbox_message(&mut self, id: &str) -> Result<Option<OutboxRow>, StoreError> {
        Ok(dispatch!(self, c => outbox_messages::table
            .find(id)
            .select(OutboxRow::as_select())
            .first(c)
            .optional())?)
    }

    /// Records the outcome of an attempt made under claim `token`. False (and no change) when
    /// the claim was lost meanwhile (it expired and another dispatcher took the message).
    /// A sent message's sealed payload is wiped: nothing needs it any more.
    pub fn finish_outbox_attempt(
        &mut self,
        id: &str,
        token: &str,
        update: &OutboxUpdate,
    ) -> Result<bool, StoreError> {
        let target = outbox_messages::table
            .find(id)
            .filter(outbox_messages::claim_token.eq(token))
            .filter(outbox_messages::status.eq("pending"));
        let released = (
            outbox_messages::claimed_until.eq(None::<NaiveDateTime>),
            outbox_messages::claim_token.eq(None::<String>),
        );
        let n = match update {
            OutboxUpdate::Sent { attempts, at } => {
                let sent = super::cached::OutboxSent {
                    id,
                    token,
                    attempts: *attempts,
                    at: *at,
                };
                dispatch!(self, c => sent.execute(c))?
            }
            OutboxUpdate::Retry {
                attempts,
                next_attempt_at,
                error,
            } => dispatch!(self, c => diesel::update(target)
                .set((
                    outbox_messages::attempts.eq(attempts),
                    outbox_messages::next_attempt_at.eq(next_attempt_at),
                    outbox_messages::last_error.eq(Some(error)),
                    released,
                ))
                .execute(c))?,
            OutboxUpdate::Failed { attempts, error } => dispatch!(self, c => diesel::update(target)
                .set((
                    outbox_messages::status.eq("failed"),
                    outbox_messages::attempts.eq(attempts),
                    outbox_messages::last_error.eq(Some(error)),
                    released,
                ))
                .execute(c))?,
        };
        Ok(n == 1)
    }
}

impl Store {
    /// Bookkeeping, not audited (a lease is not a change of the message): claims up to
    /// `limit` due, unclaimed (or lease-expired) pending messages for `token` until
    /// `lease_until`, the urgent ones first, then the longest due, and returns them. One
    /// statement, so claims never overlap: PostgreSQL skips rows another claimer has locked
    /// (`FOR UPDATE SKIP LOCKED`); SQLite runs writers one at a time.
    pub async fn claim_outbox(
        &self,
        now: NaiveDateTime,
        lease_until: NaiveDateTime,
        token: String,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            store.bookkeeping_blocking(|tx| {
                let claim = super::cached::ClaimOutbox {
                    now,
                    lease_until,
                    token: &token,
                    limit,
                    skip_locked: matches!(tx.conn, Conn::Pg(_)),
                };
                dispatch!(tx, c => claim.execute(c))?;
                Ok(dispatch!(tx, c => outbox_messages::table
                    .filter(outbox_messages::claim_token.eq(&token))
                    .filter(outbox_messages::status.eq("pending"))
                    .order((
                        outbox_messages::urgent.desc(),
                        outbox_messages::next_attempt_at.asc(),
                    ))
                    .select(OutboxRow::as_select())
                    .load(c))?)
            })
        })
        .await
        .map_err(|e| StoreError::Unexpected(format!("blocking task: {e}")))?
    }
}
