//! Packages and service contracts: the catalogue (public), a contract for a verified
//! enrolment, its document, the signing code and the signature.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::types::Example;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::auth::{require_enrol_or, require_reach, Auth};
use super::immutable_document::{wants_pdf, ImmutableDocument, PdfDocument};
use super::negotiated::Negotiated;
use super::otp_views::ChallengeCreated;
use super::problem::ApiError;
use crate::app::AppState;
use crate::contract::{
    signature_from_base64, ContractError, ContractStatus, ContractSummary, Package, SignRequest,
    PDF_DRAFT, PDF_SIGNED,
};
use crate::drawn_signature::SignatureError;
use crate::operators::Role;
use crate::problem::Problem;
use crate::store::Owned;
use poem::http::StatusCode;

#[derive(Tags)]
enum ApiTags {
    /// Packages and service contracts: choose a package, read and sign the contract.
    Contracts,
}

/// One package on offer.
#[derive(Object)]
struct PackageView {
    /// e.g. `PS0`.
    code: String,
    name: String,
    price_vnd: i64,
    term_months: u32,
    /// The free citizen package: one per ID number ever.
    free: bool,
    /// The certificate profile issued under it, e.g. `personal`.
    certificate_profile: String,
}

impl From<Package> for PackageView {
    fn from(p: Package) -> Self {
        Self {
            code: p.code,
            name: p.name,
            price_vnd: p.price_vnd,
            term_months: p.term_months,
            free: p.free,
            certificate_profile: p.certificate_profile,
        }
    }
}

#[derive(Object)]
struct PackageList {
    packages: Vec<PackageView>,
}

#[derive(Object)]
#[oai(example)]
struct ContractRequest {
    /// A code from `GET /api/v1/packages`.
    #[oai(validator(max_length = 32))]
    package_code: String,
}

impl Example for ContractRequest {
    fn example() -> Self {
        Self {
            package_code: "PS0".into(),
        }
    }
}

/// A contract's state; the document itself is at `document_url`.
#[derive(Object)]
#[oai(example)]
pub(super) struct ContractView {
    id: String,
    /// `HD-<year>-<6 digits>`, unique and in order per year (a number reserved for a
    /// contract whose creation was then refused stays unused).
    number: String,
    enrolment_id: String,
    package_code: String,
    price_vnd: i64,
    term_months: u32,
    certificate_profile: String,
    /// The template the document was rendered from, e.g. `ps-personal-v1`.
    template_version: String,
    /// SHA-256 (hex) of the document; the signing code is bound to it.
    document_sha256: String,
    document_url: String,
    /// `draft`, `signed` or `superseded` (a newer contract replaced this draft).
    status: String,
    created_at: DateTime<Utc>,
    #[oai(nullable)]
    signed_at: Option<DateTime<Utc>>,
    /// SHA-256 (hex) of the signature image.
    #[oai(nullable)]
    signature_sha256: Option<String>,
    /// The OTP challenge that confirmed the signature.
    #[oai(nullable)]
    otp_challenge_id: Option<String>,
    /// Where that code was sent, masked.
    #[oai(nullable)]
    otp_masked_destination: Option<String>,
}

impl Example for ContractView {
    fn example() -> Self {
        let at = DateTime::<Utc>::from_timestamp(1_767_580_200, 0).unwrap_or_default();
        let id = "7a1e4f7c-2d55-4b8e-9a3c-5b7f1e0c2d44";
        Self {
            id: id.into(),
            number: "HD-2026-000123".into(),
            enrolment_id: "5f0c8a4e-3b7e-4d0a-9a53-2f1f5c3c9b11".into(),
            package_code: "PS0".into(),
            price_vnd: 0,
            term_months: 12,
            certificate_profile: "personal".into(),
            template_version: "ps-personal-v1".into(),
            document_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                .into(),
            document_url: format!("/api/v1/contracts/{id}/document"),
            status: ContractStatus::Draft.as_str().into(),
            created_at: at,
            signed_at: None,
            signature_sha256: None,
            otp_challenge_id: None,
            otp_masked_destination: None,
        }
    }
}

