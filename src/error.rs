//! Every API error is an RFC 9457 problem body (`application/problem+json`)
//! with a stable snake_case `code` the UI translates, and, for bad input, the
//! field and the reason. Database constraint violations become 409/422; a 500
//! means a bug in valfri, never bad input.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The input field, as named in the request (e.g. `person_id`, `rows[3].amount_ore`).
    pub field: String,
    /// Stable snake_case code, e.g. `invalid_checksum`.
    pub code: String,
    /// Human-readable reason, in English.
    pub reason: String,
}

/// An RFC 9457 problem details body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable snake_case error code.
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("not signed in")]
    Unauthenticated,
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("conflict: {detail}")]
    Conflict { code: &'static str, detail: String },
    /// A rule of the domain refused the request (e.g. a provider not open for new clients).
    #[error("rule: {detail}")]
    Rule { code: &'static str, detail: String },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn field(field: impl Into<String>, code: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldError { field: field.into(), code: code.into(), reason: reason.into() }])
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Conflict { code, detail: detail.into() }
    }

    pub fn rule(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Rule { code, detail: detail.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) | ApiError::Rule { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            ApiError::Invalid(_) => "invalid_input",
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict { code, .. } | ApiError::Rule { code, .. } => code,
            ApiError::Internal(_) => "internal_error",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        let (detail, errors) = match self {
            ApiError::Invalid(errs) => {
                (errs.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect::<Vec<_>>().join("; "), errs.clone())
            }
            ApiError::Unauthenticated => ("sign in, or send a bearer token".into(), vec![]),
            ApiError::Forbidden(what) => (format!("your role may not {what}"), vec![]),
            ApiError::NotFound(what) => (format!("no such {what}"), vec![]),
            ApiError::Conflict { detail, .. } | ApiError::Rule { detail, .. } => (detail.clone(), vec![]),
            // The cause goes to the log, not to the client.
            ApiError::Internal(_) => ("an internal error occurred; it has been logged".into(), vec![]),
        };
        let code = self.code().to_string();
        Problem {
            type_: format!("/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
            code,
            errors,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            use sqlx::error::ErrorKind;
            match db.kind() {
                ErrorKind::UniqueViolation => return ApiError::conflict("already_exists", "a record with the same key already exists"),
                ErrorKind::ForeignKeyViolation => {
                    return ApiError::rule("unknown_reference", "the request refers to a record that does not exist")
                }
                ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
                    return ApiError::rule("constraint_violated", "the request breaks a rule of the data model")
                }
                _ => {}
            }
            // PostgreSQL cannot store a NUL in text (SQLSTATE 22021); input
            // that carried one past the checks is still the user's.
            if db.code().as_deref() == Some("22021") {
                return ApiError::rule("invalid_character", "a text holds a character that cannot be stored (NUL)");
            }
        }
        ApiError::Internal(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = ?e, "internal error");
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        (self.status(), [(header::CONTENT_TYPE, "application/problem+json")], body).into_response()
    }
}

/// Collects field errors while a request is parsed, so that one response
/// names every bad field rather than only the first.
#[derive(Default)]
pub struct Fields(Vec<FieldError>);

impl Fields {
    pub fn new() -> Self {
        Fields(Vec::new())
    }

    /// Parses one field; on error records it and returns None.
    pub fn parse<T, E>(&mut self, field: &str, r: Result<T, E>) -> Option<T>
    where
        E: crate::error::Coded,
    {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(FieldError { field: field.into(), code: e.code().into(), reason: e.to_string() });
                None
            }
        }
    }

    pub fn push(&mut self, field: &str, code: &str, reason: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), code: code.into(), reason: reason.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ok when no field failed.
    pub fn finish(self) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(self.0))
        }
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }
}

/// An error with a stable snake_case code: every parse error of a domain type.
pub trait Coded: std::fmt::Display {
    fn code(&self) -> &'static str;
}

impl Coded for valfri_core::month::MonthParseError {
    fn code(&self) -> &'static str {
        "invalid_month"
    }
}

/// A plain message with a code, for ad-hoc checks.
pub struct Msg(pub &'static str, pub String);

impl std::fmt::Display for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl Coded for Msg {
    fn code(&self) -> &'static str {
        self.0
    }
}
