//! Storage: the only module that knows diesel.
//!
//! One binary serves SQLite (default) and PostgreSQL (scale-out). Rather than diesel's
//! `MultiConnection` (whose `MultiBackend` cannot express `FOR UPDATE SKIP LOCKED` or
//! dialect-specific upserts), a pool is one of two typed r2d2 pools and each query is written
//! once and compiled for both connection types by [`dispatch!`]; where the dialects differ a
//! function matches on [`Conn`] itself.
//!
//! Invariant: a write transaction commits only if it appended an audit event
//! ([`Tx::audit`]); [`Store::write`] rolls back otherwise. No event, no change.
//! Sync diesel runs on tokio's blocking pool, never on the async workers.
//!
//! On SQLite every write of the process (audited transactions and bookkeeping) takes its turn
//! in one [`WriterLane`]: one dedicated connection behind a FIFO lock, so concurrent writers
//! queue in the process instead of sleeping in SQLite's busy handler; readers use the pool.

mod acceptance;
mod audit;
mod cached;
mod certificates;
mod consent;
mod contracts;
mod credentials;
mod dashboard;
mod data_keys;
mod document_objects;
mod enrolments;
mod expiry;
mod idempotency;
mod key_check;
mod operators;
mod otp;
mod outbox;
mod pdf_documents;
mod reports;
mod retention;
pub mod schema;
mod status;
mod text_enum;
mod verification;
mod vneid;

pub use acceptance::{AcceptanceDecision, AcceptanceRow};
pub use audit::{AuditQuery, AuditRow, CheckpointRow, AUDIT_GENESIS_HASH};
pub use certificates::{CertificateRow, EndingCertificate};
pub use consent::ConsentEvidenceRow;
pub use contracts::{ContractRow, FreePackageClaimRow, PackageRow, SignatureEvidence};
pub use credentials::{
    AuthorizationRow, CredentialRow, SignatureRow, CREDENTIAL_DESTROYED, CREDENTIAL_PENDING,
    CREDENTIAL_READY,
};
pub use dashboard::DayFigures;
pub use data_keys::DataKeyRow;
pub use document_objects::{Placed, Placement};
pub use enrolments::{
    DestroyedDocument, DestructionReason, DocumentRow, EnrolmentQuery, EnrolmentRow, Owned,
};
pub use idempotency::IdempotencyRow;
pub use key_check::KeyCheckState;
pub use operators::{ApiKeyRow, IntegrationRow, OperatorRow, SessionRow, ANY_CLIENT};
pub use otp::{OtpChallengeRow, RecordedFailure};
pub use outbox::{OutboxRow, OutboxUpdate};
pub use pdf_documents::{PdfDocumentRow, StoredVersion};
pub use reports::{
    AddressColumns, Bucket, DaySummary, IssuanceCountQuery, IssuanceFlows, PeriodCount,
    SummaryCount,
};
pub use status::{CertificateQuery, CrlEntryRow, CrlRow, NewCrl, StatusRow};
pub use verification::{OutcomeRow, RecordingRow, VideoCallRow};
pub use vneid::{VneidRegistrationRow, HUB_CHANNEL};

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{
    ConnectionManager, CustomizeConnection, HandleError, HandleEvent, Pool as R2d2Pool,
    PooledConnection,
};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// Key of the PostgreSQL advisory lock that serialises migrations across starting processes.
const MIGRATION_LOCK: i64 = 0x6361_656e_726f_6c01;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique or check constraint refused the change; carries the constraint or message.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A write transaction tried to commit without an audit event.
    #[error("write transaction without an audit event")]
    Unaudited,
    #[error("database: {0}")]
    Unexpected(String),
    /// The database cannot be reached (no connection within the acquire timeout while
    /// connecting fails, or the connection closed under a statement): worth a retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        if must_retry(&e) {
            ORDERING_FAILURE.with(|flag| flag.set(true));
        }
        match e {
            Error::NotFound => StoreError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(info.constraint_name().unwrap_or(info.message()).to_string())
            }
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => StoreError::Unavailable(info.message().to_string()),
            other => StoreError::Unexpected(other.to_string()),
        }
    }
}

/// A connection of either dialect, borrowed for one transaction.
pub enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Pg(&'a mut PgConnection),
}

/// Runs the same diesel expression on whichever connection the transaction holds.
macro_rules! dispatch {
    ($tx:expr, $c:ident => $body:expr) => {
        match &mut $tx.conn {
            $crate::store::Conn::Sqlite(inner) => {
                let $c: &mut diesel::sqlite::SqliteConnection = inner;
                $body
            }
            $crate::store::Conn::Pg(inner) => {
                let $c: &mut diesel::pg::PgConnection = inner;
                $body
            }
        }
    };
}
pub(crate) use dispatch;

