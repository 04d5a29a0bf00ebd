//! Certificate issuance for a verified, contracted enrolment (record-then-sign).

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::types::{ParseFromJSON, ToJSON};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::auth::Auth;
use super::problem::{problem, ApiError};
use crate::app::AppState;
use crate::issuance::IssuanceError;
use crate::operators::Scope;
use crate::store::{IdempotencyRow, StoreError, Tx};

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
                return Err(ApiError::BadRequest(problem(
                    "idempotency_key_invalid",
                    "Idempotency-Key must be 1-128 visible ASCII characters.",
                    "Idempotency-Key phải gồm 1-128 ký tự ASCII nhìn thấy được.",
                )));
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
            return Err(ApiError::Conflict(problem(
                "idempotency_key_reused",
                "This Idempotency-Key was used for another request.",
                "Idempotency-Key này đã được dùng cho một yêu cầu khác.",
            )));
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

impl From<IssuanceError> for ApiError {
    fn from(e: IssuanceError) -> Self {
        let en = e.to_string();
        match e {
            IssuanceError::Rejected(ca) => ApiError::Unprocessable(problem(
                ca.code(),
                ca.to_string(),
                match ca.code() {
                    "csr_too_large" => "Yêu cầu chứng thư (CSR) quá lớn.",
                    "csr_malformed" => "Không đọc được yêu cầu chứng thư (CSR PKCS#10).",
                    "csr_signature_invalid" => {
                        "Chữ ký của CSR không hợp lệ (không chứng minh được quyền sở hữu khóa)."
                    }
                    "csr_key_too_small" => "Khóa RSA phải dài ít nhất 2048 bit.",
                    "csr_rsa_exponent" => "Số mũ công khai RSA phải là 65537.",
                    "csr_key_unsupported" => {
                        "Loại khóa không được chấp nhận (RSA hoặc ECDSA P-256/P-384)."
                    }
                    "csr_signature_algorithm" => "Thuật toán ký của CSR phải thuộc họ SHA-2.",
                    _ => "Dữ liệu không thể đưa vào chứng thư số.",
                },
            )),
            IssuanceError::KeyReused => ApiError::Conflict(problem(
                "key_already_certified",
                en,
                "Khóa công khai này đã được chứng thực trước đây; hãy tạo cặp khóa mới.",
            )),
            IssuanceError::NotReady(_) => ApiError::Conflict(problem(
                "enrolment_not_ready",
                en,
                "Hồ sơ chưa sẵn sàng để cấp chứng thư (cần hợp đồng đã ký).",
            )),
            IssuanceError::AlreadyIssued => ApiError::Conflict(problem(
                "certificate_already_issued",
                en,
                "Chứng thư số của hồ sơ này đã được cấp.",
            )),
            IssuanceError::NotFound => ApiError::NotFound(problem(
                "enrolment_not_found",
                "No enrolment with this id.",
                "Không tìm thấy hồ sơ.",
            )),
            IssuanceError::Unexpected(e) => ApiError::unexpected(e),
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