impl From<&ContractSummary> for ContractView {
    fn from(c: &ContractSummary) -> Self {
        let signing = c.signing.as_ref();
        Self {
            id: c.id.clone(),
            number: c.number.clone(),
            enrolment_id: c.enrolment_id.clone(),
            package_code: c.package_code.clone(),
            price_vnd: c.price_vnd,
            term_months: c.term_months,
            certificate_profile: c.certificate_profile.clone(),
            template_version: c.template_version.clone(),
            document_sha256: c.document_sha256.clone(),
            document_url: format!("/api/v1/contracts/{}/document", c.id),
            status: c.status.as_str().into(),
            created_at: c.created_at,
            signed_at: signing.map(|s| s.signed_at),
            signature_sha256: signing.map(|s| s.signature_sha256.clone()),
            otp_challenge_id: signing.map(|s| s.otp_challenge_id.clone()),
            otp_masked_destination: signing.map(|s| s.otp_masked_destination.clone()),
        }
    }
}

#[derive(ApiResponse)]
enum CreatedResponse {
    #[oai(status = 201)]
    Created(Json<ContractView>),
}

#[derive(Object)]
#[oai(example)]
struct SignInput {
    /// The citizen ticked "I agree"; must be `true`.
    agree: bool,
    /// The handwritten signature drawn on screen: a PNG, base64 (a `data:image/png;base64,`
    /// prefix is accepted), at most `contract.signature.max_bytes` (default 512 KiB) and
    /// within the configured dimensions.
    signature_image: String,
    /// The 6-digit code received by SMS (more than 16 characters: 422 `otp_code_too_long`).
    otp_code: String,
    /// From `POST /contracts/{id}/otp`; when absent the latest code for the contract is used.
    #[oai(validator(max_length = 64))]
    challenge_id: Option<String>,
    /// The citizen's IP address as the integration saw it (IPv4 or IPv6); shown in the signed
    /// contract's evidence.
    #[oai(validator(max_length = 45))]
    client_ip: Option<String>,
    /// The citizen's user agent as the integration saw it; shown in the signed contract's
    /// evidence.
    #[oai(validator(max_length = 512))]
    user_agent: Option<String>,
}

impl Example for SignInput {
    fn example() -> Self {
        Self {
            agree: true,
            signature_image: "iVBORw0KGgoAAAANSUhEUgAAAlgAAADI…".into(),
            otp_code: "042917".into(),
            challenge_id: Some("0b6f7f0e-8a55-4c38-b1d8-0d6f0f2a7c3e".into()),
            client_ip: Some("203.0.113.7".into()),
            user_agent: Some("Mozilla/5.0 (Linux; Android 14)".into()),
        }
    }
}