/// A database transaction handed to domain code. Its methods (in the submodules) are the only
/// queries there are.
pub struct Tx<'a> {
    conn: Conn<'a>,
    audited: bool,
    after_commit: Vec<AfterCommit>,
    head: Head,
}

type AfterCommit = Box<dyn FnOnce() + Send>;

/// How a transaction keeps SQLite's `audit_head` row (PostgreSQL chains after commit).
#[derive(Clone)]
enum Head {
    /// Moved with every event.
    EachEvent,
    /// Moved once, by [`Tx::finish`] just before an audited write commits: a batch of 64
    /// issuances appends 128 events, and reading and rewriting the row for each was a
    /// quarter of the writer's statements. Holds the head as this transaction's events left
    /// it (`None`: the row is current).
    AtCommit(Option<(i64, String)>),
}

impl Tx<'_> {
    fn new(conn: Conn<'_>) -> Tx<'_> {
        Tx::with_head(conn, Head::EachEvent)
    }

    fn with_head(conn: Conn<'_>, head: Head) -> Tx<'_> {
        Tx {
            conn,
            audited: false,
            after_commit: Vec::new(),
            head,
        }
    }

    /// Writes what the transaction left pending (the audit chain's head); the last statement
    /// of an audited write.
    fn finish(&mut self) -> Result<(), StoreError> {
        if let (Head::AtCommit(moved), Conn::Sqlite(c)) = (&mut self.head, &mut self.conn) {
            if let Some((seq, hash)) = moved.take() {
                cached::MoveAuditHead { seq, hash: &hash }.execute(*c)?;
            }
        }
        Ok(())
    }

    /// Runs `f` once this transaction has committed, never if it rolls back (e.g. to wake a
    /// worker that must not look before the rows it is woken for are visible).
    pub fn after_commit(&mut self, f: impl FnOnce() + Send + 'static) {
        self.after_commit.push(Box::new(f));
    }

    /// Runs `f` in a savepoint: when it fails, what it wrote (audit events included) is undone
    /// and the transaction goes on, so one of several changes batched into one transaction
    /// can fail alone (batched issuance).
    pub fn savepoint<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
        E: From<StoreError>,
    {
        let head = self.head.clone();
        let body = |conn: Conn<'_>| -> Result<(T, bool, Vec<AfterCommit>, Head), TxFail<E>> {
            let mut inner = Tx::with_head(conn, head);
            let out = f(&mut inner).map_err(TxFail::Caller)?;
            Ok((out, inner.audited, inner.after_commit, inner.head))
        };
        // Diesel runs a transaction opened inside another as a savepoint.
        let (out, audited, hooks, head) = match &mut self.conn {
            Conn::Sqlite(c) => c.transaction(|c| body(Conn::Sqlite(c))),
            Conn::Pg(c) => c.transaction(|c| body(Conn::Pg(c))),
        }
        .map_err(TxFail::into_caller)?;
        self.audited |= audited;
        self.after_commit.extend(hooks);
        // Released: its events stay, so does the head they moved (undone, both are).
        self.head = head;
        Ok(out)
    }
}

#[derive(Clone)]
enum Pool {
    /// Readers' pool, and the writer lane.
    Sqlite(
        R2d2Pool<ConnectionManager<SqliteConnection>>,
        Arc<WriterLane>,
    ),
    Pg(R2d2Pool<ConnectionManager<PgConnection>>),
}

/// The SQLite write connection of this process, `None` until first used or after it was given
/// up. Held through the lane's lock for one write.
type LaneSlot = Option<SqliteConnection>;

/// How often [`WriterLane::spawn_checkpointer`]'s thread checkpoints.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// SQLite's writer lane. SQLite has one write lock per database; when several pooled
/// connections of one process raced for it, the losers slept in SQLite's busy handler (sleeps
/// of up to 100 ms, no order), which made throughput fall as clients were added. Here writers
/// wait for a fair (FIFO) tokio lock instead, an async writer without holding a thread, and
/// run on one connection whose prepared statements stay cached. The busy timeout is left only
/// for other processes on the same file (the CLI, a second service).
struct WriterLane {
    url: String,
    slot: Arc<tokio::sync::Mutex<LaneSlot>>,
}

