//! Certificate issuance for a verified, contracted enrolment (record-then-sign).

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::auth::{require_reach, Auth};
use super::problem::ApiError;
use crate::app::AppState;
use crate::ca::CaError;
use crate::issuance::{IdempotencyKey, IssuanceError};
use crate::operators::Scope;
use crate::problem::Problem;
use crate::remote_signing::KeyAlgorithm;
use crate::store::Owned;
use poem::http::StatusCode;

#[derive(Tags)]
enum ApiTags {
    /// Certificates.
    Certificates,
}

#[derive(Object)]
struct IssueCertificate {
    /// PKCS#10 certificate request in PEM, made with the subscriber's new key pair (RSA
    /// 2048-8192 with exponent 65537, or ECDSA P-256/P-384, SHA-2 signature). Its subject and
    /// extensions are ignored: the certificate carries the enrolment's verified identity.
    /// Required unless `key_mode` is `remote`.
    #[oai(validator(max_length = 65536))]
    csr: Option<String>,
    /// `csr` (default: the subscriber holds the key and sends `csr`) or `remote` (no CSR:
    /// the provider generates the key in its HSM and holds it for remote signing through
    /// the CSC API; the answer names the credential).
    #[oai(validator(max_length = 16))]
    key_mode: Option<String>,
    /// With `remote`: `P-256` (default) or `RSA-2048`.
    #[oai(validator(max_length = 16))]
    key_algorithm: Option<String>,
}

#[derive(Object)]
pub(super) struct IssuedCertificateView {
    /// Lower-case hex.
    serial: String,
    /// `pending_acceptance`: valid only once the subscriber confirms the acceptance record.
    status: String,
    enrolment_id: String,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    certificate_pem: String,
    /// Issuing CA, then root.
    chain_pem: String,
    /// For a renewal or rekey: the certificate this one replaces once accepted (it is
    /// revoked, reason `superseded`, in the transaction that accepts this one).
    #[oai(nullable, skip_serializing_if_is_none)]
    supersedes: Option<String>,
    /// With `key_mode: "remote"`: the CSC `credentialID` of the key the provider holds.
    #[oai(nullable, skip_serializing_if_is_none)]
    pub(super) credential_id: Option<String>,
}

#[derive(ApiResponse)]
pub(super) enum IssueResponse {
    #[oai(status = 201)]
    Created(Json<IssuedCertificateView>),
}

impl From<IssuanceError> for Problem {
    fn from(e: IssuanceError) -> Self {
        use StatusCode as S;
        match e {
            IssuanceError::Rejected(ca) => {
                let p = Problem::new(S::UNPROCESSABLE_ENTITY, ca.code());
                match ca {
                    CaError::CsrTooLarge { max } => p.arg("max", max),
                    CaError::CsrKeyTooSmall { bits } => p.arg("bits", bits),
                    CaError::CsrMalformed(detail)
                    | CaError::CsrKeyUnsupported(detail)
                    | CaError::CsrSignatureAlgorithm(detail)
                    | CaError::SubjectInvalid(detail)
                    | CaError::ValidityInvalid(detail) => p.arg("detail", detail),
                    _ => p,
                }
            }
            IssuanceError::KeyReused => Problem::new(S::CONFLICT, "key_already_certified"),
            IssuanceError::NotReady(detail) => {
                Problem::in_context(S::CONFLICT, "enrolment_not_ready", "issuance")
                    .arg("detail", detail)
            }
            IssuanceError::AlreadyIssued => Problem::new(S::CONFLICT, "certificate_already_issued"),
            IssuanceError::NotFound => Problem::new(S::NOT_FOUND, "enrolment_not_found"),
            IssuanceError::Unexpected(e) => Problem::internal(e),
            IssuanceError::Unavailable => Problem::database_unavailable(),
            IssuanceError::Replacement(e) => e.into(),
            IssuanceError::IdempotencyKeyInvalid => {
                Problem::new(S::BAD_REQUEST, "idempotency_key_invalid")
            }
            IssuanceError::IdempotencyKeyReused => {
                Problem::new(S::CONFLICT, "idempotency_key_reused")
            }
            IssuanceError::IdempotencyKeyInUse => {
                Problem::new(S::CONFLICT, "idempotency_key_in_use")
            }
            // 503: nothing is wrong with the request; it issues once recovery has run.
            IssuanceError::Interrupted {
                retry_after_seconds,
            } => {
                let mut p = Problem::new(S::SERVICE_UNAVAILABLE, "issuance_interrupted")
                    .arg("seconds", retry_after_seconds);
                p.retry_after_seconds = Some(retry_after_seconds);
                p
            }
        }
    }
}

