//! The Cloud Signature Consortium API v2 (remote signing) under `/csc/v2`: POST with JSON
//! bodies, as the CSC specification has it, in a poem-openapi service of its own (its
//! document is `/csc/v2/openapi.json`), over `remote_signing::RemoteSigning`.
//!
//! Callers: integration API keys with scope `sign`, acting for one subscriber named by the CSC
//! `userID` (the citizen's 12-digit ID number; required by `credentials/list`, optional
//! elsewhere as in CSC v2, and then checked against the credential's subscriber). A key
//! reaches only credentials whose enrolment its integration made (`all_integrations` lifts
//! that, as elsewhere); anything else answers exactly as a missing credential (404
//! `credential_not_found`). CSC v1's field names `hash` and `hashAlgo`, which pyHanko's CSC
//! client sends, are accepted beside v2's `hashes` and `hashAlgorithmOID`.
//!
//! Errors: the CSC fields `error` (OAuth 2.0 style: `invalid_request`, `invalid_token`,
//! `access_denied`, `invalid_otp`, `server_error`, `temporarily_unavailable`) and
//! `error_description` (the English text, which is what `message` holds in `/api`'s problems),
//! beside this service's stable `code` and `message_vi`: CSC clients read the first two, our
//! integrations branch on `code`.

use base64::Engine;
use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem::web::Data;
use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, OpenApiService, SecurityScheme};

use super::otp_views::ChallengeCreated;
use crate::app::AppState;
use crate::operators::{OperatorsError, Principal, Scope};
use crate::problem::Problem;
use crate::remote_signing::{Hashes, RemoteSigningError, MAX_HASHES, SAD_TTL_SECONDS, SHA256};

/// A CSC error: the specification's two fields and this service's problem fields.
#[derive(Debug, Object)]
pub struct CscErrorBody {
    /// CSC / OAuth 2.0 error: `invalid_request`, `invalid_token`, `access_denied`,
    /// `invalid_otp`, `server_error` or `temporarily_unavailable`.
    error: String,
    /// The English description (the `message` of this service's JSON problems).
    error_description: String,
    /// This service's stable code (as every JSON problem of `/api`).
    code: String,
    message_vi: String,
    /// For `otp_invalid`.
    #[oai(nullable, skip_serializing_if_is_none)]
    attempts_left: Option<u32>,
}

#[derive(Debug, ApiResponse)]
pub enum CscError {
    #[oai(status = 400)]
    BadRequest(Json<CscErrorBody>),
    #[oai(status = 401)]
    Unauthorized(Json<CscErrorBody>),
    #[oai(status = 403)]
    Forbidden(Json<CscErrorBody>),
    #[oai(status = 404)]
    NotFound(Json<CscErrorBody>),
    #[oai(status = 409)]
    Conflict(Json<CscErrorBody>),
    #[oai(status = 422)]
    Unprocessable(Json<CscErrorBody>),
    #[oai(status = 429)]
    TooManyRequests(
        Json<CscErrorBody>,
        /// Seconds to wait, when known.
        #[oai(header = "Retry-After")]
        Option<u32>,
    ),
    #[oai(status = 500)]
    Internal(Json<CscErrorBody>),
    #[oai(status = 503)]
    Unavailable(
        Json<CscErrorBody>,
        /// Seconds to wait, when known.
        #[oai(header = "Retry-After")]
        Option<u32>,
    ),
}

