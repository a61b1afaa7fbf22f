//! Reading and writing the setup. Every write goes through these functions,
//! whether it comes from the API, the admin UI or a setup file, so the rule
//! "versions are added, never overwritten" lives in one place.

use super::model::*;
use crate::error::{ApiError, ApiResult};
use sqlx::{AnyConnection, Row};

fn s(row: &crate::db::Row, c: &str) -> ApiResult<String> {
    Ok(row.try_get::<String, _>(c).map_err(anyhow::Error::from)?)
}
fn i(row: &crate::db::Row, c: &str) -> ApiResult<i64> {
    Ok(row.try_get::<i64, _>(c).map_err(anyhow::Error::from)?)
}

pub async fn municipality(c: &mut AnyConnection) -> ApiResult<Option<Municipality>> {
    let row = sqlx::query("SELECT country, code, name, time_zone FROM municipality WHERE id = 'this'").fetch_optional(&mut *c).await?;
    row.map(|r| Ok(Municipality { country: s(&r, "country")?, code: s(&r, "code")?, name: s(&r, "name")?, time_zone: s(&r, "time_zone")? }))
        .transpose()
}

pub async fn put_municipality(c: &mut AnyConnection, m: &Municipality, now: &str) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO municipality (id, country, code, name, time_zone, updated_at) VALUES ('this', $1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET country = excluded.country, code = excluded.code, name = excluded.name, \
         time_zone = excluded.time_zone, updated_at = excluded.updated_at",
    )
    .bind(m.country.to_lowercase())
    .bind(&m.code)
    .bind(&m.name)
    .bind(&m.time_zone)
    .bind(now)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn zones(c: &mut AnyConnection) -> ApiResult<Vec<Zone>> {
    let rows = sqlx::query("SELECT code, name FROM zones ORDER BY code").fetch_all(&mut *c).await?;
    rows.iter().map(|r| Ok(Zone { code: s(r, "code")?, name: s(r, "name")? })).collect()
}

pub async fn put_zone(c: &mut AnyConnection, z: &Zone) -> ApiResult<()> {
    sqlx::query("INSERT INTO zones (code, name) VALUES ($1, $2) ON CONFLICT (code) DO UPDATE SET name = excluded.name")
        .bind(&z.code)
        .bind(&z.name)
        .execute(&mut *c)
        .await?;
    Ok(())
}

pub async fn areas(c: &mut AnyConnection) -> ApiResult<Vec<Area>> {
    let rows = sqlx::query("SELECT code, name, zone FROM areas ORDER BY code").fetch_all(&mut *c).await?;
    let pcs = sqlx::query("SELECT postcode, area_code FROM area_postcodes ORDER BY postcode").fetch_all(&mut *c).await?;
    let mut areas: Vec<Area> = rows
        .iter()
        .map(|r| Ok(Area { code: s(r, "code")?, name: s(r, "name")?, zone: s(r, "zone")?, postcodes: vec![] }))
        .collect::<ApiResult<_>>()?;
    for r in &pcs {
        let code = s(r, "area_code")?;
        if let Some(a) = areas.iter_mut().find(|a| a.code == code) {
            a.postcodes.push(s(r, "postcode")?);
        }
    }
    Ok(areas)
}

/// Creates or updates an area; its postcodes are replaced by `postcodes`
/// (canonical form). A postcode held by another area is a conflict.
pub async fn put_area(c: &mut AnyConnection, a: &Area, postcodes: &[String]) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO areas (code, name, zone) VALUES ($1, $2, $3) \
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, zone = excluded.zone",
    )
    .bind(&a.code)
    .bind(&a.name)
    .bind(&a.zone)
    .execute(&mut *c)
    .await?;
    sqlx::query("DELETE FROM area_postcodes WHERE area_code = $1").bind(&a.code).execute(&mut *c).await?;
    for pc in postcodes {
        let done = sqlx::query("INSERT INTO area_postcodes (postcode, area_code) VALUES ($1, $2) ON CONFLICT (postcode) DO NOTHING")
            .bind(pc)
            .bind(&a.code)
            .execute(&mut *c)
            .await?;
        if done.rows_affected() == 0 {
            return Err(ApiError::conflict("postcode_taken", format!("postcode {pc} already belongs to another area")));
        }
    }
    Ok(())
}

