//! Appending to and reading the audit chain.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::{audit_events, audit_head};
use super::{dispatch, Conn, StoreError, Tx};
use crate::audit::{chain_hash, NewEvent, StoredEvent};

pub use crate::audit::GENESIS_HASH as AUDIT_GENESIS_HASH;

#[derive(Queryable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub seq: i64,
    pub at: chrono::NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl From<AuditRow> for StoredEvent {
    fn from(r: AuditRow) -> Self {
        StoredEvent {
            seq: r.seq,
            at: DateTime::<Utc>::from_naive_utc_and_offset(r.at, Utc),
            actor: r.actor,
            action: r.action,
            object_type: r.object_type,
            object_id: r.object_id,
            details: r.details,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

impl Tx<'_> {
    /// Appends `event` to the chain in this transaction and marks the transaction audited.
    /// The head row is locked (PostgreSQL `FOR UPDATE`; SQLite transactions already hold the
    /// database write lock), so concurrent appenders from any process form one chain.
    pub fn audit(&mut self, event: NewEvent) -> Result<i64, StoreError> {
        let (head_seq, head_hash): (i64, String) = match &mut self.conn {
            Conn::Sqlite(c) => audit_head::table
                .find(1)
                .select((audit_head::seq, audit_head::hash))
                .first(*c)?,
            Conn::Pg(c) => audit_head::table
                .find(1)
                .select((audit_head::seq, audit_head::hash))
                .for_update()
                .first(*c)?,
        };
        let at = crate::clock::truncate(event.at);
        let actor = event.actor.to_string();
        let details = event.details.to_string();
        let seq = head_seq + 1;
        let hash = chain_hash(
            &head_hash,
            &at,
            &actor,
            event.action,
            event.object_type,
            &event.object_id,
            &details,
        );
        let row = AuditRow {
            seq,
            at: at.naive_utc(),
            actor,
            action: event.action.to_string(),
            object_type: event.object_type.to_string(),
            object_id: event.object_id,
            details,
            prev_hash: head_hash,
            hash: hash.clone(),
        };
        dispatch!(self, c => {
            diesel::insert_into(audit_events::table).values(&row).execute(c)?;
            diesel::update(audit_head::table.find(1))
                .set((audit_head::seq.eq(seq), audit_head::hash.eq(&hash)))
                .execute(c)?;
        });
        self.audited = true;
        Ok(seq)
    }

    pub fn audit_head(&mut self) -> Result<(i64, String), StoreError> {
        Ok(dispatch!(self, c => audit_head::table
            .find(1)
            .select((audit_head::seq, audit_head::hash))
            .first(c)?))
    }

    /// Events with `seq > after`, in order, at most `limit`.
    pub fn audit_events_after(
        &mut self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows: Vec<AuditRow> = dispatch!(self, c => audit_events::table
            .filter(audit_events::seq.gt(after))
            .order(audit_events::seq.asc())
            .limit(limit)
            .load(c)?);
        Ok(rows.into_iter().map(StoredEvent::from).collect())
    }
}
