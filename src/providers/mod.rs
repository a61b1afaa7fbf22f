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

/// Checks a new provider's profile and returns it with a fresh id, ready to insert.
pub fn validate(state: &crate::app::AppState, p: &NewProvider) -> ApiResult<Provider> {
    let mut f = Fields::new();
    check_new(state, &mut f, p);
    let org_nr = normalise_org_nr(state, &p.org_nr).ok();
    f.finish()?;
    let Some(org_nr) = org_nr else { return Err(ApiError::Internal(anyhow::anyhow!("org_nr missing after validation"))) };
    Ok(Provider {
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
    })
}

fn normalise_org_nr(state: &crate::app::AppState, org_nr: &str) -> Result<String, (&'static str, String)> {
    match state.country() {
        Country::Se => OrgNr::parse(org_nr).map(|o| o.to_string()).map_err(|e| (e.code(), e.to_string())),
        Country::No => NorwegianOrgNr::parse(org_nr).map(|o| o.to_string()).map_err(|e| (e.code(), e.to_string())),
    }
}

/// Records every problem with a new provider's profile in `f`.
pub fn check_new(state: &crate::app::AppState, f: &mut Fields, p: &NewProvider) {
    crate::setup::model::check_text(f, "name", &p.name, 200);
    if let Err((code, reason)) = normalise_org_nr(state, &p.org_nr) {
        f.push("org_nr", code, reason);
    }
    crate::setup::model::check_one_of(f, "ownership", &p.ownership, OWNERSHIPS);
    check_codes(f, "languages", &p.languages);
    check_codes(f, "specialities", &p.specialities);
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
}

/// Inserts a checked provider on `conn` (a pool connection or a transaction).
pub async fn insert(conn: &mut sqlx::AnyConnection, provider: &Provider, now: &str) -> ApiResult<()> {
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
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict { .. } => ApiError::conflict("provider_exists", "a provider with this organisation number exists"),
        other => other,
    })?;
    Ok(())
}

pub async fn create(state: &crate::app::AppState, p: &NewProvider) -> ApiResult<Provider> {
    let provider = validate(state, p)?;
    let mut conn = state.db.pool.acquire().await?;
    insert(&mut conn, &provider, &crate::clock::stamp(state.clock.now())).await?;
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

/// The parts of a profile a provider keeps up to date itself; the
/// organisation number and the VAT status are the municipality's.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ProfileUpdate {
    pub name: String,
    /// municipal, private or nonprofit (admin only may set municipal).
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
}

/// Updates a provider's public profile (the provider itself or admin).
pub async fn update_profile(
    state: &crate::app::AppState,
    who: &crate::auth::Principal,
    id: &str,
    u: &ProfileUpdate,
) -> ApiResult<Provider> {
    use crate::auth::PrincipalKind;
    let own = matches!(&who.kind, PrincipalKind::Provider { provider_id } if provider_id == id);
    if !own && !crate::auth::access::permits(who, crate::auth::access::Action::ManageProviders) {
        return Err(ApiError::NotFound("provider"));
    }
    let current = get(state, id).await?.ok_or(ApiError::NotFound("provider"))?;
    let mut f = Fields::new();
    let as_new = NewProvider {
        name: u.name.clone(),
        org_nr: current.org_nr.clone(),
        ownership: u.ownership.clone(),
        owner_name: u.owner_name.clone(),
        description: u.description.clone(),
        languages: u.languages.clone(),
        specialities: u.specialities.clone(),
        phone: u.phone.clone(),
        email: u.email.clone(),
        website: u.website.clone(),
        vat_compensation: None,
    };
    check_new(state, &mut f, &as_new);
    if own && (u.ownership == "municipal") != (current.ownership == "municipal") {
        f.push("ownership", "not_allowed", "only the municipality changes whether a provider is its own");
    }
    f.finish()?;
    sqlx::query(
        "UPDATE providers SET name = $1, ownership = $2, owner_name = $3, description = $4, languages = $5, specialities = $6, \
         phone = $7, email = $8, website = $9 WHERE id = $10",
    )
    .bind(u.name.trim())
    .bind(&u.ownership)
    .bind(u.owner_name.trim())
    .bind(u.description.trim())
    .bind(u.languages.join(","))
    .bind(u.specialities.join(","))
    .bind(u.phone.trim())
    .bind(u.email.trim())
    .bind(u.website.trim())
    .bind(id)
    .execute(&state.db.pool)
    .await?;
    crate::audit::record(
        state,
        who,
        crate::audit::Event {
            action: crate::audit::AuditAction::Update,
            subject_type: "provider",
            subject_id: id,
            client_id: None,
            detail: "public profile".into(),
        },
    )
    .await?;
    get(state, id).await?.ok_or(ApiError::NotFound("provider"))
}

