//! Providers (utförare): the municipal in-house unit and approved private
//! and non-profit companies. Their public profile is open to everyone;
//! their internal data (clients, applications, settlements) only to
//! themselves and the municipality.

pub mod api;

use crate::error::{ApiError, ApiResult, Fields};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use valfri_core::ids::{Country, NorwegianOrgNr, OrgNr};

pub const OWNERSHIPS: &[&str] = &["municipal", "private", "nonprofit"];

/// A provider's public profile, shown to citizens when they compare.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub org_nr: String,
    /// municipal, private or nonprofit.
    pub ownership: String,
    pub owner_name: String,
    pub description: String,
    /// ISO 639-1 codes of languages the staff speak.
    pub languages: Vec<String>,
    /// E.g. dementia, palliative, diabetes.
    pub specialities: Vec<String>,
    pub phone: String,
    pub email: String,
    pub website: String,
    /// Entitled to the VAT compensation on settlements.
    pub vat_compensation: bool,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewProvider {
    pub name: String,
    pub org_nr: String,
    pub ownership: String,
    #[serde(default)]
    pub owner_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub specialities: Vec<String>,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub website: String,
    /// Defaults to true for private and non-profit providers, false for the municipal unit.
    pub vat_compensation: Option<bool>,
}

pub const PROVIDER_COLUMNS: &str =
    "id, name, org_nr, ownership, owner_name, description, languages, specialities, phone, email, website, vat_compensation";

fn split(s: String) -> Vec<String> {
    s.split(',').filter(|x| !x.is_empty()).map(str::to_string).collect()
}

pub fn from_row(r: &crate::db::Row) -> ApiResult<Provider> {
    let g = |c: &str| r.try_get::<String, _>(c).map_err(anyhow::Error::from);
    Ok(Provider {
        id: g("id")?,
        name: g("name")?,
        org_nr: g("org_nr")?,
        ownership: g("ownership")?,
        owner_name: g("owner_name")?,
        description: g("description")?,
        languages: split(g("languages")?),
        specialities: split(g("specialities")?),
        phone: g("phone")?,
        email: g("email")?,
        website: g("website")?,
        vat_compensation: crate::db::get_flag(r, "vat_compensation").map_err(anyhow::Error::from)?,
    })
}

fn check_codes(f: &mut Fields, field: &str, list: &[String]) {
    for (i, c) in list.iter().enumerate() {
        crate::setup::model::check_code(f, &format!("{field}[{i}]"), c);
    }
}

pub async fn create(state: &crate::app::AppState, p: &NewProvider) -> ApiResult<Provider> {
    let mut f = Fields::new();
    crate::setup::model::check_text(&mut f, "name", &p.name, 200);
    let org_nr = match state.country() {
        Country::Se => OrgNr::parse(&p.org_nr).map(|o| o.to_string()).map_err(|e| (e.code(), e.to_string())),
        Country::No => NorwegianOrgNr::parse(&p.org_nr).map(|o| o.to_string()).map_err(|e| (e.code(), e.to_string())),
    };
    let org_nr = match org_nr {
        Ok(o) => Some(o),
        Err((code, reason)) => {
            f.push("org_nr", code, reason);
            None
        }
    };
    crate::setup::model::check_one_of(&mut f, "ownership", &p.ownership, OWNERSHIPS);
    check_codes(&mut f, "languages", &p.languages);
    check_codes(&mut f, "specialities", &p.specialities);
    for (field, v, max) in [
        ("owner_name", &p.owner_name, 200),
        ("description", &p.description, 4000),
        ("phone", &p.phone, 40),
        ("email", &p.email, 200),
        ("website", &p.website, 300),
    ] {
        if v.chars().count() > max {
            f.push(field, "too_long", format!("at most {max} characters"));
        }
    }
    f.finish()?;
    let Some(org_nr) = org_nr else { return Err(ApiError::Internal(anyhow::anyhow!("org_nr missing after validation"))) };
    let provider = Provider {
        id: uuid::Uuid::now_v7().to_string(),
        name: p.name.trim().into(),
        org_nr,
        ownership: p.ownership.clone(),
        owner_name: p.owner_name.trim().into(),
        description: p.description.trim().into(),
        languages: p.languages.clone(),
        specialities: p.specialities.clone(),
        phone: p.phone.trim().into(),
        email: p.email.trim().into(),
        website: p.website.trim().into(),
        vat_compensation: p.vat_compensation.unwrap_or(p.ownership != "municipal"),
    };
    sqlx::query(&format!(
        "INSERT INTO providers ({PROVIDER_COLUMNS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&provider.id)
    .bind(&provider.name)
    .bind(&provider.org_nr)
    .bind(&provider.ownership)
    .bind(&provider.owner_name)
    .bind(&provider.description)
    .bind(provider.languages.join(","))
    .bind(provider.specialities.join(","))
    .bind(&provider.phone)
    .bind(&provider.email)
    .bind(&provider.website)
    .bind(crate::db::flag(provider.vat_compensation))
    .bind(crate::clock::stamp(state.clock.now()))
    .execute(&state.db.pool)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict { .. } => ApiError::conflict("provider_exists", "a provider with this organisation number exists"),
        other => other,
    })?;
    Ok(provider)
}

pub async fn get(state: &crate::app::AppState, id: &str) -> ApiResult<Option<Provider>> {
    let row =
        sqlx::query(&format!("SELECT {PROVIDER_COLUMNS} FROM providers WHERE id = $1")).bind(id).fetch_optional(&state.db.pool).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(state: &crate::app::AppState) -> ApiResult<Vec<Provider>> {
    let rows = sqlx::query(&format!("SELECT {PROVIDER_COLUMNS} FROM providers ORDER BY name, id")).fetch_all(&state.db.pool).await?;
    rows.iter().map(from_row).collect()
}
