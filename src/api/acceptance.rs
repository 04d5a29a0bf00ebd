//! Certificate acceptance: the "awaiting acceptance" list, the acceptance record, its OTP,
//! confirmation and rejection. These are the subscriber app's calls (API key scope `enrol`);
//! `ra_officer` and `operator` may read.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};

use super::auth::{require_enrol_or, require_reach, Auth};
use super::immutable_document::{wants_pdf, ImmutableDocument, PdfDocument};
use super::negotiated::Negotiated;
use super::otp_views::ChallengeCreated;
use super::problem::ApiError;
use crate::acceptance::{
    AcceptRequest, AcceptanceError, Record, MAX_REASON_CHARS, PDF_ACCEPTED, PDF_RECORD,
};
use crate::app::AppState;
use crate::enrolment::identity::BoundedText;
use crate::operators::{Role, Scope};
use crate::problem::Problem;
use crate::status::CertificateStatus;
use crate::store::CertificateRow;
use crate::store::Owned;
use poem::http::StatusCode;

#[derive(Tags)]
enum ApiTags {
    /// Certificate acceptance: read the acceptance record, confirm it with an SMS code, or
    /// reject the certificate.
    Acceptance,
}

/// A certificate in the enrolment's list.
#[derive(Object)]
struct EnrolmentCertificateItem {
    /// Lower-case hex.
    serial: String,
    /// `pending_acceptance`, `active`, `revoked`, …
    status: String,
    subject_dn: String,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    /// When it must be accepted by (only while `pending_acceptance`).
    #[oai(nullable)]
    accept_before: Option<DateTime<Utc>>,
    acceptance_record_url: String,
}

#[derive(Object)]
struct EnrolmentCertificateList {
    certificates: Vec<EnrolmentCertificateItem>,
}

/// The acceptance record's state and evidence; the document is at `document_url`.
#[derive(Object)]
struct AcceptanceView {
    serial: String,
    enrolment_id: String,
    contract_id: String,
    /// e.g. `acceptance-personal-v1`.
    template_version: String,
    /// SHA-256 (hex) of the record; the confirmation code is bound to it.
    document_sha256: String,
    document_url: String,
    /// `pending`, `accepted`, `rejected` or `expired`.
    status: String,
    created_at: DateTime<Utc>,
    /// When it was accepted, rejected or expired.
    #[oai(nullable)]
    decided_at: Option<DateTime<Utc>>,
    #[oai(nullable)]
    otp_challenge_id: Option<String>,
    /// `sms`.
    #[oai(nullable)]
    otp_channel: Option<String>,
    #[oai(nullable)]
    otp_masked_destination: Option<String>,
    #[oai(nullable)]
    client_ip: Option<String>,
    #[oai(nullable)]
    user_agent: Option<String>,
    #[oai(nullable)]
    rejection_reason: Option<String>,
}

impl From<&Record> for AcceptanceView {
    fn from(r: &Record) -> Self {
        Self {
            serial: r.serial.clone(),
            enrolment_id: r.enrolment_id.clone(),
            contract_id: r.contract_id.clone(),
            template_version: r.template_version.clone(),
            document_sha256: r.document_sha256.clone(),
            document_url: format!("/api/v1/certificates/{}/acceptance-record", r.serial),
            status: r.status.clone(),
            created_at: r.created_at.and_utc(),
            decided_at: r.decided_at.map(|t| t.and_utc()),
            otp_challenge_id: r.otp_challenge_id.clone(),
            otp_channel: r.otp_channel.clone(),
            otp_masked_destination: r.otp_masked_destination.clone(),
            client_ip: r.client_ip.clone(),
            user_agent: r.user_agent.clone(),
            rejection_reason: r.rejection_reason.clone(),
        }
    }
}

const MAX_USER_AGENT_CHARS: usize = 512;

