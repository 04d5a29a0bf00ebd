//! Typed settings: defaults, then `ca-enrol.toml` (optional), then `CA_ENROL_*` environment
//! variables (nested keys joined by `__`, e.g. `CA_ENROL_SECURITY__LOGIN_MAX_FAILURES`) and
//! `DATABASE_URL`. Start-up fails on the first bad value, naming the key and what is allowed.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// A value that must never reach a log line: `Debug` and `Display` print a placeholder.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (tests).
    pub listen: String,
    /// Base URL relying parties use (AIA, CRL distribution points, links in messages).
    pub public_base_url: String,
    /// Working directory for the SQLite database, the master key file and outbox files.
    pub data_dir: PathBuf,
    /// `postgres://...` for PostgreSQL; empty means SQLite at `<data_dir>/ca-enrol.db`.
    pub database_url: Secret,
    pub database_pool_size: u32,
    /// Folder with the ceremony config, public CA certificates and `private/` keys.
    pub ca_root: PathBuf,
    /// Passphrase protecting the CA private keys (PKCS#8 encryption); empty: unencrypted.
    pub ca_key_passphrase: Secret,
    /// 64 hex chars (32 bytes). Empty: read or create `<data_dir>/master.key`. All processes
    /// sharing one database must use the same key.
    pub master_key: Secret,
    pub log_format: LogFormat,
    pub security: Security,
    pub enrolment: crate::enrolment::Settings,
    pub verification: crate::verification::Settings,
    pub otp: OtpLimits,
    pub outbox: OutboxSettings,
    pub notify: NotifySettings,
    /// The provider as contracts name it, and the signature image limits.
    pub contract: crate::contract::Settings,
    /// Certificate acceptance: the deadline and the reminder days.
    pub acceptance: crate::acceptance::Settings,
    /// OCSP and CRL serving.
    pub status: crate::status::Settings,
    /// Certificate expiry: the reminder days before notAfter and the job's interval.
    pub expiry: crate::expiry::Settings,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    pub login_max_failures: u32,
    pub login_lockout_minutes: u32,
    pub session_idle_minutes: u32,
    pub session_max_hours: u32,
    /// Mark the pages' cookies `Secure` on every response. They are also marked when the
    /// request arrived over TLS at a proxy (`X-Forwarded-Proto: https`); `public_base_url`
    /// cannot say so, as it is the plain-http base of the certificates' AIA and CRL URLs.
    pub secure_cookies: bool,
}

/// One-time-password rules (`otp::`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OtpLimits {
    pub code_ttl_seconds: u32,
    /// Wrong codes before a challenge locks.
    pub max_attempts: u32,
    pub resend_cooldown_seconds: u32,
    pub max_sends_per_hour: u32,
}

/// The outbox dispatcher (`notify::Dispatcher`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    /// How often to look for messages other processes enqueued (this process's wake at once).
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

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
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

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_base_url: "http://127.0.0.1:8080".into(),
            data_dir: "data".into(),
            database_url: Secret::default(),
            database_pool_size: 8,
            ca_root: "ca-root".into(),
            ca_key_passphrase: Secret::default(),
            master_key: Secret::default(),
            log_format: LogFormat::Text,
            security: Security {
                login_max_failures: 5,
                login_lockout_minutes: 15,
                session_idle_minutes: 15,
                session_max_hours: 12,
                secure_cookies: false,
            },
            enrolment: crate::enrolment::Settings::default(),
            verification: crate::verification::Settings::default(),
            otp: OtpLimits {
                code_ttl_seconds: 300,
                max_attempts: 5,
                resend_cooldown_seconds: 90,
                max_sends_per_hour: 5,
            },
            outbox: OutboxSettings {
                poll_interval_ms: 2000,
                lease_seconds: 120,
                max_attempts: 6,
                backoff_base_seconds: 5,
                backoff_max_seconds: 300,
                batch_size: 20,
            },
            notify: NotifySettings {
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
            },
            contract: crate::contract::Settings::default(),
            acceptance: crate::acceptance::Settings::default(),
            status: crate::status::Settings::default(),
            expiry: crate::expiry::Settings::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(String),
    #[error("configuration key `{key}`: {problem}")]
    Invalid { key: &'static str, problem: String },
}