pub async fn area_for_postcode(c: &mut AnyConnection, postcode: &str) -> ApiResult<Option<(String, String)>> {
    let row = sqlx::query("SELECT a.code, a.zone FROM area_postcodes p JOIN areas a ON a.code = p.area_code WHERE p.postcode = $1")
        .bind(postcode)
        .fetch_optional(&mut *c)
        .await?;
    row.map(|r| Ok((s(&r, "code")?, s(&r, "zone")?))).transpose()
}

/// The (area code, zone) of a parsed postcode, or `None` with an
/// `unknown_postcode` error on the `postcode` field when no area has it.
pub async fn area_field(
    c: &mut AnyConnection,
    postcode: &valfri_core::postcode::Postcode,
    f: &mut crate::error::Fields,
) -> ApiResult<Option<(String, String)>> {
    let area = area_for_postcode(c, &postcode.to_string()).await?;
    if area.is_none() {
        f.push("postcode", "unknown_postcode", format!("postcode {postcode} is in none of the municipality's areas"));
    }
    Ok(area)
}

pub async fn service_types(c: &mut AnyConnection) -> ApiResult<Vec<ServiceType>> {
    let rows = sqlx::query("SELECT code, name_sv, name_en, service_group, unit, basis FROM service_types ORDER BY code")
        .fetch_all(&mut *c)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ServiceType {
                code: s(r, "code")?,
                name_sv: s(r, "name_sv")?,
                name_en: s(r, "name_en")?,
                group: s(r, "service_group")?,
                unit: s(r, "unit")?,
                basis: s(r, "basis")?,
            })
        })
        .collect()
}

pub async fn put_service_type(c: &mut AnyConnection, st: &ServiceType) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO service_types (code, name_sv, name_en, service_group, unit, basis) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (code) DO UPDATE SET name_sv = excluded.name_sv, name_en = excluded.name_en, \
         service_group = excluded.service_group, unit = excluded.unit, basis = excluded.basis",
    )
    .bind(&st.code)
    .bind(&st.name_sv)
    .bind(&st.name_en)
    .bind(&st.group)
    .bind(&st.unit)
    .bind(&st.basis)
    .execute(&mut *c)
    .await?;
    Ok(())
}

pub async fn choice_systems(c: &mut AnyConnection) -> ApiResult<Vec<ChoiceSystem>> {
    let rows = sqlx::query("SELECT id, name, legal_model, default_rule FROM choice_systems ORDER BY id").fetch_all(&mut *c).await?;
    let mut out = Vec::new();
    for r in &rows {
        let id = s(r, "id")?;
        let services = sqlx::query_scalar::<_, String>(
            "SELECT service_type FROM choice_system_services WHERE choice_system_id = $1 ORDER BY service_type",
        )
        .bind(&id)
        .fetch_all(&mut *c)
        .await?;
        let areas =
            sqlx::query_scalar::<_, String>("SELECT area_code FROM choice_system_areas WHERE choice_system_id = $1 ORDER BY area_code")
                .bind(&id)
                .fetch_all(&mut *c)
                .await?;
        let conditions = conditions(c, &id).await?;
        out.push(ChoiceSystem {
            id,
            name: s(r, "name")?,
            legal_model: s(r, "legal_model")?,
            default_rule: s(r, "default_rule")?,
            services,
            areas,
            conditions,
        });
    }
    Ok(out)
}

