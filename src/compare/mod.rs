//! The public comparison: for a postcode and the services a citizen needs,
//! every provider that may take a new client there today (eligible for every
//! one of those services in that area), with the facts citizens ask for.
//!
//! Order: neutral, never by who pays. By default the providers come in a
//! random order drawn afresh for each visit; the draw is a `seed` carried in
//! the URL, so filtering, reloading and the printed version keep the same
//! order. `order=name` sorts alphabetically (Swedish alphabet: … z, å, ä, ö).

pub mod api;
pub mod web;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult, Fields};
use crate::providers::{PublicProfile, QualityFigure};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use valfri_core::postcode::Postcode;

/// What the citizen asks.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub postcode: String,
    pub services: Vec<String>,
    /// Only providers whose staff speak this language (ISO 639-1).
    pub language: Option<String>,
    /// Only providers with this speciality (e.g. dementia).
    pub speciality: Option<String>,
    /// `random` (default) or `name`.
    pub order: Option<String>,
    /// The random draw; a new one when absent.
    pub seed: Option<String>,
}

/// One provider in the comparison.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Entry {
    pub id: String,
    pub name: String,
    /// municipal, private or nonprofit.
    pub ownership: String,
    pub owner_name: String,
    pub description: String,
    pub languages: Vec<String>,
    pub specialities: Vec<String>,
    pub phone: String,
    pub email: String,
    pub website: String,
    /// Names of the areas it serves today.
    pub areas: Vec<String>,
    /// Every service type it may take new clients for at this address today.
    pub services_here: Vec<String>,
    /// Empty until follow-up publishes figures.
    pub quality: Vec<QualityFigure>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Comparison {
    pub postcode: String,
    pub area_code: String,
    pub area_name: String,
    pub services: Vec<String>,
    /// The date eligibility was decided for (today).
    pub on: String,
    /// `random` or `name`.
    pub order: String,
    /// The random draw behind `order = random`; pass it back to keep the order.
    pub seed: String,
    /// Every eligible provider's languages and specialities, for the filters.
    pub languages: Vec<String>,
    pub specialities: Vec<String>,
    /// How many providers are eligible before the language and speciality filters.
    pub eligible_count: usize,
    pub providers: Vec<Entry>,
}

/// A fresh seed for a visit: short and URL-safe.
pub fn new_seed() -> String {
    use rand::Rng;
    format!("{:06}", rand::thread_rng().gen_range(0..1_000_000))
}

/// Sort key of a name in the Swedish alphabet (å, ä, ö after z).
fn swedish_key(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .map(|c| match c {
            'å' => '\u{7b}',
            'ä' | 'æ' => '\u{7c}',
            'ö' | 'ø' => '\u{7d}',
            'é' | 'è' => 'e',
            'ü' => 'y',
            other => other,
        })
        .collect()
}

fn random_key(seed: &str, id: &str) -> Vec<u8> {
    Sha256::digest(format!("{seed}:{id}").as_bytes()).to_vec()
}

/// Orders entries neutrally: by the seeded draw, or by name.
pub fn order(entries: &mut [Entry], order: &str, seed: &str) {
    if order == "name" {
        entries.sort_by_cached_key(|e| (swedish_key(&e.name), e.id.clone()));
    } else {
        entries.sort_by_cached_key(|e| random_key(seed, &e.id));
    }
}

fn entry(p: PublicProfile, services_here: Vec<String>) -> Entry {
    Entry {
        id: p.provider.id,
        name: p.provider.name,
        ownership: p.provider.ownership,
        owner_name: p.provider.owner_name,
        description: p.provider.description,
        languages: p.provider.languages,
        specialities: p.provider.specialities,
        phone: p.provider.phone,
        email: p.provider.email,
        website: p.provider.website,
        areas: p.areas.into_iter().map(|a| a.name).collect(),
        services_here,
        quality: p.quality,
    }
}

/// The area of a postcode: a badly written or unknown postcode is a field error.
pub async fn area_of(state: &AppState, postcode: &str) -> ApiResult<(Postcode, String, String)> {
    let mut f = Fields::new();
    let Some(pc) = f.parse("postcode", Postcode::parse_for(state.country(), postcode)) else {
        return Err(ApiError::Invalid(f.into_vec()));
    };
    let mut conn = state.db.pool.acquire().await?;
    let area = crate::setup::store::area_field(&mut conn, &pc, &mut f).await?;
    f.finish()?;
    let Some((code, _zone)) = area else {
        return Err(ApiError::Internal(anyhow::anyhow!("area missing after validation")));
    };
    let name = crate::setup::store::areas(&mut conn).await?.into_iter().find(|a| a.code == code).map(|a| a.name).unwrap_or_default();
    Ok((pc, code, name))
}

