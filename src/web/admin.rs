//! Administration (role `admin`): operator accounts (create, disable or enable, reset the
//! password or the TOTP secret), integration API keys (create with scopes, revoke); disabling,
//! resetting and revoking go through a confirmation page (`ConfirmPage`) and the
//! package catalogue (read-only: the catalogue is changed by migration, as contracts name
//! its codes). The same `Accounts` calls as `/api/v1/operators` and `/api/v1/api-keys`.

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{handler, Response};
use serde::Deserialize;

use super::i18n::Lang;
use super::{
    confirmed, message, redirect, render, render_status, ConfirmPage, Page, SelectOption, WebError,
    WebUser,
};
use crate::app::AppState;
use crate::operators::{OperatorsError, Role, Scope};
use crate::texts::Text;
use crate::vn;

const ADMINS: &[Role] = &[Role::Admin];

pub struct OperatorItem {
    pub id: String,
    pub username: String,
    pub role: String,
    pub state: String,
    pub disabled: bool,
    pub created: String,
    pub is_self: bool,
}

pub struct KeyItem {
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub integration_id: String,
    pub created: String,
    pub revoked: Option<String>,
}

pub struct IntegrationItem {
    pub id: String,
    pub name: String,
    pub created: String,
}

pub struct PackageItem {
    pub code: String,
    pub name: String,
    pub price: String,
    pub term_months: u32,
    pub free: bool,
}

#[derive(Template)]
#[template(path = "web/admin.html")]
struct AdminPage {
    page: Page,
    operators: Vec<OperatorItem>,
    keys: Vec<KeyItem>,
    integrations: Vec<IntegrationItem>,
    packages: Vec<PackageItem>,
    roles: Vec<SelectOption>,
    error: Option<String>,
}