impl From<ContractError> for Problem {
    fn from(e: ContractError) -> Self {
        use ContractError as E;
        use StatusCode as S;
        match e {
            E::NotFound => Problem::new(S::NOT_FOUND, "contract_not_found"),
            E::EnrolmentNotFound => Problem::new(S::NOT_FOUND, "enrolment_not_found"),
            E::PackageNotFound(package) => {
                Problem::new(S::UNPROCESSABLE_ENTITY, "package_not_found").arg("package", package)
            }
            E::EnrolmentNotVerified { status } => {
                Problem::new(S::CONFLICT, "enrolment_not_verified").arg("status", status)
            }
            E::FreePackageAlreadyUsed { contract_number } => {
                Problem::new(S::CONFLICT, "free_package_already_used")
                    .arg("contract_number", contract_number)
            }
            E::AlreadySigned => Problem::new(S::CONFLICT, "contract_already_signed"),
            E::Superseded => Problem::new(S::CONFLICT, "contract_superseded"),
            E::NotSigned => Problem::new(S::CONFLICT, "contract_not_signed"),
            E::NoPdf => Problem::new(S::NOT_FOUND, "contract_pdf_not_found"),
            E::AgreementRequired => {
                Problem::in_context(S::UNPROCESSABLE_ENTITY, "agreement_required", "contract")
            }
            E::Signature(SignatureError::TooLarge { max_bytes }) => {
                Problem::new(S::PAYLOAD_TOO_LARGE, "signature_image_too_large")
                    .arg("max_bytes", max_bytes)
            }
            E::Signature(SignatureError::Invalid(reason)) => {
                Problem::new(S::UNPROCESSABLE_ENTITY, "signature_image_invalid")
                    .arg("reason", reason)
            }
            E::Signature(SignatureError::Dimensions {
                width,
                height,
                min_width,
                min_height,
                max_width,
                max_height,
            }) => Problem::new(S::UNPROCESSABLE_ENTITY, "signature_image_dimensions")
                .arg("width", width)
                .arg("height", height)
                .arg("min_width", min_width)
                .arg("min_height", min_height)
                .arg("max_width", max_width)
                .arg("max_height", max_height),
            E::Otp(e) => Problem::from(e),
            E::NotReady(detail) => {
                Problem::in_context(S::CONFLICT, "enrolment_not_ready", "contract")
                    .arg("detail", detail)
            }
            E::Store(e) => Problem::from(e),
        }
    }
}

fn contract_id_example() -> String {
    "7a1e4f7c-2d55-4b8e-9a3c-5b7f1e0c2d44".into()
}

fn enrolment_id_example() -> String {
    "5f0c8a4e-3b7e-4d0a-9a53-2f1f5c3c9b11".into()
}

pub struct ContractsApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Contracts")]
impl ContractsApi {
    /// The packages on offer. **Public**: no authentication; the catalogue is what a
    /// provider advertises.
    #[oai(path = "/packages", method = "get")]
    async fn packages(&self, state: Data<&AppState>) -> Result<Json<PackageList>, ApiError> {
        let packages = state.contracts.packages().await?;
        Ok(Json(PackageList {
            packages: packages.into_iter().map(PackageView::from).collect(),
        }))
    }