impl From<Problem> for CscError {
    fn from(p: Problem) -> Self {
        p.log();
        let status = p.status;
        let retry_after = p.retry_after_seconds;
        let error = match (status, p.code) {
            (s, c) if c.starts_with("otp_") && s != StatusCode::TOO_MANY_REQUESTS => "invalid_otp",
            (StatusCode::UNAUTHORIZED, _) => "invalid_token",
            (StatusCode::FORBIDDEN, _) => "access_denied",
            (StatusCode::SERVICE_UNAVAILABLE, _) => "temporarily_unavailable",
            (s, _) if s.is_server_error() => "server_error",
            _ => "invalid_request",
        };
        let body = p.into_body();
        let body = Json(CscErrorBody {
            error: error.into(),
            error_description: body.message,
            code: body.code,
            message_vi: body.message_vi,
            attempts_left: body.attempts_left,
        });
        match status {
            StatusCode::BAD_REQUEST => CscError::BadRequest(body),
            StatusCode::UNAUTHORIZED => CscError::Unauthorized(body),
            StatusCode::FORBIDDEN => CscError::Forbidden(body),
            StatusCode::NOT_FOUND => CscError::NotFound(body),
            StatusCode::CONFLICT => CscError::Conflict(body),
            StatusCode::UNPROCESSABLE_ENTITY => CscError::Unprocessable(body),
            StatusCode::TOO_MANY_REQUESTS => CscError::TooManyRequests(body, retry_after),
            StatusCode::SERVICE_UNAVAILABLE => CscError::Unavailable(body, retry_after),
            s if s.is_client_error() => CscError::BadRequest(body),
            _ => CscError::Internal(body),
        }
    }
}

impl From<RemoteSigningError> for Problem {
    fn from(e: RemoteSigningError) -> Self {
        use RemoteSigningError as E;
        use StatusCode as S;
        match e {
            E::CredentialNotFound => Problem::new(S::NOT_FOUND, "credential_not_found"),
            E::NotActive(status) => {
                Problem::new(S::CONFLICT, "credential_not_active").arg("status", status)
            }
            E::HashInvalid => Problem::new(S::BAD_REQUEST, "hash_invalid"),
            E::HashCount => {
                Problem::new(S::BAD_REQUEST, "hash_count_invalid").arg("max", MAX_HASHES)
            }
            E::SignAlgoUnsupported => Problem::new(S::BAD_REQUEST, "sign_algo_unsupported"),
            E::HashAlgoUnsupported => Problem::new(S::BAD_REQUEST, "hash_algo_unsupported"),
            E::KeyAlgorithmInvalid => {
                Problem::new(S::UNPROCESSABLE_ENTITY, "key_algorithm_invalid")
            }
            E::SadInvalid => Problem::new(S::BAD_REQUEST, "sad_invalid"),
            E::SadExpired => Problem::new(S::BAD_REQUEST, "sad_expired"),
            E::SadUsed => Problem::new(S::BAD_REQUEST, "sad_already_used"),
            E::HashNotAuthorized => Problem::new(S::BAD_REQUEST, "hash_not_authorized"),
            E::SignaturesExceeded => Problem::new(S::BAD_REQUEST, "signatures_exceeded"),
            E::NoKeyStore => Problem::new(S::CONFLICT, "remote_signing_unavailable"),
            E::Otp(e) => e.into(),
            E::Issuance(e) => e.into(),
            E::Unexpected(e) => Problem::internal(e),
            E::Unavailable => Problem::database_unavailable(),
        }
    }
}

impl From<RemoteSigningError> for CscError {
    fn from(e: RemoteSigningError) -> Self {
        Problem::from(e).into()
    }
}

/// `Authorization: Bearer <API key with scope sign>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check_bearer")]
pub struct CscAuth(Principal);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let Some(state) = req.data::<AppState>() else {
        return Err(CscError::from(Problem::internal("application state missing")).into());
    };
    state
        .accounts
        .authenticate(&bearer.token)
        .await
        .map_err(|e| CscError::from(Problem::from(e)).into())
}

impl CscAuth {
    /// The key's integration (None: `all_integrations`), once scope `sign` is checked.
    /// Operators do not sign for citizens.
    fn integration(&self) -> Result<Option<String>, CscError> {
        self.0.require_usable().map_err(Problem::from)?;
        self.0.require_scope(Scope::Sign).map_err(Problem::from)?;
        match &self.0 {
            Principal::ApiKey {
                scopes,
                integration_id,
                ..
            } => Ok((!scopes.contains(&Scope::AllIntegrations)).then(|| integration_id.clone())),
            // `require_scope` already refused them; kept exhaustive.
            Principal::Operator { .. } => Err(Problem::from(OperatorsError::Forbidden {
                needed: "API key scope sign".into(),
            })
            .into()),
        }
    }
}

