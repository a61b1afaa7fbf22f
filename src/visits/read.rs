//! Reading stored visits, flags and import reports (portable queries on the
//! shared pool). Callers check access and write the audit events.

use super::import::{ImportReport, Rejection};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use serde::Serialize;
use sqlx::Row as _;
use std::collections::HashMap;
use utoipa::ToSchema;
use valfri_core::Month;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VisitFlag {
    pub code: String,
    /// Data for the code: the other visits' external ids for overlaps, the
    /// end date for `after_decision_end`, `reported/granted+tolerance` minutes for `beyond_granted`.
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Visit {
    pub provider_id: String,
    pub external_id: String,
    pub client_id: String,
    pub client_name: String,
    pub service_type: String,
    pub status: String,
    pub planned_start: Option<String>,
    pub planned_end: Option<String>,
    pub actual_start: Option<String>,
    pub actual_end: Option<String>,
    pub cancelled_at: Option<String>,
    pub staff_ref: String,
    pub staff_count: i64,
    pub quantity: Option<i64>,
    /// Actual times when performed, planned otherwise.
    pub start_at: String,
    pub end_at: String,
    pub minutes: i64,
    pub local_date: String,
    pub month: String,
    /// The import that last wrote the visit.
    pub import_id: String,
    pub flags: Vec<VisitFlag>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VisitPage {
    pub month: String,
    pub provider_id: String,
    pub total: i64,
    pub offset: i64,
    pub visits: Vec<Visit>,
    /// When there are visits after this page: the `after` that asks for them
    /// (the last visit's external id).
    pub next_after: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FlaggedVisit {
    pub provider_id: String,
    pub provider_name: String,
    pub external_id: String,
    pub client_id: String,
    pub client_name: String,
    pub service_type: String,
    pub status: String,
    pub start_at: String,
    pub end_at: String,
    pub local_date: String,
    pub staff_ref: String,
    pub code: String,
    pub detail: String,
}

fn g(r: &crate::db::Row, c: &str) -> ApiResult<String> {
    Ok(r.try_get::<String, _>(c).map_err(anyhow::Error::from)?)
}

fn go(r: &crate::db::Row, c: &str) -> ApiResult<Option<String>> {
    Ok(r.try_get::<Option<String>, _>(c).map_err(anyhow::Error::from)?)
}

fn gi(r: &crate::db::Row, c: &str) -> ApiResult<i64> {
    Ok(r.try_get::<i64, _>(c).map_err(anyhow::Error::from)?)
}

pub fn month_range(m: Month) -> (String, String) {
    (m.first_day().to_string(), m.last_day().to_string())
}

pub struct VisitQuery<'a> {
    pub provider_id: &'a str,
    pub month: Month,
    pub flagged_only: bool,
    pub limit: i64,
    pub offset: i64,
    /// Start after this visit (an external id of the provider's) in the
    /// list's order, rather than counting `offset` visits from the start.
    pub after: Option<&'a str>,
}

/// One provider's visits of a month, by start time, with their flags.
pub async fn visits(state: &AppState, q: &VisitQuery<'_>) -> ApiResult<VisitPage> {
    let (first, last) = month_range(q.month);
    let month = q.month.to_string();
    // The provider's flagged external ids as one set, rather than a lookup
    // per visit: 0.26 s against 0.70 s for the first page of the largest
    // Stockholm provider, and 0.14 s against 0.28 s to count them (shell).
    let flagged =
        if q.flagged_only { " AND v.external_id IN (SELECT f.external_id FROM visit_flags f WHERE f.provider_id = $1)" } else { "" };
    let total: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM visits v WHERE v.provider_id = $1 AND v.local_date >= $2 AND v.local_date <= $3{flagged}"
    ))
    .bind(q.provider_id)
    .bind(&first)
    .bind(&last)
    .fetch_one(&state.db.pool)
    .await?;
    // After a given visit: the index starts at that visit's day, where an
    // offset walks every visit before the page (3.8 s at offset 400 000 for
    // the largest Stockholm provider, 0.1 s after its 400 000th visit), so a
    // client reading a whole month page by page does not slow down as it
    // goes. The range starts at that day, so the condition below need not
    // say "the same day" in its second and third parts; without an `after`
    // it holds for every visit.
    let mut key = (first.clone(), String::new(), String::new());
    if let Some(ext) = q.after {
        let found: Option<(String, String)> =
            sqlx::query_as("SELECT local_date, start_at FROM visits WHERE provider_id = $1 AND external_id = $2")
                .bind(q.provider_id)
                .bind(ext)
                .fetch_optional(&state.db.pool)
                .await?;
        let Some((date, start)) = found else {
            return Err(ApiError::field("after", "unknown_visit", "the provider has no visit with this external id"));
        };
        key = (date, start, ext.to_string());
    }
    // By start time. The local date comes first because it is the start's
    // own date, so the order is the same, and it lets the (provider, date)
    // index give the order day by day: the database sorts one day at a time
    // and stops at the page, instead of sorting the provider's whole month
    // (452 000 visits for the largest Stockholm provider: 2.3 s against
    // 0.1 s for the first page in the sqlite3 shell).
    let from = if key.0 > first { &key.0 } else { &first };
    let rows = sqlx::query(&format!(
        "SELECT {VISIT_COLUMNS} FROM visits v JOIN clients c ON c.id = v.client_id \
         WHERE v.provider_id = $1 AND v.local_date >= $2 AND v.local_date <= $3{flagged} \
         AND (v.local_date > $6 OR v.start_at > $7 OR (v.start_at = $7 AND v.external_id > $8)) \
         ORDER BY v.local_date, v.start_at, v.external_id LIMIT $4 OFFSET $5"
    ))
    .bind(q.provider_id)
    .bind(from)
    .bind(&last)
    .bind(q.limit + 1)
    .bind(q.offset)
    .bind(&key.0)
    .bind(&key.1)
    .bind(&key.2)
    .fetch_all(&state.db.pool)
    .await?;
    // One row beyond the page says whether there is another.
    let more = rows.len() as i64 > q.limit;
    let mut out = rows.iter().take(q.limit as usize).map(from_row).collect::<ApiResult<Vec<_>>>()?;
    // The flags of this page's visits, not of the provider's whole month.
    let mut flags: HashMap<String, Vec<VisitFlag>> = HashMap::new();
    for part in out.chunks(500) {
        let sql = format!(
            "SELECT external_id, code, detail FROM visit_flags WHERE provider_id = $1 AND external_id IN ({}) ORDER BY external_id, code",
            crate::bulk::placeholders(2, part.len())
        );
        let mut query = sqlx::query(&sql).bind(q.provider_id);
        for v in part {
            query = query.bind(&v.external_id);
        }
        for r in &query.fetch_all(&state.db.pool).await? {
            flags.entry(g(r, "external_id")?).or_default().push(VisitFlag { code: g(r, "code")?, detail: g(r, "detail")? });
        }
    }
    for v in &mut out {
        v.flags = flags.remove(&v.external_id).unwrap_or_default();
    }
    let next_after = if more { out.last().map(|v| v.external_id.clone()) } else { None };
    Ok(VisitPage { month, provider_id: q.provider_id.to_string(), total, offset: q.offset, visits: out, next_after })
}

