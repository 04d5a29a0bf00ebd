//! Expiry: a scheduled job marks certificates past their notAfter `expired` and reminds
//! subscribers before (by default 30 and 7 days ahead) by SMS and, when known, e-mail.
//!
//! Only `active` and `suspended` certificates expire (revoked is final and stays revoked; a
//! certificate never accepted was revoked by the acceptance deadline long before). OCSP keeps
//! answering in RFC 6960's sense, "not revoked" (good) unless a revocation or hold was recorded,
//! and the CRL agrees: it lists a certificate that expired on hold and not one that expired
//! valid (`status/`).
//!
//! Reminders go to `active` certificates only. Each is sent once per certificate however many
//! processes run the job: the `expiry_reminders` row is written in the transaction that
//! enqueues the messages, and its primary key refuses a second one. A run sends the most
//! urgent reminder due and never an earlier one afterwards, so a job that was down for weeks
//! sends one 7-day reminder, not a late 30-day one as well.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{Actor, NewEvent};
use crate::clock::Clock;
use crate::notify::template::render;
use crate::notify::{Outbox, SubscriberNotice};
use crate::settings::{range, Invalid};
use crate::status::{expire, CertificateStatus, Move, StatusError};
use crate::store::{EndingCertificate, Store, StoreError, Tx};

/// Certificates handled per query; the job loops until none are left.
const BATCH: i64 = 500;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Days before notAfter on which a reminder is sent.
    pub reminder_days: Vec<u32>,
    /// How often the job runs, in seconds.
    pub job_interval_seconds: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            reminder_days: vec![30, 7],
            job_interval_seconds: 3600,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.reminder_days.iter().any(|d| !(1..=365).contains(d)) {
            return Err(Invalid::new(
                "expiry.reminder_days",
                "expected days before notAfter, each from 1 to 365",
            ));
        }
        range(
            "expiry.job_interval_seconds",
            self.job_interval_seconds,
            1,
            86_400,
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExpiryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("expiry: {0}")]
    Unexpected(String),
}

impl From<StatusError> for ExpiryError {
    fn from(e: StatusError) -> Self {
        match e {
            StatusError::Store(s) => ExpiryError::Store(s),
            other => ExpiryError::Unexpected(other.to_string()),
        }
    }
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpiryRun {
    pub expired: Vec<String>,
    /// (serial, days before notAfter) of each reminder sent.
    pub reminded: Vec<(String, u32)>,
}

/// A reminder lost to another process, or a certificate that changed meanwhile.
enum Skip {
    Skipped,
    Failed(ExpiryError),
}

impl From<StoreError> for Skip {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => Skip::Skipped,
            other => Skip::Failed(other.into()),
        }
    }
}

const REMINDER_SMS: &str = include_str!("../../templates/expiry/reminder_sms.txt");
const REMINDER_EMAIL_SUBJECT: &str =
    include_str!("../../templates/expiry/reminder_email_subject.txt");
const REMINDER_EMAIL_BODY: &str = include_str!("../../templates/expiry/reminder_email_body.txt");

#[derive(Clone)]
pub struct Expiry {
    store: Store,
    outbox: Outbox,
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
}