fn check_hash_algo(oid: &Option<String>) -> Result<(), CscError> {
    match oid.as_deref() {
        None | Some(SHA256) => Ok(()),
        Some(_) => Err(RemoteSigningError::HashAlgoUnsupported.into()),
    }
}

/// The hashes under either name (`hashes`, or CSC v1's `hash`); both must then agree.
fn hashes_of(hashes: Option<Vec<String>>, hash: Option<Vec<String>>) -> Result<Hashes, CscError> {
    let list = match (hashes, hash) {
        (Some(a), None) | (None, Some(a)) => a,
        (Some(a), Some(b)) if a == b => a,
        // None, or two different lists: `parse` refuses the empty one as a count error.
        _ => Vec::new(),
    };
    Ok(Hashes::parse(&list)?)
}

#[derive(Object)]
struct InfoView {
    specs: String,
    name: String,
    logo: String,
    region: String,
    lang: String,
    description: String,
    #[oai(rename = "authType")]
    auth_type: Vec<String>,
    methods: Vec<String>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
struct ListRequest {
    /// The subscriber: the citizen's 12-digit ID number (CCCD).
    #[oai(rename = "userID", validator(max_length = 64))]
    user_id: String,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
struct ListView {
    #[oai(rename = "credentialIDs")]
    credential_ids: Vec<String>,
}

#[derive(Object)]
struct CredentialRequest {
    #[oai(rename = "credentialID", validator(max_length = 64))]
    credential_id: String,
    /// The subscriber's ID number; optional (CSC v2): when given, it must be the
    /// credential's subscriber.
    #[oai(rename = "userID", validator(max_length = 64))]
    user_id: Option<String>,
    /// `none`, `single` or `chain` (default `single`).
    #[oai(validator(max_length = 16))]
    certificates: Option<String>,
}

#[derive(Object)]
struct KeyView {
    /// `enabled` while the certificate is active, else `disabled`.
    status: String,
    /// The key algorithm's OID, then the one signature algorithm (`signAlgo`) the key signs
    /// with (clients such as pyHanko pick their mechanism from this list).
    algo: Vec<String>,
    len: u32,
    /// The named curve's OID (EC keys).
    #[oai(nullable, skip_serializing_if_is_none)]
    curve: Option<String>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
struct CertView {
    /// `valid`, `revoked`, `suspended`, `expired`, or `pending_acceptance` before the
    /// subscriber accepted it.
    status: String,
    /// Base64 DER: the credential's certificate, then (with `chain`) issuing CA and root.
    certificates: Vec<String>,
    serial_number: String,
    valid_from: DateTime<Utc>,
    valid_to: DateTime<Utc>,
}

#[derive(Object)]
struct CredentialInfoView {
    key: KeyView,
    cert: CertView,
    /// `explicit`: each authorisation needs an OTP sent to the subscriber's phone.
    #[oai(rename = "authMode")]
    auth_mode: String,
    #[oai(rename = "SCAL")]
    scal: String,
    /// Most hashes one authorisation covers.
    multisign: u32,
    lang: String,
}

#[derive(Object)]
struct HashesRequest {
    #[oai(rename = "credentialID", validator(max_length = 64))]
    credential_id: String,
    /// The subscriber's ID number; optional (CSC v2): when given, it must be the
    /// credential's subscriber.
    #[oai(rename = "userID", validator(max_length = 64))]
    user_id: Option<String>,
    /// Base64 SHA-256 values, in the order they will be signed.
    #[oai(validator(max_items = 100))]
    hashes: Option<Vec<String>>,
    /// CSC v1's name for `hashes` (pyHanko's CSC client sends it); one of the two.
    #[oai(validator(max_items = 100))]
    hash: Option<Vec<String>>,
    #[oai(rename = "numSignatures")]
    num_signatures: Option<u32>,
    /// `2.16.840.1.101.3.4.2.1` (SHA-256), the only one accepted.
    #[oai(rename = "hashAlgorithmOID", validator(max_length = 64))]
    hash_algorithm_oid: Option<String>,
    /// CSC v1's name for `hashAlgorithmOID` (pyHanko's CSC client sends it).
    #[oai(rename = "hashAlgo", validator(max_length = 64))]
    hash_algo: Option<String>,
}

#[derive(Object)]
struct AuthorizeRequest {
    #[oai(rename = "credentialID", validator(max_length = 64))]
    credential_id: String,
    /// The subscriber's ID number; optional (CSC v2): when given, it must be the
    /// credential's subscriber.
    #[oai(rename = "userID", validator(max_length = 64))]
    user_id: Option<String>,
    #[oai(rename = "numSignatures")]
    num_signatures: u32,
    #[oai(validator(max_items = 100))]
    hashes: Option<Vec<String>>,
    /// CSC v1's name for `hashes` (pyHanko's CSC client sends it); one of the two.
    #[oai(validator(max_items = 100))]
    hash: Option<Vec<String>>,
    #[oai(rename = "hashAlgorithmOID", validator(max_length = 64))]
    hash_algorithm_oid: Option<String>,
    /// CSC v1's name for `hashAlgorithmOID` (pyHanko's CSC client sends it).
    #[oai(rename = "hashAlgo", validator(max_length = 64))]
    hash_algo: Option<String>,
    /// The code sent by `credentials/sendOTP` for exactly these hashes.
    #[oai(rename = "OTP", validator(max_length = 16))]
    otp: String,
}

#[derive(Object)]
struct AuthorizeView {
    /// Signature activation data: single use, for exactly the authorised hashes.
    #[oai(rename = "SAD")]
    sad: String,
    /// Seconds.
    #[oai(rename = "expiresIn")]
    expires_in: i64,
}

#[derive(Object)]
struct SignHashRequest {
    #[oai(rename = "credentialID", validator(max_length = 64))]
    credential_id: String,
    /// The subscriber's ID number; optional (CSC v2): when given, it must be the
    /// credential's subscriber.
    #[oai(rename = "userID", validator(max_length = 64))]
    user_id: Option<String>,
    #[oai(rename = "SAD", validator(max_length = 128))]
    sad: String,
    #[oai(validator(max_items = 100))]
    hashes: Option<Vec<String>>,
    /// CSC v1's name for `hashes` (pyHanko's CSC client sends it); one of the two.
    #[oai(validator(max_items = 100))]
    hash: Option<Vec<String>>,
    #[oai(rename = "hashAlgorithmOID", validator(max_length = 64))]
    hash_algorithm_oid: Option<String>,
    /// CSC v1's name for `hashAlgorithmOID` (pyHanko's CSC client sends it).
    #[oai(rename = "hashAlgo", validator(max_length = 64))]
    hash_algo: Option<String>,
    /// `1.2.840.10045.4.3.2` (ECDSA with SHA-256, P-256 keys) or `1.2.840.113549.1.1.11`
    /// (RSA PKCS#1 v1.5 with SHA-256).
    #[oai(rename = "signAlgo", validator(max_length = 64))]
    sign_algo: String,
}

#[derive(Object)]
struct SignaturesView {
    /// Base64, in the order of `hashes`: PKCS#1 v1.5 for RSA, DER `ECDSA-Sig-Value` for EC.
    signatures: Vec<String>,
}

#[derive(ApiResponse)]
enum InfoResponse {
    #[oai(status = 200)]
    Ok(Json<InfoView>),
}

#[derive(ApiResponse)]
enum ListResponse {
    #[oai(status = 200)]
    Ok(Json<ListView>),
}

#[derive(ApiResponse)]
enum CredentialInfoResponse {
    #[oai(status = 200)]
    Ok(Json<CredentialInfoView>),
}

#[derive(ApiResponse)]
enum AuthorizeResponse {
    #[oai(status = 200)]
    Ok(Json<AuthorizeView>),
}

#[derive(ApiResponse)]
enum SignHashResponse {
    #[oai(status = 200)]
    Ok(Json<SignaturesView>),
}

pub struct CscApi;

#[OpenApi]
impl CscApi {
    /// The service's description (public).
    #[oai(path = "/info", method = "post")]
    async fn info(&self) -> InfoResponse {
        InfoResponse::Ok(Json(InfoView {
            specs: "2.0.0.0".into(),
            name: "ca-enrol remote signing".into(),
            logo: String::new(),
            region: "VN".into(),
            lang: "vi".into(),
            description: "Ký số từ xa: khóa do nhà cung cấp giữ trong HSM, mỗi lần ký xác nhận \
                          bằng OTP gửi tới số điện thoại của thuê bao."
                .into(),
            auth_type: vec!["external".into()],
            methods: [
                "credentials/list",
                "credentials/info",
                "credentials/sendOTP",
                "credentials/authorize",
                "signatures/signHash",
            ]
            .map(String::from)
            .to_vec(),
        }))
    }