    /// Create the service contract for a `verified` enrolment with the chosen package (API
    /// key with scope `enrol`, or role `operator`). A new contract replaces an unsigned one
    /// (it becomes `superseded`). `409 enrolment_not_verified` in any other status;
    /// `409 free_package_already_used` for a free package when the ID number already used
    /// its free one.
    #[oai(path = "/enrolments/:id/contract", method = "post")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "enrolment_id_example")] id: Path<String>,
        body: Json<ContractRequest>,
    ) -> Result<CreatedResponse, ApiError> {
        require_enrol_or(&auth.0, &[Role::Operator])?;
        require_reach(&state, &auth.0, Owned::Enrolment(id.0.clone())).await?;
        let c = state
            .contracts
            .create(&auth.0.actor(), &id.0, body.0.package_code.trim())
            .await?;
        Ok(CreatedResponse::Created(Json(ContractView::from(&c))))
    }

    /// A contract's status and fields (API key with scope `enrol`, or roles `operator`,
    /// `ra_officer`).
    #[oai(path = "/contracts/:id", method = "get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "contract_id_example")] id: Path<String>,
    ) -> Result<Json<ContractView>, ApiError> {
        require_enrol_or(&auth.0, &[Role::Operator, Role::RaOfficer])?;
        require_reach(&state, &auth.0, Owned::Contract(id.0.clone())).await?;
        let c = state.contracts.get(&id.0).await?;
        Ok(Json(ContractView::from(&c)))
    }

    /// The contract document to show the citizen: exactly the bytes stored when it was made,
    /// with their SHA-256 as `ETag` and `Repr-Digest`. HTML by default; `Accept:
    /// application/pdf` gives the draft as PDF/A-2b, whose SHA-256 the signing code is bound
    /// to (API key with scope `enrol`, or roles `operator`, `ra_officer`).
    #[oai(path = "/contracts/:id/document", method = "get")]
    async fn document(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "contract_id_example")] id: Path<String>,
        #[oai(name = "Accept")] accept: Header<Option<String>>,
    ) -> Result<Negotiated<ImmutableDocument>, ApiError> {
        require_enrol_or(&auth.0, &[Role::Operator, Role::RaOfficer])?;
        require_reach(&state, &auth.0, Owned::Contract(id.0.clone())).await?;
        if wants_pdf(accept.0.as_deref()) {
            let doc = state.contracts.pdf(&id.0, PDF_DRAFT).await?;
            return Ok(Negotiated(ImmutableDocument::pdf(
                doc.bytes,
                &doc.sha256,
                &doc.number,
            )?));
        }
        let doc = state.contracts.document(&id.0).await?;
        Ok(Negotiated(ImmutableDocument::html(doc.bytes, &doc.sha256)?))
    }

    /// The signed contract as PDF/A-2b: the draft's content with the citizen's drawn
    /// signature and the evidence of the signing code (time in Vietnam time, channel, masked
    /// destination, challenge, the draft's SHA-256, relayed IP and user agent). `409
    /// contract_not_signed` until it is signed (API key with scope `enrol`, or roles
    /// `operator`, `ra_officer`).
    #[oai(path = "/contracts/:id/signed-document", method = "get")]
    async fn signed_document(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "contract_id_example")] id: Path<String>,
    ) -> Result<PdfDocument, ApiError> {
        require_enrol_or(&auth.0, &[Role::Operator, Role::RaOfficer])?;
        require_reach(&state, &auth.0, Owned::Contract(id.0.clone())).await?;
        let doc = state.contracts.pdf(&id.0, PDF_SIGNED).await?;
        PdfDocument::new(doc.bytes, &doc.sha256, &doc.number)
    }

    /// Send the signing code by SMS to the enrolment's phone, bound to the contract's
    /// document digest (API key with scope `enrol`, or role `operator`). A new code replaces
    /// the previous one; `429 otp_resend_too_soon` or `429 otp_rate_limited` carry
    /// `Retry-After` and `retry_after_seconds`.
    #[oai(path = "/contracts/:id/otp", method = "post")]
    async fn send_otp(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "contract_id_example")] id: Path<String>,
    ) -> Result<ChallengeCreated, ApiError> {
        require_enrol_or(&auth.0, &[Role::Operator])?;
        require_reach(&state, &auth.0, Owned::Contract(id.0.clone())).await?;
        let sent = state.contracts.send_otp(&auth.0.actor(), &id.0).await?;
        Ok(sent.into())
    }

    /// Sign: agreement, the drawn signature (PNG, checked by content) and the SMS code. The
    /// contract becomes `signed` and immutable, keeping the signature image and its hash, the
    /// time, the challenge and the masked destination; the enrolment moves to
    /// `contract_signed`. A wrong code answers `422 otp_invalid` with `attempts_left`.
    /// Signing again answers `409 contract_already_signed` (API key with scope `enrol`, or
    /// role `operator`).
    #[oai(path = "/contracts/:id/sign", method = "post")]
    async fn sign(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "contract_id_example")] id: Path<String>,
        body: Json<SignInput>,
    ) -> Result<Json<ContractView>, ApiError> {
        require_enrol_or(&auth.0, &[Role::Operator])?;
        require_reach(&state, &auth.0, Owned::Contract(id.0.clone())).await?;
        let input = body.0;
        let max_bytes = state.contracts.signature_limits().max_bytes;
        let signature_png = signature_from_base64(&input.signature_image, max_bytes)?;
        let c = state
            .contracts
            .sign(
                &auth.0.actor(),
                &id.0,
                SignRequest {
                    agree: input.agree,
                    signature_png,
                    otp_code: input.otp_code,
                    challenge_id: input.challenge_id,
                    client_ip: super::acceptance::relayed_ip(input.client_ip.as_deref())?,
                    user_agent: super::acceptance::relayed_user_agent(input.user_agent.as_deref())?,
                },
            )
            .await?;
        Ok(Json(ContractView::from(&c)))
    }
}
