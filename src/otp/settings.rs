//! The `[otp]` section: one-time-password lifetimes and limits.

use serde::{Deserialize, Serialize};

use crate::settings::{range, Invalid};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub code_ttl_seconds: u32,
    /// Wrong codes before a challenge locks.
    pub max_attempts: u32,
    pub resend_cooldown_seconds: u32,
    pub max_sends_per_hour: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            code_ttl_seconds: 300,
            max_attempts: 5,
            resend_cooldown_seconds: 90,
            max_sends_per_hour: 5,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), Invalid> {
        range("otp.code_ttl_seconds", self.code_ttl_seconds, 30, 3600)?;
        range("otp.max_attempts", self.max_attempts, 1, 20)?;
        range(
            "otp.resend_cooldown_seconds",
            self.resend_cooldown_seconds,
            0,
            3600,
        )?;
        range("otp.max_sends_per_hour", self.max_sends_per_hour, 1, 100)
    }
}
