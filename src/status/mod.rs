//! Revocation status services: OCSP answers from the database, with pre-signed responses
//! cached per (serial, CertID hash algorithm).
//!
//! Freshness across processes: every request reads the certificate's `status_version` (a
//! primary-key lookup); a trigger bumps it on any status change, whoever makes it. A cached
//! response is served only while its version is the row's, so the first request after a
//! change, in any process, is answered from the new status.

mod crl;
mod http;
mod lifecycle;

pub use crl::{PublishedCrl, CRL_MAX_AGE_SECONDS};
pub use http::{crl_get, ocsp_get, ocsp_post};
pub use lifecycle::{expire, supersede, Change, Changed, EXPIRES_FROM};

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};

use crate::ca::{
    build_response, error_response, parse_request, CertIdHash, CertStatus, IssuingCa,
    OcspErrorStatus, OcspIssuer, OcspResponder, PersonalProfile, RevocationReason, SingleAnswer,
};
use crate::clock::Clock;
use crate::store::{StatusRow, Store, StoreError};

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
    pub der: Arc<Vec<u8>>,
    pub max_age: Option<i64>,
}

impl OcspAnswer {
    fn error(status: OcspErrorStatus) -> OcspAnswer {
        OcspAnswer {
            der: Arc::new(error_response(status)),
            max_age: None,
        }
    }
}

struct Cached {
    version: i64,
    this_update: DateTime<Utc>,
    next_update: DateTime<Utc>,
    der: Arc<Vec<u8>>,
}

type CacheKey = (Vec<u8>, CertIdHash);

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
    ocsp_cache: RwLock<HashMap<CacheKey, Cached>>,
    crl_cache: RwLock<HashMap<u32, PublishedCrl>>,
}

impl StatusService {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        ca: Arc<IssuingCa>,
        responder: Arc<OcspResponder>,
        profile: Arc<PersonalProfile>,
    ) -> Result<StatusService, crate::ca::CaError> {
        let issuer = OcspIssuer::new(&ca)?;
        Ok(StatusService {
            inner: Arc::new(Inner {
                store,
                clock,
                ca,
                responder,
                issuer,
                profile,
                ocsp_cache: RwLock::new(HashMap::new()),
                crl_cache: RwLock::new(HashMap::new()),
            }),
        })
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
        let serials: Vec<Option<String>> = req
            .cert_ids
            .iter()
            .map(|id| id.serial_number().map(|s| s.hex()))
            .collect();
        let lookup = serials.clone();
        let rows = match self
            .inner
            .store
            .read(move |tx| {
                lookup
                    .iter()
                    .map(|s| match s {
                        Some(s) => tx.certificate_status(s),
                        None => Ok(None),
                    })
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "OCSP status lookup failed");
                return OcspAnswer::error(OcspErrorStatus::InternalError);
            }
        };
        let now = self.inner.clock.now();
        // One certificate without a nonce: the same bytes serve every requester.
        let cacheable = req.nonce.is_none() && req.cert_ids.len() == 1;
        if cacheable {
            if let (Some(row), id) = (&rows[0], &req.cert_ids[0]) {
                let key = (id.serial.clone(), id.hash.clone());
                if let Ok(cache) = self.inner.ocsp_cache.read() {
                    if let Some(c) = cache.get(&key) {
                        if c.version == row.status_version
                            && now >= c.this_update
                            && now < c.this_update + OCSP_REFRESH
                        {
                            return OcspAnswer {
                                der: c.der.clone(),
                                max_age: Some(max_age(now, c.next_update)),
                            };
                        }
                    }
                }
            }
        }
        let next_update = now + OCSP_VALIDITY;
        let answers: Vec<SingleAnswer> = req
            .cert_ids
            .iter()
            .zip(&rows)
            .map(|(id, row)| SingleAnswer {
                cert_id: id.clone(),
                status: row
                    .as_ref()
                    .map(|r| ocsp_status(r, self.inner.ca.name()))
                    .unwrap_or(CertStatus::Unknown),
                this_update: now,
                next_update,
            })
            .collect();
        let der = match build_response(&self.inner.responder, &answers, req.nonce.as_deref(), now) {
            Ok(d) => Arc::new(d),
            Err(e) => {
                tracing::error!(error = %e, "OCSP response signing failed");
                return OcspAnswer::error(OcspErrorStatus::InternalError);
            }
        };
        if !cacheable {
            return OcspAnswer { der, max_age: None };
        }
        // Unknown serials are not cached: the row may be inserted at any moment.
        if let (Some(row), id) = (&rows[0], &req.cert_ids[0]) {
            if let Ok(mut cache) = self.inner.ocsp_cache.write() {
                cache.insert(
                    (id.serial.clone(), id.hash.clone()),
                    Cached {
                        version: row.status_version,
                        this_update: now,
                        next_update,
                        der: der.clone(),
                    },
                );
            }
        }
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
    match row.status.as_str() {
        "active" => CertStatus::Good,
        "suspended" => hold(revoked_at.unwrap_or(row.created_at.and_utc())),
        "pending_acceptance" | "signing" => hold(row.created_at.and_utc()),
        "revoked" | "expired" => match revoked_at {
            Some(at) => CertStatus::Revoked {
                at,
                reason: reason_of(row).filter(|r| *r != RevocationReason::Unspecified),
            },
            None if row.status == "expired" => CertStatus::Good,
            None => CertStatus::Revoked {
                at: row.created_at.and_utc(),
                reason: None,
            },
        },
        _ => CertStatus::Unknown,
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
