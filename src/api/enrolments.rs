//! eKYC intake: applications, identity documents, state, withdrawal and the applicant's view
//! of the video-call queue.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem::{Body, IntoResponse};
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::registry::{
    MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::types::{Example, ParseFromJSON, ToJSON};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use validator::Validate;

use super::auth::{require_enrol_or, require_reach, Auth};
use super::problem::ApiError;
use super::validation::{field_problems, sha256_hex};
use crate::app::AppState;
use crate::enrolment::identity::FieldErrors;
use crate::enrolment::{
    AddressForm, Application, ApplicationForm, ConsentForm, Document, DocumentKind, DocumentReader,
    EnrolmentError, EnrolmentSummary, IdempotencyKey, ImageType, Source, Status, Submitted,
    Submitter,
};
use crate::operators::{Principal, Role, Scope};
use crate::problem::Problem;
use crate::secrets::sha256_hex as digest;
use crate::store::Owned;
use crate::verification::CallState;
use poem::http::StatusCode;

#[derive(Tags)]
enum ApiTags {
    /// eKYC intake: applications from VNeID, the provider's app and one-stop counters.
    Enrolments,
}

#[derive(Object, Validate)]
struct AddressInput {
    /// House number, street, hamlet: the detail line.
    #[validate(length(max = 500, code = "text_too_long"))]
    line: String,
    /// Ward, commune or special zone (phường/xã/đặc khu) of `province`, from the official list
    /// of 1 July 2025 (e.g. `Phường Cửa Nam`; the unit type may be left out). Another is
    /// refused with `ward_unknown`; stored under its official name.
    #[validate(length(max = 200, code = "text_too_long"))]
    ward: String,
    /// One of the 34 provinces and centrally-run cities since 1 July 2025, by its official
    /// name (`Thành phố Hà Nội`, `Tỉnh Nghệ An`; `Tỉnh`/`Thành phố` may be left out, case and,
    /// where unambiguous, diacritics do not matter). Another is refused with
    /// `province_unknown`; stored under its official name, which the certificate's `ST` carries.
    #[validate(length(max = 200, code = "text_too_long"))]
    province: String,
}

#[derive(Object, Validate)]
struct IdentityInput {
    /// 12-digit personal ID number (số định danh cá nhân).
    #[validate(length(max = 32, code = "text_too_long"))]
    id_number: String,
    /// Full name with diacritics, as on the ID card.
    #[validate(length(max = 200, code = "text_too_long"))]
    full_name: String,
    /// `YYYY-MM-DD`.
    #[validate(length(max = 32, code = "text_too_long"))]
    date_of_birth: String,
    /// `male`/`female` (also `Nam`/`Nữ`).
    #[validate(length(max = 16, code = "text_too_long"))]
    sex: String,
    #[validate(length(max = 128, code = "text_too_long"))]
    nationality: String,
    #[validate(nested)]
    permanent_address: AddressInput,
    #[validate(nested)]
    current_address: Option<AddressInput>,
    /// `YYYY-MM-DD`.
    #[validate(length(max = 32, code = "text_too_long"))]
    id_issue_date: String,
    #[validate(length(max = 200, code = "text_too_long"))]
    id_issue_place: String,
    /// `YYYY-MM-DD`; absent for cards without one.
    #[validate(length(max = 32, code = "text_too_long"))]
    id_expiry_date: Option<String>,
}

#[derive(Object, Validate)]
struct ContactInput {
    /// Vietnamese mobile number: `0…` (10 digits) or `+84…`.
    #[validate(length(max = 32, code = "text_too_long"))]
    phone: String,
    #[validate(length(max = 254, code = "text_too_long"))]
    email: Option<String>,
}

#[derive(Object, Validate)]
struct ConsentInput {
    /// Version of the consent text shown to the applicant.
    #[validate(length(max = 128, code = "text_too_long"))]
    version: String,
    /// SHA-256 (hex) of the consent text shown.
    #[validate(custom(function = "sha256_hex", code = "sha256_format"))]
    text_sha256: String,
    /// When consent was given (RFC 3339).
    #[validate(length(max = 64, code = "text_too_long"))]
    given_at: String,
    /// `vneid`, `app`, `counter` or `web`.
    #[validate(length(max = 16, code = "text_too_long"))]
    channel: String,
    /// The citizen's signature drawn under the consent text on the desk's pad: base64 PNG
    /// (a canvas's `data:image/png;base64,` URL accepted), with visible ink. Required when
    /// `source` is `counter` (422 `consent_signature_required`: the consent is the citizen's
    /// act, witnessed by the operator, not the operator's word); refused for other sources
    /// (`consent_signature_unexpected`). Stored sealed with its SHA-256 and the witness.
    signature_image: Option<String>,
}

/// One application. Send it with an `Idempotency-Key` header; a retry with the same key and
/// body gets the first answer back.
#[derive(Object, Validate)]
#[oai(example)]
struct EnrolmentRequest {
    /// `app_ekyc` (API key with scope `enrol`) or `counter` (operator session, role
    /// `operator`; the operator is recorded). `vneid` is refused here (403 `vneid_hub_only`):
    /// VNeID applications come only as registrations signed by the hub
    /// (`POST /api/v1/vneid/registrations`).
    #[validate(length(max = 16, code = "text_too_long"))]
    source: String,
    #[validate(nested)]
    identity: IdentityInput,
    #[validate(nested)]
    contact: ContactInput,
    /// Required: without recorded consent there is no enrolment.
    #[validate(nested)]
    consent: Option<ConsentInput>,
}

impl Example for EnrolmentRequest {
    fn example() -> Self {
        Self {
            source: "app_ekyc".into(),
            identity: IdentityInput {
                id_number: "001090012345".into(),
                full_name: "Nguyễn Văn An".into(),
                date_of_birth: "1990-05-17".into(),
                sex: "male".into(),
                nationality: "Việt Nam".into(),
                permanent_address: AddressInput {
                    line: "Số 12 phố Hàng Bài".into(),
                    ward: "Phường Cửa Nam".into(),
                    province: "Thành phố Hà Nội".into(),
                },
                current_address: None,
                id_issue_date: "2021-06-01".into(),
                id_issue_place: "Cục Cảnh sát quản lý hành chính về trật tự xã hội".into(),
                id_expiry_date: Some("2030-05-17".into()),
            },
            contact: ContactInput {
                phone: "0912345678".into(),
                email: Some("an.nguyen@example.vn".into()),
            },
            consent: Some(ConsentInput {
                version: "2025-07".into(),
                text_sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                    .into(),
                given_at: "2026-01-05T09:30:00+07:00".into(),
                channel: "app".into(),
                signature_image: None,
            }),
        }
    }
}

impl EnrolmentRequest {
    /// The shape checks, then the parse into domain types (`parse`: as of now, or of the
    /// caller's time); every failing field in one 422.
    fn check(
        self,
        parse: impl FnOnce(&ApplicationForm) -> Result<Application, FieldErrors>,
    ) -> Result<Application, Box<Problem>> {
        let shape = self.validate();
        let (app, parse_errors) = match parse(&self.into_form()) {
            Ok(app) => (Some(app), Ok(())),
            Err(e) => (None, Err(e)),
        };
        if let Some(problem) = field_problems(shape, parse_errors) {
            return Err(Box::new(problem));
        }
        app.ok_or_else(|| Box::new(Problem::internal("parse without result")))
    }

    fn into_form(self) -> ApplicationForm {
        let address = |a: AddressInput| AddressForm {
            line: a.line,
            ward: a.ward,
            province: a.province,
        };
        let i = self.identity;
        ApplicationForm {
            source: self.source,
            id_number: i.id_number,
            full_name: i.full_name,
            date_of_birth: i.date_of_birth,
            sex: i.sex,
            nationality: i.nationality,
            permanent_address: address(i.permanent_address),
            current_address: i.current_address.map(address),
            id_issue_date: i.id_issue_date,
            id_issue_place: i.id_issue_place,
            id_expiry_date: i.id_expiry_date,
            phone: self.contact.phone,
            email: self.contact.email,
            consent: self.consent.map(|c| ConsentForm {
                version: c.version,
                text_sha256: c.text_sha256,
                given_at: c.given_at,
                channel: c.channel,
                signature_image: c.signature_image,
            }),
        }
    }
}

/// What `POST /api/v1/enrolments` makes of a body as of `now`, short of the caller's identity
/// and the store: `None` when the body is not an `EnrolmentRequest` in JSON (the framework
/// answers 400 before the handler), else the application or the 422 naming every failing
/// field. The fuzz target `intake` enters the intake's parsers through it.
pub fn parse_application_json(
    body: &[u8],
    now: DateTime<Utc>,
) -> Option<Result<Application, Box<Problem>>> {
    // As poem-openapi's `Json` payload reads a body: empty is `null`.
    let value = if body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(body).ok()?
    };
    let request = EnrolmentRequest::parse_from_json(Some(value)).ok()?;
    Some(request.check(|form| Application::parse(form, now, crate::vn::date_of(now))))
}

