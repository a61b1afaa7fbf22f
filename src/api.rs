//! The HTTP API under `/api/v1`: JSON in and out, problem bodies for errors,
//! and the OpenAPI document generated from the handlers' annotations.

use crate::app::AppState;
use crate::error::{ApiError, FieldError};
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::Json;
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(title = "valfri", description = "Free-choice systems in municipal elderly care (LOV, fritt brukervalg, palveluseteli)."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "auth", description = "Sign-in tokens and the signed-in user"),
        (name = "setup", description = "Municipality, areas, service types, choice systems, rates"),
        (name = "users", description = "User accounts and roles"),
        (name = "providers", description = "Providers"),
        (name = "clients", description = "Clients and their personal data"),
        (name = "audit", description = "The append-only audit log"),
        (name = "visits", description = "Time reports (visits): single, batch and CSV import, the month's visits and their import-time flags"),
        (name = "decisions", description = "Needs-assessment decisions (biståndsbeslut), their versions, and the IVO report of unexecuted decisions"),
        (name = "assignments", description = "Assignments to providers derived from decisions and choices; the provider's inbox"),
        (name = "contracts", description = "Provider applications, review, contracts, capacity, intake and area closures; eligibility"),
        (name = "choices", description = "The client's choice of provider per service group, defaults, switches, re-choice tasks and LOU target shares"),
        (name = "settlement", description = "Monthly settlement per provider: drafts, adjustments, approval, CSV statements and SIE4 export"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .merge(crate::auth::api::routes())
        .merge(crate::setup::api::routes())
        .merge(crate::providers::api::routes())
        .merge(crate::clients::api::routes())
        .merge(crate::decisions::api::routes())
        .merge(crate::assignments::api::routes())
        .merge(crate::choices::api::routes())
        .merge(crate::audit::api::routes())
        .merge(crate::visits::api::routes())
        .merge(crate::settlement::api::routes())
        .merge(crate::contracts::api::routes())
        .merge(crate::compare::api::routes());
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1.layer(axum::middleware::from_fn(problem_bodies)))
        .route("/api/openapi.json", axum::routing::get(openapi_json))
        .route("/api/{*rest}", axum::routing::any(api_not_found))
}

/// The OpenAPI 3.1 document of this server.
pub fn openapi() -> utoipa::openapi::OpenApi {
    router().split_for_parts().1
}

async fn openapi_json() -> impl axum::response::IntoResponse {
    Json(openapi())
}

async fn api_not_found() -> ApiError {
    ApiError::NotFound("API route")
}

/// JSON request bodies. Unlike axum's `Json`, a bad body is answered with a
/// problem body that names the offending field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json") || ct.contains("+json"));
        if !json_type {
            return Err(ApiError::field("body", "unsupported_media_type", "send the body as application/json"));
        }
        let bytes =
            axum::body::Bytes::from_request(req, state).await.map_err(|e| ApiError::field("body", "unreadable_body", e.body_text()))?;
        // A NUL can only come as the escape `\u0000`: PostgreSQL cannot store
        // it in text, SQLite would, so it is refused here for both.
        if bytes.windows(6).any(|w| w == b"\\u0000") {
            if let Some(field) = serde_json::from_slice::<serde_json::Value>(&bytes).ok().as_ref().and_then(|v| nul_at(v, String::new())) {
                return Err(ApiError::Invalid(vec![FieldError {
                    field,
                    code: "invalid_character".into(),
                    reason: "the text holds a NUL character (\\u0000), which no field may hold".into(),
                }]));
            }
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de).map(ApiJson).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "body".to_string() } else { path };
            let inner = e.into_inner();
            let code = if inner.is_syntax() || inner.is_eof() { "invalid_json" } else { "invalid_field" };
            ApiError::Invalid(vec![FieldError { field, code: code.into(), reason: inner.to_string() }])
        })
    }
}

/// Where the first string holding a NUL is, named as the field of a
/// deserialization error is (`visits[1].staff_ref`).
fn nul_at(v: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) if s.contains('\0') => Some(if at.is_empty() { "body".into() } else { at }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, x)| nul_at(x, format!("{at}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(k, x)| nul_at(x, if at.is_empty() { k.clone() } else { format!("{at}.{k}") })),
        _ => None,
    }
}

/// Errors that axum itself produces (a malformed path or query, a wrong
/// method) become problem bodies too, so every API error has one shape.
pub async fn problem_bodies(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    let res = next.run(req).await;
    let status = res.status();
    let is_problem =
        res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.starts_with("application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return res;
    }
    let body = axum::body::to_bytes(res.into_body(), 64 * 1024).await.unwrap_or_default();
    problem_response(status, String::from_utf8_lossy(&body).trim().to_string())
}

/// A problem body for a status that has no more to say than `detail`.
pub fn problem_response(status: StatusCode, detail: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    let code = match status.as_u16() {
        400 => "bad_request",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "invalid_input",
        _ => "error",
    };
    let problem = crate::error::Problem {
        type_: format!("/problems/{code}"),
        title: status.canonical_reason().unwrap_or("Error").into(),
        status: status.as_u16(),
        detail,
        code: code.into(),
        errors: vec![],
    };
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/problem+json")], body).into_response()
}

/// The `offset` query parameter of a list: how many to skip, 0 unless given;
/// a negative one is refused naming the parameter rather than read as 0.
pub fn offset(given: Option<i64>) -> Result<i64, ApiError> {
    match given.unwrap_or(0) {
        n if n < 0 => Err(ApiError::field("offset", "out_of_range", "the offset is 0 or more")),
        n => Ok(n),
    }
}
