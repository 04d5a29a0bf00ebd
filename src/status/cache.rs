//! Pre-signed OCSP responses, bounded in memory, never served after a status change, in any
//! process, at the cost of one small database read per *batch* of concurrent requests.
//!
//! Triggers stamp a certificate row's `status_version` with a fresh value of the one-row
//! `status_generation` counter whenever its status changes, whoever changes it. A *check* reads
//! the counter and, when it moved since the previous check, the serials stamped since then,
//! and evicts their responses. A request served from the cache first waits for a check that
//! **started after the request arrived** and has been applied; any change committed before the
//! request arrived is therefore visible to that check, and its response is gone. Requests
//! arriving while a check runs share the next one, so under load one read serves many requests,
//! and a request waits at most two check round trips.
//!
//! Filling the cache races with checks: a response built from a row read before a change must not
//! be inserted after the check that evicts that serial. A filler reads the counter *before* the
//! row, and inserts only while no check has applied a newer counter (under the same lock the
//! checks apply their evictions with); otherwise its answer is served once and not kept.
//!
//! Serials never issued are remembered too, in a separate set of fixed capacity (a flood of
//! made-up serials churns that set and never evicts a response), each with the generation read
//! together with its absence. An entry answers only while the newest check read that same
//! generation: recording a certificate bumps the generation (the insert trigger), so a serial
//! issued since gets its real answer on the next request.
//!
//! Database outage: while the store cannot connect, a check fails at once (`Store::read_now`)
//! instead of waiting for the pool to give up; a cached response is then served as long as the
//! last successful check started at most the configured staleness ago, then the caller answers
//! `tryLater`. Nothing can be revoked meanwhile through a database this process cannot reach.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify, RwLock};

use crate::ca::{CertIdHash, Serial};
use crate::clock::Clock;
use crate::store::Store;

/// Above this many changed certificates between two checks, the cache is dropped as a whole
/// rather than entry by entry (and the read stays small).
const MAX_EVICTIONS: i64 = 10_000;

/// Never-issued serials remembered (about 100 bytes each with the cache's bookkeeping: a few
/// MiB at most, whatever arrives).
const UNKNOWN_CAPACITY: usize = 65_536;

pub(super) type Key = (Serial, CertIdHash);

/// A pre-signed response.
pub(super) struct Cached {
    pub this_update: DateTime<Utc>,
    pub next_update: DateTime<Utc>,
    pub der: Bytes,
}

#[derive(Clone)]
struct Weight;

impl quick_cache::Weighter<Key, Arc<Cached>> for Weight {
    fn weight(&self, key: &Key, val: &Arc<Cached>) -> u64 {
        // The DER plus the key and bookkeeping, roughly.
        (val.der.len() + key.0.as_bytes().len() + 96) as u64
    }
}

/// What the OCSP cache holds and did, for `/metrics`.
#[derive(Clone, Copy, Debug)]
pub struct OcspCacheStats {
    /// Pre-signed responses held.
    pub responses: u64,
    /// Their approximate size.
    pub bytes: u64,
    /// Requests answered from the cache.
    pub hits: u64,
    /// Freshness checks (database reads) started.
    pub checks: u64,
    /// Never-issued serials remembered.
    pub unknown_serials: u64,
}

/// The outcome of the newest check: its sequence number and whether it reached the database.
#[derive(Clone, Copy)]
struct Checked {
    number: u64,
    ok: bool,
}

pub(super) struct OcspCache {
    store: Store,
    clock: Arc<dyn Clock>,
    /// How long after the last successful check cached responses may still be served while
    /// the database cannot be reached.
    stale: chrono::Duration,
    responses: quick_cache::sync::Cache<Key, Arc<Cached>, Weight>,
    /// Serials found absent, with the generation read with their absence.
    unknown: quick_cache::sync::Cache<Serial, i64>,
    /// When (by the clock) the last check that reached the database started.
    last_ok: Mutex<Option<DateTime<Utc>>>,
    /// The generation the last applied check read; `None` before the first check. Write-locked
    /// while a check applies its evictions, read-locked while a filler inserts.
    applied: RwLock<Option<i64>>,
    /// Checks started so far.
    started: AtomicU64,
    /// Requests answered from the cache.
    hits: AtomicU64,
    done: watch::Sender<Checked>,
    demand: Arc<Notify>,
    checker: std::sync::Once,
}

