//! Revocation status services: OCSP answers from the database, with pre-signed responses
//! cached per (serial, CertID hash algorithm), and CRLs.
//!
//! Freshness across processes: see [`cache`]. A cached response is served only after a check
//! of the database that started after the request arrived, so the first request after a
//! change, in any process, is answered from the new status.

mod cache;

mod crl;
mod http;
mod lifecycle;

pub use crate::states::certificate::{CertificateStatus, Move};
pub use cache::OcspCacheStats;
pub use crl::{PublishedCrl, CRL_MAX_AGE_SECONDS};
pub use http::{crl_get, ocsp_get, ocsp_post};
pub use lifecycle::{expire, supersede, Change, Changed};

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use chrono::{DateTime, Duration, Utc};

use crate::ca::{
    build_response, error_response, parse_request, CertStatus, IssuingCa, OcspErrorStatus,
    OcspIssuer, OcspResponder, PersonalProfile, RevocationReason, Serial, SingleAnswer,
};
use crate::clock::Clock;
use crate::settings::{range, Invalid};
use crate::store::{StatusRow, Store, StoreError};
use cache::{Cached, OcspCache};

/// nextUpdate - thisUpdate of OCSP responses.
const OCSP_VALIDITY: Duration = Duration::hours(4);
/// A pre-signed response older than this is signed again, so relying parties always get
/// one with most of its validity left.
const OCSP_REFRESH: Duration = Duration::hours(1);
/// HTTP caches (RFC 5019 GET) may keep a response this long. Short on purpose: our own
/// answers change on the next request after a status change; caches in front of us should
/// not lag by more than a minute.
pub const OCSP_MAX_AGE_SECONDS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("no certificate with this serial")]
    NotFound,
    #[error("the certificate is revoked; revocation is final")]
    AlreadyRevoked,
    #[error("a certificate in status `{status}` cannot be {action}d")]
    NotAllowed {
        action: &'static str,
        status: String,
    },
    #[error("the certificate changed concurrently; try again")]
    Concurrent,
    #[error("`{0}` is not a revocation reason")]
    BadReason(String),
    #[error("the note must be at most 1000 characters without control characters")]
    BadNote,
    #[error(transparent)]
    Otp(#[from] crate::otp::OtpError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("status: {0}")]
    Unexpected(String),
}

/// A DER OCSPResponse and how long HTTP caches may keep it (`None`: not cacheable, e.g.
/// nonce-bound or an error).
pub struct OcspAnswer {
    pub der: Bytes,
    pub max_age: Option<i64>,
}

impl OcspAnswer {
    pub fn error(status: OcspErrorStatus) -> OcspAnswer {
        OcspAnswer {
            der: Bytes::from(error_response(status)),
            max_age: None,
        }
    }
}

/// Settings of the status services (`[status]`).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Memory for pre-signed OCSP responses, in MiB (about 1.5 KiB each with an RSA-2048
    /// responder); the least useful are dropped beyond it.
    pub ocsp_cache_mib: u32,
    /// While the database cannot be reached, cached OCSP responses are still served for this
    /// many seconds after the last successful freshness check, then `tryLater`. At most an
    /// hour: a cached response is at most `OCSP_REFRESH` old and valid for `OCSP_VALIDITY`,
    /// so what is served stays well inside its nextUpdate.
    pub ocsp_stale_seconds: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            ocsp_cache_mib: 256,
            ocsp_stale_seconds: 60,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), Invalid> {
        range("status.ocsp_cache_mib", self.ocsp_cache_mib, 1, 65_536)?;
        range(
            "status.ocsp_stale_seconds",
            self.ocsp_stale_seconds,
            0,
            3_600,
        )
    }
}

#[derive(Clone)]
pub struct StatusService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    ca: Arc<IssuingCa>,
    responder: Arc<OcspResponder>,
    issuer: OcspIssuer,
    profile: Arc<PersonalProfile>,
    ocsp_cache: Arc<OcspCache>,
    crl_cache: RwLock<HashMap<u32, PublishedCrl>>,
    /// One CRL build per shard at a time in this process.
    crl_builds: Box<[tokio::sync::Mutex<()>]>,
}

