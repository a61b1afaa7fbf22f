//! `/api/v1/contracts`, `/api/v1/area-closures`, `/api/v1/eligibility` and
//! `/api/v1/provider-registrations`.

use super::eligibility::{self, Ineligible};
use super::*;
use crate::api::ApiJson;
use crate::auth::access::{require, Action};
use crate::error::Problem;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_provider))
        .routes(routes!(list_contracts, create_application))
        .routes(routes!(get_contract))
        .routes(routes!(upload_evidence))
        .routes(routes!(download_evidence))
        .routes(routes!(put_verdict))
        .routes(routes!(approve_contract))
        .routes(routes!(post_transition))
        .routes(routes!(post_capacity))
        .routes(routes!(post_intake))
        .routes(routes!(post_coverage))
        .routes(routes!(list_area_closures, create_area_closure))
        .routes(routes!(reopen_area_closure))
        .routes(routes!(get_eligibility))
        // Evidence files are up to 5 MB; the multipart envelope adds a little.
        .layer(DefaultBodyLimit::max(evidence::MAX_BYTES + 256 * 1024))
}

/// A provider registers itself and its first user (no sign-in needed).
/// Private and non-profit providers only; the municipal unit is created by admin.
#[utoipa::path(post, path = "/provider-registrations", tag = "contracts", security(()), request_body = Registration,
    responses((status = 201, body = Registered), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn register_provider(State(state): State<AppState>, ApiJson(r): ApiJson<Registration>) -> ApiResult<(StatusCode, Json<Registered>)> {
    Ok((StatusCode::CREATED, Json(register(&state, &r).await?)))
}

/// Applications and contracts: all (admin, case officers) or the provider's own.
#[utoipa::path(get, path = "/contracts", tag = "contracts", params(ListQuery),
    responses((status = 200, body = Vec<Contract>), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn list_contracts(State(state): State<AppState>, who: Principal, Query(q): Query<ListQuery>) -> ApiResult<Json<Vec<Contract>>> {
    Ok(Json(list(&state, &who, &q).await?))
}

/// Applies to a choice system, answering every requirement of the conditions
/// in force (a provider user for its own provider; admin on a provider's behalf).
#[utoipa::path(post, path = "/contracts", tag = "contracts", request_body = NewApplication,
    responses((status = 201, body = Contract), (status = 409, body = Problem, description = "application_exists"),
        (status = 422, body = Problem), (status = 403, body = Problem)))]
async fn create_application(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(a): ApiJson<NewApplication>,
) -> ApiResult<(StatusCode, Json<Contract>)> {
    Ok((StatusCode::CREATED, Json(apply(&state, &who, &a, &[]).await?)))
}

/// One application or contract with its history; answers and evidence only
/// to the provider itself and admin.
#[utoipa::path(get, path = "/contracts/{id}", tag = "contracts", params(("id" = String, Path)),
    responses((status = 200, body = ContractDetail), (status = 404, body = Problem)))]
