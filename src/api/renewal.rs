//! Renewal and rekey of an active certificate. The old certificate is revoked (`superseded`)
//! only in the transaction that accepts the new one.
//!
//! Who may ask, as for the other lifecycle operations: an RA officer, or the subscriber's app
//! through an integration API key with scope `lifecycle`. Neither request changes the old
//! certificate, so no OTP is asked here: the subscriber confirms with the SMS codes of the
//! steps that follow, the new contract's signature (renewal) and the new certificate's
//! acceptance (both), which need an API key with scope `enrol` (or, for the contract, the
//! role `operator`).

use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::auth::{require_lifecycle_caller, require_reach, Auth};
use super::certificates::{remote_view, view_of, IssueResponse, KeyChoice};
use super::contracts::ContractView;
use super::lifecycle::ApiTags;
use super::problem::ApiError;
use crate::app::AppState;
use crate::issuance::IdempotencyKey;
use crate::problem::Problem;
use crate::renewal::RenewalError;
use crate::store::Owned;
use poem::http::StatusCode;

#[derive(Object)]
#[oai(example)]
struct RenewRequest {
    /// A code from `GET /api/v1/packages`. The free package (`PS0`) only if this ID number
    /// never used it.
    #[oai(validator(max_length = 32))]
    package_code: String,
}

impl Example for RenewRequest {
    fn example() -> Self {
        Self {
            package_code: "PS12".into(),
        }
    }
}

/// A renewal begun: its enrolment (`verified`, same identity) and the draft contract to sign.
#[derive(Object)]
struct RenewalView {
    /// The certificate renewed; it stays valid until the new one is accepted.
    renews: String,
    /// The renewal's enrolment: sign its contract (`POST /contracts/{id}/otp`, then
    /// `POST /contracts/{id}/sign`), then `POST /enrolments/{enrolment_id}/certificate` with a
    /// CSR (or `key_mode: "remote"`: a new provider-held key and credential, never the renewed
    /// certificate's key), then accept the certificate.
    enrolment_id: String,
    contract: ContractView,
}

#[derive(ApiResponse)]
enum RenewResponse {
    #[oai(status = 201)]
    Created(Json<RenewalView>),
}

#[derive(Object)]
struct RekeyRequest {
    /// PKCS#10 certificate request in PEM with the subscriber's new key pair (RSA 2048-8192
    /// with exponent 65537, or ECDSA P-256/P-384, SHA-2 signature). A key certified before,
    /// the replaced certificate's included, is refused. Subject and extensions are ignored.
    /// Required unless `key_mode` is `remote`.
    #[oai(validator(max_length = 65536))]
    csr: Option<String>,
    /// `csr` (default) or `remote` (no CSR: the provider generates the new key in its HSM,
    /// for remote signing through the CSC API; the answer names the new credential, and the
    /// old one stays with the replaced certificate, which stops signing once superseded).
    #[oai(validator(max_length = 16))]
    key_mode: Option<String>,
    /// With `remote`: `P-256` (default) or `RSA-2048`.
    #[oai(validator(max_length = 16))]
    key_algorithm: Option<String>,
}

impl From<RenewalError> for Problem {
    fn from(e: RenewalError) -> Self {
        use StatusCode as S;
        match e {
            RenewalError::NotFound => Problem::new(S::NOT_FOUND, "certificate_not_found"),
            RenewalError::NotReplaceable { status } => {
                Problem::new(S::CONFLICT, "certificate_not_renewable").arg("status", status)
            }
            RenewalError::Pending {
                kind,
                enrolment_id,
                serial,
            } => Problem::new(S::CONFLICT, "replacement_pending")
                .arg("what", kind.article())
                .arg("enrolment_id", enrolment_id)
                .arg(
                    "certificate",
                    serial
                        .map(|s| format!(", certificate {s}"))
                        .unwrap_or_default(),
                ),
            RenewalError::EnrolmentOpen { enrolment_id } => {
                Problem::new(S::CONFLICT, "enrolment_already_open")
                    .arg("enrolment_id", enrolment_id)
            }
            RenewalError::Contract(e) => e.into(),
            RenewalError::Store(e) => e.into(),
        }
    }
}

