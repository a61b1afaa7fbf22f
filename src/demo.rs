//! The demo municipality: an Östersund-like municipality with a town zone
//! and rural areas such as Lit and Brunflo, eight providers (the municipal
//! unit among them, some speaking Finnish or Arabic), ~1,500 clients and a
//! user for each role. Created once; later starts reuse it.

use crate::app::AppState;
use crate::auth::api::{insert_user, NewUser};
use crate::auth::Role;
use crate::clock::stamp;
use crate::error::ApiError;
use crate::providers::NewProvider;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write;

pub const DEMO_PASSWORD: &str = "valfri-demo";
pub const SETUP: &str = include_str!("../examples/ostersund.toml");
const CLIENTS: usize = 1500;

struct DemoProvider {
    slug: &'static str,
    name: &'static str,
    ownership: &'static str,
    owner: &'static str,
    languages: &'static [&'static str],
    specialities: &'static [&'static str],
    description: &'static str,
    /// Relative share of the clients who chose it.
    weight: u32,
}

const PROVIDERS: &[DemoProvider] = &[
    DemoProvider {
        slug: "kommunen",
        name: "Östersunds kommun, hemtjänsten",
        ownership: "municipal",
        owner: "Östersunds kommun",
        languages: &["sv", "en", "fi"],
        specialities: &["dementia", "palliative"],
        weight: 50,
        description: "Kommunens egen hemtjänst i hela kommunen, dygnet runt. Ickevalsalternativ.",
    },
    DemoProvider {
        slug: "omsorgshuset",
        name: "Omsorgshuset Jämtland AB",
        ownership: "private",
        owner: "Familjen Persson",
        languages: &["sv", "fi"],
        specialities: &["dementia"],
        weight: 12,
        description: "Familjeägt företag med finsktalande personal och fasta team.",
    },
    DemoProvider {
        slug: "alamal",
        name: "Al-Amal Omsorg AB",
        ownership: "private",
        owner: "Amal Haddad",
        languages: &["sv", "ar", "en"],
        specialities: &["diabetes"],
        weight: 8,
        description: "Hemtjänst på svenska och arabiska i centrala Östersund och Torvalla.",
    },
    DemoProvider {
        slug: "storsjo",
        name: "Storsjö Hemtjänst AB",
        ownership: "private",
        owner: "Nordic Care Group AB",
        languages: &["sv", "en"],
        specialities: &["stroke"],
        weight: 10,
        description: "Del av en nordisk koncern. Erbjuder kvällsbesök och helgbesök.",
    },
    DemoProvider {
        slug: "froso",
        name: "Frösö Vård & Service AB",
        ownership: "private",
        owner: "Anna och Erik Lind",
        languages: &["sv", "de"],
        specialities: &["palliative"],
        weight: 7,
        description: "Litet företag på Frösön med samma personal varje dag.",
    },
    DemoProvider {
        slug: "brunfloomsorg",
        name: "Brunflo Omsorg AB",
        ownership: "private",
        owner: "Brunflo Omsorg Holding AB",
        languages: &["sv"],
        specialities: &[],
        weight: 5,
        description: "Lokalt företag i Brunflo, Tandsbyn och Lit.",
    },
    DemoProvider {
        slug: "stadtrygg",
        name: "Städ & Trygghet i Jämtland AB",
        ownership: "private",
        owner: "Lena Olsson",
        languages: &["sv", "se"],
        specialities: &[],
        weight: 5,
        description: "Serviceinsatser: städning, tvätt och inköp. Samisktalande personal.",
    },
    DemoProvider {
        slug: "ideella",
        name: "Ideella föreningen Omtanke",
        ownership: "nonprofit",
        owner: "Föreningen Omtanke",
        languages: &["sv", "fi"],
        specialities: &["dementia"],
        weight: 3,
        description: "Idéburen organisation som återinvesterar överskottet i verksamheten.",
    },
];