    /// The subscriber's credentials the key's integration reaches (scope `sign`).
    #[oai(path = "/credentials/list", method = "post")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: CscAuth,
        body: Json<ListRequest>,
    ) -> Result<ListResponse, CscError> {
        let integration = auth.integration()?;
        let ids = state
            .remote_signing
            .list(&body.0.user_id, integration)
            .await?;
        Ok(ListResponse::Ok(Json(ListView {
            credential_ids: ids,
        })))
    }

    /// A credential: key, certificate (and chain), status, `authMode` and `SCAL`.
    #[oai(path = "/credentials/info", method = "post")]
    async fn credential_info(
        &self,
        state: Data<&AppState>,
        auth: CscAuth,
        body: Json<CredentialRequest>,
    ) -> Result<CredentialInfoResponse, CscError> {
        let integration = auth.integration()?;
        let b = body.0;
        let v = state
            .remote_signing
            .info(&b.credential_id, b.user_id.as_deref(), integration)
            .await?;
        let engine = base64::engine::general_purpose::STANDARD;
        let mut certificates = Vec::new();
        match b.certificates.as_deref().unwrap_or("single") {
            "none" => {}
            "single" => certificates.push(engine.encode(&v.cert_der)),
            "chain" => {
                certificates.push(engine.encode(&v.cert_der));
                // The sealing certificate's chain: the issuing CA, then the root.
                certificates.extend(
                    state
                        .ca
                        .sealing
                        .chain_der()
                        .iter()
                        .map(|c| engine.encode(c)),
                );
            }
            _ => return Err(Problem::new(StatusCode::BAD_REQUEST, "certificates_invalid").into()),
        }
        let status = match v.status.as_str() {
            "active" => "valid",
            other => other,
        };
        Ok(CredentialInfoResponse::Ok(Json(CredentialInfoView {
            key: KeyView {
                status: if v.usable { "enabled" } else { "disabled" }.into(),
                algo: vec![
                    v.key_algorithm.key_oid().into(),
                    v.key_algorithm.sign_algo().into(),
                ],
                len: v.key_algorithm.bits(),
                curve: v.key_algorithm.curve_oid().map(String::from),
            },
            cert: CertView {
                status: status.into(),
                certificates,
                serial_number: v.serial,
                valid_from: v.not_before,
                valid_to: v.not_after,
            },
            auth_mode: "explicit".into(),
            scal: "2".into(),
            multisign: u32::try_from(MAX_HASHES).unwrap_or(u32::MAX),
            lang: "vi".into(),
        })))
    }

