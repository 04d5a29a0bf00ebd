//! The `[security]` section: sign-in lock-out and session lifetimes (`Accounts`), and the
//! pages' cookie flag.

use serde::{Deserialize, Serialize};

use crate::settings::{range, Invalid};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub login_max_failures: u32,
    pub login_lockout_minutes: u32,
    pub session_idle_minutes: u32,
    pub session_max_hours: u32,
    /// Mark the pages' cookies `Secure` on every response. They are also marked when the
    /// request arrived over TLS at a proxy (`X-Forwarded-Proto: https`); `public_base_url`
    /// cannot say so, as it is the plain-http base of the certificates' AIA and CRL URLs.
    pub secure_cookies: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            login_max_failures: 5,
            login_lockout_minutes: 15,
            session_idle_minutes: 15,
            session_max_hours: 12,
            secure_cookies: false,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), Invalid> {
        range(
            "security.login_max_failures",
            self.login_max_failures,
            1,
            100,
        )?;
        range(
            "security.login_lockout_minutes",
            self.login_lockout_minutes,
            1,
            1440,
        )?;
        range(
            "security.session_idle_minutes",
            self.session_idle_minutes,
            1,
            1440,
        )?;
        range("security.session_max_hours", self.session_max_hours, 1, 168)
    }
}
