//! Monthly settlement (avräkning): each provider's pay for a month, computed
//! by the compensation engine (`valfri_core::compensation`) from what the
//! database holds, stored as draft → approved (immutable, checksummed) →
//! exported, with a CSV statement per provider and an SIE4 file for the
//! municipality's accounting. See docs/settlement.md.
//!
//! - `loader`: the month's context from the database, ids ↔ engine indices.
//! - `compute`: streams the visits through the engine.
//! - `store`: drafts, approval, adjustments, export batches.
//! - `export`: the CSV statement and the SIE4 file.

pub mod api;
pub mod compute;
pub mod demo;
pub mod export;
pub mod loader;
pub mod native;
pub mod store;
pub mod web;

use crate::error::ApiResult;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Write as _;
use utoipa::ToSchema;
use valfri_core::Month;

/// True when the provider's settlement of `month` is approved or exported:
/// its time reports must then not change (a correction is an adjustment in a
/// later month).
pub async fn is_month_approved(db: &crate::db::Db, provider_id: &str, month: Month) -> ApiResult<bool> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM settlements WHERE provider_id = $1 AND month = $2 AND status IN ('approved', 'exported')")
            .bind(provider_id)
            .bind(month.to_string())
            .fetch_one(&db.pool)
            .await?;
    Ok(n > 0)
}

/// Every month of the provider whose settlement is approved or exported, ascending.
pub async fn approved_months(db: &crate::db::Db, provider_id: &str) -> ApiResult<Vec<Month>> {
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT month FROM settlements WHERE provider_id = $1 AND status IN ('approved', 'exported') ORDER BY month")
            .bind(provider_id)
            .fetch_all(&db.pool)
            .await?;
    Ok(rows.iter().filter_map(|m| m.parse().ok()).collect())
}

/// A stored settlement of one provider and month (without its lines).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Settlement {
    pub id: String,
    pub provider_id: String,
    pub provider_name: String,
    pub provider_org_nr: String,
    /// `YYYY-MM`.
    pub month: String,
    /// `draft`, `approved` or `exported`.
    pub status: String,
    /// Bumped by every change of the draft; approval may name it.
    pub revision: i64,
    pub lines_total_ore: i64,
    /// The VAT compensation rate, in basis points (600 = 6 %); null if the
    /// lines had different rates (choice systems with different conditions).
    pub vat_basis_points: Option<i64>,
    pub vat_ore: i64,
    pub adjustments_total_ore: i64,
    /// `lines_total_ore + vat_ore + adjustments_total_ore`.
    pub total_ore: i64,
    pub line_count: i64,
    pub flag_count: i64,
    /// Flags of code `no_rate`; approval is refused while any exist.
    pub no_rate_flags: i64,
    /// Hex SHA-256 over the canonical text of lines, totals and adjustments.
    pub checksum: String,
    #[serde(skip)]
    pub flags_checksum: String,
    pub computed_at: String,
    pub computed_by: String,
    pub approved_at: Option<String>,
    pub approved_by: Option<String>,
    pub exported_at: Option<String>,
    pub exported_by: Option<String>,
    pub export_batch: Option<i64>,
}

/// One line: a client × service type × time class × rate version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Line {
    pub seq: i64,
    pub client_id: String,
    pub service_type: String,
    /// `day`, `evening`, `night`, `weekend`, `granted`, `unit` or `month`.
    pub time_class: String,
    pub zone: String,
    pub rate_valid_from: String,
    /// Öre per hour (time classes and granted), per unit or per month.
    pub rate_ore: i64,
    /// The exact quantity num/den: minutes (time classes, granted), units or months.
    pub quantity_num: i64,
    pub quantity_den: i64,
    pub amount_ore: i64,
}

