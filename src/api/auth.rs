//! Bearer authentication for the API: operator session tokens (`ces_…`) and integration API
//! keys (`cak_…`) share one scheme; each operation then checks role or scope.

use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::SecurityScheme;

use super::problem::ApiError;
use crate::app::AppState;
use crate::operators::{OperatorsError, Principal};

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
