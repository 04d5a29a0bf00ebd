//! The `[security]` section: sign-in lock-out and session lifetimes (`Accounts`), and the
//! pages' cookie flag.

use serde::{Deserialize, Serialize};

use crate::settings::{range, Invalid};

/// A session's last-seen time is written at most this often (a write per request would
/// serialise every reader behind the writers).
pub const LAST_SEEN_EVERY_SECONDS: i64 = 60;

/// The shortest idle timeout that bookkeeping honours: a session is seen up to
/// [`LAST_SEEN_EVERY_SECONDS`] later than its last use, which must stay a small part of the
/// timeout (at most a fifth), or an operator working steadily is signed out.
pub const MIN_SESSION_IDLE_MINUTES: u32 = 5;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Failed sign-ins as one username from one client address before that address is
    /// locked out for `login_lockout_minutes`.
    pub login_max_failures: u32,
    /// Failed sign-ins as one username from all addresses together before every address is
    /// locked out: the ceiling on a distributed guess, well above `login_max_failures` so
    /// that one attacker cannot lock an operator out from elsewhere.
    pub login_account_max_failures: u32,
    pub login_lockout_minutes: u32,
    pub session_idle_minutes: u32,
    pub session_max_hours: u32,
    /// Mark the pages' cookies `Secure` on every response. They are also marked when the
    /// request arrived over TLS at a proxy (`X-Forwarded-Proto: https`); `public_base_url`
    /// cannot say so, as it is the plain-http base of the certificates' AIA and CRL URLs.
    pub secure_cookies: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed: a request from one of them counts
    /// as coming from the address it forwarded for (the lock-out is keyed on it). Empty: the
    /// peer's address, always.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            login_max_failures: 5,
            login_account_max_failures: 100,
            login_lockout_minutes: 15,
            session_idle_minutes: 15,
            session_max_hours: 12,
            secure_cookies: false,
            trusted_proxies: Vec::new(),
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
            "security.login_account_max_failures",
            self.login_account_max_failures,
            u64::from(self.login_max_failures),
            100_000,
        )?;
        range(
            "security.login_lockout_minutes",
            self.login_lockout_minutes,
            1,
            1440,
        )?;
        range("security.session_max_hours", self.session_max_hours, 1, 168)?;
        // Longer than the absolute lifetime would never apply.
        range(
            "security.session_idle_minutes",
            self.session_idle_minutes,
            u64::from(MIN_SESSION_IDLE_MINUTES),
            u64::from(self.session_max_hours * 60).min(1440),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_timeout_is_one_the_last_seen_bookkeeping_can_honour() {
        let with = |idle, max_hours| Settings {
            session_idle_minutes: idle,
            session_max_hours: max_hours,
            ..Settings::default()
        };
        assert!(with(5, 12).validate().is_ok());
        assert!(with(1440, 24).validate().is_ok());
        for (idle, max_hours) in [(1, 12), (4, 12), (61, 1), (1441, 168)] {
            let e = with(idle, max_hours).validate().unwrap_err();
            assert!(
                e.to_string().contains("security.session_idle_minutes"),
                "{idle}/{max_hours}: {e}"
            );
        }
    }
}
