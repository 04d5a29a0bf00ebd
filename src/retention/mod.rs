//! Data minimisation: what is kept only as long as its purpose needs, then deleted by a
//! periodic job (`app::prepare` starts it through `jobs::every`).
//!
//! - Identity documents (ID card photos, portrait, liveness) are destroyed
//!   `document_days` after the enrolment's acceptance record was decided (accepted, rejected
//!   or expired), or after the enrolment closed without a certificate (`rejected`,
//!   `expired`): the rows and their data keys (crypto-shredding, `data_keys`), a
//!   `destroyed_documents` row, and one audit event `enrolment.documents_destroyed` per
//!   enrolment naming each document's kind and SHA-256; then their objects, when they lie in
//!   the object store (`document_store`). Withdrawal destroys them at once
//!   (`enrolment::Enrolments::withdraw`).
//! - OTP challenges `otp_challenge_days` after they were created, delivered outbox messages
//!   `outbox_sent_days` after delivery, remembered `Idempotency-Key` answers
//!   `idempotency_days` after they were stored: one `retention.purged` audit event per batch
//!   (table, rows, cutoff).
//! - VNeID registration `jti`s [`JTI_KEPT_AFTER_EXPIRY`] after their token's `exp`: a token
//!   is refused once expired, so its `jti` no longer guards against a replay (audited the same
//!   way).
//! - Recording-webhook nonces [`NONCE_KEPT`] after they were received: a delivery whose
//!   timestamp is more than `verification::recording::WINDOW_SECONDS` from the clock is
//!   refused, so an older nonce can no longer be replayed (audited the same way).
//!
//! What stays is the evidence the domain's 5-year rule covers (domain.md §2): the enrolment's
//! identity fields, the video-call outcome, the contract (with its sealed signature image),
//! the acceptance record and the audit trail, which keeps each destroyed image's digest.
//!
//! Every step works in bounded batches over indexed columns, each batch its own short
//! transaction, so millions of rows never make one long transaction, and several processes
//! running the job at once only share the work (a batch another process emptied is skipped).

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{Actor, NewEvent};
use crate::clock::Clock;
use crate::document_store::DocumentStore;
use crate::settings::{range, Invalid};
use crate::store::{DestructionReason, Store, StoreError};