pub struct RenewalApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::CertificateLifecycle")]
impl RenewalApi {
    /// Renew an `active` certificate with a package: opens a `verified` enrolment with the
    /// same identity and a draft contract for the package. The citizen then signs the
    /// contract with an SMS code, the app requests the certificate with a CSR
    /// (`POST /enrolments/{enrolment_id}/certificate`, scope `enrol`) and the citizen accepts
    /// it with an SMS code; accepting revokes this certificate (`superseded`) in the same
    /// transaction. Rejecting the new one, or not accepting it in time, leaves this one as it
    /// was; withdrawing the renewal's enrolment abandons a renewal before its certificate.
    /// Callers: role `ra_officer`, or an API key with scope `lifecycle` (the subscriber
    /// confirms with the contract's and the acceptance's codes). `409 certificate_not_renewable`
    /// unless `active` within its validity (a suspended one must be resumed first);
    /// `409 replacement_pending` while a renewal or rekey of it is in progress;
    /// `409 free_package_already_used` for the free package once used;
    /// `409 enrolment_already_open` when the ID number has another open enrolment.
    #[oai(path = "/certificates/:serial/renew", method = "post")]
    async fn renew(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        serial: Path<String>,
        body: Json<RenewRequest>,
    ) -> Result<RenewResponse, ApiError> {
        require_lifecycle_caller(&auth.0)?;
        require_reach(&state, &auth.0, Owned::Certificate(serial.0.clone())).await?;
        let started = state
            .renewals
            .renew(&auth.0.actor(), &serial.0, body.0.package_code.trim())
            .await?;
        Ok(RenewResponse::Created(Json(RenewalView {
            renews: started.renews,
            enrolment_id: started.enrolment_id,
            contract: ContractView::from(&started.contract),
        })))
    }

    /// Rekey an `active` certificate: a new certificate for the key of the CSR, same identity,
    /// enrolment, contract and package, with the same notAfter (the remaining term); no new
    /// contract. Answers 201 with the new certificate `pending_acceptance` and `supersedes`;
    /// the citizen accepts it with an SMS code (`POST /certificates/{serial}/acceptance`,
    /// scope `enrol`), which revokes this certificate (`superseded`) in the same transaction.
    /// Rejecting the new one, or not accepting it in time, leaves this one as it was.
    /// Callers: role `ra_officer`, or an API key with scope `lifecycle`. A retry with the same
    /// `Idempotency-Key` and body returns the same certificate, also while the first request
    /// is still running; when the issuing process stopped between recording and signing,
    /// `503 issuance_interrupted` with `Retry-After` until the record is cancelled, then the
    /// retry issues. `409 key_already_certified` for
    /// a key certified before (the old one included); `409 certificate_not_renewable`,
    /// `409 replacement_pending` as for renewal; `422 csr_*` for a refused CSR.
    /// With `key_mode: "remote"` (no CSR) the provider generates the new key (for a citizen
    /// who signs remotely): the answer carries the new `credential_id`; a repeated request
    /// answers the same pending rekey; `409 remote_signing_unavailable` without a key store.
    #[oai(path = "/certificates/:serial/rekey", method = "post")]
    async fn rekey(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        serial: Path<String>,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        body: Json<RekeyRequest>,
    ) -> Result<IssueResponse, ApiError> {
        require_lifecycle_caller(&auth.0)?;
        require_reach(&state, &auth.0, Owned::Certificate(serial.0.clone())).await?;
        let key = IdempotencyKey::parse(idempotency_key.0)?;
        let b = body.0;
        match KeyChoice::parse(b.key_mode.as_deref(), b.csr, b.key_algorithm.as_deref())? {
            KeyChoice::Csr(csr) => {
                let issued = state
                    .issuance
                    .rekey(&auth.0.actor(), &serial.0, csr, key)
                    .await?;
                Ok(IssueResponse::Created(Json(view_of(
                    &issued,
                    &state.ca.chain_pem,
                ))))
            }
            // A retry finds the pending remote rekey, so no Idempotency-Key is needed.
            KeyChoice::Remote(algorithm) => {
                let (issued, credential) = state
                    .remote_signing
                    .rekey(&auth.0.actor(), &serial.0, algorithm)
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
