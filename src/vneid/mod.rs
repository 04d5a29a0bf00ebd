//! The VNeID hub connector: registrations signed by the national hub (a compact JWS verified
//! against the configured trust anchor), the one-time hand-over of the enrolment to the
//! provider's app, and the settings of the status callbacks to the hub.
//!
//! Identity: the hub holds no API key. Its credential is its signature: a certificate chain
//! to `vneid.trust_anchor_file` with keyUsage digitalSignature, on a token for our
//! `vneid.provider_id`. A registration's enrolment belongs to no integration (like a counter
//! enrolment: operators and `all_integrations` keys reach it) until an app backend's key
//! redeems its hand-over token; that key's integration then owns it.
//!
//! Invariant: only this module creates `vneid` enrolments; the generic intake refuses the
//! source (`api::enrolments`), so "verified by a VNeID level-2 account" always rests on a
//! signature the provider can show.

pub mod sim;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use openssl::x509::X509;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::audit::{Actor, NewEvent};
use crate::ca::jws::{self, JwsError};
use crate::clock::Clock;
use crate::enrolment::{
    Application, EnrolmentError, EnrolmentSummary, Enrolments, IdempotencyKey, Submitted, Submitter,
};
use crate::secrets::{random_token, sha256_hex};
use crate::settings::{range, Invalid};
use crate::store::{Store, StoreError, VneidRegistrationRow};

