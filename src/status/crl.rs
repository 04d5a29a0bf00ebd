//! CRLs built from the database and shared by all processes through the `crls` table.
//!
//! Freshness: a CRL row records the `status_generation` it was built from; a trigger bumps the
//! generation on any certificate insert or status change. A request finding the stored CRL built
//! from an older generation (or older than [`CRL_REFRESH`]) rebuilds it before answering, so a
//! fetch after a status change gets a CRL with it; a background job does the same every minute
//! for when nobody asks. Building does not hold the writer lock while the entries are sorted and
//! signed (a million entries take most of a second): the cRLNumber is reserved first (strictly
//! increasing across processes), and the CRL is stored only if no CRL with a higher number or a
//! newer generation was stored meanwhile.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{CertificateStatus, StatusError, StatusService};
use crate::audit::{Actor, NewEvent};
use crate::ca::{build_crl, CrlRequest, RevocationReason, RevokedEntry, Serial};
use crate::store::{CrlEntryRow, NewCrl, StoreError};

/// nextUpdate - thisUpdate (issue 6: 24 h by default).
const CRL_VALIDITY: Duration = Duration::hours(24);
/// Rebuilt well before nextUpdate even when nothing changed.
const CRL_REFRESH: Duration = Duration::hours(1);
/// HTTP caches may keep a CRL this long.
pub const CRL_MAX_AGE_SECONDS: i64 = 60;
/// Builds in a row that may lose to other processes' before a request gives up.
const MAX_BUILD_ATTEMPTS: usize = 5;

/// Why a build did not publish.
enum BuildError {
    /// A CRL with a higher number, or built from a newer status generation, was stored first.
    Superseded,
    Status(StatusError),
}

impl From<StatusError> for BuildError {
    fn from(e: StatusError) -> Self {
        BuildError::Status(e)
    }
}

impl From<StoreError> for BuildError {
    fn from(e: StoreError) -> Self {
        BuildError::Status(e.into())
    }
}

/// A published CRL.
#[derive(Clone)]
pub struct PublishedCrl {
    pub number: i64,
    pub this_update: DateTime<Utc>,
    pub next_update: DateTime<Utc>,
    pub der: Arc<Vec<u8>>,
}

fn entry(row: CrlEntryRow) -> Result<RevokedEntry, StatusError> {
    let serial = Serial::from_hex(&row.serial)
        .map_err(|e| StatusError::Unexpected(format!("stored serial {}: {e}", row.serial)))?;
    let at = row.revoked_at.unwrap_or(row.created_at).and_utc();
    let (revoked_at, reason) = match row.status {
        CertificateStatus::Revoked => (
            at,
            row.revocation_reason
                .as_deref()
                .and_then(RevocationReason::parse)
                .unwrap_or(RevocationReason::Unspecified),
        ),
        // Suspended, or issued but not yet accepted (domain §2): on hold.
        _ => (at, RevocationReason::CertificateHold),
    };
    Ok(RevokedEntry {
        serial,
        revoked_at,
        reason,
    })
}

impl StatusService {
    /// The number of CRL shards (1: one CRL per CA).
    pub fn crl_shards(&self) -> u32 {
        self.inner.profile.crl_shards()
    }

