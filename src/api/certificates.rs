//! Certificate issuance for a verified, contracted enrolment (record-then-sign).

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::auth::Auth;
use super::problem::{problem, ApiError};
use crate::app::AppState;
use crate::issuance::{IdempotencyKey, IssuanceError};
use crate::operators::Scope;

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
    #[oai(validator(max_length = 65536))]
    csr: String,
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
    #[oai(skip_serializing_if_is_none)]
    supersedes: Option<String>,
}

#[derive(ApiResponse)]
pub(super) enum IssueResponse {
    #[oai(status = 201)]
    Created(Json<IssuedCertificateView>),
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
            IssuanceError::Replacement(e) => e.into(),
            IssuanceError::IdempotencyKeyInvalid => ApiError::BadRequest(problem(
                "idempotency_key_invalid",
                en,
                "Idempotency-Key phải gồm 1-128 ký tự ASCII nhìn thấy được.",
            )),
            IssuanceError::IdempotencyKeyReused => ApiError::Conflict(problem(
                "idempotency_key_reused",
                en,
                "Idempotency-Key này đã được dùng cho một yêu cầu khác.",
            )),
            IssuanceError::IdempotencyKeyInUse => ApiError::Conflict(problem(
                "idempotency_key_in_use",
                en,
                "Một yêu cầu khác với Idempotency-Key này vẫn đang được xử lý; hãy thử lại sau.",
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
    /// returns the same certificate, also while the first request is still running (it waits
    /// for that answer; `409 idempotency_key_in_use` if none comes within 30 s); another issuance for the enrolment answers 409
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
        let key = IdempotencyKey::parse(idempotency_key.0)?;
        let issued = state
            .issuance
            .issue_for_enrolment(&auth.0.actor(), &id.0, body.0.csr.into_bytes(), key)
            .await?;
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