impl StatusService {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        ca: Arc<IssuingCa>,
        responder: Arc<OcspResponder>,
        profile: Arc<PersonalProfile>,
    ) -> Result<StatusService, crate::ca::CaError> {
        Self::with_settings(store, clock, ca, responder, profile, &Settings::default())
    }

    pub fn with_settings(
        store: Store,
        clock: Arc<dyn Clock>,
        ca: Arc<IssuingCa>,
        responder: Arc<OcspResponder>,
        profile: Arc<PersonalProfile>,
        settings: &Settings,
    ) -> Result<StatusService, crate::ca::CaError> {
        let issuer = OcspIssuer::new(&ca)?;
        let cache_bytes = u64::from(settings.ocsp_cache_mib) << 20;
        Ok(StatusService {
            inner: Arc::new(Inner {
                ocsp_cache: Arc::new(OcspCache::new(
                    store.clone(),
                    clock.clone(),
                    cache_bytes,
                    Duration::seconds(i64::from(settings.ocsp_stale_seconds)),
                )),
                store,
                clock,
                ca,
                responder,
                issuer,
                crl_builds: (0..profile.crl_shards())
                    .map(|_| tokio::sync::Mutex::new(()))
                    .collect(),
                profile,
                crl_cache: RwLock::new(HashMap::new()),
            }),
        })
    }

    pub fn ocsp_cache_stats(&self) -> OcspCacheStats {
        self.inner.ocsp_cache.stats()
    }

    /// Answers a DER OCSPRequest. Never fails: problems become OCSP error statuses.
    pub async fn ocsp(&self, request: &[u8]) -> OcspAnswer {
        let req = match parse_request(request) {
            Ok(r) => r,
            Err(e) => return OcspAnswer::error(e.response_status()),
        };
        // RFC 6960 §2.3: a responder not authoritative for a certificate answers unauthorized.
        if req.cert_ids.iter().any(|id| !self.inner.issuer.issued(id)) {
            return OcspAnswer::error(OcspErrorStatus::Unauthorized);
        }
        // One certificate without a nonce: the same bytes serve every requester.
        let key = match (&req.nonce, req.cert_ids.as_slice()) {
            (None, [id]) => id.serial_number().map(|s| (s, id.hash.clone())),
            _ => None,
        };
        if let Some(key) = &key {
            match self.inner.ocsp_cache.get(key).await {
                Ok(Some(c)) => {
                    let now = self.inner.clock.now();
                    if now >= c.this_update && now < c.this_update + OCSP_REFRESH {
                        self.inner.ocsp_cache.hit();
                        return OcspAnswer {
                            der: c.der.clone(),
                            max_age: Some(max_age(now, c.next_update)),
                        };
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "OCSP cache unusable");
                    return OcspAnswer::error(OcspErrorStatus::TryLater);
                }
            }
        }
        let serials: Vec<Option<Serial>> =
            req.cert_ids.iter().map(|id| id.serial_number()).collect();
        let present: Vec<Serial> = serials.iter().flatten().cloned().collect();
        if self.inner.ocsp_cache.known_absent(&present).await {
            return OcspAnswer::error(OcspErrorStatus::Unauthorized);
        }
        let hexes: Vec<Option<String>> = serials
            .iter()
            .map(|s| s.as_ref().map(Serial::hex))
            .collect();
        // The generation is read before the rows: the rows are at least that new.
        let (generation, rows) = match self
            .inner
            .store
            // Not waiting for the pool to give up: the answer would be `tryLater` anyway.
            .read_now(move |tx| {
                let generation = tx.status_generation()?;
                let rows = hexes
                    .iter()
                    .map(|s| match s {
                        Some(s) => tx.certificate_status(s),
                        None => Ok(None),
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                Ok::<_, StoreError>((generation, rows))
            })
            .await
        {
            Ok(read) => read,
            Err(StoreError::Unavailable(e)) => {
                tracing::warn!(error = %e, "OCSP status lookup: database unavailable");
                return OcspAnswer::error(OcspErrorStatus::TryLater);
            }
            Err(e) => {
                tracing::error!(error = %e, "OCSP status lookup failed");
                return OcspAnswer::error(OcspErrorStatus::InternalError);
            }
        };
        // RFC 6960 §2.3, as Let's Encrypt answers: a serial we never issued gets the unsigned
        // `unauthorized` status. Signing an answer for it would let made-up serials take a
        // signature each. Its absence is remembered for this generation only (see `cache`),
        // in a set apart from the responses, so a certificate recorded since gets its real
        // answer on the next request and made-up serials never push out a response.
        if rows.iter().any(Option::is_none) {
            for (serial, row) in serials.into_iter().zip(&rows) {
                if let (Some(serial), None) = (serial, row) {
                    self.inner.ocsp_cache.insert_unknown(serial, generation);
                }
            }
            return OcspAnswer::error(OcspErrorStatus::Unauthorized);
        }
        let rows: Vec<StatusRow> = rows.into_iter().flatten().collect();
        let now = self.inner.clock.now();
        let next_update = now + OCSP_VALIDITY;
        let answers: Vec<SingleAnswer> = req
            .cert_ids
            .iter()
            .zip(&rows)
            .map(|(id, row)| SingleAnswer {
                cert_id: id.clone(),
                status: ocsp_status(row, self.inner.ca.name()),
                this_update: now,
                next_update,
            })
            .collect();
        let der = match build_response(&self.inner.responder, &answers, req.nonce.as_deref(), now) {
            Ok(d) => Bytes::from(d),
            Err(e) => {
                tracing::error!(error = %e, "OCSP response signing failed");
                return OcspAnswer::error(OcspErrorStatus::InternalError);
            }
        };
        let Some(key) = key else {
            return OcspAnswer { der, max_age: None };
        };
        let cached = Cached {
            this_update: now,
            next_update,
            der: der.clone(),
        };
        self.inner.ocsp_cache.insert(key, generation, cached).await;
        OcspAnswer {
            der,
            max_age: Some(max_age(now, next_update)),
        }
    }
}

fn max_age(now: DateTime<Utc>, next_update: DateTime<Utc>) -> i64 {
    (next_update - now)
        .num_seconds()
        .clamp(0, OCSP_MAX_AGE_SECONDS)
}

/// What OCSP says about a certificate row (domain §2: valid only once accepted).
///
/// `expired`: RFC 6960 §2.2 "good" only means "not revoked", and relying parties check the
/// validity period themselves; an expired certificate keeps the answer it had, revoked
/// (with its time and reason) when a revocation was recorded, good otherwise.
pub fn ocsp_status(row: &StatusRow, ca_name: &str) -> CertStatus {
    if row.ca_name != ca_name {
        return CertStatus::Unknown;
    }
    let hold = |at: DateTime<Utc>| CertStatus::Revoked {
        at,
        reason: Some(RevocationReason::CertificateHold),
    };
    let revoked_at = row.revoked_at.map(|t| t.and_utc());
    match row.status {
        CertificateStatus::Active => CertStatus::Good,
        CertificateStatus::Suspended => hold(revoked_at.unwrap_or(row.created_at.and_utc())),
        CertificateStatus::PendingAcceptance | CertificateStatus::Signing => {
            hold(row.created_at.and_utc())
        }
        CertificateStatus::Revoked | CertificateStatus::Expired => match revoked_at {
            Some(at) => CertStatus::Revoked {
                at,
                reason: reason_of(row).filter(|r| *r != RevocationReason::Unspecified),
            },
            None if row.status == CertificateStatus::Expired => CertStatus::Good,
            None => CertStatus::Revoked {
                at: row.created_at.and_utc(),
                reason: None,
            },
        },
    }
}

/// The stored reason; an unreadable one counts as unspecified (still revoked).
fn reason_of(row: &StatusRow) -> Option<RevocationReason> {
    Some(
        row.revocation_reason
            .as_deref()
            .and_then(RevocationReason::parse)
            .unwrap_or(RevocationReason::Unspecified),
    )
}
