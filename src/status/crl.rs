//! CRLs built from the database and shared by all processes through the `crls` table.
//!
//! Freshness: a CRL row records the `status_generation` it was built from; a trigger bumps the
//! generation on any certificate insert or status change. A CRL is rebuilt when the generation
//! moved on, when it is older than [`CRL_REFRESH`], on request and from a one-second
//! background tick, so a status change reaches the published CRL within a second in every
//! process. The cRLNumber is the row's number plus one, written in the building transaction:
//! writers are serialised (see `Store::write`), so numbers strictly increase across processes.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{StatusError, StatusService};
use crate::audit::{Actor, NewEvent};
use crate::ca::{build_crl, CrlRequest, RevocationReason, RevokedEntry, Serial};
use crate::store::{CrlRow, StatusRow};

/// nextUpdate - thisUpdate (issue 6: 24 h by default).
const CRL_VALIDITY: Duration = Duration::hours(24);
/// Rebuilt well before nextUpdate even when nothing changed.
const CRL_REFRESH: Duration = Duration::hours(1);
/// HTTP caches may keep a CRL this long.
pub const CRL_MAX_AGE_SECONDS: i64 = 60;

/// A published CRL.
#[derive(Clone)]
pub struct PublishedCrl {
    pub number: i64,
    pub this_update: DateTime<Utc>,
    pub next_update: DateTime<Utc>,
    pub der: Arc<Vec<u8>>,
}

fn entry(row: &StatusRow) -> Result<RevokedEntry, StatusError> {
    let serial = Serial::from_hex(&row.serial)
        .map_err(|e| StatusError::Unexpected(format!("stored serial {}: {e}", row.serial)))?;
    let at = row.revoked_at.unwrap_or(row.created_at).and_utc();
    let (revoked_at, reason) = match row.status.as_str() {
        "revoked" => (
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
        let ca = self.inner.ca.name().to_string();
        let shard_i = i32::try_from(shard).map_err(|e| StatusError::Unexpected(e.to_string()))?;
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
        if let Some((number, built_from, this_update, next_update)) = header {
            let this_update = this_update.and_utc();
            if built_from == generation && now < this_update + CRL_REFRESH && now >= this_update {
                if let Ok(cache) = self.inner.crl_cache.read() {
                    if let Some(c) = cache.get(&shard).filter(|c| c.number == number) {
                        return Ok(c.clone());
                    }
                }
                let ca = ca.clone();
                if let Some(row) = self
                    .inner
                    .store
                    .read(move |tx| tx.crl(&ca, shard_i))
                    .await?
                {
                    let published = PublishedCrl {
                        number: row.number,
                        this_update,
                        next_update: next_update.and_utc(),
                        der: Arc::new(row.der),
                    };
                    self.remember(shard, &published);
                    return Ok(published);
                }
            }
        }
        let published = self.build(shard, shard_i).await?;
        self.remember(shard, &published);
        Ok(published)
    }

    fn remember(&self, shard: u32, crl: &PublishedCrl) {
        if let Ok(mut cache) = self.inner.crl_cache.write() {
            let newer = cache.get(&shard).is_none_or(|c| c.number < crl.number);
            if newer {
                cache.insert(shard, crl.clone());
            }
        }
    }

    /// Builds and stores the next CRL of `shard` in one transaction (reading the generation
    /// first, so the entries are at least as new as the generation recorded).
    async fn build(&self, shard: u32, shard_i: i32) -> Result<PublishedCrl, StatusError> {
        let this = self.clone();
        let now = self.inner.clock.now();
        self.inner
            .store
            .write(move |tx| {
                let inner = &this.inner;
                let ca = inner.ca.name().to_string();
                let generation = tx.status_generation()?;
                let number = tx.crl_header(&ca, shard_i)?.map_or(0, |h| h.0) + 1;
                let count = inner.profile.crl_shards();
                let filter = (count > 1).then_some(shard_i);
                let mut entries = tx
                    .crl_entries(&ca, filter)?
                    .iter()
                    .map(entry)
                    .collect::<Result<Vec<_>, _>>()?;
                let next_update = now + CRL_VALIDITY;
                let request = CrlRequest {
                    number: u64::try_from(number)
                        .map_err(|e| StatusError::Unexpected(e.to_string()))?,
                    this_update: now,
                    next_update,
                    shard: (count > 1).then_some((shard, count)),
                    distribution_point_url: inner.profile.crl_url(&ca, shard),
                };
                let der = build_crl(&inner.ca, &request, &mut entries)
                    .map_err(|e| StatusError::Unexpected(format!("CRL signing: {e}")))?;
                tx.store_crl(&CrlRow {
                    ca_name: ca.clone(),
                    shard: shard_i,
                    number,
                    generation,
                    this_update: now.naive_utc(),
                    next_update: next_update.naive_utc(),
                    der: der.clone(),
                })?;
                tx.audit(NewEvent::new(
                    now,
                    &Actor::System,
                    "crl.issued",
                    "crl",
                    format!("{ca}/{shard}"),
                    json!({"number": number, "entries": entries.len(), "generation": generation}),
                ))?;
                Ok(PublishedCrl {
                    number,
                    this_update: now,
                    next_update,
                    der: Arc::new(der),
                })
            })
            .await
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
