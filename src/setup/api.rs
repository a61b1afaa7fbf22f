//! `/api/v1/setup`: read by every signed-in user, changed by admin.

use super::model::*;
use super::store::{self, ApplyReport};
use crate::api::ApiJson;
use crate::app::AppState;
use crate::audit::{self, AuditAction, Event};
use crate::auth::access::{require, Action};
use crate::auth::Principal;
use crate::clock::stamp;
use crate::error::{ApiError, ApiResult, Fields, Problem};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_setup, apply_setup))
        .routes(routes!(put_municipality))
        .routes(routes!(list_zones))
        .routes(routes!(put_zone))
        .routes(routes!(list_areas))
        .routes(routes!(put_area))
        .routes(routes!(list_service_types))
        .routes(routes!(put_service_type))
        .routes(routes!(list_choice_systems))
        .routes(routes!(put_choice_system))
        .routes(routes!(add_conditions))
        .routes(routes!(list_rates, add_rate))
}

async fn conn(state: &AppState) -> ApiResult<sqlx::pool::PoolConnection<sqlx::Any>> {
    Ok(state.db.pool.acquire().await?)
}

async fn audit_setup(state: &AppState, who: &Principal, subject_type: &str, subject_id: &str, detail: String) -> ApiResult<()> {
    audit::record(state, who, Event { action: AuditAction::Update, subject_type, subject_id, client_id: None, detail }).await
}

/// The whole setup, in the shape of the setup file.
#[utoipa::path(get, path = "/setup", tag = "setup",
    responses((status = 200, body = SetupDocument), (status = 404, body = Problem, description = "no setup yet")))]
async fn get_setup(State(state): State<AppState>, who: Principal) -> ApiResult<Json<SetupDocument>> {
    require(&who, Action::ReadSetup)?;
    let doc = store::load(&mut *conn(&state).await?).await?.ok_or(ApiError::NotFound("setup"))?;
    Ok(Json(doc))
}

/// Applies a whole setup document (the setup file as JSON), all or nothing.
#[utoipa::path(put, path = "/setup", tag = "setup", request_body = SetupDocument,
    responses((status = 200, body = ApplyReport), (status = 422, body = Problem), (status = 409, body = Problem)))]
async fn apply_setup(State(state): State<AppState>, who: Principal, ApiJson(doc): ApiJson<SetupDocument>) -> ApiResult<Json<ApplyReport>> {
    require(&who, Action::ChangeSetup)?;
    let report = store::apply(&state.db, &doc, &who.username, &stamp(state.clock.now())).await?;
    state.reload_municipality().await?;
    audit_setup(&state, &who, "setup", "all", format!("applied setup document: {report:?}")).await?;
    Ok(Json(report))
}

#[utoipa::path(put, path = "/setup/municipality", tag = "setup", request_body = Municipality,
    responses((status = 200, body = Municipality), (status = 422, body = Problem)))]
async fn put_municipality(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(m): ApiJson<Municipality>,
) -> ApiResult<Json<Municipality>> {
    require(&who, Action::ChangeSetup)?;
    let mut f = Fields::new();
    check_municipality(&mut f, "", &m);
    f.finish()?;
    store::put_municipality(&mut *conn(&state).await?, &m, &stamp(state.clock.now())).await?;
    state.reload_municipality().await?;
    audit_setup(&state, &who, "municipality", &m.code, format!("municipality set to {} ({})", m.name, m.code)).await?;
    Ok(Json(m))
}

#[utoipa::path(get, path = "/setup/zones", tag = "setup", responses((status = 200, body = Vec<Zone>)))]
async fn list_zones(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Vec<Zone>>> {
    require(&who, Action::ReadSetup)?;
    Ok(Json(store::zones(&mut *conn(&state).await?).await?))
}

/// Creates or renames a zone.
#[utoipa::path(put, path = "/setup/zones/{code}", tag = "setup", request_body = Zone,
    params(("code" = String, Path)), responses((status = 200, body = Zone), (status = 422, body = Problem)))]
async fn put_zone(
    State(state): State<AppState>,
    who: Principal,
    Path(code): Path<String>,
    ApiJson(z): ApiJson<Zone>,
) -> ApiResult<Json<Zone>> {
    require(&who, Action::ChangeSetup)?;
    let mut f = Fields::new();
    check_zone(&mut f, "", &z);
    if z.code != code {
        f.push("code", "path_mismatch", "the code in the body must equal the code in the path");
    }
    f.finish()?;
    store::put_zone(&mut *conn(&state).await?, &z).await?;
    audit_setup(&state, &who, "zone", &z.code, format!("zone {} = {}", z.code, z.name)).await?;
    Ok(Json(z))
}

