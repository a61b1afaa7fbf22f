//! May a provider take a NEW client for a service in an area on a date?
//! The one answer the choice module, the comparison page and the default
//! rule all use. Existing clients are never affected by these rules: a
//! closure or a full provider keeps the clients it has.
//!
//! The rules, in order; the first that fails is named:
//! 1. `not_active`: no contract in status `active` whose period covers the date.
//! 2. `not_approved_for_service`: no active contract, in the choice system that
//!    holds the service, covering the service on the date.
//! 3. `not_approved_for_area`: the contract does not cover the area on the date.
//! 4. `closed_for_new_clients`: the provider has closed itself for new clients.
//! 5. `area_closed_to_private`: the municipality has closed the area, or the
//!    service in it, to private providers (never the municipal provider).
//! 6. `at_capacity`: the provider has reached its ceiling: distinct clients
//!    with an assignment (in a service of that choice system) active on the
//!    date, or the sum of their granted hours per month.

use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use jiff::civil::Date;
use serde::Serialize;
use sqlx::AnyConnection;
use utoipa::ToSchema;

/// The rule that makes a provider ineligible; `code()` is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Ineligible {
    NotActive,
    NotApprovedForService,
    NotApprovedForArea,
    ClosedForNewClients,
    AreaClosedToPrivate,
    AtCapacity,
}

impl Ineligible {
    pub const ALL: [Ineligible; 6] = [
        Ineligible::NotActive,
        Ineligible::NotApprovedForService,
        Ineligible::NotApprovedForArea,
        Ineligible::ClosedForNewClients,
        Ineligible::AreaClosedToPrivate,
        Ineligible::AtCapacity,
    ];

    pub fn code(&self) -> &'static str {
        match self {
            Ineligible::NotActive => "not_active",
            Ineligible::NotApprovedForService => "not_approved_for_service",
            Ineligible::NotApprovedForArea => "not_approved_for_area",
            Ineligible::ClosedForNewClients => "closed_for_new_clients",
            Ineligible::AreaClosedToPrivate => "area_closed_to_private",
            Ineligible::AtCapacity => "at_capacity",
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Ineligible::NotActive => "the provider has no active contract on that date",
            Ineligible::NotApprovedForService => "the provider is not approved for that service",
            Ineligible::NotApprovedForArea => "the provider is not approved for that area",
            Ineligible::ClosedForNewClients => "the provider is closed for new clients",
            Ineligible::AreaClosedToPrivate => "the municipality has closed that area (or that service in it) to private providers",
            Ineligible::AtCapacity => "the provider has reached its capacity ceiling",
        }
    }
}

impl std::fmt::Display for Ineligible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

impl From<Ineligible> for ApiError {
    fn from(i: Ineligible) -> Self {
        ApiError::rule(i.code(), i.describe())
    }
}

/// One active contract of a provider in force on the date, in the choice
/// system that holds the service.
struct Candidate {
    contract_id: String,
    ownership: String,
}

async fn candidate(c: &mut AnyConnection, provider_id: &str, service_type: &str, on: &str) -> ApiResult<Result<Candidate, Ineligible>> {
    let rows = sqlx::query(
        "SELECT c.id, p.ownership, \
         (SELECT COUNT(*) FROM choice_system_services s WHERE s.choice_system_id = c.choice_system_id AND s.service_type = $2) AS holds \
         FROM contracts c JOIN providers p ON p.id = c.provider_id \
         WHERE c.provider_id = $1 AND c.status = 'active' AND c.start_date <= $3 AND (c.end_date IS NULL OR c.end_date >= $3) \
         ORDER BY c.id",
    )
    .bind(provider_id)
    .bind(service_type)
    .bind(on)
    .fetch_all(&mut *c)
    .await?;
    if rows.is_empty() {
        return Ok(Err(Ineligible::NotActive));
    }
    for r in &rows {
        if super::i(r, "holds")? > 0 {
            return Ok(Ok(Candidate { contract_id: super::s(r, "id")?, ownership: super::s(r, "ownership")? }));
        }
    }
    Ok(Err(Ineligible::NotApprovedForService))
}

/// Rules 2–6 for a contract already known to be active on the date.
async fn evaluate(
    c: &mut AnyConnection,
    k: &Candidate,
    service_type: &str,
    area_code: &str,
    on: &str,
) -> ApiResult<Result<(), Ineligible>> {
    let covered = |table: &'static str, col: &'static str| {
        format!(
            "SELECT COUNT(*) FROM {table} WHERE contract_id = $1 AND {col} = $2 AND valid_from <= $3 AND (valid_to IS NULL OR valid_to >= $3)"
        )
    };
    let n: i64 = sqlx::query_scalar(&covered("contract_services", "service_type"))
        .bind(&k.contract_id)
        .bind(service_type)
        .bind(on)
        .fetch_one(&mut *c)
        .await?;
    if n == 0 {
        return Ok(Err(Ineligible::NotApprovedForService));
    }
    let n: i64 = sqlx::query_scalar(&covered("contract_areas", "area_code"))
        .bind(&k.contract_id)
        .bind(area_code)
        .bind(on)
        .fetch_one(&mut *c)
        .await?;
    if n == 0 {
        return Ok(Err(Ineligible::NotApprovedForArea));
    }
    let open: Option<i64> = sqlx::query_scalar(
        "SELECT is_open FROM contract_intake WHERE contract_id = $1 AND valid_from <= $2 ORDER BY valid_from DESC LIMIT 1",
    )
    .bind(&k.contract_id)
    .bind(on)
    .fetch_optional(&mut *c)
    .await?;
    if open == Some(0) {
        return Ok(Err(Ineligible::ClosedForNewClients));
    }
    if k.ownership != "municipal" {
        let closed: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM area_closures WHERE area_code = $1 AND (service_type IS NULL OR service_type = $2) \
             AND from_date <= $3 AND (to_date IS NULL OR to_date >= $3)",
        )
        .bind(area_code)
        .bind(service_type)
        .bind(on)
        .fetch_one(&mut *c)
        .await?;
        if closed > 0 {
            return Ok(Err(Ineligible::AreaClosedToPrivate));
        }
    }
    if at_capacity(c, k, on).await? {
        return Ok(Err(Ineligible::AtCapacity));
    }
    Ok(Ok(()))
}

