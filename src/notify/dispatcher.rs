//! The dispatcher: claims due outbox messages, delivers them, records the outcome.
//!
//! Several server processes may run one each. A message is claimed with a lease (see
//! `Store::claim_outbox`) and its outcome is recorded only while that claim holds, so no two
//! dispatchers deliver a message at the same time. The lease outlives the longest delivery
//! attempt (checked in config), and a batch is delivered concurrently so the whole batch fits
//! in one attempt's time.
//!
//! "Exactly once as far as the gateway allows": if a process dies after the gateway accepted
//! a message but before the outcome was recorded, the lease runs out and the message is sent
//! again. That window cannot be closed from our side; what we can do is make the repeat
//! recognisable: every attempt carries the outbox id, as the HTTP gateway's `Idempotency-Key`
//! and as the e-mail's `Message-ID`, so a gateway that deduplicates sends it once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::task::JoinSet;

use super::{
    AttachedDocument, Attachment, DeliveryError, Notifier, NotifyError, Outbox, OutboxSettings,
};
use crate::audit::{Actor, NewEvent};
use crate::clock::Clock;
use crate::store::{OutboxRow, OutboxUpdate, Store, StoreError};

#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    outbox: Outbox,
    notifier: Notifier,
    clock: Arc<dyn Clock>,
    settings: OutboxSettings,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        outbox: Outbox,
        notifier: Notifier,
        clock: Arc<dyn Clock>,
        settings: OutboxSettings,
    ) -> Self {
        Self {
            store,
            outbox,
            notifier,
            clock,
            settings,
        }
    }

    /// Runs until the runtime stops: a batch whenever this process enqueues a message a person
    /// waits for (a code), and otherwise every `poll_interval_ms` for notices, other
    /// processes' messages and due retries.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let wake = self.outbox.wake_signal();
            let poll = Duration::from_millis(self.settings.poll_interval_ms);
            loop {
                match self.run_once().await {
                    // A full batch: more may be waiting.
                    Ok(n) if n >= self.batch_size() => continue,
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "outbox dispatcher"),
                }
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                }
            }
        })
    }

    fn batch_size(&self) -> usize {
        usize::try_from(self.settings.batch_size).unwrap_or(1)
    }

    /// Claims one batch of due messages, delivers them and records each outcome. Returns how
    /// many were claimed.
    pub async fn run_once(&self) -> Result<usize, NotifyError> {
        let now = self.clock.now();
        let lease = chrono::Duration::seconds(self.settings.lease_seconds.into());
        let token = uuid::Uuid::new_v4().to_string();
        let rows = self
            .store
            .claim_outbox(
                now.naive_utc(),
                (now + lease).naive_utc(),
                token.clone(),
                self.settings.batch_size.into(),
            )
            .await?;
        let claimed = rows.len();
        let mut attempts = JoinSet::new();
        for row in rows {
            let this = self.clone();
            attempts.spawn(async move {
                let outcome = this.attempt(&row).await;
                (row, outcome)
            });
        }
        let mut outcomes = Vec::with_capacity(claimed);
        while let Some(joined) = attempts.join_next().await {
            match joined {
                Ok(done) => outcomes.push(done),
                // Its message stays claimed until the lease runs out, then is tried again.
                Err(e) => tracing::error!(error = %e, "outbox: delivery task"),
            }
        }
        for lost in self.record(outcomes, &token).await? {
            tracing::warn!(message_id = %lost, "outbox claim ran out before the outcome was recorded");
        }
        Ok(claimed)
    }

    /// One delivery attempt; `Ok` when the back end accepted the message.
    async fn attempt(&self, row: &OutboxRow) -> Result<(), DeliveryError> {
        let now = self.clock.now();
        if let Some(not_after) = row.not_after {
            if now.naive_utc() > not_after {
                return Err(DeliveryError::permanent(
                    "expired before it could be delivered",
                ));
            }
        }
        let (mut delivery, attached) = self
            .outbox
            .open(row)
            .map_err(|e| DeliveryError::permanent(format!("payload unreadable: {e}")))?;
        if let Some(doc) = attached {
            delivery.attachment = Some(self.attachment(doc).await?);
        }
        self.notifier.deliver(&delivery).await
    }

    /// Reads an attached document for delivery. A document no longer stored (destroyed after
    /// the message was written) fails the message rather than sending it without: its text
    /// announces the attachment. The `outbox.failed` event records the reason.
    async fn attachment(&self, doc: AttachedDocument) -> Result<Attachment, DeliveryError> {
        let (kind, subject) = (doc.kind.clone(), doc.subject.clone());
        let row = self
            .store
            .read(move |tx| tx.pdf_document(&kind, &subject))
            .await
            .map_err(|e: StoreError| DeliveryError::transient(format!("attached document: {e}")))?;
        match row {
            Some(row) => Ok(Attachment {
                filename: doc.filename,
                content_type: "application/pdf",
                bytes: row.document,
            }),
            None => Err(DeliveryError::permanent(format!(
                "attached document no longer stored: {} {}",
                doc.kind, doc.subject
            ))),
        }
    }

    /// Exponential: base, 2×base, 4×base, … capped at the maximum.
    fn backoff(&self, attempts: i32) -> chrono::Duration {
        let base = i64::from(self.settings.backoff_base_seconds);
        let max = i64::from(self.settings.backoff_max_seconds);
        let doublings = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(32);
        let seconds = base.saturating_mul(1_i64 << doublings).min(max);
        chrono::Duration::seconds(seconds)
    }

    /// Records the batch's outcomes in one write transaction (one commit for the batch, not
    /// one per message), each message in a savepoint of its own. Returns the messages whose
    /// claim was lost meanwhile (the lease ran out and another dispatcher took them): nothing
    /// is recorded for those, the others are.
    async fn record(
        &self,
        outcomes: Vec<(OutboxRow, Result<(), DeliveryError>)>,
        token: &str,
    ) -> Result<Vec<String>, NotifyError> {
        if outcomes.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let max = i32::try_from(self.settings.max_attempts).unwrap_or(i32::MAX);
        let finished: Vec<_> = outcomes
            .into_iter()
            .map(|(row, outcome)| {
                let attempts = row.attempts.saturating_add(1);
                let (update, action) = match outcome {
                    Ok(()) => (
                        OutboxUpdate::Sent {
                            attempts,
                            at: now.naive_utc(),
                        },
                        "outbox.sent",
                    ),
                    Err(e) if e.permanent || attempts >= max => (
                        OutboxUpdate::Failed {
                            attempts,
                            error: e.reason,
                        },
                        "outbox.failed",
                    ),
                    Err(e) => (
                        OutboxUpdate::Retry {
                            attempts,
                            next_attempt_at: (now + self.backoff(attempts)).naive_utc(),
                            error: e.reason,
                        },
                        "outbox.retry_scheduled",
                    ),
                };
                match &update {
                    OutboxUpdate::Sent { .. } => {}
                    OutboxUpdate::Retry { error, .. } | OutboxUpdate::Failed { error, .. } => {
                        tracing::warn!(message_id = %row.id, attempts, error = %error, action, "outbox delivery failed");
                    }
                }
                let details = event_details(&row, &update);
                (row.id, update, action, details)
            })
            .collect();
        let token = token.to_string();
        self.store
            .write(move |tx| {
                let total = finished.len();
                let mut lost = Vec::new();
                for (id, update, action, details) in finished {
                    let recorded = tx.savepoint(|tx| {
                        if !tx.finish_outbox_attempt(&id, &token, &update)? {
                            return Err(NotifyError::ClaimLost(id.clone()));
                        }
                        tx.audit(NewEvent::new(
                            now,
                            &Actor::System,
                            action,
                            "outbox_message",
                            id.clone(),
                            details,
                        ))?;
                        Ok(())
                    });
                    match recorded {
                        Ok(()) => {}
                        Err(NotifyError::ClaimLost(id)) => lost.push(id),
                        Err(e) => return Err(e),
                    }
                }
                if lost.len() == total {
                    // Nothing recorded, so nothing to commit.
                    return Err(NotifyError::ClaimsLost(lost));
                }
                Ok(lost)
            })
            .await
            .or_else(|e| match e {
                NotifyError::ClaimsLost(lost) => Ok(lost),
                e => Err(e),
            })
    }
}

fn event_details(row: &OutboxRow, update: &OutboxUpdate) -> serde_json::Value {
    let fmt = |t: chrono::NaiveDateTime| {
        crate::audit::format_time(&DateTime::<Utc>::from_naive_utc_and_offset(t, Utc))
    };
    let mut details = json!({
        "channel": row.channel,
        "kind": row.kind,
        "to": row.masked_destination,
    });
    match update {
        OutboxUpdate::Sent { attempts, .. } => {
            details["attempts"] = json!(attempts);
        }
        OutboxUpdate::Retry {
            attempts,
            next_attempt_at,
            error,
        } => {
            details["attempts"] = json!(attempts);
            details["next_attempt_at"] = json!(fmt(*next_attempt_at));
            details["error"] = json!(error);
        }
        OutboxUpdate::Failed { attempts, error } => {
            details["attempts"] = json!(attempts);
            details["error"] = json!(error);
        }
    }
    details
}
