//! Appending to and reading the audit chain.

use std::sync::{Condvar, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::{audit_checkpoints, audit_events, audit_head, audit_pending};
use super::{dispatch, Conn, Head, Store, StoreError, Tx};
use crate::audit::{chain_hash, EventText, NewEvent, StoredEvent, Verifier, VerifyReport};

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
        // Committed events still waiting for the sequencer are chained first, so the walk
        // covers every committed event.
        self.chain_pending_audit_blocking()?;
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

#[derive(Insertable)]
#[diesel(table_name = audit_pending)]
struct PendingEvent<'a> {
    at: chrono::NaiveDateTime,
    actor: &'a str,
    action: &'a str,
    object_type: &'a str,
    object_id: &'a str,
    details: &'a str,
}

/// An [`AuditRow`] borrowed from its [`EventText`], for SQLite's writer.
#[derive(Insertable)]
#[diesel(table_name = audit_events)]
struct ChainedEvent<'a> {
    seq: i64,
    at: chrono::NaiveDateTime,
    actor: &'a str,
    action: &'a str,
    object_type: &'a str,
    object_id: &'a str,
    details: &'a str,
    prev_hash: &'a str,
    hash: &'a str,
}

#[derive(Queryable)]
struct PendingRow {
    id: i64,
    at: chrono::NaiveDateTime,
    actor: String,
    action: String,
    object_type: String,
    object_id: String,
    details: String,
}

/// Pending events chained per sequencer transaction: bounded so that one run after a long
/// outage does not hold the head for long.
const SEQUENCER_BATCH: i64 = 1_000;

/// This process's sequencer runs after commits, shared: a writer that has committed waits for
/// the next run to *start* after its commit (which sees its events) and to finish, and starts
/// it itself when none is under way. Concurrent writers then share one run instead of each
/// running its own, one after another on the head's row lock.
#[derive(Default)]
pub(super) struct Chaining {
    runs: Mutex<Runs>,
    finished: Condvar,
}

/// Runs started and finished, numbered from 1; one at a time, so in order, and one is under
/// way while `started > finished`.
#[derive(Default)]
struct Runs {
    started: u64,
    finished: u64,
}

/// Ends a run even when the sequencer panicked, so that its waiters do not wait forever.
struct RunGuard<'a> {
    chaining: &'a Chaining,
    number: u64,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        let mut runs = self
            .chaining
            .runs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        runs.finished = self.number;
        self.chaining.finished.notify_all();
    }
}