/// The comparison for a postcode and services: an unknown postcode, a badly
/// written one or no services are field errors (`postcode`, `services`).
pub async fn compare(state: &AppState, r: &Request) -> ApiResult<Comparison> {
    let mut f = Fields::new();
    let postcode = f.parse("postcode", Postcode::parse_for(state.country(), &r.postcode));
    let mut conn = state.db.pool.acquire().await?;
    let known = crate::setup::store::service_types(&mut conn).await?;
    let mut services: Vec<String> = Vec::new();
    for (i, s) in r.services.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).enumerate() {
        if known.iter().any(|k| k.code == s) {
            if !services.iter().any(|x| x == s) {
                services.push(s.to_string());
            }
        } else {
            f.push(&format!("services[{i}]"), "unknown_service_type", format!("no service type {s}"));
        }
    }
    if services.is_empty() && f.is_empty() {
        f.push("services", "required", "choose at least one service");
    }
    let area = match &postcode {
        Some(pc) => crate::setup::store::area_field(&mut conn, pc, &mut f).await?,
        None => None,
    };
    f.finish()?;
    let (Some(postcode), Some((area_code, _zone))) = (postcode, area) else {
        return Err(ApiError::Internal(anyhow::anyhow!("postcode missing after validation")));
    };
    let area_name =
        crate::setup::store::areas(&mut conn).await?.into_iter().find(|a| a.code == area_code).map(|a| a.name).unwrap_or_default();
    drop(conn);
    let today = state.today();
    // Eligible for every service asked for.
    let mut ids: Option<Vec<String>> = None;
    for s in &services {
        let here = crate::contracts::eligibility::eligible_providers(&state.db, s, &area_code, today).await?;
        ids = Some(match ids {
            None => here,
            Some(prev) => prev.into_iter().filter(|p| here.contains(p)).collect(),
        });
    }
    let mut entries = Vec::new();
    for id in ids.unwrap_or_default() {
        if let Some(p) = crate::providers::public_profile(state, &id).await? {
            let here = p.areas.iter().find(|a| a.code == area_code).map(|a| a.services.clone()).unwrap_or_default();
            entries.push(entry(p, here));
        }
    }
    let mut languages: Vec<String> = entries.iter().flat_map(|e| e.languages.clone()).collect();
    languages.sort();
    languages.dedup();
    let mut specialities: Vec<String> = entries.iter().flat_map(|e| e.specialities.clone()).collect();
    specialities.sort();
    specialities.dedup();
    let eligible_count = entries.len();
    let language = r.language.clone().filter(|l| !l.is_empty());
    let speciality = r.speciality.clone().filter(|l| !l.is_empty());
    entries.retain(|e| {
        language.as_ref().is_none_or(|l| e.languages.contains(l)) && speciality.as_ref().is_none_or(|s| e.specialities.contains(s))
    });
    let order_name = if r.order.as_deref() == Some("name") { "name" } else { "random" };
    let seed =
        r.seed.clone().filter(|s| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric())).unwrap_or_else(new_seed);
    order(&mut entries, order_name, &seed);
    Ok(Comparison {
        postcode: postcode.to_string(),
        area_code,
        area_name,
        services,
        on: today.to_string(),
        order: order_name.into(),
        seed,
        languages,
        specialities,
        eligible_count,
        providers: entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: &str, name: &str) -> Entry {
        Entry {
            id: id.into(),
            name: name.into(),
            ownership: String::new(),
            owner_name: String::new(),
            description: String::new(),
            languages: vec![],
            specialities: vec![],
            phone: String::new(),
            email: String::new(),
            website: String::new(),
            areas: vec![],
            services_here: vec![],
            quality: vec![],
        }
    }

    #[test]
    fn alphabetical_order_follows_the_swedish_alphabet() {
        let mut v = vec![e("1", "Östra Omsorg"), e("2", "Ängen AB"), e("3", "Åkerns vård"), e("4", "Zeta"), e("5", "alfa")];
        order(&mut v, "name", "x");
        let names: Vec<_> = v.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["alfa", "Zeta", "Åkerns vård", "Ängen AB", "Östra Omsorg"]);
    }

    #[test]
    fn the_random_order_is_fixed_by_its_seed() {
        let base: Vec<Entry> = (0..12).map(|i| e(&format!("id{i}"), &format!("P{i}"))).collect();
        let ids = |seed: &str| {
            let mut v = base.clone();
            order(&mut v, "random", seed);
            v.into_iter().map(|x| x.id).collect::<Vec<_>>()
        };
        assert_eq!(ids("123456"), ids("123456"));
        assert_ne!(ids("123456"), ids("654321"));
        // Not simply alphabetical either.
        let mut sorted = ids("123456");
        sorted.sort();
        assert_ne!(ids("123456"), sorted);
    }
}
