//! The `[notify]` section (the e-mail and SMS back ends) and the `[outbox]` section (the
//! dispatcher that delivers through them).

use serde::{Deserialize, Serialize};

use crate::settings::{range, Invalid, Secret};

/// `[notify]`: where e-mail and SMS go.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub email: EmailSettings,
    pub sms: SmsSettings,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EmailBackend {
    /// Each message written to `<data_dir>/outbox/` (development).
    File,
    Smtp,
    /// Kept in process memory (tests).
    Memory,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SmsBackend {
    /// Each message written to `<data_dir>/outbox/` (development).
    File,
    Http,
    /// Kept in process memory (tests).
    Memory,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain text: only for a local relay.
    None,
    Starttls,
    /// Implicit TLS (SMTPS, usually port 465).
    Tls,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    pub backend: EmailBackend,
    /// `From:` mailbox, e.g. `CA Enrol <no-reply@example.vn>`.
    pub from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTls,
    /// Empty: no authentication.
    pub smtp_username: String,
    pub smtp_password: Secret,
    pub timeout_seconds: u32,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    pub backend: SmsBackend,
    /// The gateway's send endpoint (http backend).
    pub http_url: String,
    /// Header carrying the credential, e.g. `Authorization`; empty: none.
    pub http_auth_header: String,
    /// Its value, e.g. `Bearer …`.
    pub http_auth_value: Secret,
    /// JSON body; string values may contain `{{to}}` (E.164), `{{text}}` and `{{message_id}}`.
    pub http_body_template: String,
    pub timeout_seconds: u32,
}

/// `[outbox]`: the dispatcher (`notify::Dispatcher`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    /// How often to look for messages other processes enqueued and for due retries; also
    /// the longest a notice waits (this process's codes wake the dispatcher at once).
    pub poll_interval_ms: u64,
    /// How long a claim on a message holds; must outlive a delivery attempt.
    pub lease_seconds: u32,
    /// Delivery attempts before a message is marked `failed`.
    pub max_attempts: u32,
    /// Wait after the first failure; doubles after each further one, up to the maximum.
    pub backoff_base_seconds: u32,
    pub backoff_max_seconds: u32,
    pub batch_size: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            email: EmailSettings {
                backend: EmailBackend::File,
                from: "CA Enrol <no-reply@ca-enrol.localhost>".into(),
                smtp_host: "127.0.0.1".into(),
                smtp_port: 25,
                smtp_tls: SmtpTls::Starttls,
                smtp_username: String::new(),
                smtp_password: Secret::default(),
                timeout_seconds: 30,
            },
            sms: SmsSettings {
                backend: SmsBackend::File,
                http_url: String::new(),
                http_auth_header: "Authorization".into(),
                http_auth_value: Secret::default(),
                http_body_template:
                    r#"{"to": "{{to}}", "text": "{{text}}", "id": "{{message_id}}"}"#.into(),
                timeout_seconds: 15,
            },
        }
    }
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            poll_interval_ms: 2000,
            lease_seconds: 120,
            max_attempts: 6,
            backoff_base_seconds: 5,
            backoff_max_seconds: 300,
            batch_size: 20,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), Invalid> {
        let (e, s) = (&self.email, &self.sms);
        range("notify.email.timeout_seconds", e.timeout_seconds, 1, 600)?;
        range("notify.sms.timeout_seconds", s.timeout_seconds, 1, 600)?;
        if e.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(Invalid::new(
                "notify.email.from",
                "expected a mailbox, e.g. `CA Enrol <no-reply@example.vn>`",
            ));
        }
        if e.backend == EmailBackend::Smtp {
            if e.smtp_host.trim().is_empty() {
                return Err(Invalid::new(
                    "notify.email.smtp_host",
                    "required when notify.email.backend is smtp",
                ));
            }
            range("notify.email.smtp_port", e.smtp_port, 1, 65_535)?;
        }
        if s.backend == SmsBackend::Http {
            if !(s.http_url.starts_with("http://") || s.http_url.starts_with("https://")) {
                return Err(Invalid::new(
                    "notify.sms.http_url",
                    "expected an http:// or https:// URL when notify.sms.backend is http",
                ));
            }
            let template_ok = serde_json::from_str::<serde_json::Value>(&s.http_body_template)
                .map(|v| v.is_object())
                .unwrap_or(false);
            if !template_ok
                || !s.http_body_template.contains("{{to}}")
                || !s.http_body_template.contains("{{text}}")
            {
                return Err(Invalid::new(
                    "notify.sms.http_body_template",
                    "expected a JSON object whose strings use {{to}} and {{text}}",
                ));
            }
        }
        Ok(())
    }

    /// The longest a delivery attempt may take, on either channel.
    pub fn longest_timeout_seconds(&self) -> u32 {
        self.email.timeout_seconds.max(self.sms.timeout_seconds)
    }
}

impl OutboxSettings {
    /// Checked against the delivery settings the dispatcher delivers through.
    pub fn validate(&self, delivery: &Settings) -> Result<(), Invalid> {
        range(
            "outbox.poll_interval_ms",
            self.poll_interval_ms,
            10,
            600_000,
        )?;
        range("outbox.max_attempts", self.max_attempts, 1, 100)?;
        range(
            "outbox.backoff_base_seconds",
            self.backoff_base_seconds,
            1,
            86_400,
        )?;
        range(
            "outbox.backoff_max_seconds",
            self.backoff_max_seconds,
            self.backoff_base_seconds.into(),
            604_800,
        )?;
        range("outbox.batch_size", self.batch_size, 1, 1000)?;
        // A claim that ran out mid-delivery would let a second dispatcher send the message again.
        range(
            "outbox.lease_seconds",
            self.lease_seconds,
            u64::from(delivery.longest_timeout_seconds()) * 2,
            86_400,
        )
    }
}
