//! Reads one month from the database into the engine's input: one ordered
//! query per table, text ids mapped to the engine's `u32` indices in the
//! byte order of the ids (so both databases, whatever their collation, give
//! the engine the same numbering and the output the same order).
//!
//! Visits are not loaded here: `compute` streams them client by client.

use crate::bulk::{Conn, B};
use crate::error::{ApiError, ApiResult};
use jiff::civil::Date;
use valfri_core::calendar::Country;
use valfri_core::compensation::{Assignment, Basis, Class, Decision, Rate, ServiceSettings, Settings};
use valfri_core::{Money, Month};

#[derive(Debug, Clone)]
pub struct ProviderRow {
    pub id: String,
    pub name: String,
    pub org_nr: String,
    pub vat_entitled: bool,
}

#[derive(Debug, Clone)]
pub struct ServiceRow {
    pub code: String,
    pub name_sv: String,
    pub name_en: String,
    pub group: String,
    pub unit: String,
    pub basis: Basis,
}

/// The non-rate settings of some service types: usually one profile for the
/// whole municipality; several when choice systems have different conditions
/// in force for the month.
#[derive(Debug, Clone)]
pub struct Profile {
    pub settings: Settings,
    /// Where the settings come from: `<choice system>@<valid_from>`, or
    /// `defaults` (compensation.md) for service types in no choice system.
    pub source: String,
}

/// Everything of a month except the visits and adjustments, with the maps
/// between text ids and indices.
pub struct MonthData {
    pub month: Month,
    pub municipality_name: String,
    pub time_zone: String,
    pub country: Country,
    /// Sorted by id (bytes).
    pub providers: Vec<ProviderRow>,
    /// Sorted by id (bytes).
    pub clients: Vec<String>,
    pub client_zone: Vec<u32>,
    /// Sorted by code.
    pub services: Vec<ServiceRow>,
    /// Sorted by code.
    pub zones: Vec<String>,
    pub profiles: Vec<Profile>,
    /// Profile index of each service type.
    pub service_profile: Vec<usize>,
    pub rates: Vec<Rate>,
    pub decisions: Vec<Decision>,
    pub assignments: Vec<Assignment>,
}

pub fn parse_date(s: &str) -> ApiResult<Date> {
    s.parse::<Date>().map_err(|e| ApiError::Internal(anyhow::anyhow!("stored date {s:?}: {e}")))
}

pub fn basis_of(s: &str) -> ApiResult<Basis> {
    Ok(match s {
        "performed" => Basis::Performed,
        "granted" => Basis::Granted,
        "per_unit" => Basis::PerUnit,
        "per_month" => Basis::PerMonth,
        other => return Err(ApiError::Internal(anyhow::anyhow!("unknown basis {other:?}"))),
    })
}

pub fn class_of(s: &str) -> ApiResult<Class> {
    Ok(match s {
        "day" => Class::Day,
        "evening" => Class::Evening,
        "night" => Class::Night,
        "weekend" => Class::Weekend,
        "granted" => Class::Granted,
        "unit" => Class::Unit,
        "month" => Class::Month,
        other => return Err(ApiError::Internal(anyhow::anyhow!("unknown time class {other:?}"))),
    })
}

/// Index of `id` in a byte-sorted list.
pub fn index_of(sorted: &[String], id: &str) -> Option<u32> {
    sorted.binary_search_by(|x| x.as_str().cmp(id)).ok().map(|i| i as u32)
}

fn idx(sorted: &[String], id: &str, what: &str) -> ApiResult<u32> {
    index_of(sorted, id).ok_or_else(|| ApiError::Internal(anyhow::anyhow!("{what} {id:?} is referenced but not loaded")))
}

/// The compensation settings of one conditions version, as stored:
/// (valid_from, tolerance ‰, late-cancel hours, late-cancel factor ‰, VAT bp).
type CondVersion = (String, i64, i64, i64, i64);

/// The conditions version of a choice system that applies to `month`: the one
/// in force on the month's first day; when none is (the system starts during
/// the month), the first version starting within the month.
fn conditions_for_month(versions: &[CondVersion], month: Month) -> Option<&CondVersion> {
    let first = month.first_day().to_string();
    let last = month.last_day().to_string();
    versions
        .iter()
        .filter(|v| v.0 <= first)
        .max_by(|a, b| a.0.cmp(&b.0))
        .or_else(|| versions.iter().filter(|v| v.0 > first && v.0 <= last).min_by(|a, b| a.0.cmp(&b.0)))
}