/// The citizen's fields of a registration the VNeID hub signed (`identity`, `contact`,
/// `consent` without `channel`, in the intake's shapes), checked and parsed exactly as an
/// intake body of source `vneid`: the same field paths and en/vi refusals. A claim of the
/// wrong shape answers 400 `registration_claims_invalid`.
pub(super) fn hub_application(
    claims: &serde_json::Value,
    parse: impl FnOnce(&ApplicationForm) -> Result<Application, FieldErrors>,
) -> Result<Application, Box<Problem>> {
    let mut consent = claims["consent"].clone();
    if let serde_json::Value::Object(c) = &mut consent {
        c.insert("channel".into(), Source::Vneid.as_str().into());
    }
    let body = serde_json::json!({
        "source": Source::Vneid.as_str(),
        "identity": claims["identity"],
        "contact": claims["contact"],
        "consent": consent,
    });
    let request = EnrolmentRequest::parse_from_json(Some(body)).map_err(|e| {
        Box::new(
            Problem::new(StatusCode::BAD_REQUEST, "registration_claims_invalid")
                .arg("detail", e.into_message()),
        )
    })?;
    request.check(parse)
}

/// An enrolment's state and what happens next.
#[derive(Object)]
#[oai(example)]
pub(super) struct EnrolmentView {
    id: String,
    /// `vneid`, `app_ekyc` or `counter`.
    source: String,
    /// `awaiting_documents`, `awaiting_video_call`, `verified`, `contract_signed`,
    /// `certificate_issued`, `issuance_interrupted` (the certificate was recorded but its
    /// process stopped before signing it: none exists; cancelled automatically within
    /// minutes, then `contract_signed` again), `rejected`, `expired` or `withdrawn`.
    status: String,
    /// `upload_documents`, `video_call`, `sign_contract`, `await_certificate`,
    /// `accept_certificate` (a certificate awaits acceptance), `retry_issuance_later` (the
    /// issuance was interrupted), `retry_issuance` (an earlier issuance was cancelled before
    /// a certificate existed; request it again, with the same key pair if wished),
    /// `apply_again` or `none`.
    next_step: String,
    next_step_message: String,
    next_step_message_vi: String,
    /// How the identity was verified: `vneid_level2`, `counter_operator`,
    /// `app_ekyc_documents`, `video_call` or `prior_video_call`.
    #[oai(nullable)]
    verified_by: Option<String>,
    /// Document kinds received.
    documents: Vec<String>,
    /// Document kinds still needed before the application can move on.
    documents_missing: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Example for EnrolmentView {
    fn example() -> Self {
        let at = DateTime::<Utc>::from_timestamp(1_767_580_200, 0).unwrap_or_default();
        Self {
            id: "5f0c8a4e-3b7e-4d0a-9a53-2f1f5c3c9b11".into(),
            source: "app_ekyc".into(),
            status: Status::AwaitingDocuments.as_str().into(),
            next_step: "upload_documents".into(),
            next_step_message: crate::enrolment::NextStep::UploadDocuments
                .describe()
                .en
                .into(),
            next_step_message_vi: crate::enrolment::NextStep::UploadDocuments
                .describe()
                .vi
                .into(),
            verified_by: None,
            documents: vec!["id_front".into()],
            documents_missing: vec!["id_back".into(), "portrait".into(), "liveness".into()],
            created_at: at,
            updated_at: at,
        }
    }
}

impl From<&EnrolmentSummary> for EnrolmentView {
    fn from(s: &EnrolmentSummary) -> Self {
        let next = s.next_step().describe();
        // Only while they are awaited: a renewal's enrolment reuses the renewed one's
        // verification and has none of its own.
        let missing = if s.source.needs_documents() && s.status == Status::AwaitingDocuments {
            DocumentKind::ALL
                .into_iter()
                .filter(|k| !s.documents.contains(k))
                .map(|k| k.as_str().to_string())
                .collect()
        } else {
            vec![]
        };
        Self {
            id: s.id.clone(),
            source: s.source.as_str().into(),
            status: s.shown_status().into(),
            next_step: s.next_step().as_str().into(),
            next_step_message: next.en.into_owned(),
            next_step_message_vi: next.vi.into_owned(),
            verified_by: s.verified_by.clone(),
            documents: s.documents.iter().map(|k| k.as_str().to_string()).collect(),
            documents_missing: missing,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[derive(ApiResponse)]
enum SubmitResponse {
    /// Recorded (also the answer to a retry with the same key and body).
    #[oai(status = 201)]
    Created(Json<EnrolmentView>),
}

#[derive(Object)]
struct DocumentStored {
    /// `id_front`, `id_back`, `portrait` or `liveness`.
    kind: String,
    /// Recognised from the content: `image/jpeg` or `image/png`.
    content_type: String,
    size_bytes: i64,
    /// Size and SHA-256 (hex) of the image as stored: decoded and re-encoded, so metadata
    /// and trailing bytes of the upload are gone and these differ from the uploaded file's.
    sha256: String,
    enrolment: EnrolmentView,
}

#[derive(ApiResponse)]
enum DocumentStoredResponse {
    #[oai(status = 200)]
    Stored(Json<DocumentStored>),
}

/// A decrypted document. Written by hand because the derive gives each content type its own
/// status code, and this one status carries either image type.
struct DocumentResponse(Document);

impl ApiResponse for DocumentResponse {
    fn meta() -> MetaResponses {
        let binary = || {
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                format: Some("binary"),
                ..MetaSchema::new("string")
            }))
        };
        MetaResponses {
            responses: vec![MetaResponse {
                description:
                    "The image as uploaded, JPEG or PNG. Sent with `Cache-Control: no-store`.",
                status: Some(200),
                status_range: None,
                content: vec![
                    MetaMediaType {
                        content_type: ImageType::Jpeg.content_type(),
                        schema: binary(),
                    },
                    MetaMediaType {
                        content_type: ImageType::Png.content_type(),
                        schema: binary(),
                    },
                ],
                headers: vec![],
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}

impl IntoResponse for DocumentResponse {
    fn into_response(self) -> poem::Response {
        poem::Response::builder()
            .content_type(self.0.image_type.content_type())
            // Face images must not linger in caches along the way.
            .header("Cache-Control", "no-store")
            .body(self.0.bytes)
    }
}

/// Where an applicant stands in the video-call queue.
#[derive(Object)]
#[oai(example)]
struct VideoCallView {
    verification_id: String,
    /// `waiting`, `in_call` (an operator took the call: join `room_ref`) or `done`.
    state: String,
    /// 1 = next. Only while waiting.
    #[oai(nullable)]
    position: Option<i64>,
    /// From recent handling times and the operators on duty. Only while waiting.
    #[oai(nullable)]
    estimated_wait_seconds: Option<i64>,
    /// The call room to join, once an operator has taken the call.
    #[oai(nullable)]
    room_ref: Option<String>,
    /// Calls missed so far.
    no_shows: i32,
}

impl Example for VideoCallView {
    fn example() -> Self {
        let waiting = CallState::Waiting {
            position: 3,
            estimated_wait: chrono::Duration::seconds(1200),
        };
        Self {
            verification_id: "0b6f7f0e-8a55-4c38-b1d8-0d6f0f2a7c3e".into(),
            state: waiting.as_str().into(),
            position: Some(3),
            estimated_wait_seconds: Some(1200),
            room_ref: None,
            no_shows: 0,
        }
    }
}

impl From<EnrolmentError> for Problem {
    fn from(e: EnrolmentError) -> Self {
        use EnrolmentError as E;
        use StatusCode as S;
        match e {
            E::IdempotencyKeyReused => Problem::new(S::CONFLICT, "idempotency_key_reused"),
            E::AlreadyOpen { enrolment_id } => Problem::new(S::CONFLICT, "enrolment_already_open")
                .arg("enrolment_id", enrolment_id),
            E::CounterNeedsOperator => Problem::in_context(S::FORBIDDEN, "forbidden", "counter"),
            E::NotFound => Problem::new(S::NOT_FOUND, "enrolment_not_found"),
            E::DocumentTooLarge { max_bytes } => {
                Problem::new(S::PAYLOAD_TOO_LARGE, "document_too_large").arg("max_bytes", max_bytes)
            }
            E::DocumentTypeUnsupported => {
                Problem::new(S::UNSUPPORTED_MEDIA_TYPE, "document_type_unsupported")
            }
            E::DocumentUndecodable => Problem::new(S::UNPROCESSABLE_ENTITY, "document_undecodable"),
            E::DocumentTooSmall {
                min_width,
                min_height,
            } => Problem::new(S::UNPROCESSABLE_ENTITY, "document_too_small")
                .arg("min_width", min_width)
                .arg("min_height", min_height),
            E::DocumentsNotAccepted { status } => {
                Problem::new(S::CONFLICT, "documents_not_accepted").arg("status", status)
            }
            E::DocumentNotFound => Problem::new(S::NOT_FOUND, "document_not_found"),
            E::DocumentAccessDenied => Problem::new(S::FORBIDDEN, "document_access_denied"),
            // 404 like a missing one (it is gone for good), with its own code.
            E::DocumentDestroyed => Problem::new(S::NOT_FOUND, "document_destroyed"),
            // Logged by the domain with the document; nothing failed in this request.
            E::DocumentStoreUnavailable(_) => {
                let mut p = Problem::new(S::SERVICE_UNAVAILABLE, "document_store_unavailable");
                p.retry_after_seconds = Some(DOCUMENT_STORE_RETRY_AFTER_SECONDS);
                p
            }
            // Stored bytes lost or altered: a server-side fault, with its own code (logged by
            // the domain with the document).
            E::DocumentUnreadable { .. } => {
                Problem::new(S::INTERNAL_SERVER_ERROR, "document_unreadable")
            }
            E::CertificateIssued => {
                Problem::new(S::CONFLICT, "withdrawal_refused_certificate_issued")
            }
            E::Closed { status } => {
                Problem::new(S::CONFLICT, "enrolment_closed").arg("status", status)
            }
            E::Store(e) => Problem::from(e),
        }
    }
}

/// The `Retry-After` of `document_store_unavailable`: a few of the store's request timeouts.
const DOCUMENT_STORE_RETRY_AFTER_SECONDS: u32 = 10;

fn parse_kind(kind: &str) -> Result<DocumentKind, ApiError> {
    DocumentKind::parse(kind)
        .ok_or_else(|| Problem::new(StatusCode::NOT_FOUND, "document_kind_unknown").into())
}

fn principal_id(p: &Principal) -> &str {
    match p {
        Principal::Operator { id, .. } | Principal::ApiKey { id, .. } => id,
    }
}

fn enrolment_id_example() -> String {
    "5f0c8a4e-3b7e-4d0a-9a53-2f1f5c3c9b11".into()
}

pub struct EnrolmentsApi;

#[OpenApi(prefix_path = "/v1/enrolments", tag = "ApiTags::Enrolments")]
impl EnrolmentsApi {
    /// Submit an application. Source `app_ekyc` needs an API key with scope `enrol`;
    /// `counter` needs an operator session with role `operator`; `vneid` answers 403
    /// `vneid_hub_only` (see `POST /api/v1/vneid/registrations`). Every failing field
    /// is reported in one 422; an ID number with an open enrolment answers 409
    /// `enrolment_already_open`; a reused `Idempotency-Key` with another body answers 409
    /// `idempotency_key_reused`.
    #[oai(path = "/", method = "post")]
    async fn submit(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        /// 1-128 visible ASCII characters, unique per request the caller means.
        #[oai(name = "Idempotency-Key", example = "idempotency_key_example")]
        idempotency_key: Header<String>,
        body: Json<EnrolmentRequest>,
    ) -> Result<SubmitResponse, ApiError> {
        let principal = auth.0;
        let submitter = if body.source.trim() == Source::Counter.as_str() {
            principal.require_role(&[Role::Operator])?;
            Submitter {
                actor: principal.actor(),
                operator_id: Some(principal_id(&principal).to_string()),
                integration_id: None,
            }
        } else {
            principal.require_scope(Scope::Enrol)?;
            if body.source.trim() == Source::Vneid.as_str() {
                return Err(Problem::new(StatusCode::FORBIDDEN, "vneid_hub_only").into());
            }
            Submitter {
                actor: principal.actor(),
                operator_id: None,
                integration_id: match &principal {
                    Principal::ApiKey { integration_id, .. } => Some(integration_id.clone()),
                    Principal::Operator { .. } => None,
                },
            }
        };
        let key = idempotency_key.0;
        if !(1..=128).contains(&key.len()) || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Problem::new(StatusCode::BAD_REQUEST, "idempotency_key_invalid").into());
        }
        // The fingerprint of what the request means, not of its bytes: key order and
        // whitespace do not make a retry look different.
        let request_sha256 = digest(body.0.to_json_string().as_bytes());
        let app = body
            .0
            .check(|form| state.enrolments.parse(form))
            .map_err(|p| ApiError::from(*p))?;
        let idem = IdempotencyKey {
            principal: principal_id(&principal).to_string(),
            key,
            request_sha256,
        };
        let render = |s: &EnrolmentSummary| (201, EnrolmentView::from(s).to_json_string());
        match state
            .enrolments
            .submit(submitter, app, idem, render)
            .await?
        {
            Submitted::Created(s) => Ok(SubmitResponse::Created(Json(EnrolmentView::from(&s)))),
            Submitted::Replayed(answer) if answer.status == 201 => {
                let value = serde_json::from_str(&answer.body).map_err(ApiError::unexpected)?;
                let view = EnrolmentView::parse_from_json(Some(value))
                    .map_err(|e| ApiError::unexpected(e.into_message()))?;
                Ok(SubmitResponse::Created(Json(view)))
            }
            Submitted::Replayed(answer) => Err(ApiError::unexpected(format!(
                "stored answer with status {}",
                answer.status
            ))),
        }
    }

    /// An enrolment's state and next step (API key with scope `enrol`, or roles `operator`,
    /// `ra_officer`).
    #[oai(path = "/:id", method = "get")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "enrolment_id_example")] id: Path<String>,
    ) -> Result<Json<EnrolmentView>, ApiError> {
        require_enrol_or(&auth.0, &[Role::Operator, Role::RaOfficer])?;
        require_reach(&state, &auth.0, Owned::Enrolment(id.0.clone())).await?;
        let s = state.enrolments.get(&id.0).await?;
        Ok(Json(EnrolmentView::from(&s)))
    }

    /// Upload one identity document (`id_front`, `id_back`, `portrait`, `liveness`) as the
    /// raw request body: JPEG or PNG, recognised by content whatever the declared type, at
    /// most `enrolment.max_document_bytes` (default 5 MiB), decoded whole (else 422
    /// `document_undecodable`), at least 600×400 pixels for an ID card side and 480×360 for
    /// a portrait or liveness frame in either orientation (else 422 `document_too_small`),
    /// and re-encoded without metadata (JPEG stays JPEG, PNG stays PNG). Stored encrypted. Accepted while
    /// the enrolment awaits documents, the fourth kind routing the application; a counter
    /// enrolment takes scans until its contract is signed (API key with scope `enrol`, or
    /// role `operator`).
    #[oai(path = "/:id/documents/:kind", method = "put")]
    async fn put_document(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "enrolment_id_example")] id: Path<String>,
        kind: Path<String>,
        body: Binary<Body>,
    ) -> Result<DocumentStoredResponse, ApiError> {
        require_enrol_or(&auth.0, &[Role::Operator])?;
        require_reach(&state, &auth.0, Owned::Enrolment(id.0.clone())).await?;
        let kind = parse_kind(&kind.0)?;
        let max_bytes = state.enrolments.max_document_bytes();
        let limit = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        let bytes = body.0.into_bytes_limit(limit).await.map_err(|e| match e {
            poem::error::ReadBodyError::PayloadTooLarge => {
                ApiError::from(EnrolmentError::DocumentTooLarge { max_bytes })
            }
            other => Problem::in_context(StatusCode::BAD_REQUEST, "bad_request", "body")
                .arg("detail", other)
                .into(),
        })?;
        let (info, summary) = state
            .enrolments
            .put_document(&auth.0.actor(), &id.0, kind, bytes.to_vec())
            .await?;
        Ok(DocumentStoredResponse::Stored(Json(DocumentStored {
            kind: info.kind.as_str().into(),
            content_type: info.image_type.content_type().into(),
            size_bytes: info.size_bytes,
            sha256: info.sha256,
            enrolment: EnrolmentView::from(&summary),
        })))
    }

