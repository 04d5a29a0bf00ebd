//! Signed checkpoints of the audit chain. The chain alone proves only that it is consistent:
//! whoever can rewrite the whole table and its head can recompute every hash. A checkpoint
//! is the head (seq, hash, time) signed by the provider's document-sealing key, which the
//! database does not hold; `ca-enrol audit verify` checks every checkpoint's signature
//! against the sealing certificate and that the chain still has that hash at that seq, so a
//! rewrite of anything a checkpoint covers is detected, naming the checkpoint.
//!
//! Checkpoints are made at start and every [`CHECKPOINT_EVERY`] by `app`'s job, and exported
//! with `ca-enrol audit checkpoints --export` (to keep copies outside the database).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::VerifyReport;
use crate::audit::{format_time, Checkpoint};
use crate::ca::{self, SealingKey};
use crate::clock::Clock;
use crate::store::{CheckpointRow, Store, StoreError};

/// How often the job checkpoints the head (when events were added since the last one).
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("signing the audit checkpoint: {0}")]
    Sign(#[from] ca::CaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("blocking task: {0}")]
    Task(String),
}

#[derive(Clone)]
pub struct Checkpoints {
    store: Store,
    sealing: Arc<SealingKey>,
    clock: Arc<dyn Clock>,
}

impl Checkpoints {
    pub fn new(store: Store, sealing: Arc<SealingKey>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            sealing,
            clock,
        }
    }

    /// [`verify_all_blocking`] off the runtime, against the sealing certificate loaded from
    /// `ca_root` at start (the file the command line reads).
    pub async fn verify(&self) -> Result<Verification, CheckpointError> {
        let store = self.store.clone();
        let cert = self.sealing.cert_der().to_vec();
        tokio::task::spawn_blocking(move || verify_all_blocking(&store, &cert))
            .await
            .map_err(|e| CheckpointError::Task(e.to_string()))?
    }

    /// Signs the current head and stores it; None when the last checkpoint already covers
    /// it, or when another process checkpointed the same head first. The signature is made
    /// outside any transaction, so writers never wait on the signer.
    pub async fn make(&self) -> Result<Option<i64>, CheckpointError> {
        // Events committed but not yet chained (PostgreSQL) are chained first, so the head
        // signed covers every committed event.
        self.store.chain_pending_audit().await?;
        let (head, latest) = self
            .store
            .read(|tx| Ok::<_, StoreError>((tx.audit_head()?, tx.latest_audit_checkpoint()?)))
            .await?;
        let (seq, hash) = head;
        if seq == 0 || latest.is_some_and(|c| c.seq >= seq) {
            return Ok(None);
        }
        let checkpoint = Checkpoint {
            seq,
            hash,
            // As stored, so the signed time is the one read back.
            at: crate::clock::truncate(self.clock.now()),
        };
        let sealing = self.sealing.clone();
        let message = checkpoint.signed_bytes();
        let signature = tokio::task::spawn_blocking(move || sealing.signer().sign(&message))
            .await
            .map_err(|e| CheckpointError::Task(e.to_string()))??;
        let row = CheckpointRow {
            seq: checkpoint.seq,
            hash: checkpoint.hash,
            at: checkpoint.at.naive_utc(),
            certificate_sha256: crate::secrets::sha256_hex(self.sealing.cert_der()),
            signature,
        };
        match self.store.record_audit_checkpoint(row).await {
            Ok(()) => Ok(Some(seq)),
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// A checkpoint as exported: enough to check it with the sealing certificate alone.
#[derive(Debug, Serialize)]
pub struct ExportedCheckpoint {
    pub seq: i64,
    pub hash: String,
    pub at: String,
    /// What was signed (UTF-8 JSON text).
    pub signed: String,
    /// Base64 of the signature (PKCS#1 v1.5 for RSA, DER ECDSA-Sig-Value for EC).
    pub signature: String,
    pub certificate_sha256: String,
}

/// Every stored checkpoint, oldest first, for keeping outside the database (blocking).
pub fn export_blocking(store: &Store) -> Result<Vec<ExportedCheckpoint>, StoreError> {
    let rows = store.read_blocking(|tx| tx.audit_checkpoints())?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let checkpoint = as_checkpoint(&r);
            ExportedCheckpoint {
                seq: r.seq,
                at: format_time(&checkpoint.at),
                signed: String::from_utf8_lossy(&checkpoint.signed_bytes()).into_owned(),
                hash: r.hash,
                signature: base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    &r.signature,
                ),
                certificate_sha256: r.certificate_sha256,
            }
        })
        .collect())
}