pub async fn conditions(c: &mut AnyConnection, choice_system_id: &str) -> ApiResult<Vec<Conditions>> {
    let rows = sqlx::query(
        "SELECT valid_from, notice_days, requirements, tolerance_permille, late_cancel_hours, late_cancel_factor_permille, \
         vat_compensation_basis_points, capacity_change_day, published_at, published_by \
         FROM choice_system_versions WHERE choice_system_id = $1 ORDER BY valid_from",
    )
    .bind(choice_system_id)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Conditions {
                valid_from: s(r, "valid_from")?,
                notice_days: i(r, "notice_days")?,
                requirements: serde_json::from_str(&s(r, "requirements")?).map_err(anyhow::Error::from)?,
                tolerance_permille: i(r, "tolerance_permille")?,
                late_cancel_hours: i(r, "late_cancel_hours")?,
                late_cancel_factor_permille: i(r, "late_cancel_factor_permille")?,
                vat_compensation_basis_points: i(r, "vat_compensation_basis_points")?,
                capacity_change_day: i(r, "capacity_change_day")?,
                published_at: Some(s(r, "published_at")?),
                published_by: Some(s(r, "published_by")?),
            })
        })
        .collect()
}

/// Creates or updates a choice system's identity and coverage (services and
/// areas); its conditions are versioned and added with `add_conditions`.
pub async fn put_choice_system(c: &mut AnyConnection, cs: &ChoiceSystem, now: &str) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO choice_systems (id, name, legal_model, default_rule, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, legal_model = excluded.legal_model, default_rule = excluded.default_rule",
    )
    .bind(&cs.id)
    .bind(&cs.name)
    .bind(&cs.legal_model)
    .bind(&cs.default_rule)
    .bind(now)
    .execute(&mut *c)
    .await?;
    sqlx::query("DELETE FROM choice_system_services WHERE choice_system_id = $1").bind(&cs.id).execute(&mut *c).await?;
    for st in &cs.services {
        let done =
            sqlx::query("INSERT INTO choice_system_services (choice_system_id, service_type) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(&cs.id)
                .bind(st)
                .execute(&mut *c)
                .await?;
        if done.rows_affected() == 0 {
            return Err(ApiError::conflict(
                "service_in_other_system",
                format!("service type {st} already belongs to another choice system"),
            ));
        }
    }
    sqlx::query("DELETE FROM choice_system_areas WHERE choice_system_id = $1").bind(&cs.id).execute(&mut *c).await?;
    for a in &cs.areas {
        sqlx::query("INSERT INTO choice_system_areas (choice_system_id, area_code) VALUES ($1, $2)")
            .bind(&cs.id)
            .bind(a)
            .execute(&mut *c)
            .await?;
    }
    Ok(())
}

/// What happened to one version when it was offered.
#[derive(Debug, PartialEq, Eq)]
pub enum Versioned {
    Added,
    AlreadyThere,
}

/// Adds a version of the conditions. Offering the identical version again is
/// a no-op (so setup files apply idempotently); a different version with the
/// same date is refused: history is never overwritten.
pub async fn add_conditions(
    c: &mut AnyConnection,
    choice_system_id: &str,
    v: &Conditions,
    author: &str,
    now: &str,
) -> ApiResult<Versioned> {
    let requirements = serde_json::to_string(&v.requirements).map_err(anyhow::Error::from)?;
    let done = sqlx::query(
        "INSERT INTO choice_system_versions (choice_system_id, valid_from, notice_days, requirements, tolerance_permille, \
         late_cancel_hours, late_cancel_factor_permille, vat_compensation_basis_points, capacity_change_day, published_at, published_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
    )
    .bind(choice_system_id)
    .bind(&v.valid_from)
    .bind(v.notice_days)
    .bind(&requirements)
    .bind(v.tolerance_permille)
    .bind(v.late_cancel_hours)
    .bind(v.late_cancel_factor_permille)
    .bind(v.vat_compensation_basis_points)
    .bind(v.capacity_change_day)
    .bind(now)
    .bind(author)
    .execute(&mut *c)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(Versioned::Added);
    }
    let existing = conditions(c, choice_system_id).await?.into_iter().find(|e| e.valid_from == v.valid_from);
    let same = existing.is_some_and(|e| {
        Conditions { published_at: None, published_by: None, ..e } == Conditions { published_at: None, published_by: None, ..v.clone() }
    });
    if same {
        Ok(Versioned::AlreadyThere)
    } else {
        Err(ApiError::conflict(
            "version_exists",
            format!("conditions of {choice_system_id} from {} already exist and differ; add a version from a later date", v.valid_from),
        ))
    }
}

