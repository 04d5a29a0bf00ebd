//! Operator sign-in, password change, account, integration and API-key administration.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use validator::Validate;

use super::auth::Auth;
use super::problem::ApiError;
use crate::app::AppState;
use crate::http::client_address;
use crate::operators::{Principal, Role};

#[derive(Tags)]
enum ApiTags {
    /// Operator sessions and administration.
    Operators,
}

#[derive(Object, Validate)]
struct LoginRequest {
    #[validate(length(min = 1, max = 64))]
    username: String,
    #[validate(length(min = 1, max = 128))]
    password: String,
    /// The 6-digit code from the authenticator app.
    #[validate(length(min = 6, max = 8))]
    totp_code: String,
}

#[derive(Object)]
struct SessionResponse {
    /// Bearer token for `Authorization: Bearer …`.
    token: String,
    expires_at: DateTime<Utc>,
    role: String,
    /// When true every other operation answers `password_change_required` until the
    /// one-time password is changed.
    must_change_password: bool,
}

#[derive(ApiResponse)]
enum LoginResponse {
    #[oai(status = 201)]
    Created(Json<SessionResponse>),
}

#[derive(Object, Validate)]
struct PasswordChange {
    #[validate(length(min = 1, max = 128))]
    current_password: String,
    #[validate(length(min = 12, max = 128))]
    new_password: String,
}

#[derive(ApiResponse)]
enum NoContent {
    #[oai(status = 204)]
    Done,
}

/// The TOTP secret that replaces the one the administrator saw; shown once.
#[derive(Object)]
struct OwnTotp {
    /// Base32 TOTP secret for the authenticator app; the one-time secret stops working.
    totp_secret: String,
    /// `otpauth://` URL for authenticator apps (QR code content).
    otpauth_url: String,
}

#[derive(ApiResponse)]
enum PasswordChanged {
    /// First sign-in: the one-time password and the TOTP secret the administrator saw are
    /// replaced; the new secret is in the answer and nowhere else.
    #[oai(status = 200)]
    FirstSignIn(Json<OwnTotp>),
    /// The password is changed.
    #[oai(status = 204)]
    Done,
}

#[derive(Object)]
struct WhoAmI {
    /// `operator` or `api_key`.
    kind: String,
    id: String,
    name: String,
    #[oai(nullable)]
    role: Option<String>,
    scopes: Vec<String>,
    /// An API key's integration.
    #[oai(nullable, skip_serializing_if_is_none)]
    integration_id: Option<String>,
    must_change_password: bool,
}

#[derive(Object)]
struct CreateOperator {
    username: String,
    /// `operator`, `ra_officer`, `admin` or `auditor`.
    role: String,
}

#[derive(Object)]
struct CreatedOperator {
    id: String,
    username: String,
    role: String,
    /// Shown once; must be changed at first sign-in.
    one_time_password: String,
    /// Base32 TOTP secret; shown once.
    totp_secret: String,
    /// `otpauth://` URL for authenticator apps (QR code content).
    otpauth_url: String,
}

#[derive(ApiResponse)]
enum CreatedOperatorResponse {
    #[oai(status = 201)]
    Created(Json<CreatedOperator>),
}

#[derive(Object)]
struct CreateApiKey {
    name: String,
    /// Any of `enrol`, `lifecycle`, `reports`, `all_integrations` (with `enrol` or
    /// `lifecycle`: every integration's enrolments and certificates, for the provider's own
    /// call centre).
    scopes: Vec<String>,
    /// The integration the key belongs to (`POST /api/v1/integrations`); the key reaches only
    /// that integration's enrolments, contracts and certificates. Absent: a new integration
    /// named after the key.
    #[oai(validator(max_length = 64))]
    integration_id: Option<String>,
}

#[derive(Object)]
struct CreatedApiKey {
    id: String,
    name: String,
    scopes: Vec<String>,
    integration_id: String,
    /// The bearer token; shown once, stored only as a hash.
    key: String,
}

#[derive(Object)]
struct CreateIntegration {
    #[oai(validator(max_length = 400))]
    name: String,
}

#[derive(Object)]
struct IntegrationView {
    id: String,
    name: String,
    created_at: DateTime<Utc>,
}

impl From<crate::store::IntegrationRow> for IntegrationView {
    fn from(r: crate::store::IntegrationRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            created_at: r.created_at.and_utc(),
        }
    }
}

#[derive(Object)]
struct IntegrationList {
    integrations: Vec<IntegrationView>,
}

#[derive(ApiResponse)]
enum CreatedIntegrationResponse {
    #[oai(status = 201)]
    Created(Json<IntegrationView>),
}

#[derive(ApiResponse)]
enum CreatedApiKeyResponse {
    #[oai(status = 201)]
    Created(Json<CreatedApiKey>),
}

/// The fields' shape (lengths): refused with one entry per field and never the submitted
/// value, since these are passwords and codes.
fn validate(v: &impl Validate) -> Result<(), ApiError> {
    match super::validation::field_problems(v.validate(), Ok(())) {
        Some(problem) => Err(problem.into()),
        None => Ok(()),
    }
}

