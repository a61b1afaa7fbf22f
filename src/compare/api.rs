//! `GET /api/v1/compare`: the public comparison as JSON.

use super::{compare, Comparison, Request};
use crate::app::AppState;
use crate::error::{ApiResult, Problem};
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_compare))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CompareQuery {
    /// The address's postcode, e.g. `831 30`.
    pub postcode: String,
    /// Service type codes, comma-separated, e.g. `personal_care,service`.
    pub services: String,
    /// Only providers whose staff speak this language (ISO 639-1).
    pub language: Option<String>,
    /// Only providers with this speciality, e.g. `dementia`.
    pub speciality: Option<String>,
    /// `random` (default, seeded) or `name`.
    pub order: Option<String>,
    /// The random draw to keep an order (from an earlier answer).
    pub seed: Option<String>,
}

/// Every provider that may take a new client at this postcode for all of
/// these services today (no sign-in needed). Neutral order: a seeded random
/// draw, or by name. An unknown postcode is a 422 with `unknown_postcode`.
#[utoipa::path(get, path = "/compare", tag = "providers", security(()), params(CompareQuery),
    responses((status = 200, body = Comparison), (status = 422, body = Problem, description = "unknown_postcode, invalid_format, required")))]
async fn get_compare(State(state): State<AppState>, Query(q): Query<CompareQuery>) -> ApiResult<Json<Comparison>> {
    let r = Request {
        postcode: q.postcode,
        services: q.services.split(',').map(str::to_string).collect(),
        language: q.language,
        speciality: q.speciality,
        order: q.order,
        seed: q.seed,
    };
    Ok(Json(compare(&state, &r).await?))
}
