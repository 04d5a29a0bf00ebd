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
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    pub login_max_failures: u32,
    pub login_lockout_minutes: u32,
    pub session_idle_minutes: u32,
    pub session_max_hours: u32,
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
                session_idle_minutes: 30,
                session_max_hours: 12,
            },
            enrolment: crate::enrolment::Settings::default(),
            verification: crate::verification::Settings::default(),
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
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        let c = load("master_key = \"00\"", &[]).unwrap_err().to_string();
        assert!(!c.contains("00\""), "{c}");
    }
}
