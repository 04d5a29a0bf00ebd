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

mod acceptance;
mod audit;
mod certificates;
mod contracts;
mod dashboard;
mod enrolments;
mod expiry;
mod idempotency;
mod key_check;
mod operators;
mod otp;
mod outbox;
mod reports;
pub mod schema;
mod status;
mod text_enum;
mod verification;

pub use acceptance::{AcceptanceDecision, AcceptanceRow};
pub use audit::{AuditQuery, AuditRow, AUDIT_GENESIS_HASH};
pub use certificates::{CertificateRow, EndingCertificate};
pub use contracts::{ContractRow, FreePackageClaimRow, PackageRow, SignatureEvidence};
pub use dashboard::DayFigures;
pub use enrolments::{DocumentRow, EnrolmentQuery, EnrolmentRow, Owned};
pub use idempotency::IdempotencyRow;
pub use key_check::KeyCheckState;
pub use operators::{ApiKeyRow, IntegrationRow, OperatorRow, SessionRow};
pub use otp::{OtpChallengeRow, RecordedFailure};
pub use outbox::{OutboxRow, OutboxUpdate};
pub use reports::{
    AddressColumns, Bucket, IssuanceCountQuery, IssuanceCounts, PeriodCount, PlaceCount,
};
pub use status::{CertificateQuery, CrlRow, StatusRow};
pub use verification::{OutcomeRow, VideoCallRow};

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool as R2d2Pool};
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
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => StoreError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(info.constraint_name().unwrap_or(info.message()).to_string())
            }
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
}

type AfterCommit = Box<dyn FnOnce() + Send>;

impl Tx<'_> {
    fn new(conn: Conn<'_>) -> Tx<'_> {
        Tx {
            conn,
            audited: false,
            after_commit: Vec::new(),
        }
    }

    /// Runs `f` once this transaction has committed, never if it rolls back (e.g. to wake a
    /// worker that must not look before the rows it is woken for are visible).
    pub fn after_commit(&mut self, f: impl FnOnce() + Send + 'static) {
        self.after_commit.push(Box::new(f));
    }
}

#[derive(Clone)]
enum Pool {
    Sqlite(R2d2Pool<ConnectionManager<SqliteConnection>>),
    Pg(R2d2Pool<ConnectionManager<PgConnection>>),
}

#[derive(Clone)]
pub struct Store {
    pool: Pool,
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
        // the time of an issuance (measured with the issuance benchmark).
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

fn pool_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unexpected(format!("connection pool: {e}"))
}

impl Store {
    /// Opens SQLite at `path` (creating the file and its folder).
    pub fn open_sqlite(path: &Path, pool_size: u32) -> Result<Self, StoreError> {
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
        let mut first = SqliteConnection::establish(&url).map_err(|e| unusable(&e))?;
        SqlitePragmas
            .on_acquire(&mut first)
            .map_err(|e| unusable(&e))?;
        let manager = ConnectionManager::<SqliteConnection>::new(url);
        let pool = R2d2Pool::builder()
            .max_size(pool_size)
            .connection_timeout(Duration::from_secs(30))
            .connection_customizer(Box::new(SqlitePragmas))
            .build(manager)
            .map_err(pool_error)?;
        Ok(Self {
            pool: Pool::Sqlite(pool),
        })
    }

    pub fn open_postgres(url: &str, pool_size: u32) -> Result<Self, StoreError> {
        // One direct attempt first, as for SQLite: a wrong password, a missing database, an
        // unparseable URL or nothing listening is reported at once with libpq's message (which
        // never contains the password) instead of after the pool's 30 s of retries.
        PgConnection::establish(url)
            .map_err(|e| StoreError::Unexpected(format!("cannot connect to PostgreSQL: {e}")))?;
        let manager = ConnectionManager::<PgConnection>::new(url);
        let pool = R2d2Pool::builder()
            .max_size(pool_size)
            .connection_timeout(Duration::from_secs(30))
            .build(manager)
            .map_err(pool_error)?;
        Ok(Self {
            pool: Pool::Pg(pool),
        })
    }