#[utoipa::path(get, path = "/setup/areas", tag = "setup", responses((status = 200, body = Vec<Area>)))]
async fn list_areas(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Vec<Area>>> {
    require(&who, Action::ReadSetup)?;
    Ok(Json(store::areas(&mut *conn(&state).await?).await?))
}

/// Creates or updates an area; its postcode list is replaced.
#[utoipa::path(put, path = "/setup/areas/{code}", tag = "setup", request_body = Area,
    params(("code" = String, Path)), responses((status = 200, body = Area), (status = 422, body = Problem), (status = 409, body = Problem)))]
async fn put_area(
    State(state): State<AppState>,
    who: Principal,
    Path(code): Path<String>,
    ApiJson(mut a): ApiJson<Area>,
) -> ApiResult<Json<Area>> {
    require(&who, Action::ChangeSetup)?;
    let mut f = Fields::new();
    let pcs = check_area(&mut f, "", &a, Some(state.country()));
    if a.code != code {
        f.push("code", "path_mismatch", "the code in the body must equal the code in the path");
    }
    f.finish()?;
    let mut tx = state.db.pool.begin().await?;
    store::put_area(&mut tx, &a, &pcs).await?;
    tx.commit().await?;
    a.postcodes = pcs;
    audit_setup(&state, &who, "area", &a.code, format!("area {} in zone {} with {} postcodes", a.code, a.zone, a.postcodes.len())).await?;
    Ok(Json(a))
}

#[utoipa::path(get, path = "/setup/service-types", tag = "setup", responses((status = 200, body = Vec<ServiceType>)))]
async fn list_service_types(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Vec<ServiceType>>> {
    require(&who, Action::ReadSetup)?;
    Ok(Json(store::service_types(&mut *conn(&state).await?).await?))
}

#[utoipa::path(put, path = "/setup/service-types/{code}", tag = "setup", request_body = ServiceType,
    params(("code" = String, Path)), responses((status = 200, body = ServiceType), (status = 422, body = Problem)))]
async fn put_service_type(
    State(state): State<AppState>,
    who: Principal,
    Path(code): Path<String>,
    ApiJson(st): ApiJson<ServiceType>,
) -> ApiResult<Json<ServiceType>> {
    require(&who, Action::ChangeSetup)?;
    let mut f = Fields::new();
    check_service_type(&mut f, "", &st);
    if st.code != code {
        f.push("code", "path_mismatch", "the code in the body must equal the code in the path");
    }
    f.finish()?;
    store::put_service_type(&mut *conn(&state).await?, &st).await?;
    audit_setup(&state, &who, "service_type", &st.code, format!("service type {} ({}, {})", st.code, st.group, st.basis)).await?;
    Ok(Json(st))
}

#[utoipa::path(get, path = "/setup/choice-systems", tag = "setup", responses((status = 200, body = Vec<ChoiceSystem>)))]
async fn list_choice_systems(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Vec<ChoiceSystem>>> {
    require(&who, Action::ReadSetup)?;
    Ok(Json(store::choice_systems(&mut *conn(&state).await?).await?))
}

/// Creates or updates a choice system's name, model, default rule and
/// coverage. `conditions` in the body are added as versions.
#[utoipa::path(put, path = "/setup/choice-systems/{id}", tag = "setup", request_body = ChoiceSystem,
    params(("id" = String, Path)), responses((status = 200, body = ChoiceSystem), (status = 422, body = Problem), (status = 409, body = Problem)))]
async fn put_choice_system(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(cs): ApiJson<ChoiceSystem>,
) -> ApiResult<Json<ChoiceSystem>> {
    require(&who, Action::ChangeSetup)?;
    let mut f = Fields::new();
    check_choice_system(&mut f, "", &cs);
    if cs.id != id {
        f.push("id", "path_mismatch", "the id in the body must equal the id in the path");
    }
    f.finish()?;
    let now = stamp(state.clock.now());
    let mut tx = state.db.pool.begin().await?;
    store::put_choice_system(&mut tx, &cs, &now).await?;
    for v in &cs.conditions {
        store::add_conditions(&mut tx, &cs.id, v, &who.username, &now).await?;
    }
    tx.commit().await?;
    audit_setup(&state, &who, "choice_system", &cs.id, format!("choice system {} ({})", cs.id, cs.legal_model)).await?;
    let all = store::choice_systems(&mut *conn(&state).await?).await?;
    all.into_iter().find(|c| c.id == id).map(Json).ok_or(ApiError::NotFound("choice system"))
}