    /// Sends the subscriber an OTP for exactly these hashes (an extension of CSC's
    /// `sendOTP`, which names only the credential: SCAL2 binds the code to the hashes).
    /// Answers 201 with the code-sent body every OTP send of this service answers.
    #[oai(path = "/credentials/sendOTP", method = "post")]
    async fn send_otp(
        &self,
        state: Data<&AppState>,
        auth: CscAuth,
        body: Json<HashesRequest>,
    ) -> Result<ChallengeCreated, CscError> {
        let integration = auth.integration()?;
        let b = body.0;
        check_hash_algo(&b.hash_algorithm_oid)?;
        check_hash_algo(&b.hash_algo)?;
        let hashes = hashes_of(b.hashes, b.hash)?;
        if b.num_signatures.is_some_and(|n| n as usize != hashes.len()) {
            return Err(RemoteSigningError::HashCount.into());
        }
        let sent = state
            .remote_signing
            .send_otp(
                &auth.0.actor(),
                &b.credential_id,
                b.user_id.as_deref(),
                integration,
                hashes,
            )
            .await?;
        Ok(sent.into())
    }

    /// Checks the OTP and returns a SAD for exactly these hashes: single use, valid 5 minutes.
    #[oai(path = "/credentials/authorize", method = "post")]
    async fn authorize(
        &self,
        state: Data<&AppState>,
        auth: CscAuth,
        body: Json<AuthorizeRequest>,
    ) -> Result<AuthorizeResponse, CscError> {
        let integration = auth.integration()?;
        let b = body.0;
        check_hash_algo(&b.hash_algorithm_oid)?;
        check_hash_algo(&b.hash_algo)?;
        let hashes = hashes_of(b.hashes, b.hash)?;
        let authorized = state
            .remote_signing
            .authorize(
                &auth.0.actor(),
                &b.credential_id,
                b.user_id.as_deref(),
                integration,
                hashes,
                b.num_signatures as usize,
                &b.otp,
            )
            .await?;
        debug_assert_eq!(authorized.expires_in, SAD_TTL_SECONDS);
        Ok(AuthorizeResponse::Ok(Json(AuthorizeView {
            sad: authorized.sad,
            expires_in: authorized.expires_in,
        })))
    }