    /// Read one identity document: the operator holding the applicant's video-call lease (or
    /// who enrolled a counter dossier), or an RA officer once no call is waiting or under way;
    /// anyone else 403 `document_access_denied`. Face images are sensitive personal data: every
    /// read is recorded in the audit trail.
    #[oai(path = "/:id/documents/:kind", method = "get")]
    async fn get_document(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "enrolment_id_example")] id: Path<String>,
        kind: Path<String>,
    ) -> Result<DocumentResponse, ApiError> {
        auth.0.require_role(&[Role::Operator, Role::RaOfficer])?;
        let kind = parse_kind(&kind.0)?;
        let reader = DocumentReader::of(&auth.0)
            .ok_or_else(|| ApiError::from(EnrolmentError::DocumentAccessDenied))?;
        let doc = state
            .enrolments
            .read_document(&auth.0.actor(), &reader, &id.0, kind)
            .await?;
        Ok(DocumentResponse(doc))
    }

    /// Withdraw consent. Before a certificate is issued the enrolment is cancelled and its
    /// documents destroyed; afterwards the evidence is kept for the retention period and the
    /// answer is 409 `withdrawal_refused_certificate_issued` (API key with scope `enrol`, or
    /// roles `operator`, `ra_officer`).
    #[oai(path = "/:id/withdraw", method = "post")]
    async fn withdraw(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "enrolment_id_example")] id: Path<String>,
    ) -> Result<Json<EnrolmentView>, ApiError> {
        require_enrol_or(&auth.0, &[Role::Operator, Role::RaOfficer])?;
        require_reach(&state, &auth.0, Owned::Enrolment(id.0.clone())).await?;
        let s = state.enrolments.withdraw(&auth.0.actor(), &id.0).await?;
        Ok(Json(EnrolmentView::from(&s)))
    }

    /// The applicant's place in the video-call queue: position and estimated wait, then the
    /// call room once an operator takes the call (API key with scope `enrol`, or role
    /// `operator`).
    #[oai(path = "/:id/video-call", method = "get")]
    async fn video_call(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "enrolment_id_example")] id: Path<String>,
    ) -> Result<Json<VideoCallView>, ApiError> {
        require_enrol_or(&auth.0, &[Role::Operator])?;
        require_reach(&state, &auth.0, Owned::Enrolment(id.0.clone())).await?;
        let s = state.verification.status_for(&id.0).await?;
        let mut view = VideoCallView {
            verification_id: s.video_call_id,
            state: s.state.as_str().into(),
            position: None,
            estimated_wait_seconds: None,
            room_ref: None,
            no_shows: s.no_shows,
        };
        match s.state {
            CallState::Waiting {
                position,
                estimated_wait,
            } => {
                view.position = Some(position);
                view.estimated_wait_seconds = Some(estimated_wait.num_seconds());
            }
            CallState::InCall { room_ref } => view.room_ref = Some(room_ref),
            CallState::Done => {}
        }
        Ok(Json(view))
    }
}

fn idempotency_key_example() -> String {
    "9d1c2f0e-app-retry-1".into()
}