impl Store {
    /// After a write's commit: its events chained before it answers, by a run it shares with
    /// the writers that committed meanwhile. A failed run is logged once and leaves the
    /// events to the next run.
    pub(super) fn chain_after_commit_blocking(&self) {
        let chaining = &*self.chaining;
        let mut runs = chaining.runs.lock().unwrap_or_else(PoisonError::into_inner);
        // The first run to start from now on reads the pending events after this commit.
        let awaited = runs.started + 1;
        loop {
            if runs.finished >= awaited {
                return;
            }
            if runs.started == runs.finished {
                runs.started += 1;
                let _guard = RunGuard {
                    chaining,
                    number: runs.started,
                };
                drop(runs);
                if let Err(e) = self.chain_pending_audit_blocking() {
                    tracing::warn!(error = %e, "audit events left to the next sequencer run");
                }
                return;
            }
            runs = chaining
                .finished
                .wait(runs)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The sequencer: moves committed, not yet chained audit events (PostgreSQL's
    /// `audit_pending`) into the chain in the order they were appended, and returns how many
    /// it chained. One at a time across processes: it holds the audit head's row lock, and
    /// only for the chaining itself, never for a domain write. Run after writes' commits
    /// ([`Store::chain_after_commit_blocking`]), by `audit verify` and the checkpoint job
    /// before they read the head, and by a job (events a stopped process committed but did
    /// not chain). On SQLite events are chained in their own transaction, so there is
    /// nothing to do.
    pub fn chain_pending_audit_blocking(&self) -> Result<usize, StoreError> {
        let super::Pool::Pg(p) = &self.pool else {
            return Ok(0);
        };
        let mut c = self.pg(p)?;
        let mut chained = 0;
        loop {
            let n = c.transaction(|c| chain_batch(c))?;
            chained += n;
            if (n as i64) < SEQUENCER_BATCH {
                return Ok(chained);
            }
        }
    }

    /// [`Store::chain_pending_audit_blocking`] on tokio's blocking pool.
    pub async fn chain_pending_audit(&self) -> Result<usize, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.chain_pending_audit_blocking())
            .await
            .map_err(|e| StoreError::Unexpected(format!("blocking task: {e}")))?
    }
}

/// One sequencer transaction: locks the head, chains up to [`SEQUENCER_BATCH`] pending events
/// in `id` order and removes them from the queue.
fn chain_batch(c: &mut diesel::pg::PgConnection) -> Result<usize, diesel::result::Error> {
    let (mut seq, mut prev): (i64, String) = audit_head::table
        .find(1)
        .select((audit_head::seq, audit_head::hash))
        .for_update()
        .first(c)?;
    // Read after the lock: every event committed before it was taken is seen (READ
    // COMMITTED takes a new snapshot per statement).
    let pending: Vec<PendingRow> = audit_pending::table
        .order(audit_pending::id.asc())
        .limit(SEQUENCER_BATCH)
        .load(c)?;
    if pending.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
    let mut rows = Vec::with_capacity(pending.len());
    for p in pending {
        seq += 1;
        let at = DateTime::<Utc>::from_naive_utc_and_offset(p.at, Utc);
        let hash = chain_hash(
            &prev,
            &at,
            &p.actor,
            &p.action,
            &p.object_type,
            &p.object_id,
            &p.details,
        );
        rows.push(AuditRow {
            seq,
            at: p.at,
            actor: p.actor,
            action: p.action,
            object_type: p.object_type,
            object_id: p.object_id,
            details: p.details,
            prev_hash: std::mem::replace(&mut prev, hash.clone()),
            hash,
        });
    }
    let n = rows.len();
    // Bounded well below PostgreSQL's 65,535 bind parameters (9 per row).
    for chunk in rows.chunks(500) {
        diesel::insert_into(audit_events::table)
            .values(chunk)
            .execute(c)?;
    }
    diesel::delete(audit_pending::table.filter(audit_pending::id.eq_any(&ids))).execute(c)?;
    diesel::update(audit_head::table.find(1))
        .set((audit_head::seq.eq(seq), audit_head::hash.eq(&prev)))
        .execute(c)?;
    Ok(n)
}

impl Tx<'_> {
    /// Appends `event` in this transaction and marks the transaction audited. SQLite chains it
    /// here (the transaction already holds the database's write lock). PostgreSQL records it
    /// unchained in `audit_pending`, touching no shared row, and the sequencer chains it right
    /// after the commit ([`Store::chain_pending_audit_blocking`]): the event commits or rolls
    /// back with the change, and concurrent writers of any process are not serialised by it.
    pub fn audit(&mut self, event: NewEvent) -> Result<(), StoreError> {
        self.audit_text(&event.into_text())
    }

    /// [`Tx::audit`] of an event whose text was fixed before the transaction
    /// ([`NewEvent::into_text`]); borrowed, since the transaction may run again.
    pub fn audit_text(&mut self, event: &EventText) -> Result<(), StoreError> {
        let at = event.at.naive_utc();
        if let Conn::Pg(c) = &mut self.conn {
            diesel::insert_into(audit_pending::table)
                .values(PendingEvent {
                    at,
                    actor: &event.actor,
                    action: event.action,
                    object_type: event.object_type,
                    object_id: &event.object_id,
                    details: &event.details,
                })
                .execute(*c)?;
            self.audited = true;
            return Ok(());
        }
        let (head_seq, head_hash) = self.audit_head()?;
        let seq = head_seq + 1;
        let hash = event.chain_hash(&head_hash);
        let Conn::Sqlite(c) = &mut self.conn else {
            return Err(StoreError::Unexpected(
                "PostgreSQL events are chained by the sequencer".into(),
            ));
        };
        diesel::insert_into(audit_events::table)
            .values(ChainedEvent {
                seq,
                at,
                actor: &event.actor,
                action: event.action,
                object_type: event.object_type,
                object_id: &event.object_id,
                details: &event.details,
                prev_hash: &head_hash,
                hash: &hash,
            })
            .execute(*c)?;
        match &mut self.head {
            Head::AtCommit(moved) => *moved = Some((seq, hash)),
            Head::EachEvent => {
                super::cached::MoveAuditHead { seq, hash: &hash }.execute(*c)?;
            }
        }
        self.audited = true;
        Ok(())
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
        if let Head::AtCommit(Some(head)) = &self.head {
            return Ok(head.clone());
        }
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