impl WriterLane {
    /// Runs `f` on the lane's connection (made on first use). The caller holds the lane.
    fn run<R, E: From<StoreError>>(
        &self,
        slot: &mut LaneSlot,
        f: impl FnOnce(&mut SqliteConnection) -> Result<R, TxFail<E>>,
    ) -> Result<R, TxFail<E>> {
        // A panic inside `f` (a bug, or a test's simulated crash) may leave a transaction
        // open: the connection is then closed, which rolls it back, and the next write opens
        // a new one. So is a connection whose transaction state diesel gave up on.
        struct GiveUpOnPanic<'a>(&'a mut LaneSlot);
        impl Drop for GiveUpOnPanic<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    *self.0 = None;
                }
            }
        }
        let guard = GiveUpOnPanic(slot);
        let conn = match guard.0 {
            Some(c) => c,
            None => guard
                .0
                .insert(self.connect().map_err(|e| TxFail::Caller(E::from(e)))?),
        };
        let out = f(conn);
        if diesel::r2d2::R2D2Connection::is_broken(conn) {
            *guard.0 = None;
        }
        out
    }

    fn connect(&self) -> Result<SqliteConnection, StoreError> {
        let unusable = |e: &dyn std::fmt::Display| StoreError::Unexpected(format!("database: {e}"));
        let mut c = SqliteConnection::establish(&self.url).map_err(|e| unusable(&e))?;
        Self::pragmas(&mut c).map_err(|e| unusable(&e))?;
        Ok(c)
    }

    /// The pool's pragmas, and: a savepoint's journal (every page a savepoint changes, copied
    /// before the change) spills to a temporary file past 64 KiB, and batched issuance (a
    /// savepoint per certificate) spent ~18 % of its CPU creating and writing those files.
    /// Write transactions are small, so the writer keeps its temporary data in memory;
    /// readers (large sorts) keep the default.
    fn pragmas(c: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        SqlitePragmas.on_acquire(c)?;
        c.batch_execute("PRAGMA temp_store = MEMORY;")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    /// Copies the WAL's committed pages back into the database file on a thread of its own,
    /// outside the lane. With SQLite's automatic checkpoint alone, the commit that crossed the
    /// threshold copied up to 40 MB and synced the file while every writer of the process
    /// waited behind it (every few seconds under the full path's load, which writes ~400 KB of
    /// PDFs per enrolment). PASSIVE waits for no reader or writer. The writer keeps its
    /// automatic checkpoint, which now finds (almost) everything copied: it is what lets the
    /// writer's next transaction start the WAL over, as only a checkpoint with no commit after
    /// it does (without it the WAL grew by ~50 MB a second under that load). Stops once the
    /// lane is dropped.
    fn spawn_checkpointer(lane: &Arc<WriterLane>) -> std::io::Result<()> {
        let url = lane.url.clone();
        let lane = Arc::downgrade(lane);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let mut conn: Option<SqliteConnection> = None;
                loop {
                    std::thread::sleep(CHECKPOINT_EVERY);
                    if lane.strong_count() == 0 {
                        return;
                    }
                    let c = match conn.as_mut() {
                        Some(c) => c,
                        None => match SqliteConnection::establish(&url) {
                            Ok(c) => conn.insert(c),
                            Err(e) => {
                                tracing::warn!(error = %e, "WAL checkpointer cannot open the database");
                                continue;
                            }
                        },
                    };
                    // Busy (another process's checkpoint) is simply tried again next time.
                    if let Err(e) = c.batch_execute("PRAGMA wal_checkpoint(PASSIVE);") {
                        tracing::debug!(error = %e, "WAL checkpoint skipped");
                    }
                }
            })
            .map(drop)
    }
}

#[derive(Clone)]
pub struct Store {
    pool: Pool,
    health: Health,
    acquire_timeout: Duration,
    /// PostgreSQL: the sequencer runs after commits, shared by concurrent writers.
    chaining: Arc<audit::Chaining>,
}

/// How long a caller waits for a pooled connection while the database is merely busy (all
/// connections in use), as before the acquire timeout existed.
const BUSY_WAIT: Duration = Duration::from_secs(30);

/// Pool sizing and the connection-acquire timeout (`database_pool_size`,
/// `database_acquire_timeout_ms`).
#[derive(Clone, Copy, Debug)]
pub struct PoolSettings {
    pub size: u32,
    /// While connecting fails, a caller gets [`StoreError::Unavailable`] after this long
    /// instead of waiting; it also caps r2d2's reconnect backoff at half of it (r2d2 doubles
    /// the delay between attempts up to `connection_timeout / 2`: 15 s with its 30 s default,
    /// which is why requests kept failing for 8–13 s after the database came back).
    pub acquire_timeout: Duration,
}