pub struct OperatorsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Operators")]
impl OperatorsApi {
    /// Sign in with username, password and TOTP code (public; rate-limited by lock-out).
    #[oai(path = "/operator/session", method = "post")]
    async fn login(
        &self,
        req: &poem::Request,
        state: Data<&AppState>,
        body: Json<LoginRequest>,
    ) -> Result<LoginResponse, ApiError> {
        validate(&body.0)?;
        let client = client_address(req, &state.config.security.trusted_proxies);
        let s = state
            .accounts
            .login(&body.username, &body.password, &body.totp_code, &client)
            .await?;
        Ok(LoginResponse::Created(Json(SessionResponse {
            token: s.token,
            expires_at: s.expires_at,
            role: s.role.as_str().to_string(),
            must_change_password: s.must_change_password,
        })))
    }

    /// Sign out (any operator session).
    #[oai(path = "/operator/session", method = "delete")]
    async fn logout(&self, state: Data<&AppState>, auth: Auth) -> Result<NoContent, ApiError> {
        state.accounts.logout(&auth.0).await?;
        Ok(NoContent::Done)
    }

    /// Change the caller's password (any operator session, also before the first change).
    /// The operator's other sessions end. The first change (of the one-time password) also
    /// replaces the TOTP secret and answers the new one, once.
    #[oai(path = "/operator/password", method = "post")]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Json<PasswordChange>,
    ) -> Result<PasswordChanged, ApiError> {
        validate(&body.0)?;
        let totp = state
            .accounts
            .change_password(&auth.0, &body.current_password, &body.new_password)
            .await?;
        Ok(match totp {
            Some(t) => PasswordChanged::FirstSignIn(Json(OwnTotp {
                totp_secret: t.secret_base32,
                otpauth_url: t.otpauth_url,
            })),
            None => PasswordChanged::Done,
        })
    }

    /// Who the bearer token belongs to (any principal; 401 without a valid one).
    #[oai(path = "/whoami", method = "get")]
    async fn whoami(&self, auth: Auth) -> Result<Json<WhoAmI>, ApiError> {
        Ok(Json(match auth.0 {
            Principal::Operator {
                id,
                username,
                role,
                must_change_password,
                ..
            } => WhoAmI {
                kind: "operator".into(),
                id,
                name: username,
                role: Some(role.as_str().into()),
                scopes: vec![],
                integration_id: None,
                must_change_password,
            },
            Principal::ApiKey {
                id,
                name,
                scopes,
                integration_id,
            } => WhoAmI {
                kind: "api_key".into(),
                id,
                name,
                role: None,
                scopes: scopes.iter().map(|s| s.as_str().to_string()).collect(),
                integration_id: Some(integration_id),
                must_change_password: false,
            },
        }))
    }

    /// Create an operator account (role `admin`). The one-time password and TOTP secret are
    /// in the answer and nowhere else.
    #[oai(path = "/operators", method = "post")]
    async fn create_operator(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Json<CreateOperator>,
    ) -> Result<CreatedOperatorResponse, ApiError> {
        auth.0.require_role(&[Role::Admin])?;
        let role = Role::parse(&body.role)?;
        let c = state
            .accounts
            .create_operator(&auth.0.actor(), &body.username, role)
            .await?;
        Ok(CreatedOperatorResponse::Created(Json(CreatedOperator {
            id: c.id,
            username: c.username,
            role: c.role.as_str().into(),
            one_time_password: c.one_time_password,
            totp_secret: c.totp_secret_base32,
            otpauth_url: c.otpauth_url,
        })))
    }

    /// Create an integration: the provider's app backend, the VNeID hub connector, a partner
    /// portal (role `admin`). Its API keys (`POST /api/v1/api-keys` with `integration_id`)
    /// reach only the enrolments they made and what follows from them; another
    /// integration's answer 404.
    #[oai(path = "/integrations", method = "post")]
    async fn create_integration(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Json<CreateIntegration>,
    ) -> Result<CreatedIntegrationResponse, ApiError> {
        auth.0.require_role(&[Role::Admin])?;
        let i = state
            .accounts
            .create_integration(&auth.0.actor(), &body.name)
            .await?;
        Ok(CreatedIntegrationResponse::Created(Json(i.into())))
    }

    /// The integrations, newest first (role `admin`).
    #[oai(path = "/integrations", method = "get")]
    async fn list_integrations(
        &self,
        state: Data<&AppState>,
        auth: Auth,
    ) -> Result<Json<IntegrationList>, ApiError> {
        auth.0.require_role(&[Role::Admin])?;
        let rows = state.accounts.list_integrations().await?;
        Ok(Json(IntegrationList {
            integrations: rows.into_iter().map(IntegrationView::from).collect(),
        }))
    }

    /// Create an integration API key (role `admin`).
    #[oai(path = "/api-keys", method = "post")]
    async fn create_api_key(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Json<CreateApiKey>,
    ) -> Result<CreatedApiKeyResponse, ApiError> {
        auth.0.require_role(&[Role::Admin])?;
        let k = state
            .accounts
            .create_api_key(
                &auth.0.actor(),
                &body.name,
                &body.scopes,
                body.integration_id.as_deref(),
            )
            .await?;
        Ok(CreatedApiKeyResponse::Created(Json(CreatedApiKey {
            id: k.id,
            name: k.name,
            scopes: k.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            integration_id: k.integration_id,
            key: k.token,
        })))
    }

    /// Revoke an API key (role `admin`).
    #[oai(path = "/api-keys/:id", method = "delete")]
    async fn revoke_api_key(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<String>,
    ) -> Result<NoContent, ApiError> {
        auth.0.require_role(&[Role::Admin])?;
        state
            .accounts
            .revoke_api_key(&auth.0.actor(), &id.0)
            .await?;
        Ok(NoContent::Done)
    }
}