async fn get_contract(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<Json<ContractDetail>> {
    Ok(Json(detail(&state, &who, &id).await?))
}

/// The multipart body of an evidence upload.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct EvidenceUpload {
    /// The requirement the file supports.
    requirement_code: String,
    /// A PDF, PNG or JPEG file of at most 5 MB (checked by its bytes).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Reads a multipart file field, refusing it as soon as it passes the limit.
pub async fn read_limited(field: &mut axum::extract::multipart::Field<'_>, name: &str) -> ApiResult<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) =
        field.chunk().await.map_err(|e| ApiError::field(name, "unreadable_body", format!("the upload was cut off: {}", e.body_text())))?
    {
        if out.len() + chunk.len() > evidence::MAX_BYTES {
            return Err(ApiError::field(name, "file_too_large", format!("a file is at most {} MB", evidence::MAX_BYTES / 1024 / 1024)));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Adds an evidence file (PDF, PNG or JPEG, at most 5 MB) to an answer while
/// the application is applied or under review.
#[utoipa::path(post, path = "/contracts/{id}/evidence", tag = "contracts", params(("id" = String, Path)),
    request_body(content = inline(EvidenceUpload), content_type = "multipart/form-data"),
    responses((status = 201, body = EvidenceMeta), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem)))]
async fn upload_evidence(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    mut form: Multipart,
) -> ApiResult<(StatusCode, Json<EvidenceMeta>)> {
    let mut code = None;
    let mut file = None;
    while let Some(mut field) = form.next_field().await.map_err(|e| ApiError::field("body", "invalid_multipart", e.body_text()))? {
        match field.name() {
            Some("requirement_code") => {
                code = Some(field.text().await.map_err(|e| ApiError::field("requirement_code", "invalid_multipart", e.body_text()))?)
            }
            Some("file") => {
                let name = field.file_name().unwrap_or_default().to_string();
                file = Some((name, read_limited(&mut field, "file").await?));
            }
            _ => {}
        }
    }
    let mut f = Fields::new();
    if code.as_deref().is_none_or(str::is_empty) {
        f.push("requirement_code", "required", "say which requirement the file supports");
    }
    if file.is_none() {
        f.push("file", "required", "attach a file");
    }
    f.finish()?;
    let (Some(code), Some((name, bytes))) = (code, file) else { return Err(ApiError::field("file", "required", "attach a file")) };
    Ok((StatusCode::CREATED, Json(add_evidence(&state, &who, &id, &code, &name, &bytes).await?)))
}

/// The evidence file itself (the provider itself and admin).
#[utoipa::path(get, path = "/contracts/{id}/evidence/{evidence_id}", tag = "contracts",
    params(("id" = String, Path), ("evidence_id" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream", description = "the file, as uploaded"), (status = 404, body = Problem)))]
async fn download_evidence(State(state): State<AppState>, who: Principal, Path((id, eid)): Path<(String, String)>) -> ApiResult<Response> {
    let (meta, bytes) = evidence_file(&state, &who, &id, &eid).await?;
    Ok(evidence_response(&meta, bytes))
}

pub fn evidence_response(meta: &EvidenceMeta, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, meta.content_type.clone()),
            (header::CONTENT_DISPOSITION, evidence::content_disposition(&meta.filename)),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        bytes,
    )
        .into_response()
}

/// The municipality's verdict on one answer (met / not met with a note), during the review.
#[utoipa::path(put, path = "/contracts/{id}/answers/{code}/verdict", tag = "contracts",
    params(("id" = String, Path), ("code" = String, Path, description = "requirement code")), request_body = VerdictInput,
    responses((status = 200, body = Answer), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn put_verdict(
    State(state): State<AppState>,
    who: Principal,
    Path((id, code)): Path<(String, String)>,
    ApiJson(v): ApiJson<VerdictInput>,
) -> ApiResult<Json<Answer>> {
    Ok(Json(review_answer(&state, &who, &id, &code, &v).await?))
}

/// Approves an application under review whose every answer is met, setting
/// the contract period, services, areas and capacity (admin).
#[utoipa::path(post, path = "/contracts/{id}/approve", tag = "contracts", params(("id" = String, Path)), request_body = Approval,
    responses((status = 200, body = Contract), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "invalid_transition, status_changed"),
        (status = 422, body = Problem, description = "requirements_not_met or invalid input")))]
async fn approve_contract(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(a): ApiJson<Approval>,
) -> ApiResult<Json<Contract>> {
    Ok(Json(approve(&state, &who, &id, &a).await?))
}

/// Moves a contract through its status machine (admin): `under_review`,
/// `rejected`, `active`, `paused`, `terminated` (with `date`, the last day).
#[utoipa::path(post, path = "/contracts/{id}/transitions", tag = "contracts", params(("id" = String, Path)), request_body = TransitionInput,
    responses((status = 200, body = Outcome, description = "the contract; for a termination also the clients handed over to a new choice"),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "invalid_transition, status_changed"), (status = 422, body = Problem)))]
async fn post_transition(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(t): ApiJson<TransitionInput>,
) -> ApiResult<Json<Outcome>> {
    Ok(Json(transition(&state, &who, &id, &t).await?))
}