    /// The current CRL of `shard`, building it first when it is missing or stale.
    pub async fn crl(&self, shard: u32) -> Result<PublishedCrl, StatusError> {
        if shard >= self.crl_shards() {
            return Err(StatusError::NotFound);
        }
        let shard_i = i32::try_from(shard).map_err(|e| StatusError::Unexpected(e.to_string()))?;
        if let Some(published) = self.current(shard, shard_i).await? {
            return Ok(published);
        }
        // One build per shard at a time in this process; who waited finds it done.
        let builds = self.inner.crl_builds.get(shard as usize);
        let _building = match builds {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        for _ in 0..MAX_BUILD_ATTEMPTS {
            if let Some(published) = self.current(shard, shard_i).await? {
                return Ok(published);
            }
            match self.build(shard, shard_i).await {
                Ok(published) => {
                    self.remember(shard, &published);
                    return Ok(published);
                }
                // Another process published a CRL with a higher number first; look again.
                Err(BuildError::Superseded) => {}
                Err(BuildError::Status(e)) => return Err(e),
            }
        }
        Err(StatusError::Unexpected(format!(
            "CRL shard {shard} superseded {MAX_BUILD_ATTEMPTS} times in a row"
        )))
    }

    /// The stored CRL of `shard` if it was built from the current status generation and is
    /// not due for its scheduled refresh.
    async fn current(&self, shard: u32, shard_i: i32) -> Result<Option<PublishedCrl>, StatusError> {
        let ca = self.inner.ca.name().to_string();
        let (generation, header) = {
            let ca = ca.clone();
            self.inner
                .store
                .read(move |tx| {
                    Ok::<_, StatusError>((tx.status_generation()?, tx.crl_header(&ca, shard_i)?))
                })
                .await?
        };
        let now = self.inner.clock.now();
        let Some((number, built_from, this_update, next_update)) = header else {
            return Ok(None);
        };
        let this_update = this_update.and_utc();
        if built_from < generation || now >= this_update + CRL_REFRESH || now < this_update {
            return Ok(None);
        }
        if let Ok(cache) = self.inner.crl_cache.read() {
            if let Some(c) = cache.get(&shard).filter(|c| c.number == number) {
                return Ok(Some(c.clone()));
            }
        }
        let Some(row) = self
            .inner
            .store
            .read(move |tx| tx.crl(&ca, shard_i))
            .await?
        else {
            return Ok(None);
        };
        let published = PublishedCrl {
            number: row.number,
            this_update,
            next_update: next_update.and_utc(),
            der: Arc::new(row.der),
        };
        self.remember(shard, &published);
        Ok(Some(published))
    }

    fn remember(&self, shard: u32, crl: &PublishedCrl) {
        if let Ok(mut cache) = self.inner.crl_cache.write() {
            let newer = cache.get(&shard).is_none_or(|c| c.number < crl.number);
            if newer {
                cache.insert(shard, crl.clone());
            }
        }
    }

    /// Builds the next CRL of `shard` without holding the writer lock while it is signed:
    /// read the status generation, then the entries (so they are at least that new); reserve
    /// a cRLNumber; sort, encode and sign on the blocking pool; then, in a short write
    /// transaction with its audit event, store it unless a CRL with a higher number or built
    /// from a newer generation was stored meanwhile. Published CRLs therefore only ever move
    /// forward, in number and in content.
    async fn build(&self, shard: u32, shard_i: i32) -> Result<PublishedCrl, BuildError> {
        let inner = &self.inner;
        let started = std::time::Instant::now();
        let ca = inner.ca.name().to_string();
        let count = inner.profile.crl_shards();
        let filter = (count > 1).then_some(shard_i);
        let (generation, mut entries) = {
            let ca = ca.clone();
            inner
                .store
                .read(move |tx| {
                    let generation = tx.status_generation()?;
                    Ok::<_, StatusError>((generation, tx.crl_entries(&ca, filter, entry)?))
                })
                .await?
        };
        let read = started.elapsed();
        let number = inner
            .store
            .reserve_crl_number(&ca, shard_i)
            .await
            .map_err(StatusError::from)?;
        let now = inner.clock.now();
        let next_update = now + CRL_VALIDITY;
        let request = CrlRequest {
            number: u64::try_from(number).map_err(|e| StatusError::Unexpected(e.to_string()))?,
            this_update: now,
            next_update,
            shard: (count > 1).then_some((shard, count)),
            distribution_point_url: inner.profile.crl_url(&ca, shard),
        };
        let signing_ca = inner.ca.clone();
        let (der, listed) = tokio::task::spawn_blocking(move || {
            let der = build_crl(&signing_ca, &request, &mut entries)
                .map_err(|e| StatusError::Unexpected(format!("CRL signing: {e}")))?;
            Ok::<_, StatusError>((der, entries.len()))
        })
        .await
        .map_err(|e| StatusError::Unexpected(format!("CRL building task: {e}")))??;
        let signed = started.elapsed();
        let bytes = der.len();
        // Shared, not copied, by every attempt of the write below.
        let der = Arc::new(der);
        let published = inner
            .store
            .write(move |tx| {
                if let Some((stored, built_from, ..)) = tx.crl_header(&ca, shard_i)? {
                    if stored >= number || built_from > generation {
                        return Err(BuildError::Superseded);
                    }
                }
                tx.store_crl(NewCrl {
                    ca_name: &ca,
                    shard: shard_i,
                    number,
                    generation,
                    this_update: now.naive_utc(),
                    next_update: next_update.naive_utc(),
                    der: &der,
                })?;
                tx.audit(NewEvent::new(
                    now,
                    &Actor::System,
                    "crl.issued",
                    "crl",
                    format!("{ca}/{shard}"),
                    json!({"number": number, "entries": listed, "generation": generation}),
                ))?;
                Ok(PublishedCrl {
                    number,
                    this_update: now,
                    next_update,
                    der,
                })
            })
            .await?;
        // Where a large CRL's time goes, for whoever tunes the database or the shards.
        tracing::info!(
            shard,
            number,
            entries = listed,
            bytes,
            read_ms = read.as_millis() as u64,
            sign_ms = (signed - read).as_millis() as u64,
            store_ms = (started.elapsed() - signed).as_millis() as u64,
            "CRL built"
        );
        Ok(published)
    }

    /// Keeps every shard's CRL current when nobody asks: re-signed before nextUpdate, and
    /// rebuilt after status changes. Requests rebuild on their own; this is the schedule.
    pub fn spawn_crl_refresh(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let period = std::time::Duration::from_secs(60);
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                for shard in 0..this.crl_shards() {
                    if let Err(e) = this.crl(shard).await {
                        tracing::error!(error = %e, shard, "CRL refresh failed");
                    }
                }
            }
        });
    }
}