/// The `[retention]` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Days identity documents are kept after the acceptance record was decided (or the
    /// enrolment closed without a certificate). 30 by default: the images served to verify
    /// the applicant before issuance; the citizen has since confirmed the certificate's
    /// contents, and a month leaves time for a complaint about the verification to be
    /// examined with the images. A provider whose policy counts the images as part of the
    /// 5-year dossier sets this accordingly (e.g. 2922: 3-year certificate + 5 years).
    pub document_days: u32,
    /// Days OTP challenges are kept after they were created. 30 by default: the hourly caps
    /// need one hour; signing and acceptance keep the challenge id and masked destination
    /// in their own rows and the audit trail; a month answers "I got no code" enquiries.
    pub otp_challenge_days: u32,
    /// Days delivered outbox messages are kept after delivery. 7 by default: the sealed text
    /// holds codes and names; each delivery is audited, and a week answers delivery
    /// enquiries. Messages not yet delivered (or failed) are not purged.
    pub outbox_sent_days: u32,
    /// Days `Idempotency-Key` answers are kept. 7 by default: retries come within minutes
    /// or hours, a week outlasts an integration's outage.
    pub idempotency_days: u32,
    /// Rows per transaction.
    pub batch_size: u32,
    /// How often the job runs, in seconds.
    pub job_interval_seconds: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            document_days: 30,
            otp_challenge_days: 30,
            outbox_sent_days: 7,
            idempotency_days: 7,
            batch_size: 500,
            job_interval_seconds: 3600,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), Invalid> {
        range("retention.document_days", self.document_days, 1, 3650)?;
        range(
            "retention.otp_challenge_days",
            self.otp_challenge_days,
            1,
            3650,
        )?;
        range("retention.outbox_sent_days", self.outbox_sent_days, 1, 3650)?;
        range("retention.idempotency_days", self.idempotency_days, 1, 3650)?;
        range("retention.batch_size", self.batch_size, 1, 10_000)?;
        range(
            "retention.job_interval_seconds",
            self.job_interval_seconds,
            1,
            86_400,
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one run removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionRun {
    /// Enrolments whose documents (and data keys) were destroyed.
    pub documents_destroyed: Vec<String>,
    pub otp_challenges: usize,
    pub outbox_messages: usize,
    pub idempotency_records: usize,
    pub vneid_jtis: usize,
    pub recording_nonces: usize,
}

/// A batch's transaction: nothing left to do (rolled back, no event), or a failure.
enum Step {
    Nothing,
    Failed(StoreError),
}

impl From<StoreError> for Step {
    fn from(e: StoreError) -> Self {
        Step::Failed(e)
    }
}

/// How long a VNeID `jti` is kept after its token's `exp`: a registration is refused once
/// `exp` has passed, and this margin covers the largest clock skew the connector accepts
/// (`vneid.max_skew_seconds` is at most 3600), so a purged `jti` can never be replayed.
pub const JTI_KEPT_AFTER_EXPIRY: Duration = Duration::hours(1);

/// How long a recording-webhook nonce is kept after it was received. A delivery is accepted
/// only within `WINDOW_SECONDS` of its timestamp, and its nonce was received within
/// `WINDOW_SECONDS` of that same timestamp, so a replay is refused by its age after
/// `2 × WINDOW_SECONDS`; an hour also covers clock differences between server processes.
pub const NONCE_KEPT: Duration = Duration::hours(1);

/// The tables purged by age, each with its own retention.
#[derive(Clone, Copy)]
enum Purged {
    OtpChallenges,
    OutboxSent,
    IdempotencyRecords,
    VneidJtis,
    RecordingNonces,
}

impl Purged {
    fn table(self) -> &'static str {
        match self {
            Purged::OtpChallenges => "otp_challenges",
            Purged::OutboxSent => "outbox_messages",
            Purged::IdempotencyRecords => "idempotency_keys",
            Purged::VneidJtis => "vneid_jtis",
            Purged::RecordingNonces => "recording_webhook_nonces",
        }
    }
}

#[derive(Clone)]
pub struct Retention {
    store: Store,
    documents: DocumentStore,
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
}

impl Retention {
    pub fn new(
        store: Store,
        documents: DocumentStore,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            documents,
            clock,
            settings: Arc::new(settings),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// One run: destroys the documents due, then purges each table, batch by batch until
    /// nothing older than its retention is left. Safe to run from several processes at once.
    pub async fn run(&self) -> Result<RetentionRun, RetentionError> {
        let now = self.clock.now();
        let s = &self.settings;
        let by_days = |days: u32| (cutoff(now, days), json!({ "retention_days": days }));
        let past_expiry = (
            (now - JTI_KEPT_AFTER_EXPIRY).naive_utc(),
            json!({ "kept_after_expiry_seconds": JTI_KEPT_AFTER_EXPIRY.num_seconds() }),
        );
        let nonces_received = (
            (now - NONCE_KEPT).naive_utc(),
            json!({ "kept_after_receipt_seconds": NONCE_KEPT.num_seconds() }),
        );
        Ok(RetentionRun {
            documents_destroyed: self.destroy_documents(now).await?,
            otp_challenges: self
                .purge(Purged::OtpChallenges, now, by_days(s.otp_challenge_days))
                .await?,
            outbox_messages: self
                .purge(Purged::OutboxSent, now, by_days(s.outbox_sent_days))
                .await?,
            idempotency_records: self
                .purge(Purged::IdempotencyRecords, now, by_days(s.idempotency_days))
                .await?,
            vneid_jtis: self.purge(Purged::VneidJtis, now, past_expiry).await?,
            recording_nonces: self
                .purge(Purged::RecordingNonces, now, nonces_received)
                .await?,
        })
    }

    fn batch(&self) -> i64 {
        i64::from(self.settings.batch_size)
    }

    async fn destroy_documents(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        let days = self.settings.document_days;
        let cutoff = cutoff(now, days);
        let batch = self.batch();
        let mut destroyed = Vec::new();
        loop {
            let due = self
                .store
                .read(move |tx| tx.enrolments_with_documents_due(cutoff, batch))
                .await?;
            let mut progress = false;
            for id in &due {
                let id = id.clone();
                let done = id.clone();
                let result = self
                    .store
                    .write(move |tx| {
                        let docs = tx.destroy_documents(
                            &id,
                            DestructionReason::Retention,
                            now.naive_utc(),
                        )?;
                        if docs.is_empty() {
                            return Err(Step::Nothing);
                        }
                        let keys = docs.iter().filter(|d| d.key_id.is_some()).count();
                        let objects: Vec<String> =
                            docs.iter().filter_map(|d| d.object_key.clone()).collect();
                        let documents: Vec<_> = docs
                            .iter()
                            .map(|d| json!({"kind": d.kind, "sha256": d.sha256}))
                            .collect();
                        tx.audit(NewEvent::new(
                            now,
                            &Actor::System,
                            "enrolment.documents_destroyed",
                            "enrolment",
                            &id,
                            json!({
                                "reason": DestructionReason::Retention.as_str(),
                                "retention_days": days,
                                "documents": documents,
                                "data_keys_destroyed": keys,
                            }),
                        ))?;
                        Ok(objects)
                    })
                    .await;
                match result {
                    Ok(objects) => {
                        // Keys first (committed), then the objects they sealed.
                        self.documents.delete(&objects).await;
                        destroyed.push(done);
                        progress = true;
                    }
                    // Another process destroyed them first.
                    Err(Step::Nothing) => {}
                    Err(Step::Failed(e)) => return Err(e),
                }
            }
            if i64::try_from(due.len()).unwrap_or(i64::MAX) < batch || !progress {
                return Ok(destroyed);
            }
        }
    }

    /// Purges `what` older than `cutoff`; `rule` (how the cutoff was set) goes into each
    /// batch's audit event.
    async fn purge(
        &self,
        what: Purged,
        now: DateTime<Utc>,
        (cutoff, rule): (NaiveDateTime, serde_json::Value),
    ) -> Result<usize, StoreError> {
        let batch = self.batch();
        let mut total = 0;
        loop {
            let rule = rule.clone();
            let result = self
                .store
                .write(move |tx| {
                    let n = match what {
                        Purged::OtpChallenges => tx.purge_otp_challenges(cutoff, batch)?,
                        Purged::OutboxSent => tx.purge_sent_outbox(cutoff, batch)?,
                        Purged::IdempotencyRecords => {
                            tx.purge_idempotency_records(cutoff, batch)?
                        }
                        Purged::VneidJtis => tx.purge_vneid_jtis(cutoff, batch)?,
                        Purged::RecordingNonces => tx.purge_recording_nonces(cutoff, batch)?,
                    };
                    if n == 0 {
                        return Err(Step::Nothing);
                    }
                    let mut details = rule;
                    details["rows"] = json!(n);
                    details["before"] = json!(cutoff.and_utc().to_rfc3339());
                    tx.audit(NewEvent::new(
                        now,
                        &Actor::System,
                        "retention.purged",
                        "table",
                        what.table(),
                        details,
                    ))?;
                    Ok(n)
                })
                .await;
            match result {
                Ok(n) => {
                    total += n;
                    if i64::try_from(n).unwrap_or(i64::MAX) < batch {
                        return Ok(total);
                    }
                }
                Err(Step::Nothing) => return Ok(total),
                Err(Step::Failed(e)) => return Err(e),
            }
        }
    }
}

fn cutoff(now: DateTime<Utc>, days: u32) -> NaiveDateTime {
    (now - Duration::days(i64::from(days))).naive_utc()
}