const VISIT_COLUMNS: &str = "v.provider_id, v.external_id, v.client_id, c.name AS client_name, v.service_type, v.status, \
     v.planned_start, v.planned_end, v.actual_start, v.actual_end, v.cancelled_at, v.staff_ref, v.staff_count, v.quantity, \
     v.start_at, v.end_at, v.minutes, v.local_date, v.month, v.import_id";

fn from_row(r: &crate::db::Row) -> ApiResult<Visit> {
    Ok(Visit {
        provider_id: g(r, "provider_id")?,
        external_id: g(r, "external_id")?,
        client_id: g(r, "client_id")?,
        client_name: g(r, "client_name")?,
        service_type: g(r, "service_type")?,
        status: g(r, "status")?,
        planned_start: go(r, "planned_start")?,
        planned_end: go(r, "planned_end")?,
        actual_start: go(r, "actual_start")?,
        actual_end: go(r, "actual_end")?,
        cancelled_at: go(r, "cancelled_at")?,
        staff_ref: g(r, "staff_ref")?,
        staff_count: gi(r, "staff_count")?,
        quantity: r.try_get::<Option<i64>, _>("quantity").map_err(anyhow::Error::from)?,
        start_at: g(r, "start_at")?,
        end_at: g(r, "end_at")?,
        minutes: gi(r, "minutes")?,
        local_date: g(r, "local_date")?,
        month: g(r, "month")?,
        import_id: g(r, "import_id")?,
        flags: Vec::new(),
    })
}

