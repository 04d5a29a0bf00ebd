//! The VNeID hub connector's routes: registrations signed by the hub, and the provider app's
//! redemption of the hand-over token (`vneid::Connector`).

use chrono::{DateTime, Utc};
use poem::http::StatusCode;
use poem::web::Data;
use poem::Body;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiRequest, ApiResponse, Object, OpenApi, Tags};

use super::auth::Auth;
use super::enrolments::{hub_application, EnrolmentView};
use super::problem::ApiError;
use crate::app::AppState;
use crate::operators::{Principal, Scope};
use crate::problem::Problem;
use crate::vneid::VneidError;

#[derive(Tags)]
enum ApiTags {
    /// The national VNeID hub: signed registrations in, the hand-over to the provider's app.
    Vneid,
}

/// A compact JWS (RFC 7515) signed by the hub: ES256 or RS256, the signing certificate
/// (keyUsage digitalSignature) and any intermediates in `x5c`, chaining to the configured
/// trust anchor. Claims: `transaction_id`, `provider_id` (ours), `assurance_level` (2),
/// `iat`, `exp`, `jti` (never seen before), and the citizen's `identity`, `contact` and
/// `consent` (`version`, `text_sha256`, `given_at`) in the shapes of `POST /v1/enrolments`.
#[derive(ApiRequest)]
enum RegistrationBody {
    #[oai(content_type = "application/jose")]
    Jose(Binary<Body>),
}

#[derive(Object)]
struct RegistrationAnswer {
    enrolment: EnrolmentView,
    /// One-time token for the provider's app (`POST /v1/vneid/handover`); absent when the
    /// enrolment was already handed over.
    #[oai(nullable)]
    handover_token: Option<String>,
    handover_expires_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
enum RegistrationResponse {
    /// Recorded, or found: a repeated transaction id answers the same enrolment with a fresh
    /// hand-over token.
    #[oai(status = 201)]
    Created(Json<RegistrationAnswer>),
}

#[derive(Object)]
struct HandoverRequest {
    /// The token the registration answered.
    #[oai(validator(max_length = 128))]
    token: String,
}

impl From<VneidError> for Problem {
    fn from(e: VneidError) -> Self {
        use StatusCode as S;
        use VneidError as E;
        match e {
            E::NotConfigured => Problem::new(S::NOT_FOUND, "vneid_not_configured"),
            E::TooLarge { max_bytes } => {
                Problem::new(S::PAYLOAD_TOO_LARGE, "registration_too_large")
                    .arg("max_bytes", max_bytes)
            }
            E::Jws(crate::ca::jws::JwsError::Malformed(detail)) => {
                Problem::new(S::BAD_REQUEST, "jws_malformed").arg("detail", detail)
            }
            E::Jws(crate::ca::jws::JwsError::BadSignature) => {
                Problem::new(S::BAD_REQUEST, "jws_signature_invalid")
            }
            E::Jws(crate::ca::jws::JwsError::Untrusted(detail)) => {
                Problem::new(S::FORBIDDEN, "hub_certificate_untrusted").arg("detail", detail)
            }
            E::Jws(crate::ca::jws::JwsError::Expired) => {
                Problem::new(S::FORBIDDEN, "hub_certificate_expired")
            }
            E::Jws(e @ crate::ca::jws::JwsError::Signing(_)) => Problem::internal(e),
            E::Claim(name) => {
                Problem::new(S::BAD_REQUEST, "registration_claims_invalid").arg("detail", name)
            }
            E::Stale => Problem::new(S::BAD_REQUEST, "registration_stale"),
            E::Replayed => Problem::new(S::CONFLICT, "registration_replayed"),
            E::OtherProvider => Problem::new(S::UNPROCESSABLE_ENTITY, "provider_mismatch"),
            E::AssuranceLevel(level) => {
                Problem::new(S::FORBIDDEN, "assurance_level_insufficient").arg("level", level)
            }
            E::TransactionReused => Problem::new(S::CONFLICT, "vneid_transaction_reused"),
            E::HandoverInvalid => Problem::new(S::NOT_FOUND, "handover_token_invalid"),
            E::HandoverUsed => Problem::new(S::CONFLICT, "handover_token_used"),
            E::Enrolment(e) => Problem::from(e),
            E::Store(e) => Problem::from(e),
        }
    }
}

pub struct VneidApi;

#[OpenApi(prefix_path = "/v1/vneid", tag = "ApiTags::Vneid")]
impl VneidApi {
    /// A registration from the VNeID hub (no bearer: the hub's signature is its credential).
    /// The citizen's fields are checked as at intake (one 422 naming every failing field),
    /// and the enrolment is `verified` by the level-2 account. Refusals: 400
    /// `jws_malformed`, `jws_signature_invalid`, `registration_stale` (`iat` beyond
    /// `vneid.max_skew_seconds`, or `exp` past), `registration_claims_invalid`; 403
    /// `hub_certificate_untrusted`, `hub_certificate_expired`,
    /// `assurance_level_insufficient`; 409 `registration_replayed` (`jti` seen before: a
    /// retry must be signed again), `vneid_transaction_reused` (same transaction, other
    /// data), `enrolment_already_open`; 413 `registration_too_large`; 422
    /// `provider_mismatch`; 404 `vneid_not_configured`.
    #[oai(path = "/registrations", method = "post")]
    async fn register(
        &self,
        state: Data<&AppState>,
        body: RegistrationBody,
    ) -> Result<RegistrationResponse, ApiError> {
        let connector = &state.vneid;
        connector.require_configured()?;
        let max_bytes = connector.settings().max_body_bytes;
        let RegistrationBody::Jose(body) = body;
        let limit = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        let bytes = body.0.into_bytes_limit(limit).await.map_err(|e| match e {
            poem::error::ReadBodyError::PayloadTooLarge => {
                ApiError::from(VneidError::TooLarge { max_bytes })
            }
            other => Problem::in_context(StatusCode::BAD_REQUEST, "bad_request", "body")
                .arg("detail", other)
                .into(),
        })?;
        let registration = connector.verify(&bytes)?;
        let app = hub_application(&registration.claims, |form| state.enrolments.parse(form))
            .map_err(|p| ApiError::from(*p))?;
        let registered = connector.register(registration, app).await?;
        Ok(RegistrationResponse::Created(Json(RegistrationAnswer {
            enrolment: EnrolmentView::from(&registered.enrolment),
            handover_token: registered.handover_token,
            handover_expires_at: registered.handover_expires_at,
        })))
    }

    /// Redeem a registration's hand-over token, once (API key with scope `enrol`: the
    /// provider's app backend). The enrolment then belongs to the key's integration.
    /// 404 `handover_token_invalid` (unknown or expired), 409 `handover_token_used`.
    #[oai(path = "/handover", method = "post")]
    async fn handover(
        &self,
        state: Data<&AppState>,
        auth: Auth,
        body: Json<HandoverRequest>,
    ) -> Result<Json<EnrolmentView>, ApiError> {
        auth.0.require_scope(Scope::Enrol)?;
        let Principal::ApiKey { integration_id, .. } = &auth.0 else {
            return Err(ApiError::unexpected("an enrol scope without a key"));
        };
        let summary = state
            .vneid
            .hand_over(&auth.0.actor(), integration_id, &body.0.token)
            .await?;
        Ok(Json(EnrolmentView::from(&summary)))
    }
}