/// The principal under which registrations store their idempotency records (the key is the
/// hub's transaction id).
const HUB_PRINCIPAL: &str = "vneid_hub";
/// The only assurance level whose accounts stand in for the ID card (Decree 69/2024).
const REQUIRED_ASSURANCE_LEVEL: i64 = 2;
/// Transaction ids and `jti`s: 1-128 visible ASCII characters.
const ID_MAX: usize = 128;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// PEM certificate of the hub's CA. Empty: the connector is off (its routes answer 404
    /// `vneid_not_configured`).
    pub trust_anchor_file: PathBuf,
    /// Our identifier at the hub: registrations for another provider are refused.
    pub provider_id: String,
    /// How far `iat` may lie from our clock, either way.
    pub max_skew_seconds: u32,
    /// The largest registration body read.
    pub max_body_bytes: u32,
    /// How long the one-time hand-over token stays redeemable.
    pub handover_ttl_seconds: u32,
    /// Where status callbacks are POSTed. Empty: they are not delivered (retried with the
    /// outbox's backoff, then `failed`).
    pub callback_url: String,
    /// One callback attempt's limit (the outbox lease must outlast it).
    pub callback_timeout_seconds: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            trust_anchor_file: PathBuf::new(),
            provider_id: "ca-enrol".into(),
            max_skew_seconds: 300,
            max_body_bytes: 64 * 1024,
            handover_ttl_seconds: 600,
            callback_url: String::new(),
            callback_timeout_seconds: 10,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.provider_id.trim().is_empty() {
            return Err(Invalid::new("vneid.provider_id", "must not be empty"));
        }
        range("vneid.max_skew_seconds", self.max_skew_seconds, 1, 3600)?;
        range(
            "vneid.max_body_bytes",
            self.max_body_bytes,
            1024,
            1024 * 1024,
        )?;
        range(
            "vneid.handover_ttl_seconds",
            self.handover_ttl_seconds,
            30,
            86_400,
        )?;
        range(
            "vneid.callback_timeout_seconds",
            self.callback_timeout_seconds,
            1,
            60,
        )?;
        if !(self.callback_url.is_empty()
            || self.callback_url.starts_with("http://")
            || self.callback_url.starts_with("https://"))
        {
            return Err(Invalid::new(
                "vneid.callback_url",
                "expected an http:// or https:// URL",
            ));
        }
        Ok(())
    }

    /// The trust anchor, or `None` when the connector is off.
    pub fn load_anchor(&self) -> Result<Option<X509>, Invalid> {
        if self.trust_anchor_file.as_os_str().is_empty() {
            return Ok(None);
        }
        let bad = |m: String| Invalid::new("vneid.trust_anchor_file", m);
        let pem = std::fs::read(&self.trust_anchor_file)
            .map_err(|e| bad(format!("{}: {e}", self.trust_anchor_file.display())))?;
        X509::from_pem(&pem).map(Some).map_err(|_| {
            bad(format!(
                "{}: not a PEM certificate",
                self.trust_anchor_file.display()
            ))
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VneidError {
    #[error("the VNeID connector is not configured")]
    NotConfigured,
    #[error("registration body larger than {max_bytes} bytes")]
    TooLarge { max_bytes: u32 },
    #[error(transparent)]
    Jws(#[from] JwsError),
    /// A claim other than the citizen's fields is missing or of the wrong type.
    #[error("claim `{0}` missing or invalid")]
    Claim(&'static str),
    #[error("`iat`/`exp` outside the accepted window")]
    Stale,
    #[error("this `jti` was seen before")]
    Replayed,
    #[error("registration for another provider")]
    OtherProvider,
    #[error("assurance level {0} is below 2")]
    AssuranceLevel(i64),
    #[error("this transaction id came before with other data")]
    TransactionReused,
    #[error("hand-over token unknown or expired")]
    HandoverInvalid,
    #[error("hand-over token already redeemed")]
    HandoverUsed,
    #[error(transparent)]
    Enrolment(#[from] EnrolmentError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A registration whose signature, chain, times, provider and assurance level passed; the
/// citizen's fields (`identity`, `contact`, `consent`) are parsed by the caller with the
/// intake's parsers.
pub struct Registration {
    pub transaction_id: String,
    pub jti: String,
    pub expires_at: DateTime<Utc>,
    pub claims: Value,
    /// The hub certificate's subject, for the audit trail.
    pub signed_by: String,
}

/// What a registration answers.
pub struct Registered {
    pub enrolment: EnrolmentSummary,
    /// A fresh one-time token; `None` when the enrolment was already handed over.
    pub handover_token: Option<String>,
    pub handover_expires_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct Connector {
    store: Store,
    enrolments: Enrolments,
    clock: Arc<dyn Clock>,
    settings: Settings,
    anchor: Option<X509>,
}

fn visible_id(v: &Value) -> Option<String> {
    v.as_str()
        .filter(|s| (1..=ID_MAX).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
}

impl Connector {
    pub fn new(
        store: Store,
        enrolments: Enrolments,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Result<Self, Invalid> {
        let anchor = settings.load_anchor()?;
        Ok(Self {
            store,
            enrolments,
            clock,
            settings,
            anchor,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Refuses at once when the connector is off (before a body is read).
    pub fn require_configured(&self) -> Result<(), VneidError> {
        self.anchor
            .as_ref()
            .map(|_| ())
            .ok_or(VneidError::NotConfigured)
    }

    /// Checks a registration's signature and chain, then its claims short of the citizen's
    /// fields and the `jti` (checked when it is recorded).
    pub fn verify(&self, body: &[u8]) -> Result<Registration, VneidError> {
        let anchor = self.anchor.as_ref().ok_or(VneidError::NotConfigured)?;
        let now = self.clock.now();
        let (claims, signed_by) = jws::verify(body, anchor, now)?;
        let time = |name: &'static str| {
            claims[name]
                .as_i64()
                .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
                .ok_or(VneidError::Claim(name))
        };
        let (iat, exp) = (time("iat")?, time("exp")?);
        let skew = Duration::seconds(self.settings.max_skew_seconds.into());
        if iat > now + skew || iat < now - skew || exp <= now || exp < iat {
            return Err(VneidError::Stale);
        }
        let transaction_id =
            visible_id(&claims["transaction_id"]).ok_or(VneidError::Claim("transaction_id"))?;
        let jti = visible_id(&claims["jti"]).ok_or(VneidError::Claim("jti"))?;
        let provider = claims["provider_id"]
            .as_str()
            .ok_or(VneidError::Claim("provider_id"))?;
        if provider != self.settings.provider_id {
            return Err(VneidError::OtherProvider);
        }
        let level = claims["assurance_level"]
            .as_i64()
            .ok_or(VneidError::Claim("assurance_level"))?;
        if level != REQUIRED_ASSURANCE_LEVEL {
            return Err(VneidError::AssuranceLevel(level));
        }
        Ok(Registration {
            transaction_id,
            jti,
            expires_at: exp,
            claims,
            signed_by,
        })
    }

    /// Creates the `verified` enrolment of a registration (or finds the one its transaction
    /// made), records the `jti` and issues a fresh hand-over token. Idempotent by transaction
    /// id: a registered transaction answers its enrolment, and a new one is submitted with
    /// the transaction id as idempotency key, so a retry after any failure finds it.
    pub async fn register(
        &self,
        reg: Registration,
        app: Application,
    ) -> Result<Registered, VneidError> {
        // What the citizen shared, in a canonical form (serde_json sorts object keys).
        let shared = json!({
            "identity": reg.claims["identity"],
            "contact": reg.claims["contact"],
            "consent": reg.claims["consent"],
        });
        let request_sha256 = sha256_hex(shared.to_string().as_bytes());
        // A known transaction keeps its enrolment (whatever became of the submission's
        // idempotency record, which retention purges); a new one submits, idempotently.
        let txn = reg.transaction_id.clone();
        let known = self
            .store
            .read(move |tx| tx.vneid_registration(&txn))
            .await?;
        let enrolment_id = match known {
            Some(known) => known.enrolment_id,
            None => self.submit(&reg, app, &request_sha256).await?,
        };
        let token = random_token("vho_");
        let now = self.clock.now();
        let expires = now + Duration::seconds(self.settings.handover_ttl_seconds.into());
        let record = {
            let (reg, token_sha) = (&reg, sha256_hex(token.as_bytes()));
            let (enrolment_id, request_sha256) = (enrolment_id.clone(), request_sha256.clone());
            let txn = reg.transaction_id.clone();
            let jti = reg.jti.clone();
            let jti_expires = reg.expires_at.naive_utc();
            let signed_by = reg.signed_by.clone();
            move |tx: &mut crate::store::Tx<'_>| -> Result<bool, VneidError> {
                if !tx.record_vneid_jti(&jti, jti_expires, now.naive_utc())? {
                    return Err(VneidError::Replayed);
                }
                let (action, fresh) = match tx.vneid_registration(&txn)? {
                    Some(existing) => {
                        if existing.request_sha256 != request_sha256 {
                            return Err(VneidError::TransactionReused);
                        }
                        let fresh =
                            tx.renew_vneid_handover(&txn, &token_sha, expires.naive_utc())?;
                        ("vneid.registration_repeated", fresh)
                    }
                    None => {
                        tx.insert_vneid_registration(&VneidRegistrationRow {
                            transaction_id: txn.clone(),
                            enrolment_id: enrolment_id.clone(),
                            request_sha256: request_sha256.clone(),
                            handover_sha256: token_sha.clone(),
                            handover_expires_at: expires.naive_utc(),
                            handed_over_at: None,
                            handed_over_to: None,
                            created_at: now.naive_utc(),
                        })?;
                        ("vneid.registered", true)
                    }
                };
                tx.audit(NewEvent::new(
                    now,
                    &Actor::VneidHub,
                    action,
                    "enrolment",
                    &enrolment_id,
                    json!({
                        "transaction_id": txn,
                        "jti": jti,
                        "signed_by": signed_by,
                        "handover_token_issued": fresh,
                    }),
                ))?;
                Ok(fresh)
            }
        };
        // A concurrent registration of the same transaction or `jti` makes one insert fail on
        // its key; run again, which then sees the other's rows.
        let fresh = match self.store.write(record.clone()).await {
            Err(VneidError::Store(StoreError::Conflict(_))) => self.store.write(record).await?,
            other => other?,
        };
        let enrolment = self.enrolments.get(&enrolment_id).await?;
        Ok(Registered {
            enrolment,
            handover_token: fresh.then_some(token),
            handover_expires_at: expires,
        })
    }

    /// Submits a new transaction's enrolment with the transaction id as idempotency key, so a
    /// retry after a failure before the registration row finds it; answers its id.
    async fn submit(
        &self,
        reg: &Registration,
        app: Application,
        request_sha256: &str,
    ) -> Result<String, VneidError> {
        let submitted = self
            .enrolments
            .submit(
                Submitter {
                    actor: Actor::VneidHub,
                    operator_id: None,
                    integration_id: None,
                },
                app,
                IdempotencyKey {
                    principal: HUB_PRINCIPAL.into(),
                    key: reg.transaction_id.clone(),
                    request_sha256: request_sha256.to_string(),
                },
                |s: &EnrolmentSummary| (201, json!({ "id": s.id }).to_string()),
            )
            .await
            .map_err(|e| match e {
                EnrolmentError::IdempotencyKeyReused => VneidError::TransactionReused,
                e => VneidError::Enrolment(e),
            })?;
        match submitted {
            Submitted::Created(s) => Ok(s.id),
            Submitted::Replayed(answer) => serde_json::from_str::<Value>(&answer.body)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_string))
                .ok_or_else(|| StoreError::Unexpected("stored registration answer".into()).into()),
        }
    }

    /// Redeems a hand-over token, once, for the app backend whose key holds it: the enrolment
    /// passes to that key's integration.
    pub async fn hand_over(
        &self,
        actor: &Actor,
        integration_id: &str,
        token: &str,
    ) -> Result<EnrolmentSummary, VneidError> {
        self.require_configured()?;
        let now = self.clock.now();
        let (actor, integration_id, token_sha) = (
            actor.clone(),
            integration_id.to_string(),
            sha256_hex(token.trim().as_bytes()),
        );
        let enrolment_id = self
            .store
            .write(move |tx| {
                let reg = tx
                    .vneid_registration_by_handover(&token_sha)?
                    .ok_or(VneidError::HandoverInvalid)?;
                if reg.handed_over_at.is_some() {
                    return Err(VneidError::HandoverUsed);
                }
                if reg.handover_expires_at < now.naive_utc() {
                    return Err(VneidError::HandoverInvalid);
                }
                if !tx.redeem_vneid_handover(
                    &reg.transaction_id,
                    &reg.enrolment_id,
                    &integration_id,
                    now.naive_utc(),
                )? {
                    return Err(VneidError::HandoverUsed);
                }
                tx.audit(NewEvent::new(
                    now,
                    &actor,
                    "vneid.handed_over",
                    "enrolment",
                    &reg.enrolment_id,
                    json!({
                        "transaction_id": reg.transaction_id,
                        "integration_id": integration_id,
                    }),
                ))?;
                Ok(reg.enrolment_id)
            })
            .await?;
        Ok(self.enrolments.get(&enrolment_id).await?)
    }
}
