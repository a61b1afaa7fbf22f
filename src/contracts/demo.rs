//! The demo's contracts: every demo provider applied, was reviewed
//! requirement by requirement and approved, through the same functions the
//! pages use, so the history reads as it would in a real municipality.
//!
//! - The municipal unit covers every service in every area.
//! - Private providers cover parts: some only the town zone, one only
//!   service tasks, a local one Brunflo, Tandsbyn and Lit.
//! - Personal care in Lit and Brunflo is closed to private providers (as
//!   Östersund's committee decided), keeping the clients they have.
//! - Frösö Vård & Service is at its capacity ceiling; Storsjö has reported a
//!   larger ceiling from next month; the non-profit closes for new clients
//!   from the 1st of next month.
//! - Norrsken Omsorg AB has registered and applied with evidence, waiting for
//!   review; an earlier applicant was rejected with written reasons.
//!
//! Runs after the users and the decisions exist (capacity counts the
//! assignments), before the choices (which ask for eligibility).

use super::*;

fn err(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("contracts demo: {}: {}", e.code(), e.problem().detail)
}

struct Terms {
    slug: &'static str,
    start: &'static str,
    end: Option<&'static str>,
    services: &'static [&'static str],
    areas: &'static [&'static str],
    capacity: Option<(&'static str, i64)>,
}

const TOWN: &[&str] = &["centrum", "odensala"];
const ALL_AREAS: &[&str] = &["centrum", "odensala", "torvalla", "froson", "brunflo", "lit", "orrviken", "tandsbyn"];

const TERMS: &[Terms] = &[
    Terms {
        slug: "kommunen",
        start: "2014-01-01",
        end: None,
        services: &["service", "personal_care", "health_care", "escort", "respite", "meals", "night_patrol", "safety_alarm"],
        areas: ALL_AREAS,
        capacity: None,
    },
    Terms {
        slug: "omsorgshuset",
        start: "2015-03-01",
        end: None,
        services: &["service", "personal_care", "health_care", "respite"],
        areas: &["centrum", "odensala", "torvalla", "froson"],
        capacity: None,
    },
    Terms {
        slug: "alamal",
        start: "2019-09-01",
        end: None,
        services: &["service", "personal_care", "escort"],
        areas: &["centrum", "odensala", "torvalla"],
        capacity: Some(("hours", 6000)),
    },
    Terms {
        slug: "storsjo",
        start: "2017-05-01",
        end: Some("2028-04-30"),
        services: &["service", "personal_care", "health_care"],
        areas: TOWN,
        capacity: Some(("hours", 8000)),
    },
    // Its ceiling is set to the clients it has: at capacity.
    Terms {
        slug: "froso",
        start: "2018-01-01",
        end: None,
        services: &["service", "personal_care"],
        areas: &["froson", "orrviken"],
        capacity: Some(("clients", 0)),
    },
    Terms {
        slug: "brunfloomsorg",
        start: "2016-10-01",
        end: None,
        services: &["service", "personal_care", "meals"],
        areas: &["brunflo", "tandsbyn", "lit"],
        capacity: None,
    },
    Terms { slug: "stadtrygg", start: "2010-02-01", end: None, services: &["service"], areas: ALL_AREAS, capacity: None },
    Terms {
        slug: "ideella",
        start: "2020-06-01",
        end: None,
        services: &["service", "personal_care", "respite"],
        areas: TOWN,
        capacity: Some(("clients", 120)),
    },
];

/// A small, valid one-page PDF with a line of text: demo evidence.
pub fn demo_pdf(text: &str) -> Vec<u8> {
    let line: String = text.chars().map(|c| if c.is_ascii() && c != '(' && c != ')' && c != '\\' { c } else { '?' }).collect();
    let stream = format!("BT /F1 16 Tf 72 760 Td ({line}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (n, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{o}\nendobj\n", n + 1));
    }
    let xref = out.len();
    out.push_str(&format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1));
    for o in offsets {
        out.push_str(&format!("{o:010} 00000 n \n"));
    }
    out.push_str(&format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1));
    out.into_bytes()
}

