//! What every module's settings share: the refusal naming the bad key, the range check all
//! `Settings::validate` methods use, and `Secret` for values that must never be logged.
//! Each module owns its section (`otp::Settings`, `notify::Settings`, …); `config.rs` only
//! puts them together under their keys.

use std::fmt;

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

/// A setting out of bounds: its full key (as in `ca-enrol.toml`) and what is allowed.
#[derive(Debug, thiserror::Error)]
#[error("configuration key `{key}`: {problem}")]
pub struct Invalid {
    pub key: &'static str,
    pub problem: String,
}

impl Invalid {
    pub fn new(key: &'static str, problem: impl Into<String>) -> Self {
        Self {
            key,
            problem: problem.into(),
        }
    }
}

/// Refuses `value` outside `lo..=hi`, saying so in the one wording all settings use.
pub fn range(key: &'static str, value: impl Into<u64>, lo: u64, hi: u64) -> Result<(), Invalid> {
    if (lo..=hi).contains(&value.into()) {
        Ok(())
    } else {
        Err(Invalid::new(key, format!("expected {lo} to {hi}")))
    }
}