/// A note for review from the engine: not money, not in the checksum.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Flag {
    pub seq: i64,
    pub client_id: String,
    pub service_type: String,
    /// The provider's external id of the visit, for flags about one visit.
    pub external_id: Option<String>,
    /// e.g. `not_covered`, `no_rate`, `excess`, `double_staffing_not_granted`.
    pub code: String,
    /// The engine's detail (kind and fields), as JSON.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// For `excess`: what the removed minutes would have been paid.
    pub excess_ore: Option<i64>,
}

/// A manual, signed adjustment of a provider's month.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Adjustment {
    pub id: String,
    pub provider_id: String,
    pub month: String,
    pub amount_ore: i64,
    pub reason: String,
    /// The earlier approved settlement this corrects.
    pub corrects: Option<String>,
    /// Set when made from a flag, e.g. `excess:<external id>`.
    pub source: Option<String>,
    pub created_at: String,
    pub created_by: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewAdjustment {
    /// Signed amount in öre.
    pub amount_ore: i64,
    pub reason: String,
    /// The id of an earlier approved settlement of the same provider that this corrects.
    #[serde(default)]
    pub corrects: Option<String>,
}

/// A settlement with everything on it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettlementDetail {
    #[serde(flatten)]
    pub settlement: Settlement,
    pub lines: Vec<Line>,
    pub flags: Vec<Flag>,
    pub adjustments: Vec<Adjustment>,
}

/// What computing a month did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunReport {
    pub month: String,
    /// Visits of the month read from the database.
    pub visits: u64,
    pub providers: usize,
    #[serde(flatten)]
    pub saved: store::SaveReport,
    /// Drafts approved in the same run (`--approve`).
    pub approved: Vec<String>,
    /// Drafts that could not be approved, with the reason.
    pub not_approved: Vec<(String, String)>,
    /// Sum of all providers' totals for the month, in öre.
    pub total_ore: i64,
    /// Reading the month (context and visits, with settling overlapping
    /// the read), in milliseconds.
    pub load_ms: u64,
    /// Settling what was left after the read and merging, in milliseconds.
    pub settle_ms: u64,
    /// Writing the drafts, in milliseconds.
    pub store_ms: u64,
    /// The same time in finer parts.
    pub timings: compute::Timings,
}

/// Computes `month` and stores every provider's draft (approved months are
/// kept). With `approve`, approves every draft that may be approved.
pub async fn run_month(db: &crate::db::Db, month: Month, by: &str, now: &str, approve: bool) -> ApiResult<RunReport> {
    let computed = std::sync::Arc::new(compute::compute(db, month).await?);
    let t = std::time::Instant::now();
    let saved = store::save(db, computed.clone(), by, now).await?;
    let store_ms = t.elapsed().as_millis() as u64;
    let mut report = RunReport {
        month: month.to_string(),
        visits: computed.visits,
        providers: computed.data.providers.len(),
        saved,
        approved: vec![],
        not_approved: vec![],
        total_ore: 0,
        load_ms: computed.timings.context_ms + computed.timings.visits_ms,
        settle_ms: computed.timings.finish_ms,
        timings: computed.timings,
        store_ms,
    };
    drop(computed);
    let all = store::list(&mut *db.pool.acquire().await?, Some(month), None, &[]).await?;
    if approve {
        for st in all.iter().filter(|s| s.status == "draft") {
            match store::approve(db, &st.id, None, by, now).await {
                Ok(_) => report.approved.push(st.provider_id.clone()),
                Err(crate::error::ApiError::Internal(e)) => return Err(crate::error::ApiError::Internal(e)),
                Err(e) => report.not_approved.push((st.provider_id.clone(), e.problem().detail)),
            }
        }
    }
    report.total_ore = all.iter().map(|s| s.total_ore).sum();
    Ok(report)
}