impl Expiry {
    pub fn new(store: Store, outbox: Outbox, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        Self {
            store,
            outbox,
            clock,
            settings: Arc::new(settings),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// One run: expires what is past notAfter, then sends the reminders due. Safe to run from
    /// several processes at once.
    pub async fn run(&self) -> Result<ExpiryRun, ExpiryError> {
        let now = self.clock.now();
        let mut run = ExpiryRun::default();
        loop {
            let due = self
                .store
                .read(move |tx| tx.certificates_ended(Move::Expire.from(), now.naive_utc(), BATCH))
                .await?;
            let mut progressed = false;
            for c in &due {
                let serial = c.serial.clone();
                match self.store.write(move |tx| expire(tx, now, &serial)).await {
                    Ok(()) => {
                        run.expired.push(c.serial.clone());
                        progressed = true;
                    }
                    Err(StatusError::Concurrent | StatusError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            // Every row read is now expired, here or by another process, so the next read
            // moves on; a batch done entirely elsewhere leaves the rest to that process.
            if (due.len() as i64) < BATCH || !progressed {
                break;
            }
        }
        let mut days = self.settings.reminder_days.clone();
        days.sort_unstable();
        days.dedup();
        // Most urgent first: a certificate reminded at 7 days is not due a 30-day reminder.
        for d in days {
            let d_i32 = i32::try_from(d).map_err(|e| ExpiryError::Unexpected(e.to_string()))?;
            let before = (now + Duration::days(i64::from(d))).naive_utc();
            loop {
                let due = self
                    .store
                    .read(move |tx| {
                        tx.certificates_due_reminder(now.naive_utc(), before, d_i32, BATCH)
                    })
                    .await?;
                let mut progressed = false;
                for c in &due {
                    let (outbox, c2) = (self.outbox.clone(), c.clone());
                    let result = self
                        .store
                        .write(move |tx| remind(tx, &outbox, &c2, d_i32, now))
                        .await;
                    match result {
                        Ok(()) => {
                            run.reminded.push((c.serial.clone(), d));
                            progressed = true;
                        }
                        Err(Skip::Skipped) => {}
                        Err(Skip::Failed(e)) => return Err(e),
                    }
                }
                // Each row read got its reminder (here or elsewhere) or left `active`.
                if (due.len() as i64) < BATCH || !progressed {
                    break;
                }
            }
        }
        Ok(run)
    }
}

/// Records the reminder (refused when another process did) and enqueues it by SMS and, when
/// known, e-mail, audited.
fn remind(
    tx: &mut Tx<'_>,
    outbox: &Outbox,
    c: &EndingCertificate,
    days_before: i32,
    now: DateTime<Utc>,
) -> Result<(), Skip> {
    let not_after = c.not_after.and_utc();
    tx.audit(NewEvent::new(
        now,
        &Actor::System,
        "certificate.expiry_reminder_sent",
        "certificate",
        &c.serial,
        json!({
            "days_before": days_before,
            "not_after": crate::audit::format_time(&not_after),
        }),
    ))?;
    tx.insert_expiry_reminder(&c.serial, days_before, now.naive_utc())?;
    let certificate = tx.certificate(&c.serial)?.ok_or(Skip::Skipped)?;
    if certificate.status != CertificateStatus::Active {
        return Err(Skip::Skipped);
    }
    let enrolment = tx
        .enrolment_by_id(&c.enrolment_id)?
        .ok_or_else(|| unexpected("certificate without its enrolment"))?;
    let texts = Texts::new(
        &c.serial,
        &enrolment.full_name,
        &certificate.package_code,
        not_after,
        now,
    );
    outbox
        .notify_subscriber(
            tx,
            now,
            SubscriberNotice {
                kind: "expiry_reminder",
                phone: &enrolment.phone,
                email: enrolment.email.as_deref(),
                sms: texts.sms(),
                email_subject: texts.email_subject(),
                email_body: texts.email_body(),
                not_after: Some(not_after),
            },
        )
        .map_err(unexpected)?;
    Ok(())
}

fn unexpected(e: impl std::fmt::Display) -> Skip {
    Skip::Failed(ExpiryError::Unexpected(e.to_string()))
}

/// The reminder's texts, in Vietnamese (SMS without diacritics: one GSM-7 part).
struct Texts {
    vars: Vec<(&'static str, String)>,
}

impl Texts {
    fn new(
        serial: &str,
        name: &str,
        package: &str,
        not_after: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Self {
        // Days left, rounded up: "còn 30 ngày" until the 30th day before is over.
        let seconds = (not_after - now).num_seconds().max(0);
        let days = (seconds + 86_399) / 86_400;
        Self {
            vars: vec![
                ("serial", serial.to_string()),
                ("name", name.to_string()),
                ("package", package.to_string()),
                ("expires", crate::vn::time_date(not_after)),
                ("days", days.to_string()),
            ],
        }
    }

    fn render(&self, template: &str) -> String {
        let vars: Vec<(&str, &str)> = self.vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        render(template, &vars)
    }

    fn sms(&self) -> String {
        self.render(REMINDER_SMS)
    }

    fn email_subject(&self) -> String {
        self.render(REMINDER_EMAIL_SUBJECT)
    }

    fn email_body(&self) -> String {
        self.render(REMINDER_EMAIL_BODY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts() -> Texts {
        let now = DateTime::parse_from_rfc3339("2026-12-01T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let not_after = now + Duration::days(29) + Duration::hours(20);
        Texts::new(&"5a".repeat(20), "Nguyễn Văn An", "PS12", not_after, now)
    }

    #[test]
    fn the_sms_fits_one_gsm7_part_and_names_serial_date_and_days_left() {
        let sms = texts().sms();
        assert!(sms.is_ascii(), "{sms}");
        assert!(sms.chars().count() <= 160, "{} chars: {sms}", sms.len());
        assert!(sms.contains(&"5a".repeat(20)), "{sms}");
        assert!(sms.contains("06:00 31/12/2026"), "Vietnam time: {sms}");
        assert!(sms.contains("con 30 ngay"), "{sms}");
        assert!(!sms.contains("{{"), "{sms}");
    }

    #[test]
    fn the_e_mail_is_vietnamese_and_fills_every_placeholder() {
        let t = texts();
        let (subject, body) = (t.email_subject(), t.email_body());
        assert!(
            subject.contains("sắp hết hạn") && subject.contains("30 ngày"),
            "{subject}"
        );
        assert!(
            body.contains("Nguyễn Văn An") && body.contains("PS12"),
            "{body}"
        );
        assert!(body.contains("gia hạn"), "{body}");
        assert!(!subject.contains("{{") && !body.contains("{{"), "{body}");
    }
}
