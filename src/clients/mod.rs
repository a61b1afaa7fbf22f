//! Clients (brukare): the people granted care. Their data is sensitive:
//! every read and change goes through `access::require_client_read` and is
//! written to the audit log.

pub mod api;
pub mod web;

use crate::error::{ApiError, ApiResult, Fields};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use valfri_core::ids::PersonId;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Client {
    pub id: String,
    pub person_id: String,
    pub name: String,
    pub address: String,
    pub postcode: String,
    pub area_code: String,
    pub preferred_language: String,
    /// Skyddad identitet: shown only to admin, case officers and the assigned provider.
    pub protected_identity: bool,
    pub representative: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewClient {
    /// Personnummer (SE) or fødselsnummer (NO), checked for its check digits.
    pub person_id: String,
    pub name: String,
    pub address: String,
    pub postcode: String,
    /// ISO 639-1 code, e.g. `sv`, `fi`, `ar`.
    #[serde(default = "default_language")]
    pub preferred_language: String,
    #[serde(default)]
    pub protected_identity: bool,
    #[serde(default)]
    pub representative: String,
}

fn default_language() -> String {
    "sv".into()
}

impl crate::error::Coded for valfri_core::ids::PersonIdError {
    fn code(&self) -> &'static str {
        valfri_core::ids::PersonIdError::code(self)
    }
}

impl crate::error::Coded for valfri_core::postcode::PostcodeError {
    fn code(&self) -> &'static str {
        valfri_core::postcode::PostcodeError::code(self)
    }
}

pub const CLIENT_COLUMNS: &str =
    "id, person_id, name, address, postcode, area_code, preferred_language, protected_identity, representative";

pub fn from_row(r: &crate::db::Row) -> ApiResult<Client> {
    let g = |c: &str| r.try_get::<String, _>(c).map_err(anyhow::Error::from);
    Ok(Client {
        id: g("id")?,
        person_id: g("person_id")?,
        name: g("name")?,
        address: g("address")?,
        postcode: g("postcode")?,
        area_code: g("area_code")?,
        preferred_language: g("preferred_language")?,
        protected_identity: crate::db::get_flag(r, "protected_identity").map_err(anyhow::Error::from)?,
        representative: g("representative")?,
    })
}

/// Registers a client: the identity number must be valid and the postcode
/// must belong to an area of the municipality.
pub async fn create(state: &crate::app::AppState, c: &NewClient) -> ApiResult<Client> {
    let country = state.country();
    let mut f = Fields::new();
    let person = f.parse("person_id", PersonId::parse_for_at(country, &c.person_id, state.today()));
    let postcode = f.parse("postcode", valfri_core::postcode::Postcode::parse_for(country, &c.postcode));
    crate::setup::model::check_text(&mut f, "name", &c.name, 200);
    crate::setup::model::check_text(&mut f, "address", &c.address, 300);
    if c.preferred_language.len() != 2 || !c.preferred_language.bytes().all(|b| b.is_ascii_lowercase()) {
        f.push("preferred_language", "invalid_language", "an ISO 639-1 code such as sv, fi or ar");
    }
    if c.representative.chars().count() > 300 {
        f.push("representative", "too_long", "at most 300 characters");
    }
    let area = match &postcode {
        Some(pc) => {
            let mut conn = state.db.pool.acquire().await?;
            crate::setup::store::area_field(&mut conn, pc, &mut f).await?
        }
        None => None,
    };
    f.finish()?;
    let (Some(person), Some(postcode), Some((area_code, _zone))) = (person, postcode, area) else {
        return Err(ApiError::Internal(anyhow::anyhow!("parsed fields missing after validation")));
    };
    let client = Client {
        id: uuid::Uuid::now_v7().to_string(),
        person_id: person.to_string(),
        name: c.name.trim().to_string(),
        address: c.address.trim().to_string(),
        postcode: postcode.to_string(),
        area_code,
        preferred_language: c.preferred_language.clone(),
        protected_identity: c.protected_identity,
        representative: c.representative.trim().to_string(),
    };
    sqlx::query(&format!("INSERT INTO clients ({CLIENT_COLUMNS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
        .bind(&client.id)
        .bind(&client.person_id)
        .bind(&client.name)
        .bind(&client.address)
        .bind(&client.postcode)
        .bind(&client.area_code)
        .bind(&client.preferred_language)
        .bind(crate::db::flag(client.protected_identity))
        .bind(&client.representative)
        .bind(crate::clock::stamp(state.clock.now()))
        .execute(&state.db.pool)
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict { .. } => ApiError::conflict("client_exists", "a client with this identity number is already registered"),
            other => other,
        })?;
    Ok(client)
}

pub async fn get(state: &crate::app::AppState, id: &str) -> ApiResult<Option<Client>> {
    let row = sqlx::query(&format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE id = $1")).bind(id).fetch_optional(&state.db.pool).await?;
    row.as_ref().map(from_row).transpose()
}

/// What a client with protected identity shows in place of name and address.
pub const MASKED: &str = "***";

/// Whether `who` may see the name and address of `client_id` if the client
/// has protected identity (skyddad identitet): admin, case officers, the
/// client themself, and a provider with an assignment that has not ended.
/// A provider whose assignment has ended (still allowed to read the client
/// for a while, for late reports) sees masked values.
pub async fn sees_protected_identity(state: &crate::app::AppState, who: &crate::auth::Principal, client_id: &str) -> ApiResult<bool> {
    use crate::auth::PrincipalKind;
    Ok(match &who.kind {
        PrincipalKind::Admin | PrincipalKind::CaseOfficer => true,
        PrincipalKind::Citizen { client_id: own } => own == client_id,
        PrincipalKind::Provider { provider_id } => {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM assignments WHERE provider_id = $1 AND client_id = $2 AND status <> 'cancelled' \
                 AND (end_date IS NULL OR end_date >= $3)",
            )
            .bind(provider_id)
            .bind(client_id)
            .bind(state.today().to_string())
            .fetch_one(&state.db.pool)
            .await?;
            n > 0
        }
    })
}

/// Hides what identifies where a protected person lives: name, address,
/// postcode and representative. The area stays (providers are matched by it).
pub fn mask(c: &mut Client) {
    c.name = MASKED.into();
    c.address = MASKED.into();
    c.postcode = MASKED.into();
    c.representative = MASKED.into();
}

/// The client as `who` may see it.
pub async fn for_viewer(state: &crate::app::AppState, who: &crate::auth::Principal, mut c: Client) -> ApiResult<Client> {
    if c.protected_identity && !sees_protected_identity(state, who, &c.id).await? {
        mask(&mut c);
    }
    Ok(c)
}