    pub fn dialect(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
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
            Pool::Sqlite(p) => {
                let mut c = p.get().map_err(pool_error)?;
                let applied = c
                    .run_pending_migrations(SQLITE_MIGRATIONS)
                    .map_err(to_err)?;
                Ok(applied.iter().map(|v| v.to_string()).collect())
            }
            Pool::Pg(p) => {
                let mut c = p.get().map_err(pool_error)?;
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
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
        E: From<StoreError>,
    {
        let body = |conn: Conn<'_>| -> Result<(T, Vec<AfterCommit>), TxFail<E>> {
            let mut tx = Tx::new(conn);
            let out = f(&mut tx).map_err(TxFail::Caller)?;
            if !tx.audited {
                return Err(TxFail::Caller(E::from(StoreError::Unaudited)));
            }
            Ok((out, tx.after_commit))
        };
        let (out, hooks) = match &self.pool {
            Pool::Sqlite(p) => {
                let mut c = p.get().map_err(|e| E::from(pool_error(e)))?;
                // IMMEDIATE takes the write lock up front, so two writers never deadlock
                // upgrading read locks.
                c.immediate_transaction(|c| body(Conn::Sqlite(c)))
                    .map_err(TxFail::into_caller)?
            }
            Pool::Pg(p) => {
                let mut c = p.get().map_err(|e| E::from(pool_error(e)))?;
                c.transaction(|c| {
                    // Every write ends by appending to the audit chain, which locks its head
                    // row. Taking that lock first gives all writers one lock order, so two
                    // writers touching the same rows in different orders queue instead of
                    // deadlocking (SQLite's IMMEDIATE transactions get the same effect).
                    schema::audit_head::table
                        .find(1)
                        .select(schema::audit_head::seq)
                        .for_update()
                        .first::<i64>(c)?;
                    body(Conn::Pg(c))
                })
                .map_err(TxFail::into_caller)?
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
        let body = |conn: Conn<'_>| -> Result<T, TxFail<E>> {
            let mut tx = Tx::new(conn);
            f(&mut tx).map_err(TxFail::Caller)
        };
        match &self.pool {
            Pool::Sqlite(p) => {
                let mut c = p.get().map_err(|e| E::from(pool_error(e)))?;
                c.transaction(|c| body(Conn::Sqlite(c)))
                    .map_err(TxFail::into_caller)
            }
            Pool::Pg(p) => {
                let mut c = p.get().map_err(|e| E::from(pool_error(e)))?;
                c.build_transaction()
                    .read_only()
                    .run(|c| body(Conn::Pg(c)))
                    .map_err(TxFail::into_caller)
            }
        }
    }

    /// [`Store::write_blocking`] on tokio's blocking pool.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.write_blocking(f))
            .await
            .map_err(|e| E::from(StoreError::Unexpected(format!("blocking task: {e}"))))?
    }

    /// [`Store::read_blocking`] on tokio's blocking pool.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.read_blocking(f))
            .await
            .map_err(|e| E::from(StoreError::Unexpected(format!("blocking task: {e}"))))?
    }

    /// Bookkeeping that is not a state change of the domain (a session's last-seen time)
    /// and so carries no audit event. Kept to the few functions listed in ARCHITECTURE.md.
    fn bookkeeping_blocking<T>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &self.pool {
            Pool::Sqlite(p) => {
                let mut c = p.get().map_err(pool_error)?;
                f(&mut Tx::new(Conn::Sqlite(&mut c)))
            }
            Pool::Pg(p) => {
                let mut c = p.get().map_err(pool_error)?;
                f(&mut Tx::new(Conn::Pg(&mut c)))
            }
        }
    }

    /// Readiness probe: the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            store.bookkeeping_blocking(|tx| {
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