fn answer(code: &str, name: &str) -> String {
    match code {
        "staff_terms" => format!("{name} följer Kommunals avtal för omsorgspersonal; löner och villkor redovisas på begäran."),
        "competence" => "94 % av omsorgspersonalen är undersköterskor, resten vårdbiträden med validering.".into(),
        "continuity" => "Fasta team om 6–8 medarbetare per område; mätt snitt 10 olika medarbetare på 14 dagar.".into(),
        "transparency" => "Ägare, kvalitetsberättelse och avvikelser lämnas till kommunen varje kvartal.".into(),
        "insurance" => "Ansvars- och förmögenhetsbrottsförsäkring, se bifogat försäkringsbesked.".into(),
        "permit" => "Tillstånd från IVO finns för personlig omvårdnad (bifogas).".into(),
        "tax_status" => "Godkänd för F-skatt, inga skulder hos Skatteverket (registerutdrag bifogas).".into(),
        _ => format!("{name} uppfyller kravet."),
    }
}

async fn principal(state: &AppState, username: &str) -> anyhow::Result<Principal> {
    let row = sqlx::query("SELECT id, username, display_name, role, provider_id, client_id FROM users WHERE username = $1")
        .bind(username)
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or_else(|| anyhow::anyhow!("contracts demo: no user {username}"))?;
    crate::auth::principal_from_row(&row).map_err(err)
}

fn answers_for(cs: &ChoiceSystem, today: &str, name: &str) -> Vec<AnswerInput> {
    conditions_on(cs, today)
        .map(|c| c.requirements.iter().map(|r| AnswerInput { requirement_code: r.code.clone(), answer: answer(&r.code, name) }).collect())
        .unwrap_or_default()
}

fn evidence_for(name: &str) -> Vec<Upload> {
    vec![
        ("insurance".into(), "forsakringsbesked.pdf".into(), demo_pdf(&format!("Forsakringsbesked 2026 - {name}"))),
        ("tax_status".into(), "registerutdrag-skatteverket.pdf".into(), demo_pdf(&format!("Registerutdrag F-skatt - {name}"))),
    ]
}

fn org_nr(nine: &str) -> String {
    let digits: Vec<u8> = nine.bytes().map(|b| b - b'0').collect();
    format!("{}-{}{}", &nine[..6], &nine[6..], valfri_core::ids::luhn_check_digit(&digits))
}

pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    let admin = principal(state, "admin").await?;
    let today = state.today();
    let today_s = today.to_string();
    let mut conn = state.db.pool.acquire().await?;
    let Some(cs) = choice_system(&mut conn, "hemtjanst").await.map_err(err)? else { return Ok(()) };
    drop(conn);
    let requirement_codes: Vec<String> =
        conditions_on(&cs, &today_s).map(|c| c.requirements.iter().map(|r| r.code.clone()).collect()).unwrap_or_default();

    for t in TERMS {
        let who = match principal(state, t.slug).await {
            Ok(p) => p,
            Err(_) => continue,
        };
        let PrincipalKind::Provider { provider_id } = who.kind.clone() else { continue };
        let name = who.display_name.clone();
        let application = NewApplication {
            choice_system_id: cs.id.clone(),
            provider_id: None,
            services: t.services.iter().map(|s| s.to_string()).collect(),
            areas: t.areas.iter().map(|s| s.to_string()).collect(),
            capacity: Capacity::none(),
            answers: answers_for(&cs, &today_s, &name),
        };
        let k = apply(state, &who, &application, &evidence_for(&name)).await.map_err(err)?;
        transition(state, &admin, &k.id, &TransitionInput { to: "under_review".into(), reason: String::new(), date: None })
            .await
            .map_err(err)?;
        for code in &requirement_codes {
            review_answer(state, &admin, &k.id, code, &VerdictInput { verdict: "met".into(), note: String::new() }).await.map_err(err)?;
        }
        let capacity = match t.capacity {
            None => Capacity::none(),
            Some(("clients", 0)) => {
                // Exactly the clients it has today: full.
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(DISTINCT client_id) FROM assignments WHERE provider_id = $1 AND status <> 'cancelled' \
                     AND start_date <= $2 AND (end_date IS NULL OR end_date >= $2)",
                )
                .bind(&provider_id)
                .bind(&today_s)
                .fetch_one(&state.db.pool)
                .await?;
                Capacity { unit: "clients".into(), amount: Some(n.max(1)) }
            }
            Some((unit, n)) => Capacity { unit: unit.into(), amount: Some(n) },
        };
        let approval = Approval {
            start_date: t.start.into(),
            end_date: t.end.map(str::to_string),
            services: None,
            areas: None,
            capacity: Some(capacity),
            reason: format!("{name} uppfyller samtliga krav i förfrågningsunderlaget. Avtal tecknas enligt ansökan."),
        };
        approve(state, &admin, &k.id, &approval).await.map_err(err)?;
        transition(
            state,
            &admin,
            &k.id,
            &TransitionInput { to: "active".into(), reason: "Avtalet undertecknat av båda parter.".into(), date: None },
        )
        .await
        .map_err(err)?;
        match t.slug {
            "storsjo" => {
                report_capacity(state, &who, &k.id, &Capacity { unit: "hours".into(), amount: Some(9000) }).await.map_err(err)?;
            }
            "ideella" => {
                let from = today.first_of_month().checked_add(1.month()).map_err(anyhow::Error::from)?;
                let closing = IntakeInput {
                    open: false,
                    from: Some(from.to_string()),
                    reason: "Personalbrist under sommaren; vi tar emot nya brukare igen i höst.".into(),
                };
                set_intake(state, &who, &k.id, &closing).await.map_err(err)?;
            }
            _ => {}
        }
    }

    // Personal care in Lit and Brunflo: the municipality's own, from a date in the past.
    let from = today.first_of_month().checked_sub(6.months()).map_err(anyhow::Error::from)?.to_string();
    for area in ["lit", "brunflo"] {
        let closure = NewAreaClosure {
            area_code: area.into(),
            service_type: Some("personal_care".into()),
            from_date: from.clone(),
            reason: "Vård- och omsorgsnämndens beslut: högre ersättning för personlig omvårdnad i Lit och Brunflo med omnejd, och stängt för nya privata utförare där. Befintliga brukare behåller sin utförare.".into(),
        };
        close_area(state, &admin, &closure).await.map_err(err)?;
    }

    // A newcomer waiting for review, and an earlier applicant that was rejected.
    let applicants = [
        (
            "norrsken",
            "Norrsken Omsorg AB",
            "559123456",
            "Familjen Ahmadi",
            &["personal_care", "service"][..],
            &["centrum", "odensala", "torvalla"][..],
            false,
        ),
        ("snabbvard", "Snabbvård Hemtjänst AB", "559087654", "Care Invest Holding AB", &["personal_care"][..], &["centrum"][..], true),
    ];
    for (username, name, nine, owner, services, areas, rejected) in applicants {
        let reg = Registration {
            provider: crate::providers::NewProvider {
                name: name.into(),
                org_nr: org_nr(nine),
                ownership: "private".into(),
                owner_name: owner.into(),
                description: format!("{name} vill erbjuda hemtjänst i Östersund."),
                languages: vec!["sv".into(), "fa".into(), "en".into()],
                specialities: vec!["dementia".into()],
                phone: "063-55 12 34".into(),
                email: format!("kontakt@{username}.example"),
                website: String::new(),
                vat_compensation: None,
            },
            username: username.into(),
            display_name: name.into(),
            password: crate::demo::DEMO_PASSWORD.into(),
        };
        register(state, &reg).await.map_err(err)?;
        let who = principal(state, username).await?;
        let application = NewApplication {
            choice_system_id: cs.id.clone(),
            provider_id: None,
            services: services.iter().map(|s| s.to_string()).collect(),
            areas: areas.iter().map(|s| s.to_string()).collect(),
            capacity: Capacity { unit: "hours".into(), amount: Some(800) },
            answers: answers_for(&cs, &today_s, name),
        };
        let uploads = if rejected { vec![] } else { evidence_for(name) };
        let k = apply(state, &who, &application, &uploads).await.map_err(err)?;
        if rejected {
            transition(state, &admin, &k.id, &TransitionInput { to: "under_review".into(), reason: String::new(), date: None })
                .await
                .map_err(err)?;
            for code in &requirement_codes {
                let (verdict, note) = match code.as_str() {
                    "insurance" => ("not_met", "Försäkringsbesked saknas trots påminnelse."),
                    "permit" => ("not_met", "Tillstånd från IVO är sökt men inte beviljat."),
                    _ => ("met", ""),
                };
                review_answer(state, &admin, &k.id, code, &VerdictInput { verdict: verdict.into(), note: note.into() })
                    .await
                    .map_err(err)?;
            }
            let reason = "Ansökan avslås: ansvarsförsäkring och tillstånd från IVO saknas (krav insurance och permit). Ni är välkomna att ansöka igen.";
            transition(state, &admin, &k.id, &TransitionInput { to: "rejected".into(), reason: reason.into(), date: None })
                .await
                .map_err(err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_evidence_is_a_pdf_and_org_numbers_are_valid() {
        let pdf = demo_pdf("Forsakringsbesked (2026)");
        assert_eq!(evidence::sniff(&pdf), Some("application/pdf"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        for nine in ["559123456", "559087654"] {
            assert!(valfri_core::ids::OrgNr::parse(&org_nr(nine)).is_ok(), "{}", org_nr(nine));
        }
    }
}
