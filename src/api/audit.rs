//! Reading and verifying the audit trail (roles `auditor`, `admin`).

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

use super::auth::Auth;
use super::problem::ApiError;
use crate::app::AppState;
use crate::audit::{self, StoredEvent};
use crate::checkpoints::{CheckpointError, Contradiction};
use crate::operators::Role;

#[derive(Tags)]
enum ApiTags {
    /// The hash-chained audit trail.
    Audit,
}

#[derive(Object)]
struct AuditEvent {
    seq: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    object_type: String,
    object_id: String,
    /// JSON text exactly as hashed.
    details: String,
    prev_hash: String,
    hash: String,
}

impl From<StoredEvent> for AuditEvent {
    fn from(e: StoredEvent) -> Self {
        Self {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            action: e.action,
            object_type: e.object_type,
            object_id: e.object_id,
            details: e.details,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

#[derive(Object)]
struct AuditPage {
    events: Vec<AuditEvent>,
    /// Pass as `after` to read the next page; absent at the end.
    #[oai(nullable)]
    next_after: Option<i64>,
}

#[derive(Object)]
struct VerifyResult {
    ok: bool,
    events_checked: u64,
    head_seq: i64,
    /// `modified`, `removed` or `reordered`, with the sequence number.
    #[oai(nullable)]
    fault: Option<String>,
    #[oai(nullable)]
    fault_seq: Option<i64>,
    /// Signed checkpoints that agree with the chain (all of them when none contradicts it).
    checkpoints_checked: u64,
    /// The first checkpoint the stored chain contradicts (a rewrite of the table, hashes
    /// recomputed): `other_certificate`, `bad_signature` or `chain_differs`.
    #[oai(nullable)]
    checkpoint_fault: Option<String>,
    /// The event sequence number the contradicted checkpoint signed.
    #[oai(nullable)]
    checkpoint_seq: Option<i64>,
    /// When the contradicted checkpoint was made.
    #[oai(nullable)]
    checkpoint_at: Option<DateTime<Utc>>,
    message: String,
}

pub struct AuditApi;

#[OpenApi(prefix_path = "/v1/audit", tag = "ApiTags::Audit")]
impl AuditApi {
    /// Events after sequence number `after`, oldest first, at most `limit` (1-1000, default
    /// 100; otherwise 422 `limit_invalid`, and a negative `after` 422 `cursor_invalid`) (roles
    /// `auditor`, `admin`).
    #[oai(path = "/events", method = "get")]
    async fn events(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        after: Query<Option<i64>>,
        limit: Query<Option<i64>>,
    ) -> Result<Json<AuditPage>, ApiError> {
        auth.0.require_role(&[Role::Auditor, Role::Admin])?;
        let after = match after.0 {
            Some(n) if n < 0 => return Err(super::paging::cursor_invalid()),
            given => given.unwrap_or(0),
        };
        let limit = super::paging::limit(limit.0, 100, 1000)?;
        let events = state
            .store
            .read(move |tx| tx.audit_events_after(after, limit))
            .await?;
        let next_after = (events.len() as i64 == limit)
            .then(|| events.last().map(|e| e.seq))
            .flatten();
        Ok(Json(AuditPage {
            events: events.into_iter().map(AuditEvent::from).collect(),
            next_after,
        }))
    }

    /// Walks the whole chain and reports the first modified, removed or reordered event, then
    /// checks every signed checkpoint against the sealing certificate and the chain, reporting
    /// the first one contradicted (as `ca-enrol audit verify` does) (roles `auditor`, `admin`).
    #[oai(path = "/verify", method = "get")]
    async fn verify(
        &self,
        state: Data<&AppState>,
        auth: Auth,
    ) -> Result<Json<VerifyResult>, ApiError> {
        auth.0.require_role(&[Role::Auditor, Role::Admin])?;
        let verification = state.checkpoints.verify().await.map_err(|e| match e {
            CheckpointError::Store(e) => ApiError::from(e),
            other => ApiError::unexpected(other),
        })?;
        let ok = verification.ok();
        let (report, checkpoints) = (verification.chain, verification.checkpoints);
        let (fault, fault_seq) = match &report.fault {
            None => (None, None),
            Some(audit::ChainFault::Modified { seq }) => (Some("modified"), Some(*seq)),
            Some(audit::ChainFault::Removed { after_seq }) => (Some("removed"), Some(*after_seq)),
            Some(audit::ChainFault::Reordered { seq }) => (Some("reordered"), Some(*seq)),
        };
        let checkpoint = checkpoints.fault.as_ref();
        let mut messages = Vec::new();
        if let Some(fault) = &report.fault {
            messages.push(fault.to_string());
        }
        if let Some(fault) = checkpoint {
            messages.push(fault.to_string());
        }
        Ok(Json(VerifyResult {
            ok,
            events_checked: report.events_checked,
            head_seq: report.head_seq,
            fault: fault.map(str::to_string),
            fault_seq,
            checkpoints_checked: u64::try_from(checkpoints.checked).unwrap_or(u64::MAX),
            checkpoint_fault: checkpoint.map(|f| {
                match f.contradiction {
                    Contradiction::OtherCertificate => "other_certificate",
                    Contradiction::BadSignature => "bad_signature",
                    Contradiction::ChainDiffers => "chain_differs",
                }
                .to_string()
            }),
            checkpoint_seq: checkpoint.map(|f| f.seq),
            checkpoint_at: checkpoint.map(|f| f.at),
            message: if messages.is_empty() {
                "chain intact".to_string()
            } else {
                messages.join("; ")
            },
        }))
    }
}