pub struct CertificatesApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Certificates")]
impl CertificatesApi {
    /// Issue the enrolment's certificate from a CSR (API key with scope `enrol`). Needs a
    /// `contract_signed` enrolment; answers 201 with the certificate in status
    /// `pending_acceptance` and the chain. A retry with the same `Idempotency-Key` and body
    /// returns the same certificate, also while the first request is still running (it waits
    /// for that answer). Another issuance for the enrolment answers 409
    /// `certificate_already_issued`; a key certified before answers 409
    /// `key_already_certified`; a refused CSR answers 422 with a `csr_*` code. When the
    /// issuing process stopped after recording the certificate and before signing it (no
    /// certificate exists), a retry or a new request answers 503 `issuance_interrupted` with
    /// `Retry-After` (a few minutes, until the record is cancelled); after that the same
    /// request, with the same key pair, issues.
    #[oai(path = "/enrolments/:id/certificate", method = "post")]
    async fn issue(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<String>,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        body: Json<IssueCertificate>,
    ) -> Result<IssueResponse, ApiError> {
        auth.0.require_scope(Scope::Enrol)?;
        require_reach(&state, &auth.0, Owned::Enrolment(id.0.clone())).await?;
        let key = IdempotencyKey::parse(idempotency_key.0)?;
        let b = body.0;
        match KeyChoice::parse(b.key_mode.as_deref(), b.csr, b.key_algorithm.as_deref())? {
            KeyChoice::Csr(csr) => {
                let issued = state
                    .issuance
                    .issue_for_enrolment(&auth.0.actor(), &id.0, csr, key)
                    .await?;
                Ok(IssueResponse::Created(Json(view_of(
                    &issued,
                    &state.ca.chain_pem,
                ))))
            }
            // The enrolment issues once: a retry finds its credential, with or without a key.
            KeyChoice::Remote(algorithm) => {
                let (issued, credential) = state
                    .remote_signing
                    .issue(&auth.0.actor(), &id.0, algorithm)
                    .await
                    .map_err(Problem::from)?;
                Ok(IssueResponse::Created(Json(remote_view(
                    &issued,
                    credential,
                    &state.ca.chain_pem,
                ))))
            }
        }
    }
}

/// The key a certificate is made for: the citizen's, by a CSR (`key_mode` "csr", the default),
/// or one the provider generates and holds (`key_mode` "remote", no CSR).
pub(super) enum KeyChoice {
    Csr(Vec<u8>),
    Remote(KeyAlgorithm),
}

impl KeyChoice {
    pub(super) fn parse(
        key_mode: Option<&str>,
        csr: Option<String>,
        key_algorithm: Option<&str>,
    ) -> Result<Self, ApiError> {
        match (key_mode.unwrap_or("csr"), csr) {
            ("csr", Some(csr)) if key_algorithm.is_none() => Ok(Self::Csr(csr.into_bytes())),
            ("remote", None) => KeyAlgorithm::parse(key_algorithm.unwrap_or("P-256"))
                .map(Self::Remote)
                .map_err(|e| Problem::from(e).into()),
            _ => Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "key_mode_invalid").into()),
        }
    }
}

/// A certificate for a key the provider holds, with the credential that signs with it.
pub(super) fn remote_view(
    issued: &crate::issuance::IssuedCertificate,
    credential: String,
    chain_pem: &str,
) -> IssuedCertificateView {
    let mut view = view_of(issued, chain_pem);
    view.credential_id = Some(credential);
    view
}

pub(super) fn view_of(
    issued: &crate::issuance::IssuedCertificate,
    chain_pem: &str,
) -> IssuedCertificateView {
    IssuedCertificateView {
        serial: issued.serial.clone(),
        status: issued.status.as_str().into(),
        enrolment_id: issued.enrolment_id.clone(),
        not_before: issued.not_before,
        not_after: issued.not_after,
        certificate_pem: crate::ca::certificate_to_pem(&issued.cert_der),
        chain_pem: chain_pem.to_string(),
        supersedes: issued.supersedes.clone(),
        credential_id: None,
    }
}