/// The provider's load against its ceiling on `on`: (used, ceiling, unit);
/// None when it has no ceiling. Hours are whole granted hours per month.
pub async fn load_and_ceiling(c: &mut AnyConnection, contract_id: &str, on: &str) -> ApiResult<Option<(i64, i64, String)>> {
    let row = sqlx::query(
        "SELECT cap.unit, cap.amount, c.provider_id, c.choice_system_id FROM contract_capacity cap JOIN contracts c ON c.id = cap.contract_id \
         WHERE cap.contract_id = $1 AND cap.valid_from <= $2 ORDER BY cap.valid_from DESC LIMIT 1",
    )
    .bind(contract_id)
    .bind(on)
    .fetch_optional(&mut *c)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let unit = super::s(&row, "unit")?;
    let Some(amount) = super::oi(&row, "amount")? else { return Ok(None) };
    let provider_id = super::s(&row, "provider_id")?;
    let system = super::s(&row, "choice_system_id")?;
    let active = "FROM assignments a JOIN choice_system_services s ON s.service_type = a.service_type AND s.choice_system_id = $2 \
                  JOIN service_types t ON t.code = a.service_type \
                  WHERE a.provider_id = $1 AND a.status <> 'cancelled' AND a.start_date <= $3 AND (a.end_date IS NULL OR a.end_date >= $3)";
    let used: i64 = match unit.as_str() {
        "clients" => {
            sqlx::query_scalar(&format!("SELECT COUNT(DISTINCT a.client_id) {active}"))
                .bind(&provider_id)
                .bind(&system)
                .bind(on)
                .fetch_one(&mut *c)
                .await?
        }
        "hours" => {
            // Granted minutes per month of the time-based services; SUM of a BIGINT
            // is NUMERIC on PostgreSQL, which the Any driver cannot decode.
            let minutes: i64 =
                sqlx::query_scalar(&format!("SELECT CAST(COALESCE(SUM(a.monthly_amount), 0) AS BIGINT) {active} AND t.unit = 'hour'"))
                    .bind(&provider_id)
                    .bind(&system)
                    .bind(on)
                    .fetch_one(&mut *c)
                    .await?;
            minutes / 60
        }
        _ => return Ok(None),
    };
    Ok(Some((used, amount, unit)))
}

async fn at_capacity(c: &mut AnyConnection, k: &Candidate, on: &str) -> ApiResult<bool> {
    Ok(load_and_ceiling(c, &k.contract_id, on).await?.is_some_and(|(used, ceiling, _)| used >= ceiling))
}

/// May `provider_id` take a new client for `service_type` in `area_code` on `on`?
/// `Ok(Err(rule))` names the first rule that fails.
pub async fn check(db: &Db, provider_id: &str, service_type: &str, area_code: &str, on: Date) -> ApiResult<Result<(), Ineligible>> {
    let mut c = db.pool.acquire().await?;
    check_on(&mut c, provider_id, service_type, area_code, on).await
}

/// `check` on a given connection (e.g. inside the caller's transaction).
pub async fn check_on(
    c: &mut AnyConnection,
    provider_id: &str,
    service_type: &str,
    area_code: &str,
    on: Date,
) -> ApiResult<Result<(), Ineligible>> {
    let on = on.to_string();
    match candidate(c, provider_id, service_type, &on).await? {
        Err(rule) => Ok(Err(rule)),
        Ok(k) => evaluate(c, &k, service_type, area_code, &on).await,
    }
}

/// Every provider that may take a new client for the service in the area on
/// the date, as provider ids sorted by provider name (then id).
pub async fn eligible_providers(db: &Db, service_type: &str, area_code: &str, on: Date) -> ApiResult<Vec<String>> {
    let mut c = db.pool.acquire().await?;
    let on_s = on.to_string();
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT c.provider_id, p.name FROM contracts c JOIN providers p ON p.id = c.provider_id \
         JOIN choice_system_services s ON s.choice_system_id = c.choice_system_id AND s.service_type = $1 \
         WHERE c.status = 'active' AND c.start_date <= $2 AND (c.end_date IS NULL OR c.end_date >= $2) ORDER BY p.name, c.provider_id",
    )
    .bind(service_type)
    .bind(&on_s)
    .fetch_all(&mut *c)
    .await?;
    let mut out = Vec::new();
    for id in ids {
        if check_on(&mut c, &id, service_type, area_code, on).await?.is_ok() {
            out.push(id);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_snake_case() {
        let codes: Vec<_> = Ineligible::ALL.iter().map(|i| i.code()).collect();
        assert_eq!(
            codes,
            [
                "not_active",
                "not_approved_for_service",
                "not_approved_for_area",
                "closed_for_new_clients",
                "area_closed_to_private",
                "at_capacity"
            ]
        );
        for i in Ineligible::ALL {
            assert_eq!(serde_json::to_value(i).ok(), Some(serde_json::Value::String(i.code().into())));
        }
    }
}