/// `valfri settle --month YYYY-MM [--approve]`: computes and prints a summary.
pub async fn cli_settle(state: &crate::app::AppState, month: &str, approve: bool) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    let month: Month = month.parse().map_err(|e| anyhow::anyhow!("--month: {e}"))?;
    let now = crate::clock::stamp(state.clock.now());
    let started = std::time::Instant::now();
    let r = run_month(&state.db, month, "cli", &now, approve).await.map_err(|e| anyhow::anyhow!("{}: {}", e.code(), e.problem().detail))?;
    let mut out = String::new();
    let _ = writeln!(out, "settlement {}: {} visits, {} providers", r.month, r.visits, r.providers);
    let _ = writeln!(
        out,
        "  drafts written {}, unchanged {}, approved kept {}",
        r.saved.written.len(),
        r.saved.unchanged.len(),
        r.saved.kept_approved.len()
    );
    if approve {
        let _ = writeln!(out, "  approved now {}", r.approved.len());
        for (p, why) in &r.not_approved {
            let _ = writeln!(out, "  not approved {p}: {why}");
        }
    }
    let _ = writeln!(out, "  total {} kr", export::kr_point(r.total_ore));
    let _ = writeln!(
        out,
        "  time: context {} ms, visits (read and settle) {} ms, finish {} ms, store {} ms, all {} ms",
        r.timings.context_ms,
        r.timings.visits_ms,
        r.timings.finish_ms,
        r.store_ms,
        started.elapsed().as_millis()
    );
    let list = store::list(&mut *state.db.pool.acquire().await?, Some(month), None, &[]).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    for s in list {
        let _ = writeln!(
            out,
            "  {:<9} {:>14} kr  {} ({}){}",
            s.status,
            export::kr_point(s.total_ore),
            s.provider_name,
            s.provider_org_nr,
            if s.no_rate_flags > 0 { format!("  [{} without a rate]", s.no_rate_flags) } else { String::new() }
        );
    }
    Ok(out)
}

/// The statement CSV of a stored settlement.
pub async fn statement(c: &mut sqlx::AnyConnection, st: &Settlement) -> ApiResult<(Vec<u8>, Vec<String>)> {
    use sqlx::Row as _;
    let lines = store::lines(&mut *c, &st.id).await?;
    let adjustments = store::adjustments(&mut *c, &st.provider_id, &st.month).await?;
    let persons =
        sqlx::query("SELECT id, person_id FROM clients WHERE id IN (SELECT client_id FROM settlement_lines WHERE settlement_id = $1)")
            .bind(&st.id)
            .fetch_all(&mut *c)
            .await?;
    let mut person_ids = std::collections::HashMap::new();
    for r in &persons {
        person_ids.insert(
            r.try_get::<String, _>("id").map_err(anyhow::Error::from)?,
            r.try_get::<String, _>("person_id").map_err(anyhow::Error::from)?,
        );
    }
    let services = service_infos(&mut *c).await?;
    let mut clients: Vec<String> = person_ids.keys().cloned().collect();
    clients.sort();
    Ok((export::statement_csv(st, &lines, &adjustments, &person_ids, &services), clients))
}

pub async fn service_infos(c: &mut sqlx::AnyConnection) -> ApiResult<std::collections::HashMap<String, export::ServiceInfo>> {
    use sqlx::Row as _;
    let rows = sqlx::query("SELECT code, basis, unit, name_sv, name_en FROM service_types").fetch_all(&mut *c).await?;
    let g = |r: &crate::db::Row, k: &str| r.try_get::<String, _>(k).map_err(anyhow::Error::from);
    let mut out = std::collections::HashMap::new();
    for r in &rows {
        out.insert(
            g(r, "code")?,
            export::ServiceInfo { basis: g(r, "basis")?, unit: g(r, "unit")?, name_sv: g(r, "name_sv")?, name_en: g(r, "name_en")? },
        );
    }
    Ok(out)
}