const FIRST: &[&str] = &[
    "Anna",
    "Maria",
    "Karin",
    "Kerstin",
    "Ingrid",
    "Margareta",
    "Birgitta",
    "Elsa",
    "Gunnel",
    "Signe",
    "Aino",
    "Fatima",
    "Lars",
    "Erik",
    "Karl",
    "Per",
    "Olof",
    "Nils",
    "Gösta",
    "Sven",
    "Bengt",
    "Tapio",
    "Ahmad",
    "Stig",
];
const LAST: &[&str] = &[
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Jonsson",
    "Hansson",
    "Bergström",
    "Lindqvist",
    "Jämtlund",
    "Virtanen",
    "Korhonen",
    "Haddad",
    "Sjöberg",
    "Wikström",
    "Ström",
];
const STREETS: &[&str] = &[
    "Storgatan",
    "Prästgatan",
    "Rådhusgatan",
    "Kyrkgatan",
    "Byvägen",
    "Skolvägen",
    "Bergsvägen",
    "Sjövägen",
    "Stationsvägen",
    "Frösövägen",
    "Gamla landsvägen",
];

/// A made-up but valid personnummer for someone born in 1925–1958.
fn demo_personnummer(rng: &mut StdRng) -> String {
    let year = rng.gen_range(1925..=1958);
    let month = rng.gen_range(1..=12u8);
    let day = rng.gen_range(1..=28u8);
    let serial = rng.gen_range(1..=999u16);
    let s = format!("{:02}{month:02}{day:02}{serial:03}", year % 100);
    let digits: Vec<u8> = s.bytes().map(|b| b - b'0').collect();
    format!("{year}{month:02}{day:02}-{serial:03}{}", valfri_core::ids::luhn_check_digit(&digits))
}

fn demo_org_nr(i: usize) -> String {
    let s = format!("55{}{:06}", 6 + i % 4, 100_000 + i * 7919);
    let s = &s[..9];
    let digits: Vec<u8> = s.bytes().map(|b| b - b'0').collect();
    format!("{}-{}{}", &s[..6], &s[6..], valfri_core::ids::luhn_check_digit(&digits))
}

fn api_err(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", e.code(), e.problem().detail)
}

/// Creates the demo municipality unless it exists, and returns the text
/// printed at start (where to sign in, and as whom).
pub async fn ensure(state: &AppState) -> anyhow::Result<String> {
    let exists = {
        let mut c = state.db.pool.acquire().await?;
        crate::setup::store::municipality(&mut c).await.map_err(api_err)?.is_some()
    };
    if !exists {
        create(state).await?;
    }
    let mut out = String::from("Demo municipality ready. Sign in with password '");
    out.push_str(DEMO_PASSWORD);
    out.push_str("' as:\n");
    let users: Vec<(String, String, String)> =
        sqlx::query_as("SELECT username, role, display_name FROM users ORDER BY role, username").fetch_all(&state.db.pool).await?;
    for (u, r, d) in users {
        let _ = writeln!(out, "  {u:<16} {r:<13} {d}");
    }
    Ok(out)
}