/// Converts the choice system's stored conditions (per mille, hours) into the
/// engine's units (basis points, minutes).
pub fn engine_settings(
    time_zone: &str,
    country: Country,
    services: Vec<ServiceSettings>,
    tolerance_permille: i64,
    late_cancel_hours: i64,
    late_cancel_factor_permille: i64,
    vat_bp: i64,
) -> ApiResult<Settings> {
    let conv = |v: i64, mul: i64, what: &str| -> ApiResult<u32> {
        v.checked_mul(mul)
            .and_then(|x| u32::try_from(x).ok())
            .ok_or_else(|| ApiError::rule("invalid_conditions", format!("the choice system's {what} ({v}) is out of range")))
    };
    let mut s = Settings::with_defaults(time_zone, country, services);
    s.excess_tolerance_bp = conv(tolerance_permille, 10, "tolerance")?;
    s.late_cancellation_notice_minutes = conv(late_cancel_hours, 60, "late-cancellation notice")?;
    s.late_cancellation_factor_bp = conv(late_cancel_factor_permille, 10, "late-cancellation factor")?;
    s.vat_compensation_bp = conv(vat_bp, 1, "VAT compensation")?;
    Ok(s)
}

/// Loads the month's context on `c` (the big results through
/// `Conn::fetch_many`, which hands the connection back).
pub async fn load(mut c: Conn, month: Month) -> ApiResult<(Conn, MonthData)> {
    let first = month.first_day().to_string();
    let last = month.last_day().to_string();

    let (country, municipality_name, time_zone) = c
        .fetch::<(String, String, String)>("SELECT country, name, time_zone FROM municipality WHERE id = 'this'", &[])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::rule("no_setup", "the municipality is not set up yet"))?;
    let country = match country.as_str() {
        "no" => Country::Norway,
        _ => Country::Sweden,
    };

    let mut providers: Vec<ProviderRow> = c
        .fetch::<(String, String, String, i64)>("SELECT id, name, org_nr, vat_compensation FROM providers", &[])
        .await?
        .into_iter()
        .map(|(id, name, org_nr, vat)| ProviderRow { id, name, org_nr, vat_entitled: vat != 0 })
        .collect();
    providers.sort_by(|a, b| a.id.cmp(&b.id));

    let mut zones: Vec<String> = c.fetch::<(String,)>("SELECT code FROM zones", &[]).await?.into_iter().map(|(z,)| z).collect();
    zones.sort();

    let mut services: Vec<ServiceRow> = c
        .fetch::<(String, String, String, String, String, String)>(
            "SELECT code, name_sv, name_en, service_group, unit, basis FROM service_types",
            &[],
        )
        .await?
        .into_iter()
        .map(|(code, name_sv, name_en, group, unit, basis)| {
            Ok(ServiceRow { code, name_sv, name_en, group, unit, basis: basis_of(&basis)? })
        })
        .collect::<ApiResult<_>>()?;
    services.sort_by(|a, b| a.code.cmp(&b.code));
    let service_codes: Vec<String> = services.iter().map(|s| s.code.clone()).collect();
    let mut groups: Vec<&str> = services.iter().map(|s| s.group.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    let service_settings: Vec<ServiceSettings> = services
        .iter()
        .map(|s| ServiceSettings { basis: s.basis, group: groups.binary_search(&s.group.as_str()).ok().map(|g| g as u32) })
        .collect();

    // Conditions: per choice system, the version for the month.
    let system_of: Vec<(String, String)> =
        c.fetch::<(String, String)>("SELECT service_type, choice_system_id FROM choice_system_services", &[]).await?;
    let version_rows: Vec<(String, String, i64, i64, i64, i64)> = c
        .fetch(
            "SELECT choice_system_id, valid_from, tolerance_permille, late_cancel_hours, late_cancel_factor_permille, \
             vat_compensation_basis_points FROM choice_system_versions ORDER BY choice_system_id, valid_from",
            &[],
        )
        .await?;
    let mut versions: std::collections::BTreeMap<String, Vec<CondVersion>> = Default::default();
    for (system, valid_from, tolerance, hours, factor, vat) in version_rows {
        versions.entry(system).or_default().push((valid_from, tolerance, hours, factor, vat));
    }

    let mut profiles: Vec<Profile> = Vec::new();
    let mut service_profile = Vec::with_capacity(services.len());
    for s in &services {
        let system = system_of.iter().find(|(st, _)| *st == s.code).map(|(_, cs)| cs.as_str());
        let chosen = system.and_then(|cs| versions.get(cs).and_then(|v| conditions_for_month(v, month)).map(|v| (cs, v)));
        let (settings, source) = match chosen {
            Some((cs, v)) => (engine_settings(&time_zone, country, service_settings.clone(), v.1, v.2, v.3, v.4)?, format!("{cs}@{}", v.0)),
            None => (Settings::with_defaults(&time_zone, country, service_settings.clone()), "defaults".to_string()),
        };
        let p = match profiles.iter().position(|p| p.settings == settings) {
            Some(p) => {
                if !profiles[p].source.split(',').any(|x| x == source) {
                    profiles[p].source = format!("{},{source}", profiles[p].source);
                }
                p
            }
            None => {
                profiles.push(Profile { settings, source });
                profiles.len() - 1
            }
        };
        service_profile.push(p);
    }
    if profiles.is_empty() {
        profiles
            .push(Profile { settings: Settings::with_defaults(&time_zone, country, service_settings.clone()), source: "defaults".into() });
    }

    // All rate versions: visits may run into the next month, and a version
    // from before the month may still be in force.
    let rates = c
        .fetch::<(String, String, String, String, i64)>("SELECT service_type, zone, time_class, valid_from, amount_ore FROM rates", &[])
        .await?
        .into_iter()
        .map(|(service, zone, class, valid_from, amount)| {
            Ok(Rate {
                service: idx(&service_codes, &service, "service type")?,
                zone: idx(&zones, &zone, "zone")?,
                class: class_of(&class)?,
                valid_from: parse_date(&valid_from)?,
                amount: Money::from_ore(amount),
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;

    let (c, mut client_rows) = c
        .fetch_many::<(String, String)>("SELECT c.id AS id, a.zone AS zone FROM clients c JOIN areas a ON a.code = c.area_code", &[])
        .await?;
    client_rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let client_zone = client_rows.iter().map(|(_, z)| idx(&zones, z, "zone")).collect::<ApiResult<Vec<_>>>()?;
    let clients: Vec<String> = client_rows.into_iter().map(|(id, _)| id).collect();

    // Decision versions that touch the month; superseded versions never applied.
    let (c, decision_rows) = c
        .fetch_many::<(String, String, String, Option<String>, i64, i64)>(
            "SELECT d.client_id AS client_id, s.service_type AS service_type, v.valid_from AS valid_from, v.valid_to AS valid_to, \
             s.monthly_amount AS monthly_amount, s.double_staffing AS double_staffing \
             FROM decision_services s JOIN decision_versions v ON v.id = s.version_id JOIN decisions d ON d.id = v.decision_id \
             WHERE v.state <> 'superseded' AND v.valid_from <= $1 AND (v.valid_to IS NULL OR v.valid_to >= $2)",
            &[B::S(&last), B::S(&first)],
        )
        .await?;
    let decisions = decision_rows
        .into_iter()
        .map(|(client, service, from, to, amount, double)| {
            Ok(Decision {
                client: idx(&clients, &client, "client")?,
                service: idx(&service_codes, &service, "service type")?,
                from: parse_date(&from)?,
                to: to.map(|d| parse_date(&d)).transpose()?,
                granted_minutes_per_month: u32::try_from(amount.max(0)).unwrap_or(u32::MAX),
                double_staffing: double != 0,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;

    let provider_ids: Vec<String> = providers.iter().map(|p| p.id.clone()).collect();
    // Cancelled assignments were withdrawn before they applied.
    let (c, assignment_rows) = c
        .fetch_many::<(String, String, String, String, Option<String>)>(
            "SELECT client_id, provider_id, service_type, start_date, end_date FROM assignments \
             WHERE status <> 'cancelled' AND start_date <= $1 AND (end_date IS NULL OR end_date >= $2)",
            &[B::S(&last), B::S(&first)],
        )
        .await?;
    let assignments = assignment_rows
        .into_iter()
        .map(|(client, provider, service, from, to)| {
            Ok(Assignment {
                client: idx(&clients, &client, "client")?,
                service: idx(&service_codes, &service, "service type")?,
                provider: idx(&provider_ids, &provider, "provider")?,
                from: parse_date(&from)?,
                to: to.map(|d| parse_date(&d)).transpose()?,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;

    let data = MonthData {
        month,
        municipality_name,
        time_zone,
        country,
        providers,
        clients,
        client_zone,
        services,
        zones,
        profiles,
        service_profile,
        rates,
        decisions,
        assignments,
    };
    Ok((c, data))
}

impl MonthData {
    pub fn provider_ids(&self) -> Vec<String> {
        self.providers.iter().map(|p| p.id.clone()).collect()
    }

    pub fn service_codes(&self) -> Vec<String> {
        self.services.iter().map(|s| s.code.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_in_force_on_the_first_day_apply_to_the_month() {
        let v = vec![("2026-01-01".to_string(), 100, 24, 1000, 600), ("2026-03-15".to_string(), 200, 24, 1000, 600)];
        let m = |s: &str| s.parse::<Month>().unwrap_or_else(|_| Month::of(Date::constant(2026, 1, 1)));
        assert_eq!(conditions_for_month(&v, m("2026-03")).map(|x| x.1), Some(100));
        assert_eq!(conditions_for_month(&v, m("2026-04")).map(|x| x.1), Some(200));
        // A system that starts mid-month uses its first version.
        assert_eq!(conditions_for_month(&v[1..], m("2026-03")).map(|x| x.1), Some(200));
        assert_eq!(conditions_for_month(&v[1..], m("2026-02")), None);
    }

    #[test]
    fn conditions_convert_to_engine_units() {
        let s = engine_settings("Europe/Stockholm", Country::Sweden, vec![], 100, 24, 1000, 600).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(s.excess_tolerance_bp, 1000);
        assert_eq!(s.late_cancellation_notice_minutes, 1440);
        assert_eq!(s.late_cancellation_factor_bp, 10_000);
        assert_eq!(s.vat_compensation_bp, 600);
        assert!(engine_settings("Europe/Stockholm", Country::Sweden, vec![], -1, 24, 1000, 600).is_err());
    }
}
