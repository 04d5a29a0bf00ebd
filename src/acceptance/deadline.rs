//! The deadline job: reminders before the deadline, then the certificate revoked and the
//! enrolment `expired` (the same kind of job as `expiry/`).

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::decide::{close, Closing};
use super::{unexpected, Acceptance, AcceptanceError, Record};
use crate::audit::{Actor, NewEvent};
use crate::enrolment::status::Event;
use crate::notify::template::render;
use crate::notify::{Outbox, SubscriberNotice};
use crate::store::Tx;

/// What one run of the deadline job did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeadlineRun {
    pub reminded: Vec<String>,
    pub revoked: Vec<String>,
}

impl Acceptance {
    /// One run of the deadline job: reminders for certificates awaiting acceptance past each
    /// reminder day, revocation past the deadline. Safe to run from several processes at
    /// once: every change is conditional and a lost race is skipped.
    pub async fn run_deadline(&self) -> Result<DeadlineRun, AcceptanceError> {
        let now = self.clock.now();
        let first = self
            .settings
            .reminder_days
            .iter()
            .copied()
            .chain([self.settings.deadline_days])
            .min()
            .unwrap_or(self.settings.deadline_days);
        let cutoff = (now - Duration::days(i64::from(first))).naive_utc();
        let due = self
            .store
            .read(move |tx| tx.pending_acceptance_signed_before(cutoff))
            .await?;
        let mut run = DeadlineRun::default();
        for serial in due {
            let certificate = self.certificate(&serial).await?;
            let Some(signed_at) = certificate.signed_at.map(|t| t.and_utc()) else {
                continue;
            };
            // Made before the transaction below, so the reminder names a stored record.
            let record = match self.record(&serial).await {
                Ok(r) => r,
                Err(AcceptanceError::NotPending { .. }) => continue,
                Err(e) => return Err(e),
            };
            let deadline = self.deadline(signed_at);
            if now >= deadline {
                let actor = Actor::System;
                let result = self
                    .store
                    .write(move |tx| {
                        close(
                            tx,
                            Closing {
                                serial: &record.serial,
                                status: "expired",
                                event: Event::AcceptanceExpired,
                                action: "certificate.acceptance_expired",
                                reason: "not accepted before the deadline",
                            },
                            now,
                            &actor,
                        )
                    })
                    .await;
                match result {
                    Ok(_) => run.revoked.push(serial),
                    Err(AcceptanceError::NotPending { .. }) => {}
                    Err(e) => return Err(e),
                }
                continue;
            }
            let reached = self
                .settings
                .reminder_days
                .iter()
                .filter(|d| signed_at + Duration::days(i64::from(**d)) <= now)
                .count();
            let reached = i32::try_from(reached).map_err(unexpected)?;
            if record.reminders_sent >= reached {
                continue;
            }
            let outbox = self.outbox.clone();
            let seen = record.reminders_sent;
            let result = self
                .store
                .write(move |tx| remind(tx, &outbox, &record, seen, reached, deadline, now))
                .await;
            match result {
                Ok(()) => run.reminded.push(serial),
                Err(AcceptanceError::NotPending { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(run)
    }
}

const REMINDER_SMS: &str = include_str!("../../templates/acceptance/reminder_sms.txt");

const REMINDER_EMAIL_SUBJECT: &str =
    include_str!("../../templates/acceptance/reminder_email_subject.txt");

const REMINDER_EMAIL_BODY: &str =
    include_str!("../../templates/acceptance/reminder_email_body.txt");

/// Counts the reminder (conditionally) and enqueues it by SMS and, when known, e-mail.
fn remind(
    tx: &mut Tx<'_>,
    outbox: &Outbox,
    record: &Record,
    seen: i32,
    reached: i32,
    deadline: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), AcceptanceError> {
    tx.audit(NewEvent::new(
        now,
        &Actor::System,
        "acceptance.reminder_sent",
        "certificate",
        &record.serial,
        json!({"reminder": reached, "deadline": crate::audit::format_time(&deadline)}),
    ))?;
    if !tx.count_acceptance_reminder(&record.serial, seen, reached)? {
        return Err(AcceptanceError::NotPending {
            status: "reminded".into(),
        });
    }
    let enrolment = tx
        .enrolment_by_id(&record.enrolment_id)?
        .ok_or_else(|| unexpected("certificate without its enrolment"))?;
    let contract_number = tx
        .contract_by_id(&record.contract_id)?
        .map(|c| c.number)
        .unwrap_or_default();
    let deadline_text = crate::vn::time_date(deadline);
    let vars = [
        ("serial", record.serial.as_str()),
        ("deadline", deadline_text.as_str()),
        ("name", enrolment.full_name.as_str()),
        ("contract_number", contract_number.as_str()),
    ];
    outbox
        .notify_subscriber(
            tx,
            now,
            SubscriberNotice {
                kind: "acceptance_reminder",
                phone: &enrolment.phone,
                email: enrolment.email.as_deref(),
                sms: render(REMINDER_SMS, &vars),
                email_subject: render(REMINDER_EMAIL_SUBJECT, &vars),
                email_body: render(REMINDER_EMAIL_BODY, &vars),
                not_after: Some(deadline),
            },
        )
        .map_err(unexpected)?;
    Ok(())
}