async fn create(state: &AppState) -> anyhow::Result<()> {
    let doc = crate::setup::file::parse(SETUP).map_err(|e| anyhow::anyhow!("demo setup: {}: {}", e.field, e.reason))?;
    crate::setup::store::apply(&state.db, &doc, "demo", &stamp(state.clock.now())).await.map_err(api_err)?;
    state.reload_municipality().await.map_err(api_err)?;
    let mut rng = StdRng::seed_from_u64(2380);

    let mut provider_ids = Vec::new();
    for (i, p) in PROVIDERS.iter().enumerate() {
        let created = crate::providers::create(
            state,
            &NewProvider {
                name: p.name.into(),
                org_nr: if p.ownership == "municipal" { "212000-2411".into() } else { demo_org_nr(i) },
                ownership: p.ownership.into(),
                owner_name: p.owner.into(),
                description: p.description.into(),
                languages: p.languages.iter().map(|s| s.to_string()).collect(),
                specialities: p.specialities.iter().map(|s| s.to_string()).collect(),
                phone: format!("063-14 {:02} {:02}", 10 + i, 20 + i),
                email: format!("kontakt@{}.example", p.slug),
                website: format!("https://{}.example", p.slug),
                vat_compensation: None,
            },
        )
        .await
        .map_err(api_err)?;
        provider_ids.push(created.id);
    }

    let areas = {
        let mut c = state.db.pool.acquire().await?;
        crate::setup::store::areas(&mut c).await.map_err(api_err)?
    };
    let total_weight: u32 = PROVIDERS.iter().map(|p| p.weight).sum();
    let today = state.today();
    let now = stamp(state.clock.now());
    let mut tx = state.db.pool.begin().await?;
    let mut first_client = None;
    let mut used = std::collections::HashSet::new();
    let mut n = 0;
    while n < CLIENTS {
        let pnr = demo_personnummer(&mut rng);
        if !used.insert(pnr.clone()) {
            continue;
        }
        let area = &areas[rng.gen_range(0..areas.len())];
        let postcode = &area.postcodes[rng.gen_range(0..area.postcodes.len())];
        let first = FIRST[rng.gen_range(0..FIRST.len())];
        let last = LAST[rng.gen_range(0..LAST.len())];
        let language = match (first, last) {
            (_, "Virtanen" | "Korhonen") | ("Aino" | "Tapio", _) => "fi",
            (_, "Haddad") | ("Fatima" | "Ahmad", _) => "ar",
            _ => "sv",
        };
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO clients (id, person_id, name, address, postcode, area_code, preferred_language, protected_identity, representative, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(&pnr)
        .bind(format!("{first} {last}"))
        .bind(format!("{} {}", STREETS[rng.gen_range(0..STREETS.len())], rng.gen_range(1..60)))
        .bind(postcode)
        .bind(&area.code)
        .bind(language)
        .bind(crate::db::flag(rng.gen_ratio(1, 200)))
        .bind(if rng.gen_ratio(1, 10) { "God man: Eva Strand" } else { "" })
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        // Which provider the client has today: weighted like a real market.
        let mut pick = rng.gen_range(0..total_weight);
        let mut provider = 0;
        for (i, p) in PROVIDERS.iter().enumerate() {
            if pick < p.weight {
                provider = i;
                break;
            }
            pick -= p.weight;
        }
        let service = if PROVIDERS[provider].slug == "stadtrygg" || rng.gen_ratio(1, 3) { "service" } else { "personal_care" };
        let start = today.checked_sub(jiff::Span::new().days(rng.gen_range(1..700))).unwrap_or(today);
        sqlx::query(
            "INSERT INTO assignments (id, client_id, provider_id, service_type, start_date, end_date, created_at) VALUES ($1, $2, $3, $4, $5, NULL, $6)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&id)
        .bind(&provider_ids[provider])
        .bind(service)
        .bind(start.to_string())
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        if first_client.is_none() {
            first_client = Some((id.clone(), format!("{first} {last}")));
        }
        n += 1;
    }
    tx.commit().await?;

    let user = |username: &str, display: &str, role: Role, provider_id: Option<String>, client_id: Option<String>| NewUser {
        username: username.into(),
        display_name: display.into(),
        password: DEMO_PASSWORD.into(),
        role,
        provider_id,
        client_id,
    };
    let mut users = vec![
        user("admin", "Alva Admin (förvaltningen)", Role::Admin, None, None),
        user("handlaggare", "Hanna Handläggare", Role::CaseOfficer, None, None),
    ];
    for (p, id) in PROVIDERS.iter().zip(&provider_ids) {
        users.push(user(p.slug, p.name, Role::Provider, Some(id.clone()), None));
    }
    if let Some((id, name)) = first_client {
        users.push(user("brukare", &name, Role::Citizen, None, Some(id)));
    }
    for u in &users {
        insert_user(state, u).await.map_err(api_err)?;
    }
    // Decisions behind the assignments (needs the users; before choices are recorded).
    crate::decisions::demo::seed(state).await?;
    // Contracts, area closures and applications (after decisions: capacity counts assignments; before choices: eligibility).
    crate::contracts::demo::seed(state).await?;
    // Choices recorded from the assignments, pending switches and re-choice
    // tasks (after decisions and contracts: switches and defaults need eligibility).
    crate::choices::demo::seed(state).await?;
    // Last month's and this month's time reports for the assignments, with a few flagged.
    crate::visits::demo::seed(state).await?;
    // Last month settled and approved, this month's drafts (after the visits).
    crate::settlement::demo::seed(state).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use valfri_core::ids::{OrgNr, Personnummer};

    #[test]
    fn demo_numbers_are_valid() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..500 {
            let p = demo_personnummer(&mut rng);
            assert!(Personnummer::parse(&p).is_ok(), "{p}");
        }
        for i in 0..PROVIDERS.len() {
            let o = demo_org_nr(i);
            assert!(OrgNr::parse(&o).is_ok(), "{o}");
        }
        assert!(OrgNr::parse("212000-2411").is_ok());
    }
}