/// Reports a new capacity ceiling (the provider itself or admin); it takes
/// effect from the 1st of the next month when reported by the conditions'
/// capacity_change_day, else the month after. The answer says from when.
#[utoipa::path(post, path = "/contracts/{id}/capacity", tag = "contracts", params(("id" = String, Path)), request_body = Capacity,
    responses((status = 201, body = CapacityVersion), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn post_capacity(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(c): ApiJson<Capacity>,
) -> ApiResult<(StatusCode, Json<CapacityVersion>)> {
    Ok((StatusCode::CREATED, Json(report_capacity(&state, &who, &id, &c).await?)))
}

/// Closes the provider for new clients, or reopens it, from a date (the provider itself or admin).
#[utoipa::path(post, path = "/contracts/{id}/intake", tag = "contracts", params(("id" = String, Path)), request_body = IntakeInput,
    responses((status = 201, body = IntakeVersion), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn post_intake(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(i): ApiJson<IntakeInput>,
) -> ApiResult<(StatusCode, Json<IntakeVersion>)> {
    Ok((StatusCode::CREATED, Json(set_intake(&state, &who, &id, &i).await?)))
}

/// Withdraws the contract from areas or services from a date (the provider
/// itself, with notice, or admin; admin may also add). The clients affected
/// keep the provider until the day before and are handed over to a new choice.
#[utoipa::path(post, path = "/contracts/{id}/coverage", tag = "contracts", params(("id" = String, Path)), request_body = CoverageChange,
    responses((status = 200, body = Outcome), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn post_coverage(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(c): ApiJson<CoverageChange>,
) -> ApiResult<Json<Outcome>> {
    Ok(Json(change_coverage(&state, &who, &id, &c).await?))
}

/// Areas (or services in areas) closed to private providers for new clients.
#[utoipa::path(get, path = "/area-closures", tag = "contracts", responses((status = 200, body = Vec<AreaClosure>), (status = 401, body = Problem)))]
async fn list_area_closures(State(state): State<AppState>, who: Principal) -> ApiResult<Json<Vec<AreaClosure>>> {
    require(&who, Action::ReadSetup)?;
    Ok(Json(area_closures(&state).await?))
}

/// Closes an area, or one service in it, to private providers from a date;
/// their existing clients stay (admin).
#[utoipa::path(post, path = "/area-closures", tag = "contracts", request_body = NewAreaClosure,
    responses((status = 201, body = AreaClosure), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_area_closure(
    State(state): State<AppState>,
    who: Principal,
    ApiJson(c): ApiJson<NewAreaClosure>,
) -> ApiResult<(StatusCode, Json<AreaClosure>)> {
    Ok((StatusCode::CREATED, Json(close_area(&state, &who, &c).await?)))
}

/// Reopens a closed area from a date (admin).
#[utoipa::path(post, path = "/area-closures/{id}/reopen", tag = "contracts", params(("id" = String, Path)), request_body = ReopenInput,
    responses((status = 200, body = AreaClosure), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn reopen_area_closure(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<ReopenInput>,
) -> ApiResult<Json<AreaClosure>> {
    Ok(Json(reopen_area(&state, &who, &id, &r).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct EligibilityQuery {
    pub provider_id: String,
    pub service_type: String,
    pub area_code: String,
    /// YYYY-MM-DD; default today.
    pub on: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EligibilityAnswer {
    pub eligible: bool,
    /// The first rule that failed.
    pub rule: Option<Ineligible>,
    pub reason: Option<String>,
    pub on: String,
}

/// May the provider take a new client for the service in the area on the date?
#[utoipa::path(get, path = "/eligibility", tag = "contracts", params(EligibilityQuery),
    responses((status = 200, body = EligibilityAnswer), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn get_eligibility(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<EligibilityQuery>,
) -> ApiResult<Json<EligibilityAnswer>> {
    require(&who, Action::ReadSetup)?;
    let mut f = Fields::new();
    let on = match q.on.as_deref() {
        Some(d) => parse_date(&mut f, "on", d),
        None => Some(state.today()),
    };
    f.finish()?;
    let Some(on) = on else { return Err(ApiError::field("on", "invalid_date", "a date is written YYYY-MM-DD")) };
    let r = eligibility::check(&state.db, &q.provider_id, &q.service_type, &q.area_code, on).await?;
    Ok(Json(EligibilityAnswer {
        eligible: r.is_ok(),
        rule: r.err(),
        reason: r.err().map(|i| i.describe().to_string()),
        on: on.to_string(),
    }))
}
