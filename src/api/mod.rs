//! The JSON API (poem-openapi): the provider's app backend, the VNeID hub connector and
//! operators' tools call it. The OpenAPI document is the public contract.

mod acceptance;
mod audit;
pub mod auth;
mod certificates;
mod contracts;
pub mod csc;
mod enrolments;
mod immutable_document;
mod lifecycle;
mod negotiated;
mod operators;
mod otp_views;
mod paging;
pub mod problem;
mod renewal;
mod reports;
mod validation;
mod verification;
mod vneid;

use poem_openapi::OpenApiService;

pub use enrolments::parse_application_json;

pub type Service = OpenApiService<
    (
        operators::OperatorsApi,
        audit::AuditApi,
        enrolments::EnrolmentsApi,
        verification::VerificationApi,
        contracts::ContractsApi,
        certificates::CertificatesApi,
        acceptance::AcceptanceApi,
        lifecycle::LifecycleApi,
        renewal::RenewalApi,
        reports::ReportsApi,
        vneid::VneidApi,
    ),
    (),
>;

/// The API service, mounted under `/api` (operations live under `/api/v1`).
pub fn service(public_base_url: &str) -> Service {
    OpenApiService::new(
        (
            operators::OperatorsApi,
            audit::AuditApi,
            enrolments::EnrolmentsApi,
            verification::VerificationApi,
            contracts::ContractsApi,
            certificates::CertificatesApi,
            acceptance::AcceptanceApi,
            lifecycle::LifecycleApi,
            renewal::RenewalApi,
            reports::ReportsApi,
            vneid::VneidApi,
        ),
        "ca-enrol",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Enrolment and certificate service of a Vietnamese public certification-authority \
         provider. Errors are JSON problems with a stable `code`, an English `message` and a \
         Vietnamese `message_vi`. Authenticate with `Authorization: Bearer <token>`: an operator \
         session token from `POST /api/v1/operator/session`, or an integration API key. Each \
         operation states the role or API-key scope it needs. Public, without authentication: \
         `GET /api/v1/packages` (the package catalogue, for reading), operator sign-in, \
         `POST /api/v1/vneid/registrations` (signed by the VNeID hub) and this document.",
    )
    .server(format!("{public_base_url}/api"))
}