impl OcspCache {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        capacity_bytes: u64,
        stale: chrono::Duration,
    ) -> OcspCache {
        OcspCache {
            store,
            clock,
            stale,
            unknown: quick_cache::sync::Cache::new(UNKNOWN_CAPACITY),
            last_ok: Mutex::new(None),
            responses: quick_cache::sync::Cache::with_weighter(
                usize::try_from(capacity_bytes / 1600).unwrap_or(usize::MAX),
                capacity_bytes,
                Weight,
            ),
            applied: RwLock::new(None),
            started: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            done: watch::Sender::new(Checked {
                number: 0,
                ok: true,
            }),
            demand: Arc::new(Notify::new()),
            checker: std::sync::Once::new(),
        }
    }

    /// The cached response for `key` as of now: `Ok(None)` when there is none (or a status
    /// change evicted it), `Err` when freshness could not be checked.
    pub async fn get(self: &Arc<Self>, key: &Key) -> Result<Option<Arc<Cached>>, String> {
        if !self.responses.contains_key(key) {
            return Ok(None);
        }
        match self.fresh().await {
            // Looked up again: whatever is cached now survived every check applied so far, or
            // was inserted after them from a newer read.
            Ok(()) => return Ok(self.responses.get(key)),
            Err(e) => tracing::warn!(error = %e, "OCSP: serving cached responses unchecked"),
        }
        self.within_staleness()?;
        Ok(self.responses.get(key))
    }

    /// Whether the last successful check is recent enough to serve from the cache without one.
    fn within_staleness(&self) -> Result<(), String> {
        let last_ok = *self.last_ok.lock().unwrap_or_else(|e| e.into_inner());
        match last_ok {
            Some(at) if self.clock.now() - at <= self.stale => Ok(()),
            _ => {
                Err("no freshness check reached the database within the staleness allowance".into())
            }
        }
    }

    /// True when one of `serials` is known to have been absent as of the newest check (so the
    /// request is answered `unauthorized` without reading the rows). False when unsure: the
    /// caller reads the database, as for any serial.
    pub async fn known_absent(self: &Arc<Self>, serials: &[Serial]) -> bool {
        let remembered: Vec<(&Serial, i64)> = serials
            .iter()
            .filter_map(|s| self.unknown.get(s).map(|g| (s, g)))
            .collect();
        if remembered.is_empty() || self.fresh().await.is_err() {
            return false;
        }
        let applied = *self.applied.read().await;
        remembered.iter().any(|(_, g)| applied == Some(*g))
    }

    /// Remembers that `serial` had no row when `generation` was read (before the row).
    pub fn insert_unknown(&self, serial: Serial, generation: i64) {
        self.unknown.insert(serial, generation);
    }

    /// Counts a request answered from the cache.
    pub fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stats(&self) -> OcspCacheStats {
        OcspCacheStats {
            responses: self.responses.len() as u64,
            bytes: self.responses.weight(),
            hits: self.hits.load(Ordering::Relaxed),
            checks: self.started.load(Ordering::Relaxed),
            unknown_serials: self.unknown.len() as u64,
        }
    }

    /// Keeps `response`, built from the database as it was at `generation` (read before the
    /// certificate row), unless a check has applied a newer generation meanwhile.
    pub async fn insert(self: &Arc<Self>, key: Key, generation: i64, response: Cached) {
        let applied = self.applied.read().await;
        match *applied {
            Some(g) if g <= generation => self.responses.insert(key, Arc::new(response)),
            // No check has run yet, so evictions have no starting point: run one first.
            None => {
                drop(applied);
                self.start_checker();
                self.demand.notify_one();
            }
            Some(_) => {}
        }
    }

    /// Waits until a check that started after this call has been applied.
    async fn fresh(self: &Arc<Self>) -> Result<(), String> {
        self.start_checker();
        let need = self.started.load(Ordering::SeqCst) + 1;
        let mut rx = self.done.subscribe();
        self.demand.notify_one();
        let checked = rx
            .wait_for(|c| c.number >= need)
            .await
            .map(|c| *c)
            .map_err(|_| "the OCSP freshness check stopped".to_string())?;
        if checked.ok {
            Ok(())
        } else {
            Err("the OCSP freshness check could not read the database".into())
        }
    }

    fn start_checker(self: &Arc<Self>) {
        self.checker.call_once(|| {
            let cache = Arc::downgrade(self);
            let demand = self.demand.clone();
            tokio::spawn(run_checks(cache, demand));
        });
    }

    /// One check: read the generation and what changed since the last one, apply.
    async fn check(&self) -> Result<(), String> {
        let last = *self.applied.read().await;
        // `read_now`: while the database is unreachable the check fails at once, and the
        // requests waiting for it are answered from the cache within the staleness allowance.
        let (generation, changed) = self
            .store
            .read_now(move |tx| {
                let generation = tx.status_generation()?;
                let changed = match last {
                    Some(l) if generation > l => tx.status_changed_after(l, MAX_EVICTIONS + 1)?,
                    _ => Vec::new(),
                };
                Ok::<_, crate::store::StoreError>((generation, changed))
            })
            .await
            .map_err(|e| e.to_string())?;
        let mut applied = self.applied.write().await;
        match last {
            // Going back means the database was restored: nothing cached can be trusted.
            Some(l) if generation < l => self.responses.clear(),
            _ if changed.len() as i64 > MAX_EVICTIONS => self.responses.clear(),
            _ => {
                for serial in changed {
                    // A stored serial that does not parse was never served from the cache.
                    if let Ok(serial) = Serial::from_hex(&serial) {
                        for hash in [CertIdHash::Sha1, CertIdHash::Sha256] {
                            self.responses.remove(&(serial.clone(), hash));
                        }
                    }
                }
            }
        }
        *applied = Some(generation);
        Ok(())
    }
}

