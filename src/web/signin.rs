//! Sign-in (username, password, TOTP), the first sign-in (own password and a new TOTP secret
//! from a QR code), and sign-out: the same `Accounts` calls as `POST/DELETE
//! /api/v1/operator/session` and `POST /api/v1/operator/password`.

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form, Query};
use poem::{handler, Request, Response};
use serde::Deserialize;

use super::session::{self, WebUser, SESSION_COOKIE};
use super::{message, redirect, render, render_status, Page, WebError};
use crate::app::AppState;
use crate::http::client_address;
use crate::operators::{OperatorsError, PendingTotp, Principal};
use crate::vn;

#[derive(Template)]
#[template(path = "web/signin.html")]
struct SignInPage {
    page: Page,
    username: String,
    next: String,
    /// A notice above the form (signed out, session expired).
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
    expired: Option<String>,
    signed_out: Option<String>,
}

#[handler]
pub async fn form(
    req: &Request,
    state: Data<&AppState>,
    query: Query<SignInQuery>,
) -> Result<Response, WebError> {
    let lang = session::lang(req);
    if let Some(token) = session::cookie(req, SESSION_COOKIE) {
        if let Ok(Principal::Operator { .. }) = state.accounts.authenticate(&token).await {
            return Ok(redirect(&session::safe_next(query.next.as_deref())));
        }
    }
    let notice = if query.expired.is_some() {
        Some("signin.expired")
    } else if query.signed_out.is_some() {
        Some("signin.signed_out")
    } else {
        None
    };
    let (new_presession, csrf) = session::presession(&state.csrf, req);
    let page = SignInPage {
        page: Page::new(req, lang, csrf, None),
        username: String::new(),
        next: session::safe_next(query.next.as_deref()),
        notice: notice.map(|k| lang.t(k)),
        error: None,
    };
    let mut resp = render(&page)?;
    // A session cookie that no longer works would otherwise decide the CSRF binding.
    if session::cookie(req, SESSION_COOKIE).is_some() {
        session::set_cookie(&mut resp, req, &state, SESSION_COOKIE, "", Some(0));
    }
    if let Some(p) = new_presession {
        session::set_cookie(&mut resp, req, &state, session::PRESESSION_COOKIE, &p, None);
    }
    Ok(resp)
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp_code: String,
    next: Option<String>,
}

#[handler]
pub async fn submit(
    req: &Request,
    state: Data<&AppState>,
    input: Form<SignInForm>,
) -> Result<Response, WebError> {
    let lang = session::lang(req);
    let next = session::safe_next(input.next.as_deref());
    let result =
        if input.username.len() > 64 || input.password.len() > 128 || input.totp_code.len() > 8 {
            Err(OperatorsError::InvalidCredentials)
        } else {
            state
                .accounts
                .login(
                    input.username.trim(),
                    &input.password,
                    &input.totp_code,
                    &client_address(req, &state.config.security.trusted_proxies),
                )
                .await
        };
    let (status, error) = match result {
        Ok(s) => {
            let to = if s.must_change_password {
                session::FIRST_SIGN_IN.to_string()
            } else {
                next
            };
            let mut resp = redirect(&to);
            session::set_cookie(&mut resp, req, &state, SESSION_COOKIE, &s.token, None);
            return Ok(resp);
        }
        Err(OperatorsError::InvalidCredentials) => (
            StatusCode::UNAUTHORIZED,
            lang.t("signin.invalid").to_string(),
        ),
        Err(OperatorsError::Locked { until }) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("{} {}.", lang.t("signin.locked"), vn::date_time(until)),
        ),
        Err(e) => return Err(WebError::failed(e)),
    };
    let (_, csrf) = session::presession(&state.csrf, req);
    let page = SignInPage {
        page: Page::new(req, lang, csrf, None),
        username: input.username.clone(),
        next,
        notice: None,
        error: Some(error),
    };
    render_status(status, &page)
}

#[handler]
pub async fn sign_out(
    req: &Request,
    user: WebUser,
    state: Data<&AppState>,
) -> Result<Response, WebError> {
    state
        .accounts
        .logout(&user.principal)
        .await
        .map_err(WebError::failed)?;
    let mut resp = redirect("/sign-in?signed_out=1");
    session::set_cookie(&mut resp, req, &state, SESSION_COOKIE, "", Some(0));
    Ok(resp)
}

#[derive(Template)]
#[template(path = "web/first_signin.html")]
struct FirstSignInPage {
    page: Page,
    pending: String,
    secret_base32: String,
    /// PNG, base64, for a `data:` image: drawn here, so no third party sees the secret.
    qr_png_base64: String,
    error: Option<String>,
}

fn first_page(
    user: WebUser,
    pending: PendingTotp,
    error: Option<String>,
) -> Result<FirstSignInPage, WebError> {
    let qr_png_base64 = totp_rs::TOTP::from_url_unchecked(&pending.otpauth_url)
        .map_err(|e| WebError::Unexpected(format!("otpauth url: {e:?}")))?
        .get_qr_base64()
        .map_err(|e| WebError::Unexpected(format!("QR code: {e}")))?;
    Ok(FirstSignInPage {
        page: user.page,
        pending: pending.sealed,
        secret_base32: pending.secret_base32,
        qr_png_base64,
        error,
    })
}

fn must_be_first(user: &WebUser) -> bool {
    matches!(
        user.principal,
        Principal::Operator {
            must_change_password: true,
            ..
        }
    )
}

#[handler]
pub async fn first_form(user: WebUser, state: Data<&AppState>) -> Result<Response, WebError> {
    if !must_be_first(&user) {
        return Ok(redirect("/dashboard"));
    }
    let pending = state
        .accounts
        .begin_totp_enrolment(&user.principal)
        .map_err(WebError::failed)?;
    render(&first_page(user, pending, None)?)
}

#[derive(Deserialize)]
pub struct FirstSignInForm {
    #[serde(default)]
    pending: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
    #[serde(default)]
    totp_code: String,
}

#[handler]
pub async fn first_submit(
    user: WebUser,
    state: Data<&AppState>,
    input: Form<FirstSignInForm>,
) -> Result<Response, WebError> {
    if !must_be_first(&user) {
        return Ok(redirect("/dashboard"));
    }
    let lang = user.page.lang;
    let error = if input.new_password != input.confirm_password {
        lang.t("signin.first.mismatch").to_string()
    } else {
        match state
            .accounts
            .complete_first_sign_in(
                &user.principal,
                &input.pending,
                &input.totp_code,
                &input.new_password,
            )
            .await
        {
            Ok(()) | Err(OperatorsError::FirstSignInDone) => return Ok(redirect("/dashboard")),
            Err(OperatorsError::TotpEnrolmentCodeInvalid) => {
                lang.t("signin.first.wrong_code").to_string()
            }
            Err(e @ OperatorsError::WeakPassword(_)) => message(lang, e),
            Err(e) => return Err(WebError::failed(e)),
        }
    };
    // The same secret again, so the code already scanned keeps working.
    let pending = match state
        .accounts
        .reopen_totp_enrolment(&user.principal, &input.pending)
    {
        Ok((pending, _)) => pending,
        Err(_) => state
            .accounts
            .begin_totp_enrolment(&user.principal)
            .map_err(WebError::failed)?,
    };
    render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &first_page(user, pending, Some(error))?,
    )
}
