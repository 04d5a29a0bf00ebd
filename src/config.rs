//! Typed settings: defaults, then `ca-enrol.toml` (optional), then `CA_ENROL_*` environment
//! variables (nested keys joined by `__`, e.g. `CA_ENROL_SECURITY__LOGIN_MAX_FAILURES`) and
//! `DATABASE_URL`. Start-up fails on the first bad value, naming the key and what is allowed.
//!
//! Each section is the owning module's `Settings`, with its defaults and its `validate()`;
//! this file only puts them under their keys and checks the process-wide values.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::settings::{range, Invalid, Secret};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `development` (documents watermarked, sample provider data) or `production` (start-up
    /// refused until the provider's identity is set).
    pub environment: crate::contract::Environment,
    /// Address to listen on; port 0 picks a free port (tests).
    pub listen: String,
    /// Base URL relying parties use (AIA, CRL distribution points, links in messages).
    pub public_base_url: String,
    /// Working directory for the SQLite database, the master key file and outbox files.
    pub data_dir: PathBuf,
    /// `postgres://...` for PostgreSQL; empty means SQLite at `<data_dir>/ca-enrol.db`.
    pub database_url: Secret,
    pub database_pool_size: u32,
    /// How long a request waits for a database connection while connecting fails, before it
    /// answers 503 `database_unavailable`; also bounds the pool's reconnect backoff (half of
    /// it). A pool that is only busy is waited for longer.
    pub database_acquire_timeout_ms: u32,
    /// Folder with the ceremony config, public CA certificates and `private/` keys.
    pub ca_root: PathBuf,
    /// Passphrase protecting the CA private keys (PKCS#8 encryption); empty: unencrypted.
    pub ca_key_passphrase: Secret,
    /// Where the CA keys live: files (the default) or a PKCS#11 token.
    pub ca: crate::ca_settings::Settings,
    /// 64 hex chars (32 bytes). Empty: read or create `<data_dir>/master.key`. All processes
    /// sharing one database must use the same key.
    pub master_key: Secret,
    pub log_format: LogFormat,
    /// Operators' sign-in and sessions.
    pub security: crate::operators::Settings,
    pub enrolment: crate::enrolment::Settings,
    pub verification: crate::verification::Settings,
    pub otp: crate::otp::Settings,
    /// The dispatcher delivering the outbox through `notify`.
    pub outbox: crate::notify::OutboxSettings,
    /// E-mail and SMS back ends.
    pub notify: crate::notify::Settings,
    /// The provider as contracts name it, and the signature image limits.
    pub contract: crate::contract::Settings,
    /// Certificate acceptance: the deadline and the reminder days.
    pub acceptance: crate::acceptance::Settings,
    /// OCSP and CRL serving.
    pub status: crate::status::Settings,
    /// Certificate expiry: the reminder days before notAfter and the job's interval.
    pub expiry: crate::expiry::Settings,
    /// The VNeID hub connector: trust anchor, our provider id, callbacks.
    pub vneid: crate::vneid::Settings,
    /// How long documents, OTP challenges, delivered messages and idempotency records are kept.
    pub retention: crate::retention::Settings,
    /// Where identity documents' ciphertext is stored: the database or an object store.
    pub documents: crate::document_store::Settings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            environment: crate::contract::Environment::Development,
            listen: "127.0.0.1:8080".into(),
            public_base_url: "http://127.0.0.1:8080".into(),
            data_dir: "data".into(),
            database_url: Secret::default(),
            database_pool_size: 8,
            database_acquire_timeout_ms: 1000,
            ca_root: "ca-root".into(),
            ca_key_passphrase: Secret::default(),
            ca: crate::ca_settings::Settings::default(),
            master_key: Secret::default(),
            log_format: LogFormat::Text,
            security: crate::operators::Settings::default(),
            enrolment: crate::enrolment::Settings::default(),
            verification: crate::verification::Settings::default(),
            otp: crate::otp::Settings::default(),
            outbox: crate::notify::OutboxSettings::default(),
            notify: crate::notify::Settings::default(),
            contract: crate::contract::Settings::default(),
            acceptance: crate::acceptance::Settings::default(),
            status: crate::status::Settings::default(),
            expiry: crate::expiry::Settings::default(),
            vneid: crate::vneid::Settings::default(),
            retention: crate::retention::Settings::default(),
            documents: crate::document_store::Settings::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(String),
    #[error(transparent)]
    Invalid(#[from] Invalid),
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

    /// The process-wide values, then each section in turn (the first bad one is reported).
    fn validate(&self) -> Result<(), Invalid> {
        self.listen
            .parse::<SocketAddr>()
            .map_err(|_| Invalid::new("listen", "expected IP:PORT, e.g. 127.0.0.1:8080"))?;
        if !(self.public_base_url.starts_with("http://")
            || self.public_base_url.starts_with("https://"))
            || self.public_base_url.ends_with('/')
        {
            return Err(Invalid::new(
                "public_base_url",
                "expected an http:// or https:// URL without a trailing slash",
            ));
        }
        let db = self.database_url.expose();
        if !(db.is_empty() || db.starts_with("postgres://") || db.starts_with("postgresql://")) {
            return Err(Invalid::new(
                "database_url",
                "expected empty (SQLite under data_dir) or a postgres:// URL",
            ));
        }
        range("database_pool_size", self.database_pool_size, 1, 256)?;
        range(
            "database_acquire_timeout_ms",
            self.database_acquire_timeout_ms,
            100,
            30_000,
        )?;
        let key = self.master_key.expose();
        if !key.is_empty() && (key.len() != 64 || hex::decode(key).is_err()) {
            return Err(Invalid::new(
                "master_key",
                "expected 64 hexadecimal characters (32 bytes)",
            ));
        }
        self.ca.validate()?;
        self.security.validate()?;
        self.enrolment.validate()?;
        self.verification.validate()?;
        self.contract.validate()?;
        self.acceptance.validate()?;
        self.expiry.validate()?;
        self.retention.validate()?;
        self.documents.validate()?;
        self.status.validate()?;
        self.otp.validate()?;
        self.vneid.validate()?;
        // As for the e-mail and SMS back ends: a claim outlives two attempts' timeouts.
        if self.outbox.lease_seconds < 2 * self.vneid.callback_timeout_seconds {
            return Err(Invalid::new(
                "outbox.lease_seconds",
                "must be at least twice vneid.callback_timeout_seconds",
            ));
        }
        // Delivery first: the outbox's lease is checked against its timeouts.
        self.notify.validate()?;
        self.outbox.validate(&self.notify)
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

    pub fn pool_settings(&self) -> crate::store::PoolSettings {
        crate::store::PoolSettings {
            size: self.database_pool_size,
            acquire_timeout: std::time::Duration::from_millis(u64::from(
                self.database_acquire_timeout_ms,
            )),
        }
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
    fn the_acquire_timeout_defaults_to_one_second_and_is_range_checked() {
        let c = load("", &[]).unwrap();
        assert_eq!(
            c.pool_settings().acquire_timeout,
            std::time::Duration::from_secs(1)
        );
        let e = load("database_acquire_timeout_ms = 50", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`database_acquire_timeout_ms`"), "{e}");
        assert!(e.contains("100 to 30000"), "{e}");
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
    fn retention_periods_default_and_are_checked() {
        let c = load("[retention]\ndocument_days = 90", &[]).unwrap();
        assert_eq!(c.retention.document_days, 90);
        assert_eq!(c.retention.otp_challenge_days, 30);
        assert_eq!(c.retention.idempotency_days, 7);
        for bad in [
            "document_days = 0",
            "batch_size = 0",
            "outbox_sent_days = 4000",
        ] {
            let e = load(&format!("[retention]\n{bad}"), &[])
                .unwrap_err()
                .to_string();
            let key = bad.split(' ').next().unwrap();
            assert!(e.contains(&format!("`retention.{key}`")), "{e}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        let c = load("master_key = \"00\"", &[]).unwrap_err().to_string();
        assert!(!c.contains("00\""), "{c}");
    }
}