async fn admin_page(
    user: WebUser,
    state: &AppState,
    error: Option<String>,
) -> Result<Response, WebError> {
    let lang = user.page.lang;
    let own_id = match &user.principal {
        crate::operators::Principal::Operator { id, .. } => id.clone(),
        crate::operators::Principal::ApiKey { .. } => String::new(),
    };
    let locks = state
        .accounts
        .account_locks()
        .await
        .map_err(WebError::failed)?;
    let operators = state
        .accounts
        .list_operators()
        .await
        .map_err(WebError::failed)?
        .into_iter()
        .map(|o| {
            let state = if o.disabled {
                lang.t("admin.state.disabled").to_string()
            } else if let Some(until) = locks.get(&o.username) {
                format!("{} {}", lang.t("admin.state.locked"), vn::date_time(*until))
            } else if o.must_change_password {
                lang.t("admin.state.first_sign_in").to_string()
            } else {
                lang.t("admin.state.active").to_string()
            };
            OperatorItem {
                is_self: o.id == own_id,
                id: o.id,
                username: o.username,
                role: lang.t_or_code(&format!("role.{}", o.role)).to_string(),
                state,
                disabled: o.disabled,
                created: vn::date_time(o.created_at.and_utc()),
            }
        })
        .collect();
    let keys = state
        .accounts
        .list_api_keys()
        .await
        .map_err(WebError::failed)?
        .into_iter()
        .map(|k| KeyItem {
            id: k.id,
            name: k.name,
            scopes: k.scopes,
            integration_id: k.integration_id,
            created: vn::date_time(k.created_at.and_utc()),
            revoked: k.revoked_at.map(|t| vn::date_time(t.and_utc())),
        })
        .collect();
    let integrations = state
        .accounts
        .list_integrations()
        .await
        .map_err(WebError::failed)?
        .into_iter()
        .map(|i| IntegrationItem {
            id: i.id,
            name: i.name,
            created: vn::date_time(i.created_at.and_utc()),
        })
        .collect();
    let packages = state
        .contracts
        .packages()
        .await
        .map_err(WebError::failed)?
        .into_iter()
        .map(|p| PackageItem {
            price: vn::vnd(p.price_vnd),
            code: p.code,
            name: p.name,
            term_months: p.term_months,
            free: p.free,
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render_status(
        status,
        &AdminPage {
            roles: Role::ALL
                .iter()
                .map(|r| {
                    SelectOption::new(
                        r.as_str(),
                        lang.t_or_code(&format!("role.{}", r.as_str())),
                        "operator",
                    )
                })
                .collect(),
            page: user.page,
            operators,
            keys,
            integrations,
            packages,
            error,
        },
    )
}

#[handler]
pub async fn index(user: WebUser, state: Data<&AppState>) -> Result<Response, WebError> {
    user.require(ADMINS)?;
    admin_page(user, &state, None).await
}

/// A credential shown once: a new account, a reset, a new API key.
#[derive(Template)]
#[template(path = "web/admin_secret.html")]
struct SecretPage {
    page: Page,
    title: &'static str,
    username: String,
    one_time_password: Option<String>,
    totp_secret: Option<String>,
    qr_png_base64: Option<String>,
    api_key: Option<String>,
}

fn qr(otpauth_url: &str) -> Result<String, WebError> {
    totp_rs::TOTP::from_url_unchecked(otpauth_url)
        .map_err(|e| WebError::Unexpected(format!("otpauth url: {e:?}")))?
        .get_qr_base64()
        .map_err(|e| WebError::Unexpected(format!("QR code: {e}")))
}

fn shown_once(lang: Lang, e: OperatorsError) -> Result<String, WebError> {
    match e {
        e @ (OperatorsError::Unexpected(_) | OperatorsError::Crypto(_)) => Err(WebError::failed(e)),
        OperatorsError::NotFound => Err(WebError::NotFound),
        e => Ok(message(lang, e)),
    }
}

#[derive(Deserialize)]
pub struct NewOperator {
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
}

#[handler]
pub async fn create_operator(
    user: WebUser,
    state: Data<&AppState>,
    input: Form<NewOperator>,
) -> Result<Response, WebError> {
    user.require(ADMINS)?;
    let lang = user.page.lang;
    let result = match Role::parse(&input.role) {
        Ok(role) => {
            state
                .accounts
                .create_operator(&user.principal.actor(), input.username.trim(), role)
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(c) => {
            let qr_png_base64 = Some(qr(&c.otpauth_url)?);
            render(&SecretPage {
                title: lang.t("admin.created_operator"),
                username: c.username,
                one_time_password: Some(c.one_time_password),
                totp_secret: Some(c.totp_secret_base32),
                qr_png_base64,
                api_key: None,
                page: user.page,
            })
        }
        Err(e) => {
            let error = shown_once(lang, e)?;
            admin_page(user, &state, Some(error)).await
        }
    }
}

#[handler]
pub async fn operator_action(
    user: WebUser,
    state: Data<&AppState>,
    Path((id, action)): Path<(String, String)>,
    fields: Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    user.require(ADMINS)?;
    let lang = user.page.lang;
    let confirm = match action.as_str() {
        "disable" => Some(("admin.confirm.disable", "admin.disable")),
        "reset-password" => Some(("admin.confirm.reset_password", "admin.reset_password")),
        "reset-totp" => Some(("admin.confirm.reset_totp", "admin.reset_totp")),
        "enable" => None,
        _ => return Err(WebError::NotFound),
    };
    if let (Some((text, button)), false) = (confirm, confirmed(&fields)) {
        let username = state
            .accounts
            .list_operators()
            .await
            .map_err(WebError::failed)?
            .into_iter()
            .find(|o| o.id == id)
            .ok_or(WebError::NotFound)?
            .username;
        return render(&ConfirmPage {
            title: Text::of(&format!("{text}.title"))
                .arg("username", username)
                .get(lang)
                .to_string(),
            text: lang.t(&format!("{text}.text")),
            action: format!("/admin/operators/{id}/{action}"),
            hidden: vec![],
            button: lang.t(button),
            back: "/admin".into(),
            page: user.page,
        });
    }
    let result = match action.as_str() {
        "disable" | "enable" => state
            .accounts
            .set_disabled(&user.principal, &id, action == "disable")
            .await
            .map(|()| None),
        _ => state
            .accounts
            .reset_credentials(
                &user.principal,
                &id,
                action == "reset-password",
                action == "reset-totp",
            )
            .await
            .map(Some),
    };
    match result {
        Ok(None) => Ok(redirect("/admin")),
        Ok(Some(reset)) => {
            let qr_png_base64 = match &reset.otpauth_url {
                Some(url) => Some(qr(url)?),
                None => None,
            };
            render(&SecretPage {
                title: lang.t("admin.reset_done"),
                username: reset.username,
                one_time_password: reset.one_time_password,
                totp_secret: reset.totp_secret_base32,
                qr_png_base64,
                api_key: None,
                page: user.page,
            })
        }
        Err(e) => {
            let error = shown_once(lang, e)?;
            admin_page(user, &state, Some(error)).await
        }
    }
}

#[derive(Deserialize)]
pub struct NewIntegration {
    #[serde(default)]
    name: String,
}

#[handler]
pub async fn create_integration(
    user: WebUser,
    state: Data<&AppState>,
    input: Form<NewIntegration>,
) -> Result<Response, WebError> {
    user.require(ADMINS)?;
    let lang = user.page.lang;
    match state
        .accounts
        .create_integration(&user.principal.actor(), &input.name)
        .await
    {
        Ok(_) => Ok(redirect("/admin")),
        Err(e) => {
            let error = shown_once(lang, e)?;
            admin_page(user, &state, Some(error)).await
        }
    }
}

#[derive(Deserialize)]
pub struct NewApiKey {
    #[serde(default)]
    name: String,
    scope_enrol: Option<String>,
    scope_lifecycle: Option<String>,
    /// Remote signing through the CSC API (`/csc/v2`).
    scope_sign: Option<String>,
    scope_reports: Option<String>,
    scope_all_integrations: Option<String>,
    /// Empty: a new integration named after the key.
    #[serde(default)]
    integration_id: String,
}

#[handler]
pub async fn create_api_key(
    user: WebUser,
    state: Data<&AppState>,
    input: Form<NewApiKey>,
) -> Result<Response, WebError> {
    user.require(ADMINS)?;
    let lang = user.page.lang;
    let scopes: Vec<String> = [
        (Scope::Enrol, &input.scope_enrol),
        (Scope::Lifecycle, &input.scope_lifecycle),
        (Scope::Sign, &input.scope_sign),
        (Scope::Reports, &input.scope_reports),
        (Scope::AllIntegrations, &input.scope_all_integrations),
    ]
    .into_iter()
    .filter(|(_, on)| on.is_some())
    .map(|(s, _)| s.as_str().to_string())
    .collect();
    match state
        .accounts
        .create_api_key(
            &user.principal.actor(),
            &input.name,
            &scopes,
            Some(input.integration_id.trim()).filter(|i| !i.is_empty()),
        )
        .await
    {
        Ok(k) => render(&SecretPage {
            title: lang.t("admin.created_key"),
            username: k.name,
            one_time_password: None,
            totp_secret: None,
            qr_png_base64: None,
            api_key: Some(k.token),
            page: user.page,
        }),
        Err(e) => {
            let error = shown_once(lang, e)?;
            admin_page(user, &state, Some(error)).await
        }
    }
}

#[handler]
pub async fn revoke_api_key(
    user: WebUser,
    state: Data<&AppState>,
    id: Path<String>,
    fields: Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    user.require(ADMINS)?;
    let lang = user.page.lang;
    if !confirmed(&fields) {
        let key = state
            .accounts
            .list_api_keys()
            .await
            .map_err(WebError::failed)?
            .into_iter()
            .find(|k| k.id == id.0 && k.revoked_at.is_none())
            .ok_or(WebError::NotFound)?;
        return render(&ConfirmPage {
            title: Text::of("admin.confirm.revoke_key.title")
                .arg("name", key.name)
                .get(lang)
                .to_string(),
            text: lang.t("admin.confirm.revoke_key.text"),
            action: format!("/admin/api-keys/{}/revoke", id.0),
            hidden: vec![],
            button: lang.t("admin.revoke"),
            back: "/admin".into(),
            page: user.page,
        });
    }
    match state
        .accounts
        .revoke_api_key(&user.principal.actor(), &id.0)
        .await
    {
        Ok(()) => Ok(redirect("/admin")),
        Err(e) => {
            let error = shown_once(lang, e)?;
            admin_page(user, &state, Some(error)).await
        }
    }
}