impl PoolSettings {
    /// `size` connections and the default one-second acquire timeout.
    pub fn new(size: u32) -> Self {
        Self {
            size,
            acquire_timeout: Duration::from_secs(1),
        }
    }
}

/// Whether the pool's last attempt to make or check a connection failed, and no connection
/// has been made or checked out since: what tells "the database is down" from "the pool is
/// busy" when an acquire times out. Fed by r2d2's error and event handlers (a checkout has
/// passed r2d2's `SELECT 1` test, so the database answered).
#[derive(Clone, Debug, Default)]
struct Health {
    down: Arc<AtomicBool>,
}

impl<E: std::fmt::Display> HandleError<E> for Health {
    fn handle_error(&self, error: E) {
        if !self.down.swap(true, Ordering::SeqCst) {
            tracing::warn!(error = %error, "database connection failed");
        }
    }
}

impl Health {
    fn up(&self) {
        // Loaded first: the flag is read on every checkout and rarely changes.
        if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::SeqCst) {
            tracing::info!("database answers again");
        }
    }
}

impl HandleEvent for Health {
    fn handle_acquire(&self, _: diesel::r2d2::event::AcquireEvent) {
        self.up();
    }

    fn handle_checkout(&self, _: diesel::r2d2::event::CheckoutEvent) {
        self.up();
    }
}

/// Builds a pool whose connection failures and new connections feed `health`.
fn build_pool<C>(
    manager: ConnectionManager<C>,
    settings: PoolSettings,
    health: &Health,
    customizer: Option<Box<dyn CustomizeConnection<C, diesel::r2d2::Error>>>,
) -> Result<R2d2Pool<ConnectionManager<C>>, StoreError>
where
    C: diesel::r2d2::R2D2Connection + 'static,
{
    let mut builder = R2d2Pool::builder()
        .max_size(settings.size)
        .connection_timeout(settings.acquire_timeout)
        .error_handler(Box::new(health.clone()))
        .event_handler(Box::new(health.clone()));
    if let Some(c) = customizer {
        builder = builder.connection_customizer(c);
    }
    // Connections are made when first needed, not all at build: waiting for the whole pool
    // within the one-second timeout could fail a start on a slow machine (the caller has
    // just made a direct connection), and connecting in the background could still be under
    // way when a short CLI command exits.
    builder.min_idle(Some(0)).build(manager).map_err(pool_error)
}

/// A pooled connection: within the acquire timeout, or [`StoreError::Unavailable`] when
/// connecting is failing by then; a pool that is only busy is waited for (up to [`BUSY_WAIT`]).
fn acquire<C>(
    pool: &R2d2Pool<ConnectionManager<C>>,
    health: &Health,
    timeout: Duration,
) -> Result<PooledConnection<ConnectionManager<C>>, StoreError>
where
    C: diesel::r2d2::R2D2Connection + 'static,
{
    let unavailable = |e: diesel::r2d2::PoolError| StoreError::Unavailable(e.to_string());
    match pool.get_timeout(timeout) {
        Ok(c) => Ok(c),
        Err(e) if health.down.load(Ordering::SeqCst) => Err(unavailable(e)),
        Err(_) => match pool.get_timeout(BUSY_WAIT.saturating_sub(timeout)) {
            Ok(c) => Ok(c),
            Err(e) if health.down.load(Ordering::SeqCst) => Err(unavailable(e)),
            Err(e) => Err(pool_error(e)),
        },
    }
}

