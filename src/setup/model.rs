//! The municipal setup as parsed values: once a `SetupDocument` has been
//! checked by `validate`, every code, date and amount in it is well-formed.

use crate::error::Fields;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use valfri_core::ids::Country;
use valfri_core::postcode::Postcode;

pub const SERVICE_GROUPS: &[&str] =
    &["service", "personal_care", "health_care", "escort", "respite", "meals", "night_patrol", "safety_alarm"];
pub const UNITS: &[&str] = &["hour", "portion", "visit", "month"];
pub const BASES: &[&str] = &["performed", "granted", "per_unit", "per_month"];
pub const LEGAL_MODELS: &[&str] = &["lov", "lou_share"];
pub const DEFAULT_RULES: &[&str] = &["municipal", "rotation", "lou_share"];
pub const HOURLY_CLASSES: &[&str] = &["day", "evening", "night", "weekend"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Municipality {
    /// `se` or `no`.
    pub country: String,
    /// Four-digit municipality code, e.g. `2380`.
    pub code: String,
    pub name: String,
    /// IANA time zone, e.g. `Europe/Stockholm`.
    pub time_zone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Zone {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Area {
    pub code: String,
    pub name: String,
    pub zone: String,
    #[serde(default)]
    pub postcodes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServiceType {
    pub code: String,
    pub name_sv: String,
    pub name_en: String,
    /// service, personal_care, health_care, escort, respite, meals, night_patrol or safety_alarm.
    pub group: String,
    /// hour, portion, visit or month.
    pub unit: String,
    /// What is paid: performed, granted, per_unit or per_month.
    pub basis: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Requirement {
    pub code: String,
    pub text: String,
}

/// One version of a choice system's published conditions and compensation settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Conditions {
    pub valid_from: String,
    #[serde(default = "d_notice")]
    pub notice_days: i64,
    #[serde(default)]
    pub requirements: Vec<Requirement>,
    /// Tolerance above granted time, in per mille (100 = 10 %).
    #[serde(default = "d_tolerance")]
    pub tolerance_permille: i64,
    /// A cancellation later than this many hours before the planned start is paid.
    #[serde(default = "d_late_hours")]
    pub late_cancel_hours: i64,
    /// Factor for late cancellations, in per mille (1000 = 1.0).
    #[serde(default = "d_factor")]
    pub late_cancel_factor_permille: i64,
    /// VAT compensation in basis points (600 = 6 %).
    #[serde(default = "d_vat")]
    pub vat_compensation_basis_points: i64,
    /// A capacity change reported by this day of the month applies from the 1st of the next month.
    #[serde(default = "d_capacity_day")]
    pub capacity_change_day: i64,
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<String>,
    #[serde(default, skip_deserializing, skip_serializing_if = "Option::is_none")]
    pub published_by: Option<String>,
}

fn d_notice() -> i64 {
    14
}
fn d_tolerance() -> i64 {
    100
}
fn d_late_hours() -> i64 {
    24
}
fn d_factor() -> i64 {
    1000
}
fn d_vat() -> i64 {
    600
}
fn d_capacity_day() -> i64 {
    15
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChoiceSystem {
    pub id: String,
    pub name: String,
    /// `lov` (free choice) or `lou_share` (procured fixed share).
    pub legal_model: String,
    /// `municipal`, `rotation` or `lou_share`.
    pub default_rule: String,
    pub services: Vec<String>,
    pub areas: Vec<String>,
    /// All versions, oldest first.
    pub conditions: Vec<Conditions>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Rate {
    pub service_type: String,
    pub zone: String,
    /// day, evening, night, weekend (hourly services), unit or month.
    pub time_class: String,
    pub valid_from: String,
    /// Öre per hour, per unit or per month.
    pub amount_ore: i64,
}

/// The whole municipal setup: the setup file, `GET /api/v1/setup` and the
/// export all have this shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SetupDocument {
    pub municipality: Municipality,
    #[serde(default)]
    pub zones: Vec<Zone>,
    #[serde(default)]
    pub areas: Vec<Area>,
    #[serde(default)]
    pub service_types: Vec<ServiceType>,
    #[serde(default)]
    pub choice_systems: Vec<ChoiceSystem>,
    #[serde(default)]
    pub rates: Vec<Rate>,
}

/// Codes are short, stable, lowercase identifiers used in URLs and files.
pub fn check_code(f: &mut Fields, field: &str, code: &str) {
    let ok = !code.is_empty()
        && code.len() <= 40
        && code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !ok {
        f.push(field, "invalid_code", "a code is 1–40 characters a–z, 0–9, _ or -");
    }
}

pub fn check_text(f: &mut Fields, field: &str, text: &str, max: usize) {
    if text.trim().is_empty() {
        f.push(field, "required", "must not be empty");
    } else if text.chars().count() > max {
        f.push(field, "too_long", format!("at most {max} characters"));
    }
}

pub fn check_one_of(f: &mut Fields, field: &str, value: &str, allowed: &[&str]) {
    if !allowed.contains(&value) {
        f.push(field, "not_allowed", format!("must be one of: {}", allowed.join(", ")));
    }
}

pub fn parse_date(f: &mut Fields, field: &str, s: &str) -> Option<Date> {
    match s.parse::<Date>() {
        Ok(d) if s.len() == 10 => Some(d),
        _ => {
            f.push(field, "invalid_date", "a date is written YYYY-MM-DD");
            None
        }
    }
}

pub fn check_municipality(f: &mut Fields, prefix: &str, m: &Municipality) -> Option<Country> {
    let country = match m.country.parse::<Country>() {
        Ok(c) => Some(c),
        Err(_) => {
            f.push(&format!("{prefix}country"), "not_allowed", "must be se or no");
            None
        }
    };
    if m.code.len() != 4 || !m.code.bytes().all(|b| b.is_ascii_digit()) {
        f.push(&format!("{prefix}code"), "invalid_municipality_code", "a municipality code is four digits");
    }
    check_text(f, &format!("{prefix}name"), &m.name, 100);
    if jiff::tz::TimeZone::get(&m.time_zone).is_err() {
        f.push(&format!("{prefix}time_zone"), "invalid_time_zone", "an IANA time zone such as Europe/Stockholm");
    }
    country
}

pub fn check_zone(f: &mut Fields, prefix: &str, z: &Zone) {
    check_code(f, &format!("{prefix}code"), &z.code);
    check_text(f, &format!("{prefix}name"), &z.name, 100);
}

/// Checks an area and returns its postcodes in canonical form.
pub fn check_area(f: &mut Fields, prefix: &str, a: &Area, country: Option<Country>) -> Vec<String> {
    check_code(f, &format!("{prefix}code"), &a.code);
    check_text(f, &format!("{prefix}name"), &a.name, 100);
    check_code(f, &format!("{prefix}zone"), &a.zone);
    let mut out = Vec::new();
    for (i, pc) in a.postcodes.iter().enumerate() {
        let parsed = match country {
            Some(c) => Postcode::parse_for(c, pc),
            None => Postcode::parse(pc),
        };
        match parsed {
            Ok(p) => out.push(p.to_string()),
            Err(e) => f.push(&format!("{prefix}postcodes[{i}]"), "invalid_postcode", e.to_string()),
        }
    }
    out.sort();
    out.dedup();
    out
}

pub fn check_service_type(f: &mut Fields, prefix: &str, s: &ServiceType) {
    check_code(f, &format!("{prefix}code"), &s.code);
    check_text(f, &format!("{prefix}name_sv"), &s.name_sv, 100);
    check_text(f, &format!("{prefix}name_en"), &s.name_en, 100);
    check_one_of(f, &format!("{prefix}group"), &s.group, SERVICE_GROUPS);
    check_one_of(f, &format!("{prefix}unit"), &s.unit, UNITS);
    check_one_of(f, &format!("{prefix}basis"), &s.basis, BASES);
    let fits = matches!(
        (s.basis.as_str(), s.unit.as_str()),
        ("performed" | "granted", "hour") | ("per_unit", "portion" | "visit") | ("per_month", "month")
    );
    if BASES.contains(&s.basis.as_str()) && UNITS.contains(&s.unit.as_str()) && !fits {
        f.push(
            &format!("{prefix}basis"),
            "basis_unit_mismatch",
            "performed and granted are paid by the hour, per_unit by the portion or visit, per_month by the month",
        );
    }
}

pub fn check_conditions(f: &mut Fields, prefix: &str, c: &Conditions) {
    parse_date(f, &format!("{prefix}valid_from"), &c.valid_from);
    for (name, v, max) in [
        ("notice_days", c.notice_days, 365),
        ("tolerance_permille", c.tolerance_permille, 10_000),
        ("late_cancel_hours", c.late_cancel_hours, 24 * 14),
        ("late_cancel_factor_permille", c.late_cancel_factor_permille, 10_000),
        ("vat_compensation_basis_points", c.vat_compensation_basis_points, 10_000),
    ] {
        if !(0..=max).contains(&v) {
            f.push(&format!("{prefix}{name}"), "out_of_range", format!("must be between 0 and {max}"));
        }
    }
    if !(1..=28).contains(&c.capacity_change_day) {
        f.push(&format!("{prefix}capacity_change_day"), "out_of_range", "must be between 1 and 28");
    }
    let mut seen = std::collections::HashSet::new();
    for (i, r) in c.requirements.iter().enumerate() {
        check_code(f, &format!("{prefix}requirements[{i}].code"), &r.code);
        check_text(f, &format!("{prefix}requirements[{i}].text"), &r.text, 4000);
        if !seen.insert(&r.code) {
            f.push(&format!("{prefix}requirements[{i}].code"), "duplicate", "each requirement code appears once");
        }
    }
}

pub fn check_choice_system(f: &mut Fields, prefix: &str, cs: &ChoiceSystem) {
    check_code(f, &format!("{prefix}id"), &cs.id);
    check_text(f, &format!("{prefix}name"), &cs.name, 200);
    check_one_of(f, &format!("{prefix}legal_model"), &cs.legal_model, LEGAL_MODELS);
    check_one_of(f, &format!("{prefix}default_rule"), &cs.default_rule, DEFAULT_RULES);
    if cs.default_rule == "lou_share" && cs.legal_model != "lou_share" {
        f.push(&format!("{prefix}default_rule"), "not_allowed", "the lou_share rule belongs to a lou_share system");
    }
    for (i, c) in cs.conditions.iter().enumerate() {
        check_conditions(f, &format!("{prefix}conditions[{i}]."), c);
    }
}

pub fn check_rate(f: &mut Fields, prefix: &str, r: &Rate) {
    check_code(f, &format!("{prefix}service_type"), &r.service_type);
    check_code(f, &format!("{prefix}zone"), &r.zone);
    check_one_of(f, &format!("{prefix}time_class"), &r.time_class, &["day", "evening", "night", "weekend", "unit", "month"]);
    parse_date(f, &format!("{prefix}valid_from"), &r.valid_from);
    if r.amount_ore < 0 || r.amount_ore > 100_000_000 {
        f.push(&format!("{prefix}amount_ore"), "out_of_range", "an amount between 0 and 1,000,000.00 in öre");
    }
}

/// Which time classes a rate for a service of this basis may have.
pub fn classes_for_basis(basis: &str) -> &'static [&'static str] {
    match basis {
        "per_unit" => &["unit"],
        "per_month" => &["month"],
        // `granted` is paid at the `day` rate, but a municipality may still publish all four.
        _ => HOURLY_CLASSES,
    }
}

/// Checks a whole document, including references between its parts.
pub fn check_document(doc: &SetupDocument) -> Fields {
    let mut f = Fields::new();
    let country = check_municipality(&mut f, "municipality.", &doc.municipality);
    let zones: std::collections::HashSet<_> = doc.zones.iter().map(|z| z.code.as_str()).collect();
    for (i, z) in doc.zones.iter().enumerate() {
        check_zone(&mut f, &format!("zones[{i}]."), z);
    }
    let mut postcode_owner = std::collections::HashMap::new();
    for (i, a) in doc.areas.iter().enumerate() {
        let pcs = check_area(&mut f, &format!("areas[{i}]."), a, country);
        if !zones.contains(a.zone.as_str()) {
            f.push(&format!("areas[{i}].zone"), "unknown_zone", format!("no zone {}", a.zone));
        }
        for pc in pcs {
            if let Some(other) = postcode_owner.insert(pc.clone(), a.code.clone()) {
                f.push(&format!("areas[{i}].postcodes"), "duplicate", format!("postcode {pc} already belongs to area {other}"));
            }
        }
    }
    let areas: std::collections::HashSet<_> = doc.areas.iter().map(|a| a.code.as_str()).collect();
    let services: std::collections::HashMap<_, _> = doc.service_types.iter().map(|s| (s.code.as_str(), s)).collect();
    for (i, s) in doc.service_types.iter().enumerate() {
        check_service_type(&mut f, &format!("service_types[{i}]."), s);
    }
    for (i, cs) in doc.choice_systems.iter().enumerate() {
        check_choice_system(&mut f, &format!("choice_systems[{i}]."), cs);
        for (j, s) in cs.services.iter().enumerate() {
            if !services.contains_key(s.as_str()) {
                f.push(&format!("choice_systems[{i}].services[{j}]"), "unknown_service_type", format!("no service type {s}"));
            }
        }
        for (j, a) in cs.areas.iter().enumerate() {
            if !areas.contains(a.as_str()) {
                f.push(&format!("choice_systems[{i}].areas[{j}]"), "unknown_area", format!("no area {a}"));
            }
        }
    }
    for (i, r) in doc.rates.iter().enumerate() {
        let prefix = format!("rates[{i}].");
        check_rate(&mut f, &prefix, r);
        match services.get(r.service_type.as_str()) {
            None => f.push(&format!("{prefix}service_type"), "unknown_service_type", format!("no service type {}", r.service_type)),
            Some(s) if !classes_for_basis(&s.basis).contains(&r.time_class.as_str()) => f.push(
                &format!("{prefix}time_class"),
                "wrong_time_class",
                format!("a {} service has rates of class {}", s.basis, classes_for_basis(&s.basis).join(", ")),
            ),
            _ => {}
        }
        if !zones.contains(r.zone.as_str()) {
            f.push(&format!("{prefix}zone"), "unknown_zone", format!("no zone {}", r.zone));
        }
    }
    f
}
