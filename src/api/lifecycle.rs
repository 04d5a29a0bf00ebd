//! Certificate lookup and lifecycle: revoke, suspend, resume. RA officers act directly; a
//! subscriber's request comes through an integration API key (scope `lifecycle`) and is
//! confirmed with an OTP (purpose `revocation`; its message names the action) sent to the enrolment's phone.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Binary, Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use super::auth::{require_reach, Auth};
use super::negotiated::Negotiated;
use super::otp_views::ChallengeAccepted;
use super::problem::ApiError;
use crate::app::AppState;
use crate::operators::{Principal, Role, Scope};
use crate::problem::Problem;
use crate::status::{CertificateStatus, Change, Changed, StatusError};
use crate::store::{CertificateQuery, Owned};
use poem::http::StatusCode;

#[derive(Tags)]
pub(super) enum ApiTags {
    /// Certificate status and lifecycle.
    CertificateLifecycle,
}

impl From<StatusError> for Problem {
    fn from(e: StatusError) -> Self {
        use StatusCode as S;
        match e {
            StatusError::NotFound => Problem::new(S::NOT_FOUND, "certificate_not_found"),
            StatusError::AlreadyRevoked => Problem::new(S::CONFLICT, "certificate_revoked"),
            StatusError::NotAllowed { action, status } => {
                Problem::new(S::CONFLICT, "certificate_status_conflict")
                    .arg("status", status)
                    .arg("action", action)
            }
            StatusError::Concurrent => {
                Problem::new(S::CONFLICT, "certificate_changed_concurrently")
            }
            StatusError::BadReason(reason) => {
                Problem::new(S::UNPROCESSABLE_ENTITY, "revocation_reason_invalid")
                    .arg("reason", reason)
            }
            StatusError::BadNote => Problem::new(S::UNPROCESSABLE_ENTITY, "note_invalid"),
            StatusError::Otp(o) => o.into(),
            StatusError::Store(e) => Problem::from(e),
            StatusError::Unexpected(e) => Problem::internal(e),
        }
    }
}

#[derive(Object)]
struct CertificateView {
    /// Lower-case hex.
    serial: String,
    /// `signing`, `pending_acceptance`, `active`, `suspended`, `revoked` or `expired`.
    status: String,
    subject: String,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    package_code: String,
    enrolment_id: String,
    /// The enrolment's contract, when one was signed.
    #[oai(nullable, skip_serializing_if_is_none)]
    contract_id: Option<String>,
    #[oai(nullable, skip_serializing_if_is_none)]
    revoked_at: Option<DateTime<Utc>>,
    /// RFC 5280 name, e.g. `keyCompromise`; `certificateHold` while suspended.
    #[oai(nullable, skip_serializing_if_is_none)]
    revocation_reason: Option<String>,
    /// The certificate this one replaces (renewal or rekey).
    #[oai(nullable, skip_serializing_if_is_none)]
    supersedes: Option<String>,
    /// The accepted certificate that replaced this one.
    #[oai(nullable, skip_serializing_if_is_none)]
    superseded_by: Option<String>,
    /// A renewal or rekey of this certificate in progress.
    #[oai(nullable, skip_serializing_if_is_none)]
    pending_replacement: Option<PendingReplacementView>,
}

#[derive(Object)]
struct PendingReplacementView {
    /// `renewal` or `rekey`.
    kind: String,
    /// The enrolment the new certificate is (to be) issued under.
    enrolment_id: String,
    /// The new certificate, once requested with a CSR.
    #[oai(nullable, skip_serializing_if_is_none)]
    serial: Option<String>,
}

#[derive(Object)]
struct CertificatePage {
    items: Vec<CertificateView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(nullable, skip_serializing_if_is_none)]
    next_cursor: Option<String>,
}

#[derive(ApiResponse)]
enum CertificateResponse {
    /// The certificate's record.
    #[oai(status = 200)]
    Json(Json<Box<CertificateView>>),
    /// `Accept: application/pem-certificate-chain`: the certificate, the issuing CA, the root.
    #[oai(status = 200, content_type = "application/pem-certificate-chain")]
    Pem(PlainText<String>),
    /// `Accept: application/pkix-cert`: the certificate's DER.
    #[oai(status = 200, content_type = "application/pkix-cert")]
    Der(Binary<Vec<u8>>),
}

#[derive(Object)]
struct RevokeRequest {
    /// `unspecified`, `keyCompromise`, `affiliationChanged`, `superseded`,
    /// `cessationOfOperation` or `privilegeWithdrawn`.
    reason: String,
    #[oai(default)]
    note: String,
    /// Required with an API key: the code sent after `.../revoke/otp`.
    otp_code: Option<String>,
}