/// One visit by its provider and external id, with its flags.
pub async fn visit(state: &AppState, provider_id: &str, external_id: &str) -> ApiResult<Option<Visit>> {
    let row = sqlx::query(&format!(
        "SELECT {VISIT_COLUMNS} FROM visits v JOIN clients c ON c.id = v.client_id WHERE v.provider_id = $1 AND v.external_id = $2"
    ))
    .bind(provider_id)
    .bind(external_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut v = from_row(&row)?;
    let flags = sqlx::query("SELECT code, detail FROM visit_flags WHERE provider_id = $1 AND external_id = $2 ORDER BY code")
        .bind(provider_id)
        .bind(external_id)
        .fetch_all(&state.db.pool)
        .await?;
    v.flags = flags.iter().map(|r| Ok(VisitFlag { code: g(r, "code")?, detail: g(r, "detail")? })).collect::<ApiResult<_>>()?;
    Ok(Some(v))
}

/// How many flags each provider has in a month: one provider's, or every
/// provider's (`None`), in the order `flagged_rows` lists them (by provider name).
pub async fn flag_counts(state: &AppState, provider_id: Option<&str>, month: Month) -> ApiResult<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT f.provider_id, f.n FROM (SELECT provider_id, COUNT(*) AS n FROM visit_flags \
         WHERE month = $1 AND ($2 = '' OR provider_id = $2) GROUP BY provider_id) f \
         JOIN providers pr ON pr.id = f.provider_id ORDER BY pr.name, f.provider_id",
    )
    .bind(month.to_string())
    .bind(provider_id.unwrap_or(""))
    .fetch_all(&state.db.pool)
    .await?)
}

/// Flagged visits of a month: one provider's, or every provider's (`None`),
/// by provider name, then time; at most `limit` after the first `offset`,
/// and how many there are.
pub async fn flagged(
    state: &AppState,
    provider_id: Option<&str>,
    month: Month,
    offset: i64,
    limit: i64,
) -> ApiResult<(i64, Vec<FlaggedVisit>)> {
    let counts = flag_counts(state, provider_id, month).await?;
    let total = counts.iter().map(|(_, n)| n).sum();
    Ok((total, flagged_rows(state, month, &counts, offset, limit).await?))
}

/// The flags of the providers in `counts` (from `flag_counts`), at most
/// `limit` after the first `offset`. They are read provider by provider
/// until `limit` is reached, and the providers wholly before `offset` are
/// skipped by their counts: one query over the month sorted all of its
/// flags first, each joined with its visit (0.6 s for the 44 000 flags of a
/// Stockholm-sized month, ten times that at national scale), where a page
/// shows a few hundred.
pub async fn flagged_rows(
    state: &AppState,
    month: Month,
    counts: &[(String, i64)],
    offset: i64,
    limit: i64,
) -> ApiResult<Vec<FlaggedVisit>> {
    let m = month.to_string();
    let mut skip = offset.max(0);
    let mut rows = Vec::new();
    for (p, n) in counts {
        if skip >= *n {
            skip -= n;
            continue;
        }
        let left = limit - rows.len() as i64;
        if left <= 0 {
            break;
        }
        rows.extend(
            sqlx::query(
                "SELECT f.provider_id, pr.name AS provider_name, f.external_id, f.client_id, c.name AS client_name, v.service_type, \
                 v.status, v.start_at, v.end_at, v.local_date, v.staff_ref, f.code, f.detail \
                 FROM visit_flags f JOIN visits v ON v.provider_id = f.provider_id AND v.external_id = f.external_id \
                 JOIN clients c ON c.id = f.client_id JOIN providers pr ON pr.id = f.provider_id \
                 WHERE f.month = $1 AND f.provider_id = $2 ORDER BY v.start_at, f.external_id, f.code LIMIT $3 OFFSET $4",
            )
            .bind(&m)
            .bind(p)
            .bind(left)
            .bind(skip)
            .fetch_all(&state.db.pool)
            .await?,
        );
        skip = 0;
    }
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(FlaggedVisit {
            provider_id: g(r, "provider_id")?,
            provider_name: g(r, "provider_name")?,
            external_id: g(r, "external_id")?,
            client_id: g(r, "client_id")?,
            client_name: g(r, "client_name")?,
            service_type: g(r, "service_type")?,
            status: g(r, "status")?,
            start_at: g(r, "start_at")?,
            end_at: g(r, "end_at")?,
            local_date: g(r, "local_date")?,
            staff_ref: g(r, "staff_ref")?,
            code: g(r, "code")?,
            detail: g(r, "detail")?,
        });
    }
    Ok(out)
}