impl Config {
    /// Loads defaults, then the TOML file (if it exists), then the environment.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        Self::from_figment(
            Figment::from(Serialized::defaults(Config::default()))
                .merge(Toml::file(file))
                .merge(Env::prefixed("CA_ENROL_").split("__"))
                .merge(Env::raw().only(&["DATABASE_URL"])),
        )
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract().map_err(|e| {
            // figment names the key and the source (file or variable); keep its words.
            ConfigError::Parse(e.to_string())
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, problem: &str| ConfigError::Invalid {
            key,
            problem: problem.to_string(),
        };
        self.listen
            .parse::<SocketAddr>()
            .map_err(|_| invalid("listen", "expected IP:PORT, e.g. 127.0.0.1:8080"))?;
        if !(self.public_base_url.starts_with("http://")
            || self.public_base_url.starts_with("https://"))
            || self.public_base_url.ends_with('/')
        {
            return Err(invalid(
                "public_base_url",
                "expected an http:// or https:// URL without a trailing slash",
            ));
        }
        let db = self.database_url.expose();
        if !(db.is_empty() || db.starts_with("postgres://") || db.starts_with("postgresql://")) {
            return Err(invalid(
                "database_url",
                "expected empty (SQLite under data_dir) or a postgres:// URL",
            ));
        }
        if !(1..=256).contains(&self.database_pool_size) {
            return Err(invalid("database_pool_size", "expected 1 to 256"));
        }
        let key = self.master_key.expose();
        if !key.is_empty() && (key.len() != 64 || hex::decode(key).is_err()) {
            return Err(invalid(
                "master_key",
                "expected 64 hexadecimal characters (32 bytes)",
            ));
        }
        let s = &self.security;
        if !(1..=100).contains(&s.login_max_failures) {
            return Err(invalid("security.login_max_failures", "expected 1 to 100"));
        }
        if !(1..=1440).contains(&s.login_lockout_minutes) {
            return Err(invalid(
                "security.login_lockout_minutes",
                "expected 1 to 1440",
            ));
        }
        if !(1..=1440).contains(&s.session_idle_minutes) {
            return Err(invalid(
                "security.session_idle_minutes",
                "expected 1 to 1440",
            ));
        }
        if !(1..=168).contains(&s.session_max_hours) {
            return Err(invalid("security.session_max_hours", "expected 1 to 168"));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.enrolment.max_document_bytes) {
            return Err(invalid(
                "enrolment.max_document_bytes",
                "expected 1024 to 67108864",
            ));
        }
        if !(1..=240).contains(&self.verification.lease_minutes) {
            return Err(invalid("verification.lease_minutes", "expected 1 to 240"));
        }
        if self.verification.max_no_show_requeues > 20 {
            return Err(invalid(
                "verification.max_no_show_requeues",
                "expected 0 to 20",
            ));
        }
        let sig = &self.contract.signature;
        if !(1024..=5 * 1024 * 1024).contains(&sig.max_bytes) {
            return Err(invalid(
                "contract.signature.max_bytes",
                "expected 1024 to 5242880",
            ));
        }
        if sig.min_width == 0 || sig.min_height == 0 {
            return Err(invalid(
                "contract.signature.min_width",
                "expected minimum dimensions of at least 1 pixel",
            ));
        }
        if sig.max_width < sig.min_width || sig.max_height < sig.min_height {
            return Err(invalid(
                "contract.signature.max_width",
                "expected maximum dimensions not below the minimum ones",
            ));
        }
        if self.contract.provider.name.trim().is_empty() {
            return Err(invalid("contract.provider.name", "must not be empty"));
        }
        let acc = &self.acceptance;
        if !(1..=30).contains(&acc.deadline_days) {
            return Err(invalid("acceptance.deadline_days", "expected 1 to 30"));
        }
        if acc
            .reminder_days
            .iter()
            .any(|d| *d == 0 || *d >= acc.deadline_days)
        {
            return Err(invalid(
                "acceptance.reminder_days",
                "expected days after signing, each from 1 to deadline_days - 1",
            ));
        }
        if !(1..=86_400).contains(&acc.job_interval_seconds) {
            return Err(invalid(
                "acceptance.job_interval_seconds",
                "expected 1 to 86400",
            ));
        }
        let exp = &self.expiry;
        if exp.reminder_days.iter().any(|d| !(1..=365).contains(d)) {
            return Err(invalid(
                "expiry.reminder_days",
                "expected days before notAfter, each from 1 to 365",
            ));
        }
        if !(1..=86_400).contains(&exp.job_interval_seconds) {
            return Err(invalid(
                "expiry.job_interval_seconds",
                "expected 1 to 86400",
            ));
        }
        if !(1..=65_536).contains(&self.status.ocsp_cache_mib) {
            return Err(invalid("status.ocsp_cache_mib", "expected 1 to 65536"));
        }
        self.validate_otp_and_delivery()
    }

    fn validate_otp_and_delivery(&self) -> Result<(), ConfigError> {
        let range = |key: &'static str, value: u64, lo: u64, hi: u64| {
            if (lo..=hi).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::Invalid {
                    key,
                    problem: format!("expected {lo} to {hi}"),
                })
            }
        };
        let o = &self.otp;
        range("otp.code_ttl_seconds", o.code_ttl_seconds.into(), 30, 3600)?;
        range("otp.max_attempts", o.max_attempts.into(), 1, 20)?;
        range(
            "otp.resend_cooldown_seconds",
            o.resend_cooldown_seconds.into(),
            0,
            3600,
        )?;
        range(
            "otp.max_sends_per_hour",
            o.max_sends_per_hour.into(),
            1,
            100,
        )?;
        let b = &self.outbox;
        range("outbox.poll_interval_ms", b.poll_interval_ms, 10, 600_000)?;
        range("outbox.max_attempts", b.max_attempts.into(), 1, 100)?;
        range(
            "outbox.backoff_base_seconds",
            b.backoff_base_seconds.into(),
            1,
            86_400,
        )?;
        range(
            "outbox.backoff_max_seconds",
            b.backoff_max_seconds.into(),
            b.backoff_base_seconds.into(),
            604_800,
        )?;
        range("outbox.batch_size", b.batch_size.into(), 1, 1000)?;
        let e = &self.notify.email;
        let s = &self.notify.sms;
        range(
            "notify.email.timeout_seconds",
            e.timeout_seconds.into(),
            1,
            600,
        )?;
        range(
            "notify.sms.timeout_seconds",
            s.timeout_seconds.into(),
            1,
            600,
        )?;
        // A claim that ran out mid-delivery would let a second dispatcher send the message again.
        let longest = e.timeout_seconds.max(s.timeout_seconds);
        range(
            "outbox.lease_seconds",
            b.lease_seconds.into(),
            u64::from(longest) * 2,
            86_400,
        )?;
        if e.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::Invalid {
                key: "notify.email.from",
                problem: "expected a mailbox, e.g. `CA Enrol <no-reply@example.vn>`".into(),
            });
        }
        if e.backend == EmailBackend::Smtp {
            if e.smtp_host.trim().is_empty() {
                return Err(ConfigError::Invalid {
                    key: "notify.email.smtp_host",
                    problem: "required when notify.email.backend is smtp".into(),
                });
            }
            range("notify.email.smtp_port", e.smtp_port.into(), 1, 65_535)?;
        }
        if s.backend == SmsBackend::Http {
            if !(s.http_url.starts_with("http://") || s.http_url.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    key: "notify.sms.http_url",
                    problem: "expected an http:// or https:// URL when notify.sms.backend is http"
                        .into(),
                });
            }
            let template_ok = serde_json::from_str::<serde_json::Value>(&s.http_body_template)
                .map(|v| v.is_object())
                .unwrap_or(false);
            if !template_ok
                || !s.http_body_template.contains("{{to}}")
                || !s.http_body_template.contains("{{text}}")
            {
                return Err(ConfigError::Invalid {
                    key: "notify.sms.http_body_template",
                    problem: "expected a JSON object whose strings use {{to}} and {{text}}".into(),
                });
            }
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> SocketAddr {
        // validate() proved it parses; fall back to the default rather than panic.
        self.listen
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    pub fn is_postgres(&self) -> bool {
        !self.database_url.is_empty()
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("ca-enrol.db")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut fig =
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(toml));
        for (k, v) in env {
            fig = fig.merge((*k, *v));
        }
        Config::from_figment(fig)
    }

    #[test]
    fn defaults_listen_on_loopback_8080_with_sqlite() {
        let c = load("", &[]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert!(!c.is_postgres());
    }

    #[test]
    fn bad_listen_address_names_the_key() {
        let e = load("listen = \"localhost\"", &[]).unwrap_err().to_string();
        assert!(e.contains("`listen`"), "{e}");
        assert!(e.contains("IP:PORT"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = load("database_pool_size = \"many\"", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("database_pool_size"), "{e}");
    }

    #[test]
    fn unknown_key_is_refused() {
        let e = load("listne = \"127.0.0.1:1\"", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("listne"), "{e}");
    }

    #[test]
    fn routing_policy_is_configurable_and_checked() {
        let c = load("[enrolment.routing]\nvneid = \"video_call\"\n", &[]).unwrap();
        assert_eq!(
            c.enrolment.routing.vneid,
            crate::enrolment::Route::VideoCall
        );
        assert_eq!(
            c.enrolment.routing.app_ekyc,
            crate::enrolment::Route::VideoCallUnlessPassed
        );
        let e = load("[enrolment.routing]\ncounter = \"maybe\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("counter"), "{e}");
        let e = load("[verification]\nlease_minutes = 0\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`verification.lease_minutes`"), "{e}");
    }

    #[test]
    fn mysql_url_is_refused() {
        let e = load("", &[("database_url", "mysql://x")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`database_url`"), "{e}");
    }

    #[test]
    fn http_sms_without_a_url_names_the_key() {
        let e = load("[notify.sms]\nbackend = \"http\"", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`notify.sms.http_url`"), "{e}");
    }

    #[test]
    fn sms_body_template_must_be_json_with_to_and_text() {
        let toml = "[notify.sms]\nbackend = \"http\"\nhttp_url = \"http://gw\"\n\
                    http_body_template = '{\"to\": \"{{to}}\"}'";
        let e = load(toml, &[]).unwrap_err().to_string();
        assert!(e.contains("`notify.sms.http_body_template`"), "{e}");
    }

    #[test]
    fn a_lease_shorter_than_a_delivery_is_refused() {
        let e = load("[outbox]\nlease_seconds = 10", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`outbox.lease_seconds`"), "{e}");
    }

    #[test]
    fn otp_limits_are_checked_and_name_the_key() {
        let e = load("[otp]\nmax_attempts = 0", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`otp.max_attempts`"), "{e}");
        let e = load("", &[("notify.email.from", "not a mailbox")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`notify.email.from`"), "{e}");
    }

    #[test]
    fn expiry_reminders_are_configurable_and_checked() {
        let c = load(
            "[expiry]\nreminder_days = [60, 14, 1]\njob_interval_seconds = 600",
            &[],
        )
        .unwrap();
        assert_eq!(c.expiry.reminder_days, vec![60, 14, 1]);
        let e = load(
            "[expiry]\nreminder_days = [0]\njob_interval_seconds = 600",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`expiry.reminder_days`"), "{e}");
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        let c = load("master_key = \"00\"", &[]).unwrap_err().to_string();
        assert!(!c.contains("00\""), "{c}");
    }
}