#[derive(Object)]
struct ChangeRequest {
    #[oai(default)]
    note: String,
    /// Required with an API key: the code sent after `.../{action}/otp`.
    otp_code: Option<String>,
}

#[derive(Object)]
struct RevokeOtpRequest {
    reason: String,
}

#[derive(Object)]
struct StatusView {
    serial: String,
    status: String,
    #[oai(nullable, skip_serializing_if_is_none)]
    revoked_at: Option<DateTime<Utc>>,
    #[oai(nullable, skip_serializing_if_is_none)]
    revocation_reason: Option<String>,
}

impl From<Changed> for StatusView {
    fn from(c: Changed) -> Self {
        StatusView {
            serial: c.serial,
            status: c.status.as_str().into(),
            revoked_at: c.revoked_at,
            revocation_reason: c.reason,
        }
    }
}

fn otp_code_required() -> ApiError {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "otp_code_required").into()
}

pub struct LifecycleApi;

impl LifecycleApi {
    /// `change` is passed unparsed so that the caller is checked before its request is:
    /// another integration's key gets the 404 a missing certificate gets, whatever it sent.
    async fn apply(
        state: &AppState,
        principal: &Principal,
        serial: &str,
        change: Result<Change, StatusError>,
        note: &str,
        otp_code: Option<&str>,
    ) -> Result<Json<StatusView>, ApiError> {
        let serial = serial.to_ascii_lowercase();
        let actor = principal.actor();
        if principal.require_role(&[Role::RaOfficer]).is_ok() {
            let changed = state
                .status
                .change(&state.outbox, &actor, &serial, change?, note)
                .await?;
            return Ok(Json(changed.into()));
        }
        principal.require_scope(Scope::Lifecycle)?;
        require_reach(state, principal, Owned::Certificate(serial.clone())).await?;
        let change = change?;
        let code = otp_code.ok_or_else(otp_code_required)?;
        let changed = state
            .status
            .confirm_change(&state.otp, &actor, &serial, change, note, code)
            .await?;
        Ok(Json(changed.into()))
    }

    async fn request_otp(
        state: &AppState,
        principal: &Principal,
        serial: &str,
        change: Result<Change, StatusError>,
    ) -> Result<ChallengeAccepted, ApiError> {
        principal.require_scope(Scope::Lifecycle)?;
        require_reach(state, principal, Owned::Certificate(serial.to_string())).await?;
        let sent = state
            .status
            .request_change(
                &state.otp,
                &principal.actor(),
                &serial.to_ascii_lowercase(),
                change?,
            )
            .await?;
        Ok(sent.into())
    }
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::CertificateLifecycle")]
impl LifecycleApi {
    /// A certificate (roles `ra_officer`, `auditor`, `admin`, or an API key with scope
    /// `lifecycle` or `enrol`). JSON by default, with the renewal or rekey links
    /// (`supersedes`, `superseded_by`, `pending_replacement`); `Accept:
    /// application/pem-certificate-chain` gives the PEM chain and `Accept:
    /// application/pkix-cert` the DER.
    #[oai(path = "/certificates/:serial", method = "get")]
    async fn get_certificate(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        serial: Path<String>,
        #[oai(name = "Accept")] accept: Header<Option<String>>,
    ) -> Result<Negotiated<CertificateResponse>, ApiError> {
        let p = &auth.0;
        // Operators by role; the provider's integration keys (scope enrol or lifecycle) too.
        if p.require_role(&[Role::RaOfficer, Role::Auditor, Role::Admin])
            .is_err()
            && p.require_scope(Scope::Enrol).is_err()
        {
            p.require_scope(Scope::Lifecycle)?;
        }
        require_reach(&state, p, Owned::Certificate(serial.0.clone())).await?;
        let serial = serial.0.to_ascii_lowercase();
        let lookup = serial.clone();
        let (row, contract_id, superseded_by, pending) = state
            .store
            .read(move |tx| {
                let Some(row) = tx.certificate(&lookup)? else {
                    return Ok(None);
                };
                let contract = tx.signed_contract_ref(&row.enrolment_id)?.map(|c| c.id);
                let mut superseded_by = None;
                for c in tx.certificates_superseding(&lookup)? {
                    if tx
                        .acceptance_record(&c.serial)?
                        .is_some_and(|r| r.status == "accepted")
                    {
                        superseded_by = Some(c.serial);
                    }
                }
                let pending = crate::renewal::pending(tx, &lookup)?;
                Ok::<_, crate::store::StoreError>(Some((row, contract, superseded_by, pending)))
            })
            .await?
            .ok_or(StatusError::NotFound)?;
        let accept = accept.0.unwrap_or_default();
        if accept.contains("application/pem-certificate-chain") {
            let der = row.cert_der.ok_or(StatusError::NotFound)?;
            return Ok(Negotiated(CertificateResponse::Pem(PlainText(format!(
                "{}{}",
                crate::ca::certificate_to_pem(&der),
                state.ca.chain_pem
            )))));
        }
        if accept.contains("application/pkix-cert") {
            let der = row.cert_der.ok_or(StatusError::NotFound)?;
            return Ok(Negotiated(CertificateResponse::Der(Binary(der))));
        }
        Ok(Negotiated(CertificateResponse::Json(Json(Box::new(
            CertificateView {
                serial: row.serial,
                status: row.status.as_str().into(),
                subject: row.subject_dn,
                not_before: row.not_before.and_utc(),
                not_after: row.not_after.and_utc(),
                package_code: row.package_code,
                enrolment_id: row.enrolment_id,
                contract_id,
                revoked_at: row.revoked_at.map(|t| t.and_utc()),
                revocation_reason: row.revocation_reason,
                supersedes: row.supersedes,
                superseded_by,
                pending_replacement: pending.map(|p| PendingReplacementView {
                    kind: p.kind.as_str().into(),
                    enrolment_id: p.enrolment_id,
                    serial: p.serial,
                }),
            },
        )))))
    }

