//! Bearer authentication for the API: operator session tokens (`ces_…`) and integration API
//! keys (`cak_…`) share one scheme; each operation then checks role or scope, directly or
//! through the checks below that several API files share, and, for an object reached through
//! an enrolment, that a key's integration owns it (`require_reach`, the one place).

use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::SecurityScheme;

use super::problem::ApiError;
use crate::app::AppState;
use crate::operators::{OperatorsError, Principal, Role, Scope};
use crate::problem::Problem;
use crate::store::Owned;
use poem::http::StatusCode;

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

/// The integration check, the one place it is made: an API key reaches an enrolment, and the
/// contracts, certificates and acceptance records that hang off it, only when the key's
/// integration made the enrolment, unless the key holds `all_integrations`. Anything else
/// answers exactly what a missing object answers (404 with the object's `…_not_found` code),
/// so a key cannot even learn that another integration's object exists. Operators are not
/// checked here: their role decides. Call it after the role/scope check and before reading
/// or changing the object.
pub(super) async fn require_reach(
    state: &AppState,
    principal: &Principal,
    object: Owned,
) -> Result<(), ApiError> {
    let Principal::ApiKey {
        scopes,
        integration_id,
        ..
    } = principal
    else {
        return Ok(());
    };
    if scopes.contains(&Scope::AllIntegrations) {
        return Ok(());
    }
    let not_found = Problem::new(
        StatusCode::NOT_FOUND,
        match object {
            Owned::Enrolment(_) => "enrolment_not_found",
            Owned::Contract(_) => "contract_not_found",
            Owned::Certificate(_) => "certificate_not_found",
        },
    );
    let object = match object {
        Owned::Certificate(serial) => Owned::Certificate(serial.to_ascii_lowercase()),
        other => other,
    };
    let owner = state.store.read(move |tx| tx.owner_of(&object)).await?;
    match owner {
        Some(Some(owner)) if owner == *integration_id => Ok(()),
        _ => Err(not_found.into()),
    }
}