/// The SIE file of a month's exported settlements: of one export batch, or
/// of all of them.
pub async fn sie_file(
    c: &mut sqlx::AnyConnection,
    month: Month,
    batch: Option<i64>,
    tz: &jiff::tz::TimeZone,
) -> ApiResult<Option<Vec<u8>>> {
    let batches = store::export_batches(&mut *c, month).await?;
    let chosen: Vec<&(i64, String, String)> = batches.iter().filter(|b| batch.is_none_or(|n| b.0 == n)).collect();
    let Some(last) = chosen.last() else {
        return Ok(None);
    };
    let generated = last.1.parse::<jiff::Timestamp>().map_err(anyhow::Error::from)?.to_zoned(tz.clone()).date().to_string();
    let all = store::list(&mut *c, Some(month), None, &["exported"]).await?;
    let mut picked: Vec<&Settlement> = all.iter().filter(|s| chosen.iter().any(|b| Some(b.0) == s.export_batch)).collect();
    picked.sort_by(|a, b| (a.export_batch, &a.provider_name, &a.provider_id).cmp(&(b.export_batch, &b.provider_name, &b.provider_id)));
    let cfg = export::SieConfig::from_rows(&store::config(&mut *c).await?);
    let m = crate::setup::store::municipality(&mut *c).await?;
    let (name, currency) = match &m {
        Some(m) => (m.name.clone(), if m.country == "no" { "NOK" } else { "SEK" }),
        None => (String::new(), "SEK"),
    };
    Ok(Some(export::sie4(&cfg, &name, currency, month, &generated, &picked)))
}

/// Writes a length-prefixed text field: `<bytes>:<text>`.
fn field(out: &mut impl std::io::Write, s: &str) -> std::io::Result<()> {
    write!(out, "{}:{}", s.len(), s)
}

/// The canonical text of a settlement (docs/settlement.md): what the
/// checksum covers. With text ids, so it can be recomputed from the stored
/// lines at any time, whatever else has changed in the database.
pub fn write_canonical(
    out: &mut impl std::io::Write,
    month: &str,
    provider_id: &str,
    lines: &[Line],
    totals: (i64, i64),
    adjustments: &[Adjustment],
) -> std::io::Result<()> {
    write_canonical_lines(out, month, provider_id, lines)?;
    write_canonical_rest(out, totals, adjustments)
}

/// The canonical text up to and with the lines.
fn write_canonical_lines(out: &mut impl std::io::Write, month: &str, provider_id: &str, lines: &[Line]) -> std::io::Result<()> {
    writeln!(out, "valfri-settlement-text 1")?;
    writeln!(out, "month {month}")?;
    out.write_all(b"provider ")?;
    field(out, provider_id)?;
    out.write_all(b"\n")?;
    for l in lines {
        out.write_all(b"line ")?;
        field(out, &l.client_id)?;
        out.write_all(b" ")?;
        field(out, &l.service_type)?;
        write!(out, " {} {} {} ", l.time_class, l.rate_valid_from, l.rate_ore)?;
        field(out, &l.zone)?;
        writeln!(out, " {}/{} {}", l.quantity_num, l.quantity_den, l.amount_ore)?;
    }
    Ok(())
}

/// The canonical text after the lines: totals and adjustments.
fn write_canonical_rest(out: &mut impl std::io::Write, totals: (i64, i64), adjustments: &[Adjustment]) -> std::io::Result<()> {
    let (lines_total, vat) = totals;
    writeln!(out, "lines_total {lines_total}")?;
    writeln!(out, "vat {vat}")?;
    let mut adj: Vec<&Adjustment> = adjustments.iter().collect();
    adj.sort_by(|a, b| {
        (a.amount_ore, &a.reason, &a.created_by, &a.corrects, &a.id).cmp(&(b.amount_ore, &b.reason, &b.created_by, &b.corrects, &b.id))
    });
    let mut adjustments_total = 0i64;
    for a in adj {
        adjustments_total = adjustments_total.saturating_add(a.amount_ore);
        write!(out, "adjustment {} ", a.amount_ore)?;
        field(out, &a.reason)?;
        out.write_all(b" ")?;
        field(out, &a.created_by)?;
        out.write_all(b" ")?;
        match &a.corrects {
            Some(c) => field(out, c)?,
            None => out.write_all(b"-")?,
        }
        out.write_all(b"\n")?;
    }
    writeln!(out, "adjustments_total {adjustments_total}")?;
    writeln!(out, "total {}", lines_total.saturating_add(vat).saturating_add(adjustments_total))
}