/// Why a checkpoint contradicts what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contradiction {
    /// Signed by another sealing certificate than the one given.
    OtherCertificate,
    /// The signature does not verify: the checkpoint itself was altered or forged.
    BadSignature,
    /// The chain has another hash at that seq, or no event there.
    ChainDiffers,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointFault {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub contradiction: Contradiction,
}

impl std::fmt::Display for CheckpointFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.contradiction {
            Contradiction::OtherCertificate => "was signed by another sealing certificate",
            Contradiction::BadSignature => "has a signature that does not verify",
            Contradiction::ChainDiffers => "contradicts the chain, which has another hash there",
        };
        write!(
            f,
            "the checkpoint of event {} made at {} {what}",
            self.seq,
            format_time(&self.at)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointReport {
    pub checked: usize,
    /// The first checkpoint that does not hold, oldest first.
    pub fault: Option<CheckpointFault>,
}

/// The chain walk and the checkpoints together: what `ca-enrol audit verify`, the API's
/// `GET /audit/verify` and the `/audit` page all report.
pub struct Verification {
    pub chain: VerifyReport,
    pub checkpoints: CheckpointReport,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.chain.fault.is_none() && self.checkpoints.fault.is_none()
    }
}

/// Walks the chain, then checks every checkpoint (blocking).
pub fn verify_all_blocking(
    store: &Store,
    sealing_cert_der: &[u8],
) -> Result<Verification, CheckpointError> {
    Ok(Verification {
        chain: store.verify_audit_blocking()?,
        checkpoints: verify_blocking(store, sealing_cert_der)?,
    })
}

/// Checks every stored checkpoint against `sealing_cert_der` (read from `ca_root`, not from
/// the database) and against the chain (blocking).
pub fn verify_blocking(
    store: &Store,
    sealing_cert_der: &[u8],
) -> Result<CheckpointReport, CheckpointError> {
    let fingerprint = crate::secrets::sha256_hex(sealing_cert_der);
    let rows = store.read_blocking(|tx| tx.audit_checkpoints())?;
    let mut checked = 0;
    for row in rows {
        let checkpoint = as_checkpoint(&row);
        let contradiction = if row.certificate_sha256 != fingerprint {
            Some(Contradiction::OtherCertificate)
        } else if !ca::verify_signature(
            sealing_cert_der,
            &checkpoint.signed_bytes(),
            &row.signature,
        )? {
            Some(Contradiction::BadSignature)
        } else {
            let stored = store.read_blocking(|tx| tx.audit_hash_at(row.seq))?;
            (stored.as_deref() != Some(row.hash.as_str())).then_some(Contradiction::ChainDiffers)
        };
        if let Some(contradiction) = contradiction {
            return Ok(CheckpointReport {
                checked,
                fault: Some(CheckpointFault {
                    seq: row.seq,
                    at: checkpoint.at,
                    contradiction,
                }),
            });
        }
        checked += 1;
    }
    Ok(CheckpointReport {
        checked,
        fault: None,
    })
}

fn as_checkpoint(row: &CheckpointRow) -> Checkpoint {
    Checkpoint {
        seq: row.seq,
        hash: row.hash.clone(),
        at: row.at.and_utc(),
    }
}