    /// Search certificates (roles `ra_officer`, `auditor`, `admin`), in serial order, at most
    /// `limit` (1-200, default 50; otherwise 422 `limit_invalid`) per page; `next_cursor`
    /// continues (anything else as `cursor`: 422 `cursor_invalid`). `issued_from` is
    /// inclusive, `issued_to` exclusive (record time).
    #[oai(path = "/certificates", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn search_certificates(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        id_number: Query<Option<String>>,
        status: Query<Option<String>>,
        issued_from: Query<Option<DateTime<Utc>>>,
        issued_to: Query<Option<DateTime<Utc>>>,
        cursor: Query<Option<String>>,
        limit: Query<Option<i64>>,
    ) -> Result<Json<CertificatePage>, ApiError> {
        auth.0
            .require_role(&[Role::RaOfficer, Role::Auditor, Role::Admin])?;
        let status = match status.0.as_deref() {
            None => None,
            Some(s) => Some(CertificateStatus::parse(s).ok_or_else(|| {
                let allowed = CertificateStatus::ALL.map(CertificateStatus::as_str);
                ApiError::from(
                    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "status_invalid")
                        .arg("status", s)
                        .arg("allowed", allowed.join(", ")),
                )
            })?),
        };
        let limit = super::paging::limit(limit.0, 50, 200)?;
        // A cursor is the last serial of the previous page.
        let after = match cursor.0 {
            Some(c) if crate::ca::Serial::from_hex(&c).is_err() => {
                return Err(super::paging::cursor_invalid())
            }
            c => c.map(|c| c.to_ascii_lowercase()),
        };
        let q = CertificateQuery {
            id_number: id_number.0,
            name: None,
            status,
            issued_from: issued_from.0.map(|t| t.naive_utc()),
            issued_to: issued_to.0.map(|t| t.naive_utc()),
            after,
            limit,
        };
        let rows = state
            .store
            .read(move |tx| tx.search_certificates(&q))
            .await?;
        let next_cursor = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|r| r.serial.clone()))
            .flatten();
        Ok(Json(CertificatePage {
            items: rows
                .into_iter()
                .map(|r| CertificateView {
                    serial: r.serial,
                    status: r.status.as_str().into(),
                    subject: r.subject_dn,
                    not_before: r.not_before.and_utc(),
                    not_after: r.not_after.and_utc(),
                    package_code: r.package_code,
                    enrolment_id: r.enrolment_id,
                    contract_id: None,
                    revoked_at: r.revoked_at.map(|t| t.and_utc()),
                    revocation_reason: r.revocation_reason,
                    supersedes: r.supersedes,
                    superseded_by: None,
                    pending_replacement: None,
                })
                .collect(),
            next_cursor,
        }))
    }

    /// Revoke (final). `ra_officer`: effective at once. API key (scope `lifecycle`): needs
    /// `otp_code` from `POST .../revoke/otp` with the same reason. 409 `certificate_revoked`
    /// when already revoked.
    #[oai(path = "/certificates/:serial/revoke", method = "post")]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        serial: Path<String>,
        body: Json<RevokeRequest>,
    ) -> Result<Json<StatusView>, ApiError> {
        Self::apply(
            state.0,
            &auth.0,
            &serial.0,
            Change::revoke(&body.reason),
            &body.note,
            body.otp_code.as_deref(),
        )
        .await
    }

    /// Suspend (certificateHold) an active certificate; same rules as revoke.
    #[oai(path = "/certificates/:serial/suspend", method = "post")]
    async fn suspend(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        serial: Path<String>,
        body: Json<ChangeRequest>,
    ) -> Result<Json<StatusView>, ApiError> {
        Self::apply(
            state.0,
            &auth.0,
            &serial.0,
            Ok(Change::Suspend),
            &body.note,
            body.otp_code.as_deref(),
        )
        .await
    }

    /// Resume a suspended certificate; same rules as revoke.
    #[oai(path = "/certificates/:serial/resume", method = "post")]
    async fn resume(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        serial: Path<String>,
        body: Json<ChangeRequest>,
    ) -> Result<Json<StatusView>, ApiError> {
        Self::apply(
            state.0,
            &auth.0,
            &serial.0,
            Ok(Change::Resume),
            &body.note,
            body.otp_code.as_deref(),
        )
        .await
    }

    /// A subscriber's revocation request (API key, scope `lifecycle`): sends the OTP to the
    /// enrolment's phone. Confirm with `POST .../revoke` and the same reason. The lifecycle
    /// code sends answer `202` (as they always did); the body is the one every code send
    /// answers, whose other calls answer `201`.
    #[oai(path = "/certificates/:serial/revoke/otp", method = "post")]
    async fn revoke_otp(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        serial: Path<String>,
        body: Json<RevokeOtpRequest>,
    ) -> Result<ChallengeAccepted, ApiError> {
        Self::request_otp(state.0, &auth.0, &serial.0, Change::revoke(&body.reason)).await
    }

    /// A subscriber's suspension request (API key, scope `lifecycle`): sends the OTP.
    #[oai(path = "/certificates/:serial/suspend/otp", method = "post")]
    async fn suspend_otp(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        serial: Path<String>,
    ) -> Result<ChallengeAccepted, ApiError> {
        Self::request_otp(state.0, &auth.0, &serial.0, Ok(Change::Suspend)).await
    }

    /// A subscriber's resumption request (API key, scope `lifecycle`): sends the OTP.
    #[oai(path = "/certificates/:serial/resume/otp", method = "post")]
    async fn resume_otp(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        serial: Path<String>,
    ) -> Result<ChallengeAccepted, ApiError> {
        Self::request_otp(state.0, &auth.0, &serial.0, Ok(Change::Resume)).await
    }

    /// The remote signatures made with the certificate's key (CSC `signHash`), newest
    /// first, at most 500: hash, time and the SAD that authorised each. Operators (RA
    /// officer, auditor) and keys with scope `lifecycle` or `sign` of the owning integration.
    #[oai(path = "/certificates/:serial/signatures", method = "get")]
    async fn certificate_signatures(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        serial: Path<String>,
    ) -> Result<SignaturesResponse, ApiError> {
        let p = &auth.0;
        if p.require_role(&[Role::RaOfficer, Role::Auditor]).is_err()
            && p.require_scope(Scope::Sign).is_err()
        {
            p.require_scope(Scope::Lifecycle)?;
        }
        require_reach(&state, p, Owned::Certificate(serial.0.clone())).await?;
        let serial = serial.0.to_ascii_lowercase();
        let lookup = serial.clone();
        if state
            .store
            .read(move |tx| tx.certificate(&lookup))
            .await?
            .is_none()
        {
            return Err(Problem::new(StatusCode::NOT_FOUND, "certificate_not_found").into());
        }
        let rows = state
            .remote_signing
            .signatures(&serial, 500)
            .await
            .map_err(Problem::from)?;
        Ok(SignaturesResponse::Ok(Json(SignatureList {
            signatures: rows
                .into_iter()
                .map(|r| SignatureView {
                    id: r.id,
                    credential_id: r.credential_id,
                    hash_sha256: r.hash_sha256,
                    sad_id: r.sad_id,
                    signed_at: r.signed_at.and_utc(),
                })
                .collect(),
        })))
    }
}

/// One remote signature.
#[derive(Object)]
struct SignatureView {
    id: String,
    credential_id: String,
    /// The signed SHA-256 value, lower-case hex.
    hash_sha256: String,
    /// The authorisation (SAD) it was made under.
    sad_id: String,
    signed_at: DateTime<Utc>,
}

#[derive(Object)]
struct SignatureList {
    signatures: Vec<SignatureView>,
}

#[derive(ApiResponse)]
enum SignaturesResponse {
    #[oai(status = 200)]
    Ok(Json<SignatureList>),
}