pub async fn rates(c: &mut AnyConnection) -> ApiResult<Vec<Rate>> {
    let rows = sqlx::query(
        "SELECT service_type, zone, time_class, valid_from, amount_ore FROM rates ORDER BY service_type, zone, time_class, valid_from",
    )
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Rate {
                service_type: s(r, "service_type")?,
                zone: s(r, "zone")?,
                time_class: s(r, "time_class")?,
                valid_from: s(r, "valid_from")?,
                amount_ore: i(r, "amount_ore")?,
            })
        })
        .collect()
}

/// Adds a rate version; same rule as `add_conditions`.
pub async fn add_rate(c: &mut AnyConnection, r: &Rate, author: &str, now: &str) -> ApiResult<Versioned> {
    let done = sqlx::query(
        "INSERT INTO rates (service_type, zone, time_class, valid_from, amount_ore, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(&r.service_type)
    .bind(&r.zone)
    .bind(&r.time_class)
    .bind(&r.valid_from)
    .bind(r.amount_ore)
    .bind(now)
    .bind(author)
    .execute(&mut *c)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(Versioned::Added);
    }
    let existing: Option<i64> =
        sqlx::query_scalar("SELECT amount_ore FROM rates WHERE service_type = $1 AND zone = $2 AND time_class = $3 AND valid_from = $4")
            .bind(&r.service_type)
            .bind(&r.zone)
            .bind(&r.time_class)
            .bind(&r.valid_from)
            .fetch_optional(&mut *c)
            .await?;
    if existing == Some(r.amount_ore) {
        Ok(Versioned::AlreadyThere)
    } else {
        Err(ApiError::conflict(
            "version_exists",
            format!(
                "a {} {} {} rate from {} already exists and differs; add a version from a later date",
                r.service_type, r.zone, r.time_class, r.valid_from
            ),
        ))
    }
}

pub async fn load(c: &mut AnyConnection) -> ApiResult<Option<SetupDocument>> {
    let Some(municipality) = municipality(c).await? else { return Ok(None) };
    Ok(Some(SetupDocument {
        municipality,
        zones: zones(c).await?,
        areas: areas(c).await?,
        service_types: service_types(c).await?,
        choice_systems: choice_systems(c).await?,
        rates: rates(c).await?,
    }))
}

#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct ApplyReport {
    pub conditions_added: usize,
    pub rates_added: usize,
    pub unchanged_versions: usize,
}

/// Applies a whole setup document in one transaction: all of it or none.
/// Things without history (zones, areas, service types, coverage) are
/// created or updated; versions are added.
pub async fn apply(db: &crate::db::Db, doc: &SetupDocument, author: &str, now: &str) -> ApiResult<ApplyReport> {
    check_document(doc).finish()?;
    let mut tx = db.pool.begin().await?;
    let c: &mut AnyConnection = &mut tx;
    put_municipality(c, &doc.municipality, now).await?;
    for z in &doc.zones {
        put_zone(c, z).await?;
    }
    for a in &doc.areas {
        let mut pcs: Vec<String> = Vec::new();
        let mut f = crate::error::Fields::new();
        let country = doc.municipality.country.parse().ok();
        pcs.extend(check_area(&mut f, "", a, country));
        put_area(c, a, &pcs).await?;
    }
    for st in &doc.service_types {
        put_service_type(c, st).await?;
    }
    let mut report = ApplyReport::default();
    for cs in &doc.choice_systems {
        put_choice_system(c, cs, now).await?;
        for v in &cs.conditions {
            match add_conditions(c, &cs.id, v, author, now).await? {
                Versioned::Added => report.conditions_added += 1,
                Versioned::AlreadyThere => report.unchanged_versions += 1,
            }
        }
    }
    for r in &doc.rates {
        match add_rate(c, r, author, now).await? {
            Versioned::Added => report.rates_added += 1,
            Versioned::AlreadyThere => report.unchanged_versions += 1,
        }
    }
    tx.commit().await?;
    Ok(report)
}
