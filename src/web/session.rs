//! The pages' session: the operator session of `operators/` (the same `ces_…` token the API
//! takes as a bearer) carried in an HttpOnly, SameSite=Strict cookie, so idle timeout,
//! absolute lifetime, sign-out and disabling an account work the same for both front ends.
//!
//! CSRF: every form carries a `csrf` field that must equal an HMAC, under a key derived from
//! the master key, of the session (signed in) or of a random pre-session cookie (the sign-in
//! form). Nothing is stored, so any process sharing the master key checks it.

use poem::http::header::{COOKIE, SET_COOKIE};
use poem::http::HeaderValue;
use poem::{FromRequest, Request, RequestBody, Response};

use super::i18n::Lang;
use super::{Page, WebError};
use crate::app::AppState;
use crate::operators::{OperatorsError, Principal, Role};
use crate::secrets::{constant_time_eq, random_token, CsrfKey};

pub const SESSION_COOKIE: &str = "ce_session";
pub const PRESESSION_COOKIE: &str = "ce_presession";
pub const LANG_COOKIE: &str = "lang";

/// The first-sign-in page, the only one an operator with a one-time password may open.
pub const FIRST_SIGN_IN: &str = "/sign-in/first";

/// The token forms must carry on this request: bound to the session cookie when there is one,
/// else to the pre-session cookie; None when the request has neither.
pub fn expected_csrf(key: &CsrfKey, req: &Request) -> Option<String> {
    if let Some(session) = cookie(req, SESSION_COOKIE) {
        return Some(key.token("session", &session));
    }
    cookie(req, PRESESSION_COOKIE).map(|p| key.token("presession", &p))
}

pub fn check_csrf(key: &CsrfKey, req: &Request, presented: Option<&str>) -> bool {
    match (expected_csrf(key, req), presented) {
        (Some(expected), Some(presented)) => {
            constant_time_eq(expected.as_bytes(), presented.as_bytes())
        }
        _ => false,
    }
}

/// For the sign-in form: the pre-session value to use (the request's, or a new one to set) and
/// the matching token.
pub fn presession(key: &CsrfKey, req: &Request) -> (Option<String>, String) {
    match cookie(req, PRESESSION_COOKIE) {
        Some(p) => {
            let token = key.token("presession", &p);
            (None, token)
        }
        None => {
            let p = random_token("");
            let token = key.token("presession", &p);
            (Some(p), token)
        }
    }
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// The language the request asked for (`lang` cookie), Vietnamese by default.
pub fn lang(req: &Request) -> Lang {
    cookie(req, LANG_COOKIE)
        .and_then(|v| Lang::parse(&v))
        .unwrap_or_default()
}

/// Whether the browser reached us over TLS: always, by configuration, or as the TLS-ending
/// proxy reports. (A forged header only makes the sender's own cookie stricter.)
fn over_tls(req: &Request, state: &AppState) -> bool {
    state.config.security.secure_cookies
        || req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// Cookie attributes: HttpOnly and SameSite=Strict always, Secure when served over TLS.
/// `max_age` None: until the browser closes; Some(0): delete.
pub fn set_cookie(
    resp: &mut Response,
    req: &Request,
    state: &AppState,
    name: &str,
    value: &str,
    max_age: Option<i64>,
) {
    let secure = if over_tls(req, state) { "; Secure" } else { "" };
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    let header = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}");
    if let Ok(v) = HeaderValue::from_str(&header) {
        resp.headers_mut().append(SET_COOKIE, v);
    }
}

/// A signed-in operator on a page: the same [`Principal`] the API resolves, plus what every
/// page shows (language, CSRF token, navigation).
pub struct WebUser {
    pub principal: Principal,
    pub username: String,
    pub role: Role,
    pub page: Page,
}

impl WebUser {
    /// One of `roles`, or the 403 page.
    pub fn require(&self, roles: &[Role]) -> Result<(), WebError> {
        self.principal
            .require_role(roles)
            .map_err(|_| WebError::Forbidden)
    }
}

impl<'a> FromRequest<'a> for WebUser {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let state = req
            .data::<AppState>()
            .ok_or_else(|| WebError::Unexpected("application state missing".into()))?;
        let path = req.uri().path();
        let to_sign_in = |expired: bool| {
            let mut target = format!("/sign-in?next={}", encode_next(req));
            if expired {
                target.push_str("&expired=1");
            }
            WebError::Redirect(target)
        };
        let Some(token) = cookie(req, SESSION_COOKIE) else {
            return Err(to_sign_in(false).into());
        };
        let principal = match state.accounts.authenticate(&token).await {
            Ok(p @ Principal::Operator { .. }) => p,
            Ok(Principal::ApiKey { .. }) | Err(OperatorsError::Unauthenticated) => {
                return Err(to_sign_in(false).into())
            }
            Err(OperatorsError::SessionExpired) => return Err(to_sign_in(true).into()),
            Err(e) => return Err(WebError::failed(e).into()),
        };
        let Principal::Operator {
            username,
            role,
            must_change_password,
            ..
        } = &principal
        else {
            return Err(to_sign_in(false).into());
        };
        if *must_change_password && path != FIRST_SIGN_IN && path != "/sign-out" {
            return Err(WebError::Redirect(FIRST_SIGN_IN.into()).into());
        }
        let (username, role) = (username.clone(), *role);
        let csrf = state.csrf.token("session", &token);
        let mut page = Page::new(req, lang(req), csrf, Some((username.clone(), role)));
        if *must_change_password {
            // Every link would lead back to the first-sign-in page.
            page.nav.clear();
        }
        if let Some(slot) = req.extensions().get::<super::SignedIn>() {
            slot.record(&page);
        }
        Ok(WebUser {
            principal,
            username,
            role,
            page,
        })
    }
}

/// The path and query to come back to after signing in, percent-encoded for a query value.
fn encode_next(req: &Request) -> String {
    let next = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    percent_encode(next)
}

pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A local path to go to after signing in or switching language: only `/…`, never `//…`
/// (another site) or anything with a scheme.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.contains(['\r', '\n']) =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next(Some("/enrolments?q=1")), "/enrolments?q=1");
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "evil"] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