/// One quality figure shown to citizens next to a provider, e.g. the number
/// of different staff a client meets in 14 days. Filled by follow-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct QualityFigure {
    /// The Fluent key of the figure's label (e.g. `followup-staff-continuity`).
    pub key: String,
    /// The figure as shown, e.g. `11` or `92 %`.
    pub value: String,
    /// The period measured, e.g. `2026-01`.
    pub period: String,
}

/// Quality figures for the public profile and the comparison page.
///
/// PLACEHOLDER: empty until follow-up (issue 5, step 7) computes staff
/// continuity, user-survey results and deviations per provider; the pages
/// already show a marked place for them.
pub async fn quality_figures(_state: &crate::app::AppState, _provider_id: &str) -> ApiResult<Vec<QualityFigure>> {
    Ok(Vec::new())
}

/// An area a provider serves, with its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AreaServed {
    pub code: String,
    pub name: String,
    /// Service types the provider may take new clients for there today.
    pub services: Vec<String>,
}

/// The citizen's view of a provider: its profile, where it works, whether it
/// is open for new clients and (when follow-up exists) its quality figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicProfile {
    #[serde(flatten)]
    pub provider: Provider,
    /// Areas covered by an active contract today.
    pub areas: Vec<AreaServed>,
    /// Service types covered by an active contract today.
    pub services: Vec<String>,
    /// Whether it takes new clients today (its own intake; area closures are per area, in `areas`).
    pub open_for_new_clients: bool,
    pub quality: Vec<QualityFigure>,
}

pub async fn public_profile(state: &crate::app::AppState, id: &str) -> ApiResult<Option<PublicProfile>> {
    let Some(provider) = get(state, id).await? else { return Ok(None) };
    let today = state.today().to_string();
    let contract_ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM contracts WHERE provider_id = $1 AND status = 'active' AND start_date <= $2 AND (end_date IS NULL OR end_date >= $2)",
    )
    .bind(id)
    .bind(&today)
    .fetch_all(&state.db.pool)
    .await?;
    let closures: Vec<_> = crate::contracts::area_closures(state)
        .await?
        .into_iter()
        .filter(|c| c.from_date <= today && c.to_date.as_ref().is_none_or(|t| *t >= today))
        .collect();
    let all_areas = {
        let mut c = state.db.pool.acquire().await?;
        crate::setup::store::areas(&mut c).await?
    };
    let mut services = Vec::new();
    let mut areas: Vec<AreaServed> = Vec::new();
    let mut open = false;
    for cid in &contract_ids {
        let Some(c) = crate::contracts::load(state, cid).await? else { continue };
        let covered = crate::contracts::Contract::covered(&c.services, &today);
        let full = {
            let mut conn = state.db.pool.acquire().await?;
            crate::contracts::eligibility::load_and_ceiling(&mut conn, cid, &today).await?.is_some_and(|(used, max, _)| used >= max)
        };
        let takes_new = c.open_today && !full;
        open |= takes_new;
        for code in crate::contracts::Contract::covered(&c.areas, &today) {
            // The same rules as eligibility::check, computed once per provider.
            let open_here: Vec<String> = covered
                .iter()
                .filter(|s| {
                    takes_new
                        && (provider.ownership == "municipal"
                            || !closures.iter().any(|x| x.area_code == code && x.service_type.as_ref().is_none_or(|t| t == *s)))
                })
                .cloned()
                .collect();
            let name = all_areas.iter().find(|a| a.code == code).map(|a| a.name.clone()).unwrap_or_else(|| code.clone());
            match areas.iter_mut().find(|a| a.code == code) {
                Some(a) => a.services.extend(open_here),
                None => areas.push(AreaServed { code, name, services: open_here }),
            }
        }
        services.extend(covered);
    }
    services.sort();
    services.dedup();
    areas.sort_by(|a, b| a.name.cmp(&b.name));
    let quality = quality_figures(state, id).await?;
    Ok(Some(PublicProfile { provider, areas, services, open_for_new_clients: open, quality }))
}