    /// Signs the hashes under the SAD. Refused: a wrong, expired or used SAD, a hash it did not
    /// authorise, more hashes than it authorised, a certificate not active now (read from
    /// the database at this call).
    #[oai(path = "/signatures/signHash", method = "post")]
    async fn sign_hash(
        &self,
        state: Data<&AppState>,
        auth: CscAuth,
        body: Json<SignHashRequest>,
    ) -> Result<SignHashResponse, CscError> {
        let integration = auth.integration()?;
        let b = body.0;
        check_hash_algo(&b.hash_algorithm_oid)?;
        check_hash_algo(&b.hash_algo)?;
        let hashes = hashes_of(b.hashes, b.hash)?;
        let signatures = state
            .remote_signing
            .sign_hash(
                &auth.0.actor(),
                &b.credential_id,
                b.user_id.as_deref(),
                integration,
                &b.sad,
                hashes,
                &b.sign_algo,
            )
            .await?;
        let engine = base64::engine::general_purpose::STANDARD;
        Ok(SignHashResponse::Ok(Json(SignaturesView {
            signatures: signatures.iter().map(|s| engine.encode(s)).collect(),
        })))
    }
}

pub type CscService = OpenApiService<CscApi, ()>;

/// The CSC service, mounted under `/csc/v2`.
pub fn service(public_base_url: &str) -> CscService {
    OpenApiService::new(CscApi, "ca-enrol CSC API", "2.0.0.0")
        .description(
            "Remote signing (Cloud Signature Consortium API v2). Callers: integration API keys \
             with scope `sign`, naming the subscriber by `userID` (the citizen's ID number; \
             optional except for `credentials/list`). \
             Errors carry CSC's `error` and `error_description` (English) and this service's \
             stable `code` and `message_vi`.",
        )
        .server(format!("{public_base_url}/csc/v2"))
}