/// Publishes a new version of a choice system's conditions from a date.
#[utoipa::path(post, path = "/setup/choice-systems/{id}/conditions", tag = "setup", request_body = Conditions,
    params(("id" = String, Path)),
    responses((status = 201, body = Conditions), (status = 200, description = "identical version already published", body = Conditions), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn add_conditions(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(v): ApiJson<Conditions>,
) -> ApiResult<(StatusCode, Json<Conditions>)> {
    require(&who, Action::ChangeSetup)?;
    let mut f = Fields::new();
    check_conditions(&mut f, "", &v);
    f.finish()?;
    let mut c = conn(&state).await?;
    if !store::choice_systems(&mut c).await?.iter().any(|cs| cs.id == id) {
        return Err(ApiError::NotFound("choice system"));
    }
    let now = stamp(state.clock.now());
    // A retried identical publication is answered 200 and changes nothing;
    // different conditions for the same date are refused by the store (409).
    if store::add_conditions(&mut c, &id, &v, &who.username, &now).await? == store::Versioned::AlreadyThere {
        return Ok((StatusCode::OK, Json(v)));
    }
    audit_setup(&state, &who, "choice_system", &id, format!("conditions from {}", v.valid_from)).await?;
    Ok((StatusCode::CREATED, Json(Conditions { published_at: Some(now), published_by: Some(who.username.clone()), ..v })))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RateQuery {
    pub service_type: Option<String>,
    pub zone: Option<String>,
    /// Only the rates in force on this date (YYYY-MM-DD); without it, the whole history.
    pub on: Option<String>,
}

/// Rates with their history, or the rates in force on a date.
#[utoipa::path(get, path = "/setup/rates", tag = "setup", params(RateQuery),
    responses((status = 200, body = Vec<Rate>), (status = 422, body = Problem)))]
async fn list_rates(State(state): State<AppState>, who: Principal, Query(q): Query<RateQuery>) -> ApiResult<Json<Vec<Rate>>> {
    require(&who, Action::ReadSetup)?;
    let mut f = Fields::new();
    let on = q.on.as_deref().and_then(|d| parse_date(&mut f, "on", d));
    f.finish()?;
    let mut rates: Vec<Rate> = store::rates(&mut *conn(&state).await?)
        .await?
        .into_iter()
        .filter(|r| q.service_type.as_ref().is_none_or(|s| &r.service_type == s))
        .filter(|r| q.zone.as_ref().is_none_or(|z| &r.zone == z))
        .collect();
    if let Some(on) = on {
        rates = in_force(rates, &on.to_string());
    }
    Ok(Json(rates))
}

/// The version of each rate in force on `date` (rates sorted by key, then date).
pub fn in_force(rates: Vec<Rate>, date: &str) -> Vec<Rate> {
    let mut out: Vec<Rate> = Vec::new();
    for r in rates.into_iter().filter(|r| r.valid_from.as_str() <= date) {
        match out.last_mut() {
            Some(last) if last.service_type == r.service_type && last.zone == r.zone && last.time_class == r.time_class => *last = r,
            _ => out.push(r),
        }
    }
    out
}

/// Adds a rate version from a date; earlier versions stay as history.
#[utoipa::path(post, path = "/setup/rates", tag = "setup", request_body = Rate,
    responses((status = 201, body = Rate), (status = 200, description = "identical version already there", body = Rate), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn add_rate(State(state): State<AppState>, who: Principal, ApiJson(r): ApiJson<Rate>) -> ApiResult<(StatusCode, Json<Rate>)> {
    require(&who, Action::ChangeSetup)?;
    let mut f = Fields::new();
    check_rate(&mut f, "", &r);
    f.finish()?;
    let mut c = conn(&state).await?;
    let services = store::service_types(&mut c).await?;
    let Some(st) = services.iter().find(|s| s.code == r.service_type) else {
        return Err(ApiError::field("service_type", "unknown_service_type", format!("no service type {}", r.service_type)));
    };
    if !classes_for_basis(&st.basis).contains(&r.time_class.as_str()) {
        return Err(ApiError::field(
            "time_class",
            "wrong_time_class",
            format!("a {} service has rates of class {}", st.basis, classes_for_basis(&st.basis).join(", ")),
        ));
    }
    if !store::zones(&mut c).await?.iter().any(|z| z.code == r.zone) {
        return Err(ApiError::field("zone", "unknown_zone", format!("no zone {}", r.zone)));
    }
    if store::add_rate(&mut c, &r, &who.username, &stamp(state.clock.now())).await? == store::Versioned::AlreadyThere {
        return Ok((StatusCode::OK, Json(r)));
    }
    audit_setup(
        &state,
        &who,
        "rate",
        &format!("{}/{}/{}", r.service_type, r.zone, r.time_class),
        format!("{} öre from {}", r.amount_ore, r.valid_from),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(r)))
}