#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // WAL lets readers run beside the writer; NORMAL sync is durable against process crashes
        // in WAL mode; the busy timeout makes concurrent writers wait instead of failing.
        // Checkpointing every 10,000 pages (not 1,000) lets the pages every write touches (the
        // audit head, the newest audit and index leaves) coalesce before they are copied back,
        // and a 16 MiB page cache keeps index pages from being re-read: together they halved
        // the time of an issuance (measured with the issuance benchmark). A thread does most of
        // the copying beside the writer (`WriterLane::spawn_checkpointer`).
        conn.batch_execute(
            "PRAGMA busy_timeout = 15000; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = 10000; PRAGMA cache_size = -16384;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Joins the domain's error with diesel's inside a transaction closure.
enum TxFail<E> {
    Db(diesel::result::Error),
    Caller(E),
}

impl<E> From<diesel::result::Error> for TxFail<E> {
    fn from(e: diesel::result::Error) -> Self {
        TxFail::Db(e)
    }
}

impl<E: From<StoreError>> TxFail<E> {
    fn into_caller(self) -> E {
        match self {
            TxFail::Db(e) => E::from(StoreError::from(e)),
            TxFail::Caller(e) => e,
        }
    }
}

/// How long a PostgreSQL write closure is run again after serialization failures or deadlocks
/// before [`StoreError::Unavailable`] (503, retry later). A time, not a count: writers of one
/// hot row (a counter) each wait for its lock and then fail once per writer that commits
/// before them, so N of them at once need up to N runs, and every round commits one.
const WRITE_RETRY_WINDOW: Duration = BUSY_WAIT;

thread_local! {
    /// Set when a database error converted on this thread was a serialization failure or a
    /// deadlock: domain code turns `StoreError`s into its own errors, so the write loop
    /// could not tell otherwise that its closure failed for PostgreSQL's ordering.
    static ORDERING_FAILURE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// PostgreSQL rolled the transaction back for its ordering, not for its content: a
/// serialization failure (SQLSTATE 40001) or a deadlock (40P01, which diesel does not name, so
/// it is recognised by its message; the server's messages are in English unless `lc_messages`
/// was changed).
fn must_retry(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        Error::DatabaseError(_, info) => info.message().starts_with("deadlock detected"),
        _ => false,
    }
}

/// The id of a new row: a time-ordered UUID (version 7: 48 bits of milliseconds, then 74
/// random bits). Rows made together then sit together in their table's primary-key index, so
/// a transaction that adds many (a batch of issuances, their notices) dirties a few pages at
/// the index's end instead of one random page each (all of which its commit writes to the
/// WAL). Not for values that must be unguessable on their own (tokens, object keys): those
/// stay version 4.
pub fn new_row_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A random pause before retry `attempt` (1-based), growing with the attempt (up to ~16 ms),
/// so that the writers that collided do not collide again in step. Short: the row locks a
/// rerun waits on already space the writers out.
fn retry_pause(attempt: u32) -> Duration {
    let ceiling_us = 1_000u64 << attempt.min(4);
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    Duration::from_micros(ceiling_us / 2 + random % (ceiling_us / 2))
}

fn pool_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unexpected(format!("connection pool: {e}"))
}

impl Store {
    /// Opens SQLite at `path` (creating the file and its folder) with the default acquire
    /// timeout.
    pub fn open_sqlite(path: &Path, pool_size: u32) -> Result<Self, StoreError> {
        Self::open_sqlite_with(path, PoolSettings::new(pool_size))
    }

    /// [`Store::open_postgres_with`] with the default acquire timeout.
    pub fn open_postgres(url: &str, pool_size: u32) -> Result<Self, StoreError> {
        Self::open_postgres_with(url, PoolSettings::new(pool_size))
    }

