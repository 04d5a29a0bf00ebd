//! Appending to and reading the audit chain.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::{audit_checkpoints, audit_events, audit_head};
use super::{dispatch, Conn, Store, StoreError, Tx};
use crate::audit::{chain_hash, NewEvent, StoredEvent, Verifier, VerifyReport};

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

/// A signed checkpoint of the chain (`audit::Checkpoint` plus its signature).
#[derive(Clone, Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_checkpoints)]
pub struct CheckpointRow {
    pub seq: i64,
    pub hash: String,
    pub at: chrono::NaiveDateTime,
    /// SHA-256 (hex) of the DER sealing certificate whose key signed it.
    pub certificate_sha256: String,
    pub signature: Vec<u8>,
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

impl Store {
    /// Walks the stored chain page by page through `audit::Verifier` (blocking; run off the
    /// async workers).
    pub fn verify_audit_blocking(&self) -> Result<VerifyReport, StoreError> {
        const PAGE: i64 = 5_000;
        let (head_seq, head_hash) = self.read_blocking(|tx| tx.audit_head())?;
        let mut verifier = Verifier::default();
        let mut after = 0;
        loop {
            let page = self.read_blocking(|tx| tx.audit_events_after(after, PAGE))?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            let full = page.len() as i64 == PAGE;
            let mut going = true;
            for e in page {
                // Events appended after the head was read belong to the next verification.
                if e.seq > head_seq {
                    going = false;
                    break;
                }
                going = verifier.feed(e);
                if !going {
                    break;
                }
            }
            if !going || !full {
                break;
            }
        }
        Ok(verifier.finish(head_seq, &head_hash))
    }
}

impl Store {
    /// Stores a signed checkpoint of the chain. Bookkeeping, not audited: the checkpoint is
    /// a statement about the chain, and appending an event for it would move the head it
    /// names. `Conflict` when a checkpoint of that seq exists (another process made it).
    pub async fn record_audit_checkpoint(&self, row: CheckpointRow) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            store.bookkeeping_blocking(|tx| {
                dispatch!(tx, c => diesel::insert_into(audit_checkpoints::table)
                    .values(&row)
                    .execute(c))?;
                Ok(())
            })
        })
        .await
        .map_err(|e| StoreError::Unexpected(format!("blocking task: {e}")))?
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

    /// Every checkpoint, oldest first.
    pub fn audit_checkpoints(&mut self) -> Result<Vec<CheckpointRow>, StoreError> {
        Ok(dispatch!(self, c => audit_checkpoints::table
            .order(audit_checkpoints::seq.asc())
            .select(CheckpointRow::as_select())
            .load(c))?)
    }

    pub fn latest_audit_checkpoint(&mut self) -> Result<Option<CheckpointRow>, StoreError> {
        Ok(dispatch!(self, c => audit_checkpoints::table
            .order(audit_checkpoints::seq.desc())
            .select(CheckpointRow::as_select())
            .first(c)
            .optional())?)
    }

    /// The stored hash of event `seq`, if there is one.
    pub fn audit_hash_at(&mut self, seq: i64) -> Result<Option<String>, StoreError> {
        Ok(dispatch!(self, c => audit_events::table
            .filter(audit_events::seq.eq(seq))
            .select(audit_events::hash)
            .first(c)
            .optional())?)
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

    /// Events matching `q`, newest first, at most `q.limit`.
    pub fn search_audit_events(&mut self, q: &AuditQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let rows: Vec<AuditRow> = dispatch!(self, c => {
            let mut query = audit_events::table
                .order(audit_events::seq.desc())
                .limit(q.limit)
                .into_boxed();
            if let Some(a) = &q.actor {
                query = query.filter(audit_events::actor.eq(a.clone()));
            }
            if let Some(t) = &q.object_type {
                query = query.filter(audit_events::object_type.eq(t.clone()));
            }
            if let Some(id) = &q.object_id {
                query = query.filter(audit_events::object_id.eq(id.clone()));
            }
            if let Some(a) = &q.action_prefix {
                query = query.filter(audit_events::action.like(format!("{}%", escape_like(a))).escape('\\'));
            }
            if let Some(t) = q.from {
                query = query.filter(audit_events::at.ge(t));
            }
            if let Some(t) = q.to {
                query = query.filter(audit_events::at.lt(t));
            }
            if let Some(b) = q.before_seq {
                query = query.filter(audit_events::seq.lt(b));
            }
            query.load(c)?
        });
        Ok(rows.into_iter().map(StoredEvent::from).collect())
    }

    /// Every event about any of `object_ids`, oldest first (an enrolment's timeline).
    pub fn audit_events_for_objects(
        &mut self,
        object_ids: &[String],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows: Vec<AuditRow> = dispatch!(self, c => audit_events::table
            .filter(audit_events::object_id.eq_any(object_ids))
            .order(audit_events::seq.asc())
            .limit(1000)
            .load(c)?);
        Ok(rows.into_iter().map(StoredEvent::from).collect())
    }
}

/// An audit search; `before_seq` is the last sequence number of the previous page.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// As stored: `operator:<username>`, `api_key:<id>`, `cli`, `system`.
    pub actor: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    /// `enrolment.` matches every enrolment action.
    pub action_prefix: Option<String>,
    pub from: Option<chrono::NaiveDateTime>,
    pub to: Option<chrono::NaiveDateTime>,
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// `%`, `_` and the escape character itself match literally.
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
