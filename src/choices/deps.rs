//! What the choice needs from other modules, in one place: eligibility
//! (contracts), what the client is granted (decisions), and deriving
//! assignments (assignments).

use crate::app::AppState;
use crate::error::ApiResult;
use jiff::civil::Date;
use sqlx::AnyConnection;

pub use crate::assignments::ProviderPeriod as Period;

/// The SQL condition (alias `a`) that leaves out withdrawn assignments.
pub const LIVE_ASSIGNMENT: &str = "AND a.status <> 'cancelled'";

/// May the provider take a new client for the service in the area on `on`?
/// Err is the stable code of the first rule that failed.
pub async fn check(
    state: &AppState,
    provider_id: &str,
    service_type: &str,
    area_code: &str,
    on: Date,
) -> ApiResult<Result<(), &'static str>> {
    Ok(crate::contracts::eligibility::check(&state.db, provider_id, service_type, area_code, on).await?.map_err(|e| e.code()))
}

pub async fn eligible(state: &AppState, service_type: &str, area_code: &str, on: Date) -> ApiResult<Vec<String>> {
    crate::contracts::eligibility::eligible_providers(&state.db, service_type, area_code, on).await
}

/// The service types granted to the client on `on`.
pub async fn granted_types(c: &mut AnyConnection, client_id: &str, on: Date) -> ApiResult<Vec<String>> {
    let mut types: Vec<String> = crate::decisions::granted_on(c, client_id, on).await?.into_iter().map(|g| g.service_type).collect();
    types.sort();
    types.dedup();
    Ok(types)
}

/// (service type, granted amount per month) of the client on `on`.
pub async fn granted(c: &mut AnyConnection, client_id: &str, on: Date) -> ApiResult<Vec<(String, i64)>> {
    Ok(crate::decisions::granted_on(c, client_id, on).await?.into_iter().map(|g| (g.service_type, g.monthly_amount)).collect())
}

pub async fn sync(c: &mut AnyConnection, client_id: &str, periods: &[Period], now: jiff::Timestamp) -> ApiResult<()> {
    crate::assignments::sync_client(c, client_id, periods, now).await.map(|_| ())
}