#[derive(Object)]
struct AcceptanceInput {
    /// The citizen ticked "I agree with the content of the certificate handover record".
    agree: bool,
    /// The 6-digit code received by SMS (more than 16 characters: 422 `otp_code_too_long`).
    otp_code: String,
    /// From `POST …/acceptance/otp`; when absent the latest code for the certificate is used.
    #[oai(validator(max_length = 64))]
    challenge_id: Option<String>,
    /// The citizen's IP address as the integration saw it (IPv4 or IPv6).
    #[oai(validator(max_length = 45))]
    client_ip: Option<String>,
    /// The citizen's user agent as the integration saw it: at most 512 characters, without
    /// control or invisible formatting characters (422 `validation_failed` otherwise).
    user_agent: Option<String>,
}

#[derive(Object)]
struct AcceptanceRejectInput {
    /// What is wrong in the certificate, in the citizen's words (1 to 500 characters).
    #[oai(validator(max_length = 2000))]
    reason: String,
}

impl From<AcceptanceError> for Problem {
    fn from(e: AcceptanceError) -> Self {
        use AcceptanceError as E;
        use StatusCode as S;
        match e {
            E::NotFound => Problem::new(S::NOT_FOUND, "certificate_not_found"),
            E::NotPending { status } => {
                Problem::new(S::CONFLICT, "certificate_not_pending_acceptance")
                    .arg("status", status)
            }
            E::AgreementRequired => {
                Problem::in_context(S::UNPROCESSABLE_ENTITY, "agreement_required", "acceptance")
            }
            E::ReasonRequired => Problem::new(S::UNPROCESSABLE_ENTITY, "reason_required")
                .arg("max", MAX_REASON_CHARS),
            E::ReplacedSuspended { serial } => {
                Problem::new(S::CONFLICT, "replaced_certificate_suspended").arg("serial", serial)
            }
            E::NotAccepted => Problem::new(S::CONFLICT, "acceptance_record_not_accepted"),
            E::NoPdf => Problem::new(S::NOT_FOUND, "acceptance_record_pdf_not_found"),
            E::Otp(e) => Problem::from(e),
            E::Store(e) => Problem::from(e),
        }
    }
}

fn item(row: CertificateRow, deadline_days: u32) -> EnrolmentCertificateItem {
    let accept_before = match (row.status, row.signed_at) {
        (CertificateStatus::PendingAcceptance, Some(t)) => {
            Some(t.and_utc() + chrono::Duration::days(i64::from(deadline_days)))
        }
        _ => None,
    };
    EnrolmentCertificateItem {
        acceptance_record_url: format!("/api/v1/certificates/{}/acceptance-record", row.serial),
        serial: row.serial,
        status: row.status.as_str().into(),
        subject_dn: row.subject_dn,
        not_before: row.not_before.and_utc(),
        not_after: row.not_after.and_utc(),
        accept_before,
    }
}

fn serial_example() -> String {
    "5a3c9e0f1b2d4c6e8a7b9c0d1e2f3a4b".into()
}