/// A stored import report with its (first 10 000) rejections.
pub async fn import_report(state: &AppState, id: &str) -> ApiResult<Option<ImportReport>> {
    let row = sqlx::query(
        "SELECT id, provider_id, source, file_name, all_or_nothing, stored, rows_total, new_count, replaced_count, unchanged_count, \
         rejected_rows, rejections_total, flagged_count, months FROM visit_imports WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let rej = sqlx::query("SELECT line, external_id, field, code, reason FROM visit_import_rejections WHERE import_id = $1 ORDER BY seq")
        .bind(id)
        .fetch_all(&state.db.pool)
        .await?;
    let rejections = rej
        .iter()
        .map(|x| {
            Ok(Rejection {
                line: gi(x, "line")? as u64,
                external_id: g(x, "external_id")?,
                field: g(x, "field")?,
                code: g(x, "code")?,
                reason: g(x, "reason")?,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let months = g(&r, "months")?;
    Ok(Some(ImportReport {
        import_id: g(&r, "id")?,
        provider_id: g(&r, "provider_id")?,
        source: g(&r, "source")?,
        file_name: g(&r, "file_name")?,
        all_or_nothing: gi(&r, "all_or_nothing")? != 0,
        stored: gi(&r, "stored")? != 0,
        rows: gi(&r, "rows_total")? as u64,
        new: gi(&r, "new_count")? as u64,
        replaced: gi(&r, "replaced_count")? as u64,
        unchanged: gi(&r, "unchanged_count")? as u64,
        rejected_rows: gi(&r, "rejected_rows")? as u64,
        rejections,
        rejections_total: gi(&r, "rejections_total")? as u64,
        flagged: gi(&r, "flagged_count")? as u64,
        months: months.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
    }))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportSummary {
    pub import_id: String,
    pub source: String,
    pub file_name: String,
    pub created_at: String,
    pub stored: bool,
    pub rows: i64,
    pub rejected_rows: i64,
    pub flagged: i64,
}

/// The provider's latest imports.
pub async fn recent_imports(state: &AppState, provider_id: &str, limit: i64) -> ApiResult<Vec<ImportSummary>> {
    let rows = sqlx::query(
        "SELECT id, source, file_name, created_at, stored, rows_total, rejected_rows, flagged_count FROM visit_imports \
         WHERE provider_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(provider_id)
    .bind(limit)
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ImportSummary {
                import_id: g(r, "id")?,
                source: g(r, "source")?,
                file_name: g(r, "file_name")?,
                created_at: g(r, "created_at")?,
                stored: gi(r, "stored")? != 0,
                rows: gi(r, "rows_total")?,
                rejected_rows: gi(r, "rejected_rows")?,
                flagged: gi(r, "flagged_count")?,
            })
        })
        .collect()
}

/// The provider an import belongs to, for access checks.
pub async fn import_provider(state: &AppState, id: &str) -> ApiResult<String> {
    sqlx::query_scalar("SELECT provider_id FROM visit_imports WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or(ApiError::NotFound("import"))
}