#[derive(Clone)]
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Hex SHA-256 of the canonical text.
pub fn checksum(month: &str, provider_id: &str, lines: &[Line], totals: (i64, i64), adjustments: &[Adjustment]) -> String {
    LinesChecksum::new(month, provider_id, lines).finish(totals, adjustments)
}

/// The checksum's hash of the canonical text up to the lines: the lines
/// are hashed ahead (while another draft is written), the totals and
/// adjustments by the writer, which reads the adjustments in its
/// transaction.
#[derive(Clone)]
pub struct LinesChecksum(HashWriter);

impl LinesChecksum {
    pub fn new(month: &str, provider_id: &str, lines: &[Line]) -> LinesChecksum {
        let mut h = HashWriter(Sha256::new());
        // Writing into a hasher cannot fail.
        let _ = write_canonical_lines(&mut h, month, provider_id, lines);
        LinesChecksum(h)
    }

    pub fn finish(mut self, totals: (i64, i64), adjustments: &[Adjustment]) -> String {
        let _ = write_canonical_rest(&mut self.0, totals, adjustments);
        hex::encode(self.0 .0.finalize())
    }
}

/// Hex SHA-256 over the flags, to tell whether a recompute changed them.
pub fn flags_checksum(flags: &[Flag]) -> String {
    let details: Vec<String> = flags.iter().map(|f| f.detail.to_string()).collect();
    flags_checksum_with(flags, &details)
}

/// `flags_checksum` with each flag's detail as stored (JSON text).
pub fn flags_checksum_with(flags: &[Flag], details: &[String]) -> String {
    let mut h = HashWriter(Sha256::new());
    for (f, detail) in flags.iter().zip(details) {
        let _ = field(&mut h, &f.client_id);
        let _ = field(&mut h, &f.service_type);
        let _ = field(&mut h, f.external_id.as_deref().unwrap_or("-"));
        let _ = field(&mut h, &f.code);
        let _ = field(&mut h, detail);
        let _ = writeln!(h, " {}", f.excess_ore.map_or("-".to_string(), |x| x.to_string()));
    }
    hex::encode(h.0.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(client: &str, amount: i64) -> Line {
        Line {
            seq: 1,
            client_id: client.into(),
            service_type: "personal_care".into(),
            time_class: "day".into(),
            zone: "town".into(),
            rate_valid_from: "2026-01-01".into(),
            rate_ore: 41480,
            quantity_num: 90,
            quantity_den: 1,
            amount_ore: amount,
        }
    }

    #[test]
    fn canonical_text_is_documented_form() {
        let adj = Adjustment {
            id: "a".into(),
            provider_id: "p".into(),
            month: "2026-03".into(),
            amount_ore: -500,
            reason: "fel".into(),
            corrects: None,
            source: None,
            created_at: "x".into(),
            created_by: "admin".into(),
        };
        let mut out = Vec::new();
        write_canonical(&mut out, "2026-03", "p1", &[line("c1", 62220)], (62220, 3733), &[adj]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "valfri-settlement-text 1\nmonth 2026-03\nprovider 2:p1\n\
             line 2:c1 13:personal_care day 2026-01-01 41480 4:town 90/1 62220\n\
             lines_total 62220\nvat 3733\nadjustment -500 3:fel 5:admin -\nadjustments_total -500\ntotal 65453\n"
        );
    }

    #[test]
    fn checksum_changes_with_any_amount() {
        let a = checksum("2026-03", "p", &[line("c", 100)], (100, 6), &[]);
        let b = checksum("2026-03", "p", &[line("c", 101)], (100, 6), &[]);
        let c = checksum("2026-03", "p", &[line("c", 100)], (100, 6), &[]);
        assert_ne!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.len(), 64);
    }
}