/// The checker: one check at a time, another right after whenever a request asked meanwhile.
/// Ends when the cache is dropped.
async fn run_checks(cache: Weak<OcspCache>, demand: Arc<Notify>) {
    loop {
        demand.notified().await;
        // Let the requests that are ready to run reach this point first, so that one check
        // serves all of them rather than only the one that woke the checker.
        tokio::task::yield_now().await;
        let Some(cache) = cache.upgrade() else {
            return;
        };
        // Numbered before the database is read: a request that saw `number - 1` started
        // (or fewer) arrived before this read began.
        let number = cache.started.fetch_add(1, Ordering::SeqCst) + 1;
        let started_at = cache.clock.now();
        let result = cache.check().await;
        match &result {
            Ok(()) => *cache.last_ok.lock().unwrap_or_else(|e| e.into_inner()) = Some(started_at),
            Err(e) => tracing::error!(error = %e, "OCSP freshness check failed"),
        }
        cache.done.send_replace(Checked {
            number,
            ok: result.is_ok(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Actor, NewEvent};
    use crate::status::CertificateStatus;
    use crate::store::CertificateRow;

    fn response() -> Cached {
        let now = Utc::now();
        Cached {
            this_update: now,
            next_update: now + chrono::Duration::hours(4),
            der: Bytes::from_static(b"der"),
        }
    }

    /// Inserts an active certificate, or revokes it: either moves the generation.
    async fn certificate(store: &Store, serial: &str, revoke: bool) {
        let serial = serial.to_string();
        store
            .write(move |tx| {
                let now = Utc::now().naive_utc();
                if !revoke {
                    tx.insert_certificate(&CertificateRow {
                        serial: serial.clone(),
                        ca_name: "dev-issuing".into(),
                        enrolment_id: "e".into(),
                        package_code: "PS0".into(),
                        status: CertificateStatus::Active,
                        subject_dn: "CN=x".into(),
                        spki_sha256: serial.clone(),
                        key_description: "P-256".into(),
                        not_before: now,
                        not_after: now,
                        crl_shard: 0,
                        tbs_der: vec![0],
                        cert_der: None,
                        created_at: now,
                        signed_at: None,
                        revoked_at: None,
                        revocation_reason: None,
                        supersedes: None,
                    })?;
                } else {
                    tx.change_certificate_status(
                        &serial,
                        CertificateStatus::Active,
                        CertificateStatus::Revoked,
                        Some(now),
                        None,
                    )?;
                }
                tx.audit(NewEvent::new(
                    Utc::now(),
                    &Actor::System,
                    "test",
                    "certificate",
                    serial,
                    serde_json::json!({}),
                ))?;
                Ok::<_, crate::store::StoreError>(())
            })
            .await
            .unwrap();
    }

    fn new_cache(store: &Store) -> Arc<OcspCache> {
        Arc::new(OcspCache::new(
            store.clone(),
            crate::clock::ManualClock::new(),
            1 << 20,
            chrono::Duration::seconds(60),
        ))
    }

    async fn generation(store: &Store) -> i64 {
        store.read(|tx| tx.status_generation()).await.unwrap()
    }

    #[tokio::test]
    async fn a_change_evicts_the_cached_response_and_a_response_read_before_it_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("t.db"), 2).unwrap();
        store.migrate().unwrap();
        let cache = new_cache(&store);
        certificate(&store, "01", false).await;
        let key = |s: &str| (Serial::from_hex(s).unwrap(), CertIdHash::Sha1);

        // Before any check there is no starting point for evictions: nothing is kept.
        let g0 = generation(&store).await;
        cache.insert(key("01"), g0, response()).await;
        cache.fresh().await.unwrap();
        assert!(cache.get(&key("01")).await.unwrap().is_none());
        cache.insert(key("01"), g0, response()).await;
        assert!(cache.get(&key("01")).await.unwrap().is_some());

        // A filler that read the database before a change, inserting after the check that
        // saw the change, keeps nothing; the change itself evicts what was cached.
        certificate(&store, "01", true).await;
        assert!(cache.get(&key("01")).await.unwrap().is_none());
        cache.insert(key("01"), g0, response()).await;
        assert!(cache.get(&key("01")).await.unwrap().is_none());
        let g1 = generation(&store).await;
        cache.insert(key("01"), g1, response()).await;
        assert!(cache.get(&key("01")).await.unwrap().is_some());
        assert_eq!(cache.stats().responses, 1);
    }

    #[tokio::test]
    async fn a_remembered_absence_answers_until_a_certificate_is_recorded_and_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("t.db"), 2).unwrap();
        store.migrate().unwrap();
        let cache = new_cache(&store);
        let serial = |s: &str| Serial::from_hex(s).unwrap();

        let g0 = generation(&store).await;
        assert!(
            !cache.known_absent(&[serial("0a")]).await,
            "nothing remembered yet"
        );
        cache.insert_unknown(serial("0a"), g0);
        assert!(cache.known_absent(&[serial("0a")]).await);
        assert!(!cache.known_absent(&[serial("0b")]).await);

        // Recording any certificate bumps the generation (the insert trigger), which ends
        // every remembered absence: the serial recorded since is read again.
        certificate(&store, "0a", false).await;
        assert!(
            generation(&store).await > g0,
            "an insert bumps the generation"
        );
        assert!(!cache.known_absent(&[serial("0a")]).await);

        // A flood of made-up serials stays within the set's capacity and evicts no response.
        let g1 = generation(&store).await;
        cache.insert(key_of("0a"), g1, response()).await;
        for n in 0..(UNKNOWN_CAPACITY as u64 * 2) {
            cache.insert_unknown(serial(&format!("{:016x}", n | 1 << 62)), g1);
        }
        assert!(cache.stats().unknown_serials <= UNKNOWN_CAPACITY as u64);
        assert!(cache.get(&key_of("0a")).await.unwrap().is_some());
    }

    fn key_of(s: &str) -> Key {
        (Serial::from_hex(s).unwrap(), CertIdHash::Sha1)
    }
}
