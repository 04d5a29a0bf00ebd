//! Certificate issuance for a verified, contracted enrolment (record-then-sign).

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::types::{ParseFromJSON, ToJSON};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::auth::Auth;
use super::problem::ApiError;
use crate::app::AppState;
use crate::ca::CaError;
use crate::issuance::IssuanceError;
use crate::operators::Scope;
use crate::problem::Problem;
use crate::store::{IdempotencyRow, StoreError, Tx};
use poem::http::StatusCode;

#[derive(Tags)]
enum ApiTags {
    /// Certificates.
    Certificates,
}

const OPERATION: &str = "issue_certificate";

#[derive(Object)]
struct IssueCertificate {
    /// PKCS#10 certificate request in PEM, made with the subscriber's new key pair (RSA
    /// 2048-8192 with exponent 65537, or ECDSA P-256/P-384, SHA-2 signature). Its subject and
    /// extensions are ignored: the certificate carries the enrolment's verified identity.
    #[oai(validator(max_length = 65536))]
    csr: String,
}

#[derive(Object, Clone)]
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
    #[oai(skip_serializing_if_is_none)]
    supersedes: Option<String>,
}

#[derive(ApiResponse)]
pub(super) enum IssueResponse {
    #[oai(status = 201)]
    Created(Json<IssuedCertificateView>),
}

/// A caller's `Idempotency-Key` for an operation that issues a certificate: a retry with the
/// same key and request gets the first answer back, remembered in the transaction that
/// stores the certificate.
pub(super) struct Idempotency {
    principal: String,
    key: Option<String>,
    operation: &'static str,
    request_sha256: String,
}

impl Idempotency {
    pub(super) fn new(
        principal: String,
        key: Option<String>,
        operation: &'static str,
        request: &str,
    ) -> Result<Self, ApiError> {
        let key = key.filter(|k| !k.is_empty());
        if let Some(key) = &key {
            if key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(
                    Problem::new(StatusCode::BAD_REQUEST, "idempotency_key_invalid").into(),
                );
            }
        }
        Ok(Self {
            principal,
            key,
            operation,
            request_sha256: crate::secrets::sha256_hex(request.as_bytes()),
        })
    }

    /// The first answer to this key, if it was used; `409 idempotency_key_reused` when it
    /// came with another request.
    pub(super) async fn replay(
        &self,
        state: &AppState,
    ) -> Result<Option<IssuedCertificateView>, ApiError> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        let (p, k) = (self.principal.clone(), key.clone());
        let Some(stored) = state
            .store
            .read(move |tx| tx.idempotency_record(&p, &k))
            .await?
        else {
            return Ok(None);
        };
        if stored.operation != self.operation || stored.request_sha256 != self.request_sha256 {
            return Err(Problem::new(StatusCode::CONFLICT, "idempotency_key_reused").into());
        }
        let value = serde_json::from_str(&stored.response_body).map_err(ApiError::unexpected)?;
        let view = IssuedCertificateView::parse_from_json(Some(value))
            .map_err(|e| ApiError::unexpected(e.into_message()))?;
        Ok(Some(view))
    }

    /// Remembers `view` as the answer to this key, in the caller's transaction.
    pub(super) fn remember(
        self,
        tx: &mut Tx<'_>,
        view: &IssuedCertificateView,
        at: DateTime<Utc>,
    ) -> Result<(), IssuanceError> {
        let Some(key) = self.key else { return Ok(()) };
        tx.insert_idempotency_record(&IdempotencyRow {
            principal: self.principal,
            idempotency_key: key,
            operation: self.operation.into(),
            request_sha256: self.request_sha256,
            response_status: 201,
            response_body: view.to_json_string(),
            created_at: at.naive_utc(),
        })
        .map_err(|e: StoreError| IssuanceError::Unexpected(e.to_string()))
    }
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
        }
    }
}

pub struct CertificatesApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Certificates")]
impl CertificatesApi {
    /// Issue the enrolment's certificate from a CSR (API key with scope `enrol`). Needs a
    /// `contract_signed` enrolment; answers 201 with the certificate in status
    /// `pending_acceptance` and the chain. A retry with the same `Idempotency-Key` and body
    /// returns the same certificate; another issuance for the enrolment answers 409
    /// `certificate_already_issued`; a key certified before answers 409
    /// `key_already_certified`; a refused CSR answers 422 with a `csr_*` code.
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
        let idem = Idempotency::new(
            auth.0.actor().to_string(),
            idempotency_key.0,
            OPERATION,
            &format!("{}\n{}", id.0, body.csr),
        )?;
        if let Some(view) = idem.replay(state.0).await? {
            return Ok(IssueResponse::Created(Json(view)));
        }
        let issuer = state.issuer.clone();
        let actor = auth.0.actor();
        let chain_pem = state.ca.chain_pem.to_string();
        let enrolment_id = id.0.clone();
        let csr = body.0.csr.into_bytes();
        let acceptance = state.acceptance.clone();
        let now = state.clock.now();
        let issued = tokio::task::spawn_blocking(move || {
            issuer.issue_for_enrolment_blocking(&actor, &enrolment_id, &csr, |tx, issued| {
                // The acceptance record is made with the certificate, in its transaction.
                acceptance
                    .make_record(tx, &issued.serial, now)
                    .map_err(|e| IssuanceError::Unexpected(e.to_string()))?;
                idem.remember(tx, &view_of(issued, &chain_pem), now)
            })
        })
        .await
        .map_err(ApiError::unexpected)??;
        Ok(IssueResponse::Created(Json(view_of(
            &issued,
            &state.ca.chain_pem,
        ))))
    }
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
    }
}