pub struct AcceptanceApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Acceptance")]
impl AcceptanceApi {
    /// The enrolment's certificates, optionally only those in one status; with
    /// `status=pending_acceptance` this is the app's "awaiting acceptance" list (API key with
    /// scope `enrol`, or roles `operator`, `ra_officer`).
    #[oai(path = "/enrolments/:id/certificates", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id: Path<String>,
        /// e.g. `pending_acceptance`.
        status: Query<Option<String>>,
    ) -> Result<Json<EnrolmentCertificateList>, ApiError> {
        require_enrol_or(&auth.0, &[Role::Operator, Role::RaOfficer])?;
        require_reach(&state, &auth.0, Owned::Enrolment(id.0.clone())).await?;
        let id = id.0;
        let rows = state
            .store
            .read(move |tx| {
                if tx.enrolment_by_id(&id)?.is_none() {
                    return Ok(None);
                }
                tx.certificates_for_enrolment(&id).map(Some)
            })
            .await?
            .ok_or_else(|| {
                ApiError::from(Problem::new(StatusCode::NOT_FOUND, "enrolment_not_found"))
            })?;
        let days = state.acceptance.settings().deadline_days;
        let certificates = rows
            .into_iter()
            // `signing` rows are not certificates yet.
            .filter(|r| r.status != CertificateStatus::Signing)
            .filter(|r| status.0.as_deref().is_none_or(|s| r.status.as_str() == s))
            .map(|r| item(r, days))
            .collect();
        Ok(Json(EnrolmentCertificateList { certificates }))
    }

    /// The acceptance record to show the citizen ("Biên bản nghiệm thu và bàn giao chứng thư
    /// số"): exactly the same bytes every time, with their SHA-256 as `ETag` and
    /// `Repr-Digest`. HTML by default (made with the certificate); `Accept: application/pdf`
    /// gives the PDF/A-2b record, whose SHA-256 the acceptance code is bound to, made the
    /// first time it is asked for (or a code is) while the certificate awaits acceptance
    /// (`404 acceptance_record_pdf_not_found` for a record decided without one) (API key with
    /// scope `enrol`, or roles `operator`, `ra_officer`).
    #[oai(path = "/certificates/:serial/acceptance-record", method = "get")]
    async fn record(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "serial_example")] serial: Path<String>,
        #[oai(name = "Accept")] accept: Header<Option<String>>,
    ) -> Result<Negotiated<ImmutableDocument>, ApiError> {
        require_enrol_or(&auth.0, &[Role::Operator, Role::RaOfficer])?;
        require_reach(&state, &auth.0, Owned::Certificate(serial.0.clone())).await?;
        if wants_pdf(accept.0.as_deref()) {
            let doc = state.acceptance.pdf(&serial.0, PDF_RECORD).await?;
            return Ok(Negotiated(ImmutableDocument::pdf(
                doc.document,
                &doc.document_sha256,
                &format!("BBNT-{}", doc.subject.to_ascii_uppercase()),
            )?));
        }
        let record = state.acceptance.record(&serial.0).await?;
        Ok(Negotiated(ImmutableDocument::html(
            record.document,
            &record.document_sha256,
        )?))
    }

    /// The accepted acceptance record as PDF/A-2b: the record with the evidence of the code
    /// that confirmed it (time in Vietnam time, channel, masked destination, challenge, the
    /// record's SHA-256, relayed IP and user agent). `409 acceptance_record_not_accepted`
    /// until it is accepted (API key with scope `enrol`, or roles `operator`, `ra_officer`).
    #[oai(
        path = "/certificates/:serial/acceptance-record/signed",
        method = "get"
    )]
    async fn signed_record(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "serial_example")] serial: Path<String>,
    ) -> Result<PdfDocument, ApiError> {
        require_enrol_or(&auth.0, &[Role::Operator, Role::RaOfficer])?;
        require_reach(&state, &auth.0, Owned::Certificate(serial.0.clone())).await?;
        let doc = state.acceptance.pdf(&serial.0, PDF_ACCEPTED).await?;
        PdfDocument::new(
            doc.document,
            &doc.document_sha256,
            &format!("BBNT-{}", doc.subject.to_ascii_uppercase()),
        )
    }

    /// The acceptance record's state and confirmation evidence (API key with scope `enrol`,
    /// or roles `operator`, `ra_officer`).
    #[oai(path = "/certificates/:serial/acceptance", method = "get")]
    async fn status(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "serial_example")] serial: Path<String>,
    ) -> Result<Json<AcceptanceView>, ApiError> {
        require_enrol_or(&auth.0, &[Role::Operator, Role::RaOfficer])?;
        require_reach(&state, &auth.0, Owned::Certificate(serial.0.clone())).await?;
        let record = state.acceptance.record(&serial.0).await?;
        Ok(Json(AcceptanceView::from(&record)))
    }

    /// Send the confirmation code by SMS to the enrolment's phone, bound to the record's
    /// digest (API key with scope `enrol`). A new code replaces the previous one;
    /// `429 otp_resend_too_soon` or `429 otp_rate_limited` carry `Retry-After` and
    /// `retry_after_seconds`; `409 certificate_not_pending_acceptance` once decided.
    #[oai(path = "/certificates/:serial/acceptance/otp", method = "post")]
    async fn send_otp(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "serial_example")] serial: Path<String>,
    ) -> Result<ChallengeCreated, ApiError> {
        auth.0.require_scope(Scope::Enrol)?;
        require_reach(&state, &auth.0, Owned::Certificate(serial.0.clone())).await?;
        let sent = state
            .acceptance
            .send_otp(&auth.0.actor(), &serial.0)
            .await?;
        Ok(sent.into())
    }

    /// Confirm the acceptance record with agreement and the SMS code: the record keeps the
    /// time, challenge, channel, masked destination, IP and user agent; the certificate
    /// becomes `active`. For a renewal or rekey the certificate it replaces is revoked
    /// (`superseded`) in the same transaction; `409 replaced_certificate_suspended` while
    /// that one is suspended. Confirming again returns the same record. A wrong code answers
    /// `422 otp_invalid` with `attempts_left` (API key with scope `enrol`).
    #[oai(path = "/certificates/:serial/acceptance", method = "post")]
    async fn accept(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "serial_example")] serial: Path<String>,
        body: Json<AcceptanceInput>,
    ) -> Result<Json<AcceptanceView>, ApiError> {
        auth.0.require_scope(Scope::Enrol)?;
        require_reach(&state, &auth.0, Owned::Certificate(serial.0.clone())).await?;
        let input = body.0;
        let client_ip = relayed_ip(input.client_ip.as_deref())?;
        let user_agent = relayed_user_agent(input.user_agent.as_deref())?;
        let record = state
            .acceptance
            .accept(
                &auth.0.actor(),
                &serial.0,
                AcceptRequest {
                    agree: input.agree,
                    otp_code: input.otp_code,
                    challenge_id: input.challenge_id,
                    client_ip,
                    user_agent,
                },
            )
            .await?;
        Ok(Json(AcceptanceView::from(&record)))
    }

    /// Reject the certificate because its contents are wrong: it is revoked
    /// (`cessationOfOperation`), the free package is released and the enrolment is closed
    /// (`rejected`) so a corrected application can be made. For a rekey only the new
    /// certificate is revoked: the certificate it was to replace, its enrolment and package
    /// stay as they were (as they do for a renewal). Rejecting again returns the same record
    /// (API key with scope `enrol`).
    #[oai(path = "/certificates/:serial/acceptance/reject", method = "post")]
    async fn reject(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        #[oai(example = "serial_example")] serial: Path<String>,
        body: Json<AcceptanceRejectInput>,
    ) -> Result<Json<AcceptanceView>, ApiError> {
        auth.0.require_scope(Scope::Enrol)?;
        require_reach(&state, &auth.0, Owned::Certificate(serial.0.clone())).await?;
        let record = state
            .acceptance
            .reject(&auth.0.actor(), &serial.0, &body.0.reason)
            .await?;
        Ok(Json(AcceptanceView::from(&record)))
    }
}

/// A relayed user agent, kept in the record and shown to operators: checked like every other
/// text, so it cannot carry control or bidi-override characters; none when absent or blank.
pub(super) fn relayed_user_agent(ua: Option<&str>) -> Result<Option<String>, ApiError> {
    match ua.map(str::trim) {
        None | Some("") => Ok(None),
        Some(ua) => Ok(Some(
            BoundedText::parse("user_agent", ua, MAX_USER_AGENT_CHARS)
                .map_err(|e| {
                    ApiError::from(super::validation::unprocessable(vec![
                        super::validation::from_field_error(e),
                    ]))
                })?
                .as_str()
                .to_string(),
        )),
    }
}

/// A relayed client address (IPv4 or IPv6), normalised; none when absent or blank.
pub(super) fn relayed_ip(ip: Option<&str>) -> Result<Option<String>, ApiError> {
    match ip.map(str::trim) {
        None | Some("") => Ok(None),
        Some(ip) => Ok(Some(
            ip.parse::<std::net::IpAddr>()
                .map_err(|_| {
                    ApiError::from(Problem::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "client_ip_invalid",
                    ))
                })?
                .to_string(),
        )),
    }
}
