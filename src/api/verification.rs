//! The operators' side of the video-call queue: claim, lease renewal, outcome, statistics.

use chrono::{DateTime, NaiveDate, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::types::Example;
use poem_openapi::{ApiRequest, ApiResponse, Object, OpenApi, Tags};
use validator::Validate;

use super::auth::Auth;
use super::problem::ApiError;
use super::validation::{field_problems, sha256_hex};
use crate::app::AppState;
use crate::operators::{Principal, Role};
use crate::problem::Problem;
use crate::store::EnrolmentRow;
use crate::verification::recording::{self, Delivery};
use crate::verification::{
    Claimed, Decision, OperatorRef, OutcomeForm, RecordingForm, VerificationError, CHECKLIST_ITEMS,
    REJECT_REASONS,
};
use poem::http::StatusCode;

#[derive(Tags)]
enum ApiTags {
    /// Video-call verification by provider operators.
    Verification,
}

#[derive(Object)]
struct AddressView {
    line: String,
    ward: String,
    province: String,
}

/// The identity data the operator checks during the call.
#[derive(Object)]
struct ApplicantView {
    source: String,
    id_number: String,
    full_name: String,
    date_of_birth: NaiveDate,
    sex: String,
    nationality: String,
    permanent_address: AddressView,
    #[oai(nullable)]
    current_address: Option<AddressView>,
    id_issue_date: NaiveDate,
    id_issue_place: String,
    #[oai(nullable)]
    id_expiry_date: Option<NaiveDate>,
    /// E.164.
    phone: String,
    #[oai(nullable)]
    email: Option<String>,
}

impl From<EnrolmentRow> for ApplicantView {
    fn from(r: EnrolmentRow) -> Self {
        let current = match (r.current_address, r.current_ward, r.current_province) {
            (Some(line), Some(ward), Some(province)) => Some(AddressView {
                line,
                ward,
                province,
            }),
            _ => None,
        };
        Self {
            source: r.source,
            id_number: r.id_number,
            full_name: r.full_name,
            date_of_birth: r.date_of_birth,
            sex: r.sex,
            nationality: r.nationality,
            permanent_address: AddressView {
                line: r.permanent_address,
                ward: r.permanent_ward,
                province: r.permanent_province,
            },
            current_address: current,
            id_issue_date: r.id_issue_date,
            id_issue_place: r.id_issue_place,
            id_expiry_date: r.id_expiry_date,
            phone: r.phone,
            email: r.email,
        }
    }
}

#[derive(Object)]
struct DocumentLink {
    kind: String,
    /// `GET` it with the operator session; each read is audited.
    href: String,
}

/// `{"room_id": "vc-…", "uri": "s3://…", "sha256": "<64 hex>"}`, read as bytes because the
/// signature covers them exactly as sent.
#[derive(ApiRequest)]
enum RecordingBody {
    #[oai(content_type = "application/json")]
    Json(Binary<Vec<u8>>),
}

#[derive(Object)]
struct RecordingAttached {
    /// The call the room belongs to.
    verification_id: String,
}

/// A claimed applicant: everything needed for the call.
#[derive(Object)]
struct ClaimedCall {
    verification_id: String,
    enrolment_id: String,
    /// The call room; the applicant's app sees it too.
    room_ref: String,
    /// Renew with `POST /api/v1/verification/{id}/lease` before it lapses; a lapsed lease
    /// puts the applicant back at the head of the queue.
    lease_expires_at: DateTime<Utc>,
    /// Calls the applicant missed before this one.
    no_shows: i32,
    applicant: ApplicantView,
    documents: Vec<DocumentLink>,
    /// Every item must be confirmed to approve.
    checklist_items: Vec<String>,
    /// Allowed `reason_code` values for a rejection.
    reject_reasons: Vec<String>,
}

impl From<Claimed> for ClaimedCall {
    fn from(c: Claimed) -> Self {
        let eid = c.enrolment.id.clone();
        Self {
            verification_id: c.video_call_id,
            enrolment_id: eid.clone(),
            room_ref: c.room_ref,
            lease_expires_at: c.lease_expires_at,
            no_shows: c.no_shows,
            applicant: ApplicantView::from(c.enrolment),
            documents: c
                .documents
                .into_iter()
                .map(|k| DocumentLink {
                    kind: k.as_str().into(),
                    href: format!("/api/v1/enrolments/{eid}/documents/{}", k.as_str()),
                })
                .collect(),
            checklist_items: CHECKLIST_ITEMS.iter().map(|s| s.to_string()).collect(),
            reject_reasons: REJECT_REASONS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

#[derive(ApiResponse)]
enum ClaimResponse {
    /// The applicant is yours until the lease lapses.
    #[oai(status = 200)]
    Claimed(Json<Box<ClaimedCall>>),
    /// Nobody is waiting.
    #[oai(status = 204)]
    QueueEmpty,
}

#[derive(Object)]
struct Lease {
    verification_id: String,
    lease_expires_at: DateTime<Utc>,
}

/// What the operator confirmed during the call. Missing items count as not confirmed.
#[derive(Object, Default)]
struct ChecklistInput {
    /// The face matches the portrait and the ID card photo.
    face_matches_portrait_and_id_photo: Option<bool>,
    /// The ID document is genuine and unexpired.
    id_document_genuine_and_unexpired: Option<bool>,
    /// The identity data was confirmed with the applicant.
    data_confirmed_with_applicant: Option<bool>,
    /// The applicant is alive and present.
    applicant_alive_and_present: Option<bool>,
    /// The applicant states the wish to get a certificate.
    applicant_wants_certificate: Option<bool>,
}

#[derive(Object, Validate)]
struct RecordingInput {
    /// Where the call recording is kept.
    #[validate(length(max = 2048, code = "text_too_long"))]
    uri: String,
    /// SHA-256 (hex) of the recording file.
    #[validate(custom(function = "sha256_hex", code = "sha256_format"))]
    sha256: String,
}

#[derive(Object, Validate)]
#[oai(example)]
struct OutcomeRequest {
    /// `approved` (every checklist item confirmed), `rejected` (with `reason_code` and
    /// `note`) or `no_show` (re-queued, up to `verification.max_no_show_requeues` times, then
    /// the enrolment expires).
    #[validate(length(max = 16, code = "text_too_long"))]
    outcome: String,
    checklist: Option<ChecklistInput>,
    /// For `rejected`: `face_mismatch`, `document_not_genuine`, `document_expired`,
    /// `data_mismatch`, `not_alive_or_not_present`, `applicant_declined`,
    /// `suspected_coercion_or_fraud` or `other`.
    #[validate(length(max = 64, code = "text_too_long"))]
    reason_code: Option<String>,
    /// Required for `rejected`.
    #[validate(length(max = 4000, code = "text_too_long"))]
    note: Option<String>,
    /// The call recording; required for `approved` and `rejected` unless the video system
    /// already reported the room's recording (`POST /v1/verification/recordings`).
    #[validate(nested)]
    recording: Option<RecordingInput>,
}

impl Example for OutcomeRequest {
    fn example() -> Self {
        Self {
            outcome: "approved".into(),
            checklist: Some(ChecklistInput {
                face_matches_portrait_and_id_photo: Some(true),
                id_document_genuine_and_unexpired: Some(true),
                data_confirmed_with_applicant: Some(true),
                applicant_alive_and_present: Some(true),
                applicant_wants_certificate: Some(true),
            }),
            reason_code: None,
            note: None,
            recording: Some(RecordingInput {
                uri: "s3://vc-recordings/2026/01/05/vc-7Qm2.webm".into(),
                sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
            }),
        }
    }
}

impl OutcomeRequest {
    fn form(&self) -> OutcomeForm {
        let c = self.checklist.as_ref();
        let item = |f: fn(&ChecklistInput) -> Option<bool>| c.and_then(f).unwrap_or(false);
        OutcomeForm {
            outcome: self.outcome.trim().to_string(),
            checklist: vec![
                (
                    CHECKLIST_ITEMS[0].into(),
                    item(|c| c.face_matches_portrait_and_id_photo),
                ),
                (
                    CHECKLIST_ITEMS[1].into(),
                    item(|c| c.id_document_genuine_and_unexpired),
                ),
                (
                    CHECKLIST_ITEMS[2].into(),
                    item(|c| c.data_confirmed_with_applicant),
                ),
                (
                    CHECKLIST_ITEMS[3].into(),
                    item(|c| c.applicant_alive_and_present),
                ),
                (
                    CHECKLIST_ITEMS[4].into(),
                    item(|c| c.applicant_wants_certificate),
                ),
            ],
            reason_code: self.reason_code.clone(),
            note: self.note.clone(),
            recording: self.recording.as_ref().map(|r| RecordingForm {
                uri: r.uri.clone(),
                sha256: r.sha256.clone(),
            }),
        }
    }
}

#[derive(Object)]
struct OutcomeResult {
    verification_id: String,
    outcome: String,
    /// The enrolment's status now: `verified`, `rejected`, `expired`, or still
    /// `awaiting_video_call` after a re-queued no-show.
    enrolment_status: String,
    requeued: bool,
    no_shows: i32,
}

#[derive(Object)]
struct OperatorHandled {
    username: String,
    approved: i64,
    rejected: i64,
    no_show: i64,
}

#[derive(Object)]
struct QueueStats {
    /// Applicants waiting (including those whose operator's lease lapsed).
    waiting: i64,
    /// Calls under a live lease.
    in_call: i64,
    #[oai(nullable)]
    oldest_wait_seconds: Option<i64>,
    #[oai(nullable)]
    median_wait_seconds: Option<i64>,
    /// Outcomes recorded since midnight, Vietnam time (UTC+7).
    handled_today: Vec<OperatorHandled>,
}

impl From<VerificationError> for Problem {
    fn from(e: VerificationError) -> Self {
        use StatusCode as S;
        use VerificationError as E;
        match e {
            E::EnrolmentNotFound => Problem::new(S::NOT_FOUND, "enrolment_not_found"),
            E::NotQueued => Problem::new(S::NOT_FOUND, "not_in_video_call_queue"),
            E::NotFound => Problem::new(S::NOT_FOUND, "verification_not_found"),
            E::QueueEmpty => Problem::new(S::NOT_FOUND, "queue_empty"),
            E::NotLeaseHolder => Problem::new(S::FORBIDDEN, "not_lease_holder"),
            E::LeaseExpired => Problem::new(S::CONFLICT, "lease_expired"),
            E::Closed => Problem::new(S::CONFLICT, "verification_closed"),
            E::WebhookDisabled => Problem::new(S::NOT_FOUND, "recording_webhook_disabled"),
            E::SignatureInvalid => Problem::new(S::UNAUTHORIZED, "webhook_signature_invalid"),
            E::TimestampStale => Problem::new(S::UNAUTHORIZED, "webhook_timestamp_stale")
                .arg("seconds", recording::WINDOW_SECONDS),
            E::Replayed => Problem::new(S::CONFLICT, "webhook_replayed"),
            E::RoomUnknown => Problem::new(S::NOT_FOUND, "room_unknown"),
            E::NoticeMalformed(detail) => {
                Problem::in_context(S::BAD_REQUEST, "bad_request", "body").arg("detail", detail)
            }
            E::RecordingInvalid(errors) => field_problems(Ok(()), Err(errors))
                .unwrap_or_else(|| Problem::internal("recording refused without a reason")),
            E::Store(e) => Problem::from(e),
        }
    }
}

fn operator(p: &Principal) -> Result<OperatorRef, ApiError> {
    p.require_role(&[Role::Operator])?;
    match p {
        Principal::Operator { id, .. } => Ok(OperatorRef {
            id: id.clone(),
            actor: p.actor(),
        }),
        Principal::ApiKey { .. } => Err(ApiError::unexpected("role check passed an API key")),
    }
}

fn verification_id_example() -> String {
    "0b6f7f0e-8a55-4c38-b1d8-0d6f0f2a7c3e".into()
}

pub struct VerificationApi;

#[OpenApi(prefix_path = "/v1/verification", tag = "ApiTags::Verification")]
impl VerificationApi {
    /// Take the applicant at the head of the queue (role `operator`). Atomic: no applicant is
    /// handed to two operators, also across server processes. The lease lasts
    /// `verification.lease_minutes` (default 15). 204 when nobody is waiting.
    #[oai(path = "/claim", method = "post")]
    async fn claim(&self, state: Data<&AppState>, auth: Auth) -> Result<ClaimResponse, ApiError> {
        let op = operator(&auth.0)?;
        match state.verification.claim(&op).await {
            Ok(c) => Ok(ClaimResponse::Claimed(Json(Box::new(ClaimedCall::from(c))))),
            Err(VerificationError::QueueEmpty) => Ok(ClaimResponse::QueueEmpty),
            Err(e) => Err(e.into()),
        }
    }

    /// Renew the caller's lease for another lease period from now (role `operator`, lease
    /// holder only; a lapsed lease cannot be renewed).
    #[oai(path = "/:id/lease", method = "post")]
    async fn renew(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "verification_id_example")] id: Path<String>,
    ) -> Result<Json<Lease>, ApiError> {
        let op = operator(&auth.0)?;
        let until = state.verification.renew(&op, &id.0).await?;
        Ok(Json(Lease {
            verification_id: id.0,
            lease_expires_at: until,
        }))
    }

    /// Record the call's outcome with the recording reference (role `operator`, lease holder
    /// only).
    #[oai(path = "/:id/outcome", method = "post")]
    async fn outcome(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "verification_id_example")] id: Path<String>,
        body: Json<OutcomeRequest>,
    ) -> Result<Json<OutcomeResult>, ApiError> {
        let op = operator(&auth.0)?;
        let shape = body.0.validate();
        let form = state
            .verification
            .with_reported_recording(&id.0, body.0.form())
            .await?;
        let (decision, parsed) = match Decision::parse(&form) {
            Ok(d) => (Some(d), Ok(())),
            Err(e) => (None, Err(e)),
        };
        if let Some(err) = field_problems(shape, parsed) {
            return Err(err.into());
        }
        let decision = decision.ok_or_else(|| ApiError::unexpected("parse without result"))?;
        let outcome = decision.outcome.as_str().to_string();
        let r = state
            .verification
            .record_outcome(&op, &id.0, decision)
            .await?;
        Ok(Json(OutcomeResult {
            verification_id: id.0,
            outcome,
            enrolment_status: r.enrolment_status.as_str().into(),
            requeued: r.requeued,
            no_shows: r.no_shows,
        }))
    }

    /// The video system reports a call room's recording (no bearer: the HMAC is its
    /// credential). Body `{"room_id", "uri", "sha256"}`; headers `X-Recording-Timestamp`
    /// (Unix seconds), `X-Recording-Nonce` (unique per delivery; letters, digits, `-`, `_`,
    /// at most 128) and `X-Recording-Signature: sha256=<hex HMAC-SHA256 of
    /// "{timestamp}.{nonce}." followed by the body>` with `verification.recording_webhook_secret`.
    /// The recording is attached to the call whose current room this is; the operator's
    /// outcome then needs no recording of its own. Refusals: 401 `webhook_signature_invalid`,
    /// `webhook_timestamp_stale` (more than 300 s from our clock); 409 `webhook_replayed`
    /// (nonce seen before); 404 `room_unknown`, `recording_webhook_disabled`; 422 for the
    /// recording's fields; 400 `bad_request` (not the JSON above).
    #[oai(path = "/recordings", method = "post")]
    async fn recording(
        &self,
        state: Data<&AppState>,
        #[oai(name = "X-Recording-Timestamp")] timestamp: Header<Option<String>>,
        #[oai(name = "X-Recording-Nonce")] nonce: Header<Option<String>>,
        #[oai(name = "X-Recording-Signature")] signature: Header<Option<String>>,
        body: RecordingBody,
    ) -> Result<Json<RecordingAttached>, ApiError> {
        let RecordingBody::Json(body) = body;
        let video_call_id = state
            .verification
            .receive_recording(&Delivery {
                timestamp: timestamp.0.as_deref(),
                nonce: nonce.0.as_deref(),
                signature: signature.0.as_deref(),
                body: &body.0,
            })
            .await?;
        Ok(Json(RecordingAttached {
            verification_id: video_call_id,
        }))
    }

    /// Queue statistics (roles `ra_officer`, `admin`).
    #[oai(path = "/stats", method = "get")]
    async fn stats(
        &self,
        state: Data<&AppState>,
        auth: Auth,
    ) -> Result<Json<QueueStats>, ApiError> {
        auth.0.require_role(&[Role::RaOfficer, Role::Admin])?;
        let s = state.verification.stats().await?;
        Ok(Json(QueueStats {
            waiting: s.waiting,
            in_call: s.in_call,
            oldest_wait_seconds: s.oldest_wait.map(|d| d.num_seconds()),
            median_wait_seconds: s.median_wait.map(|d| d.num_seconds()),
            handled_today: s
                .handled_today
                .into_iter()
                .map(|(username, h)| OperatorHandled {
                    username,
                    approved: h.approved,
                    rejected: h.rejected,
                    no_show: h.no_show,
                })
                .collect(),
        }))
    }
}