    /// Opens SQLite at `path` (creating the file and its folder).
    pub fn open_sqlite_with(path: &Path, settings: PoolSettings) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unexpected(format!("{}: {e}", dir.display())))?;
        }
        let url = path.to_string_lossy();
        // One direct attempt first, with the pragmas (WAL mode fails when the directory is
        // read-only): the pool retries a failing open until its 30-second timeout, so an
        // unusable path would take that long to be reported.
        let unusable = |e: &dyn std::fmt::Display| {
            StoreError::Unexpected(format!("database {}: {e}", path.display()))
        };
        // Created owner-only: it holds names, ID numbers and phone numbers in clear. SQLite
        // gives its `-wal` and `-shm` files the database file's mode.
        #[cfg(unix)]
        {
            let mut create = std::fs::OpenOptions::new();
            create.write(true).create_new(true);
            std::os::unix::fs::OpenOptionsExt::mode(&mut create, 0o600);
            match create.open(path) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(unusable(&e)),
            }
        }
        let mut first = SqliteConnection::establish(&url).map_err(|e| unusable(&e))?;
        WriterLane::pragmas(&mut first).map_err(|e| unusable(&e))?;
        let manager = ConnectionManager::<SqliteConnection>::new(url.clone());
        let health = Health::default();
        let pool = build_pool(manager, settings, &health, Some(Box::new(SqlitePragmas)))?;
        // The first connection becomes the writer lane's.
        let lane = Arc::new(WriterLane {
            url: url.into_owned(),
            slot: Arc::new(tokio::sync::Mutex::new(Some(first))),
        });
        WriterLane::spawn_checkpointer(&lane).map_err(|e| unusable(&e))?;
        Ok(Self {
            pool: Pool::Sqlite(pool, lane),
            health,
            acquire_timeout: settings.acquire_timeout,
            chaining: Arc::default(),
        })
    }

    pub fn open_postgres_with(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        // One direct attempt first, as for SQLite: a wrong password, a missing database, an
        // unparseable URL or nothing listening is reported at once with libpq's message (which
        // never contains the password) instead of after the pool's 30 s of retries.
        PgConnection::establish(url)
            .map_err(|e| StoreError::Unexpected(format!("cannot connect to PostgreSQL: {e}")))?;
        let manager = ConnectionManager::<PgConnection>::new(url);
        let health = Health::default();
        let pool = build_pool(manager, settings, &health, None)?;
        Ok(Self {
            pool: Pool::Pg(pool),
            health,
            acquire_timeout: settings.acquire_timeout,
            chaining: Arc::default(),
        })
    }

    fn sqlite(
        &self,
        p: &R2d2Pool<ConnectionManager<SqliteConnection>>,
    ) -> Result<PooledConnection<ConnectionManager<SqliteConnection>>, StoreError> {
        acquire(p, &self.health, self.acquire_timeout)
    }

    fn pg(
        &self,
        p: &R2d2Pool<ConnectionManager<PgConnection>>,
    ) -> Result<PooledConnection<ConnectionManager<PgConnection>>, StoreError> {
        acquire(p, &self.health, self.acquire_timeout)
    }

    pub fn dialect(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(..) => "sqlite",
            Pool::Pg(_) => "postgres",
        }
    }

    /// Applies pending embedded migrations; returns the versions applied. Safe when several
    /// processes start at once (PostgreSQL: advisory lock; SQLite: the write lock).
    pub fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let to_err = |e: Box<dyn std::error::Error + Send + Sync>| {
            StoreError::Unexpected(format!("migration failed: {e}"))
        };
        match &self.pool {
            Pool::Sqlite(p, _) => {
                let mut c = self.sqlite(p)?;
                let applied = c
                    .run_pending_migrations(SQLITE_MIGRATIONS)
                    .map_err(to_err)?;
                Ok(applied.iter().map(|v| v.to_string()).collect())
            }
            Pool::Pg(p) => {
                let mut c = self.pg(p)?;
                diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                    .execute(&mut c)?;
                let result = c
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|v| v.iter().map(|v| v.to_string()).collect())
                    .map_err(to_err);
                diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                    .execute(&mut c)?;
                result
            }
        }
    }

    /// Runs `f` in a write transaction that must append an audit event. Blocking: call from
    /// a blocking context (CLI, benchmarks) or use [`Store::write`].
    ///
    /// On PostgreSQL writers run side by side (SERIALIZABLE) and `f` may run more than once:
    /// when PostgreSQL rolls the transaction back for its ordering (a serialization failure,
    /// a deadlock), a clone of `f` runs again in a new transaction, for up to
    /// [`WRITE_RETRY_WINDOW`]. So `f` must have no effect outside the transaction (use
    /// [`Tx::after_commit`]); what it must not consume it borrows (a `RefCell` for what it
    /// changes).
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Clone,
        E: From<StoreError>,
    {
        self.write_in_turn(None, f)
    }

    /// [`Store::write_blocking`]; on SQLite in the writer lane, whose turn the caller may
    /// already hold (`turn`, taken while waiting asynchronously).
    fn write_in_turn<T, E, F>(
        &self,
        turn: Option<tokio::sync::OwnedMutexGuard<LaneSlot>>,
        f: F,
    ) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Clone,
        E: From<StoreError>,
    {
        fn body<T, E: From<StoreError>>(
            f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
            conn: Conn<'_>,
        ) -> Result<(T, Vec<AfterCommit>), TxFail<E>> {
            let mut tx = Tx::with_head(conn, Head::AtCommit(None));
            let out = f(&mut tx).map_err(TxFail::Caller)?;
            if !tx.audited {
                return Err(TxFail::Caller(E::from(StoreError::Unaudited)));
            }
            tx.finish().map_err(|e| TxFail::Caller(E::from(e)))?;
            Ok((out, tx.after_commit))
        }
        let (out, hooks) = match &self.pool {
            Pool::Sqlite(_, lane) => {
                let mut turn = turn.unwrap_or_else(|| lane.slot.clone().blocking_lock_owned());
                // IMMEDIATE takes the write lock up front: another process's writer waits in
                // the busy handler instead of deadlocking on upgrading read locks.
                let done = lane.run(&mut turn, |c| {
                    c.immediate_transaction(|c| body(f, Conn::Sqlite(c)))
                });
                // The next writer's turn starts now, not after this one's hooks.
                drop(turn);
                done.map_err(TxFail::into_caller)?
            }
            Pool::Pg(p) => {
                let mut c = self.pg(p).map_err(E::from)?;
                let mut attempt = 1;
                let started = std::time::Instant::now();
                let done = loop {
                    let f = f.clone();
                    ORDERING_FAILURE.with(|flag| flag.set(false));
                    // SERIALIZABLE: PostgreSQL keeps every write transaction equivalent to
                    // some serial order, which is what the domain's read-then-write steps
                    // were written for (they used to run one at a time behind the audit
                    // head's lock).
                    let done = c.build_transaction().serializable().run(|c| {
                        let out = body(f, Conn::Pg(c))?;
                        // An ordering failure the closure caught (a savepoint rolled back, a
                        // refused item answered) still means its decisions rest on a state
                        // PostgreSQL will not order: roll back and run it again instead.
                        if ORDERING_FAILURE.with(std::cell::Cell::get) {
                            return Err(TxFail::Db(diesel::result::Error::DatabaseError(
                                diesel::result::DatabaseErrorKind::SerializationFailure,
                                Box::new("an ordering failure was caught in the write".to_string()),
                            )));
                        }
                        Ok(out)
                    });
                    // A Tx method's failure reaches us as the caller's error: the flag tells
                    // that it was PostgreSQL's ordering, not the content.
                    let ordering = match &done {
                        Err(TxFail::Db(e)) => must_retry(e),
                        Err(TxFail::Caller(_)) => ORDERING_FAILURE.with(|flag| flag.get()),
                        Ok(_) => false,
                    };
                    if !ordering {
                        break done;
                    }
                    if started.elapsed() >= WRITE_RETRY_WINDOW {
                        return Err(E::from(StoreError::Unavailable(format!(
                            "write rolled back {attempt} times for concurrent writes"
                        ))));
                    }
                    attempt += 1;
                    std::thread::sleep(retry_pause(attempt));
                };
                drop(c);
                let done = done.map_err(TxFail::into_caller)?;
                // Committed: the events are recorded whatever happens now. Chaining them
                // before answering keeps the chain current for whoever reads it next.
                self.chain_after_commit_blocking();
                done
            }
        };
        for hook in hooks {
            hook();
        }
        Ok(out)
    }

    /// Runs `f` in a read transaction (a consistent snapshot); it must not write.
    pub fn read_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
        E: From<StoreError>,
    {
        self.read_within(self.acquire_timeout, f)
    }

    /// [`Store::read_blocking`], waiting at most `timeout` for a connection while connecting
    /// fails.
    fn read_within<T, E, F>(&self, timeout: Duration, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
        E: From<StoreError>,
    {
        let body = |conn: Conn<'_>| -> Result<T, TxFail<E>> {
            let mut tx = Tx::new(conn);
            f(&mut tx).map_err(TxFail::Caller)
        };
        match &self.pool {
            Pool::Sqlite(p, _) => {
                let mut c = acquire(p, &self.health, timeout).map_err(E::from)?;
                c.transaction(|c| body(Conn::Sqlite(c)))
                    .map_err(TxFail::into_caller)
            }
            Pool::Pg(p) => {
                let mut c = acquire(p, &self.health, timeout).map_err(E::from)?;
                // REPEATABLE READ: one snapshot for the whole closure. At PostgreSQL's default
                // (READ COMMITTED) every statement takes its own, and a write committing
                // between two reads would show half of itself (a contract signed, its
                // document not yet). Read-only, so it never fails for serialization.
                c.build_transaction()
                    .repeatable_read()
                    .read_only()
                    .run(|c| body(Conn::Pg(c)))
                    .map_err(TxFail::into_caller)
            }
        }
    }

    /// [`Store::write_blocking`] on tokio's blocking pool.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Clone + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let store = self.clone();
        // Queued here, not on a blocking thread: a waiting writer holds no thread.
        let turn = self.lane_turn().await;
        tokio::task::spawn_blocking(move || store.write_in_turn(turn, f))
            .await
            .map_err(|e| E::from(StoreError::Unexpected(format!("blocking task: {e}"))))?
    }

    /// SQLite: this process's turn in the writer lane, waited for asynchronously.
    async fn lane_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<LaneSlot>> {
        match &self.pool {
            Pool::Sqlite(_, lane) => Some(lane.slot.clone().lock_owned().await),
            Pool::Pg(_) => None,
        }
    }

    /// [`Store::read_blocking`], run [`in_place`].
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let store = self.clone();
        in_place(move || store.read_blocking(f))
            .await
            .map_err(|e| E::from(StoreError::Unexpected(format!("blocking task: {e}"))))?
    }

    /// [`Store::read`] for callers that must not wait while connecting fails (OCSP): then
    /// only an idle connection that passes the pool's test is used, at once, or the answer is
    /// [`StoreError::Unavailable`] at once. Such a connection also marks the database
    /// reachable again, so a stale mark never outlives the next request.
    pub async fn read_now<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let timeout = if store.health.down.load(Ordering::SeqCst) {
                Duration::ZERO
            } else {
                store.acquire_timeout
            };
            store.read_within(timeout, f)
        })
        .await
        .map_err(|e| E::from(StoreError::Unexpected(format!("blocking task: {e}"))))?
    }

    /// Bookkeeping that is not a state change of the domain (a session's last-seen time)
    /// and so carries no audit event. Kept to the few functions listed in ARCHITECTURE.md.
    /// It writes, so on SQLite it takes its turn in the writer lane.
    fn bookkeeping_blocking<T>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &self.pool {
            Pool::Sqlite(_, lane) => {
                let mut turn = lane.slot.clone().blocking_lock_owned();
                lane.run(&mut turn, |c| {
                    f(&mut Tx::new(Conn::Sqlite(c))).map_err(TxFail::Caller)
                })
                .map_err(TxFail::into_caller)
            }
            Pool::Pg(p) => {
                let mut c = self.pg(p)?;
                f(&mut Tx::new(Conn::Pg(&mut c)))
            }
        }
    }

    /// Readiness probe: the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            // A read, on the readers' pool: it must not wait for the writers.
            store.read_blocking(|tx| {
                dispatch!(tx, c => diesel::sql_query("SELECT 1").execute(c))?;
                Ok(())
            })
        })
        .await
        .map_err(|e| StoreError::Unexpected(format!("blocking task: {e}")))?
    }

    /// [`Store::probe_write_blocking`] on tokio's blocking pool.
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.probe_write_blocking())
            .await
            .map_err(|e| StoreError::Unexpected(format!("blocking task: {e}")))?
    }

    /// Write probe (bookkeeping: changes nothing, so no audit event): an UPDATE that matches
    /// no row, in a transaction that is rolled back. Both dialects refuse it as they refuse
    /// any write (a read-only SQLite file or directory, a read-only PostgreSQL transaction
    /// or standby, a revoked privilege) although it touches no row and takes no row lock.
    /// A database that only answers reads would otherwise look ready and fail every write.
    pub fn probe_write_blocking(&self) -> Result<(), StoreError> {
        /// Makes diesel roll back the probe's transaction after a successful statement.
        struct Rollback;
        let probe = |tx: &mut Tx<'_>| -> Result<(), TxFail<Rollback>> {
            dispatch!(tx, c => diesel::sql_query(
                "UPDATE audit_head SET seq = seq WHERE 1 = 0"
            )
            .execute(c))?;
            Err(TxFail::Caller(Rollback))
        };
        self.bookkeeping_blocking(|tx| {
            let done = match &mut tx.conn {
                Conn::Sqlite(c) => c.transaction(|c| probe(&mut Tx::new(Conn::Sqlite(c)))),
                Conn::Pg(c) => c.transaction(|c| probe(&mut Tx::new(Conn::Pg(c)))),
            };
            match done {
                Ok(()) | Err(TxFail::Caller(Rollback)) => Ok(()),
                Err(TxFail::Db(e)) => Err(StoreError::from(e)),
            }
        })
    }
}

/// Runs blocking `f` for an async caller: in place on a multi-threaded runtime's worker
/// (tokio hands the worker's other tasks to another thread meanwhile), else on the blocking
/// pool. A request's short blocking step then spares it two wake-ups on its critical path:
/// handing the step to a blocking thread and back, each wake-up of an idle virtual CPU taking
/// 30-60 µs on the development machine (`perf sched`). An issuance request makes three such
/// steps (its key, its reach, its CSR); with one client it issues ~5 % more per second.
/// A panic in `f` is an error, as it was on the blocking pool, not the request task's end.
pub async fn in_place<T, F>(f: F) -> Result<T, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .map_err(|_| "the blocking step panicked".to_string())
        }),
        _ => tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::new_row_id;

    #[test]
    fn row_ids_are_uuids_that_sort_in_the_order_they_were_made() {
        let first = new_row_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_row_id();
        assert!(first < second, "{first} then {second}");
        for id in [&first, &second] {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version_num(), 7);
            assert_eq!(&parsed.to_string(), id);
        }
    }
}
