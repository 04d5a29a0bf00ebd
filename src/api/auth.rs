//! Bearer authentication for the API: operator session tokens (`ces_…`) and integration API
//! keys (`cak_…`) share one scheme; each operation then checks role or scope, directly or
//! through the checks below that several API files share.

use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::SecurityScheme;

use super::problem::ApiError;
use crate::app::AppState;
use crate::operators::{OperatorsError, Principal, Role, Scope};

/// `Authorization: Bearer <operator session token or API key>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check_bearer")]
pub struct Auth(pub Principal);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Principal> {
    let Some(state) = req.data::<AppState>() else {
        return Err(ApiError::unexpected("application state missing").into());
    };
    state
        .accounts
        .authenticate(&bearer.token)
        .await
        .map_err(|e: OperatorsError| ApiError::from(e).into())
}

/// An API key with scope `enrol` (the provider's app backend, the VNeID connector), or an
/// operator session with one of `roles`.
pub(super) fn require_enrol_or(p: &Principal, roles: &[Role]) -> Result<(), ApiError> {
    match p {
        Principal::ApiKey { .. } => p.require_scope(Scope::Enrol)?,
        Principal::Operator { .. } => p.require_role(roles)?,
    }
    Ok(())
}

/// RA officer, or an API key with scope `lifecycle`.
pub(super) fn require_lifecycle_caller(p: &Principal) -> Result<(), ApiError> {
    match p {
        Principal::ApiKey { .. } => p.require_scope(Scope::Lifecycle)?,
        Principal::Operator { .. } => p.require_role(&[Role::RaOfficer])?,
    }
    Ok(())
}
