//! Runs the compensation engine over a month read from the database.
//!
//! The month's context (providers, clients, rates, decisions, assignments)
//! is loaded with one query per table; the visits are streamed ordered by
//! client, converted on the async side and settled client by client on a
//! blocking thread, so reading and settling overlap and memory holds one
//! client's visits at a time, not the month's.
//!
//! The engine numbers a visit's external id by a `u32` that must follow the
//! text order of (provider, external id) within a client: we sort each
//! client's visits by (provider index, external id, row id) in Rust (not by
//! the database's collation) and hand out a running counter. Flags about
//! visits carry that number back; a second, narrow query over only the
//! flagged clients turns it back into the visit's row id and external id, so
//! no per-visit text is held for the whole month.

use super::loader::{self, MonthData};
use crate::error::{ApiError, ApiResult};
use futures_util::TryStreamExt;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};
use valfri_core::compensation::{Batch, Engine, Flag, FlagCode, InputError, Line, ProviderInfo, SettlementContext, Visit, VisitStatus};
use valfri_core::{Money, Month};

/// One provider's result for the month, with engine indices.
#[derive(Debug, Clone, Default)]
pub struct ProviderResult {
    /// Sorted (client, service, class, rate version, …): the text order of the ids.
    pub lines: Vec<Line>,
    pub flags: Vec<ResolvedFlag>,
    pub lines_total: Money,
    pub vat: Money,
    /// The VAT compensation rate applied, when one rate applied to all lines.
    pub vat_bp: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct ResolvedFlag {
    pub flag: Flag,
    /// The provider's external id of the visit, for flags about one visit.
    pub external_id: Option<String>,
}

pub struct Computed {
    pub data: MonthData,
    /// One per provider, in `data.providers` order.
    pub providers: Vec<ProviderResult>,
    pub visits: u64,
    pub load_time: Duration,
    pub settle_time: Duration,
}

/// The visits module stores each visit's settlement times (`start_at`,
/// `end_at`: actual when performed, planned otherwise) and the local month it
/// starts in, which is the month it belongs to.
const VISIT_COLUMNS: &str =
    "client_id, provider_id, service_type, external_id, status, start_at, end_at, staff_count, quantity, cancelled_at";
const VISIT_MONTH: &str = "month = $1";

/// The month's bounds as UTC text, comparable with stored timestamps.
pub fn utc_bounds(month: Month, time_zone: &str) -> ApiResult<(String, String)> {
    let tz = jiff::tz::TimeZone::get(time_zone).map_err(|e| ApiError::Internal(anyhow::anyhow!("time zone {time_zone}: {e}")))?;
    let start = month.first_day().to_zoned(tz.clone()).map_err(anyhow::Error::from)?.timestamp();
    let end = month.next().first_day().to_zoned(tz).map_err(anyhow::Error::from)?.timestamp();
    Ok((crate::clock::stamp(start), crate::clock::stamp(end)))
}

/// Unix seconds of a stored UTC timestamp; the common `YYYY-MM-DDTHH:MM:SSZ`
/// form without a general parser (millions of these per month).
pub fn unix_seconds(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() == 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':' && b[19] == b'Z' {
        let n = |r: std::ops::Range<usize>| -> Option<i64> {
            let mut v = 0i64;
            for &c in &b[r] {
                if !c.is_ascii_digit() {
                    return None;
                }
                v = v * 10 + i64::from(c - b'0');
            }
            Some(v)
        };
        let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
        let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
        // Days from civil (Howard Hinnant's algorithm).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        return Some(days * 86_400 + hh * 3600 + mm * 60 + ss);
    }
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_second())
}

fn status_of(s: &str) -> Option<VisitStatus> {
    Some(match s {
        "performed" => VisitStatus::Performed,
        "cancelled_late" => VisitStatus::CancelledLate,
        "cancelled_in_time" => VisitStatus::CancelledInTime,
        "missed" => VisitStatus::Missed,
        _ => return None,
    })
}

/// A visit row as read, before the external id is numbered.
struct Pending {
    provider: u32,
    external_id: String,
    visit: Visit,
}

fn bad(what: &str, v: &str) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("stored visit has an invalid {what}: {v:?}"))
}

/// Converts a row; `None` for a row of an unknown status (never paid).
fn pending_of(
    r: &crate::db::Row,
    data: &MonthData,
    provider_ids: &[String],
    service_codes: &[String],
) -> ApiResult<Option<(u32, Pending)>> {
    let g = |c: &str| r.try_get::<String, _>(c).map_err(|e| ApiError::Internal(e.into()));
    let go = |c: &str| r.try_get::<Option<String>, _>(c).map_err(|e| ApiError::Internal(e.into()));
    let client_id = g("client_id")?;
    let client = loader::index_of(&data.clients, &client_id).ok_or_else(|| bad("client", &client_id))?;
    let provider_id = g("provider_id")?;
    let provider = loader::index_of(provider_ids, &provider_id).ok_or_else(|| bad("provider", &provider_id))?;
    let service_code = g("service_type")?;
    let service = loader::index_of(service_codes, &service_code).ok_or_else(|| bad("service type", &service_code))?;
    let status_text = g("status")?;
    let Some(status) = status_of(&status_text) else {
        return Ok(None);
    };
    let ts =
        |v: Option<String>, what: &str| -> ApiResult<Option<i64>> { v.map(|s| unix_seconds(&s).ok_or_else(|| bad(what, &s))).transpose() };
    let start_at = g("start_at")?;
    let start = unix_seconds(&start_at).ok_or_else(|| bad("start", &start_at))?;
    let end_at = g("end_at")?;
    let end = unix_seconds(&end_at).ok_or_else(|| bad("end", &end_at))?;
    let staff: i64 = r.try_get::<Option<i64>, _>("staff_count").map_err(|e| ApiError::Internal(e.into()))?.unwrap_or(1);
    let quantity: Option<i64> = r.try_get::<Option<i64>, _>("quantity").map_err(|e| ApiError::Internal(e.into()))?;
    let cancelled_at = ts(go("cancelled_at")?, "cancellation time")?;
    Ok(Some((
        client,
        Pending {
            provider,
            external_id: g("external_id")?,
            visit: Visit {
                client,
                start,
                provider,
                external_id: 0,
                service,
                end,
                status,
                double_staffed: staff >= 2,
                cancelled_at,
                quantity: quantity.and_then(|q| u32::try_from(q).ok()).and_then(NonZeroU32::new),
            },
        },
    )))
}

fn sort_pending(p: &mut [Pending]) {
    p.sort_unstable_by(|a, b| (a.provider, a.external_id.as_bytes()).cmp(&(b.provider, b.external_id.as_bytes())));
}

/// A chunk of whole clients' visits for the settling thread.
type Chunk = Vec<(u32, Vec<Visit>)>;

fn engine_error(e: InputError) -> ApiError {
    ApiError::rule("invalid_settlement_input", format!("the month cannot be settled: {e}"))
}

/// Builds one engine per settings profile, each given only its service types.
fn engines(data: &MonthData) -> ApiResult<Vec<Engine>> {
    let providers: Vec<ProviderInfo> = data.providers.iter().map(|p| ProviderInfo { vat_entitled: p.vat_entitled }).collect();
    let clients: Vec<valfri_core::compensation::ClientInfo> =
        data.client_zone.iter().map(|&zone| valfri_core::compensation::ClientInfo { zone }).collect();
    (0..data.profiles.len())
        .map(|p| {
            let mine = |s: u32| data.service_profile.get(s as usize) == Some(&p);
            let context = SettlementContext {
                month: data.month,
                settings: data.profiles[p].settings.clone(),
                providers: providers.clone(),
                clients: clients.clone(),
                rates: data.rates.iter().filter(|r| mine(r.service)).copied().collect(),
                decisions: data.decisions.iter().filter(|d| mine(d.service)).copied().collect(),
                assignments: data.assignments.iter().filter(|a| mine(a.service)).copied().collect(),
            };
            Engine::new(context).map_err(engine_error)
        })
        .collect()
}

/// Loads and settles `month`. Reads in one transaction so every table is seen
/// at the same moment (PostgreSQL: repeatable read; SQLite: the WAL snapshot).
pub async fn compute(db: &crate::db::Db, month: Month) -> ApiResult<Computed> {
    let started = Instant::now();
    let mut tx = db.pool.begin().await?;
    if db.backend == crate::db::Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    }
    let data = loader::load(&mut tx, month).await?;
    let load_context = started.elapsed();
    let engines = engines(&data)?;
    let provider_ids = data.provider_ids();
    let service_codes = data.service_codes();
    let month_text = month.to_string();

    // The settling thread: owns the engines while the visits stream in.
    let (send, mut recv) = tokio::sync::mpsc::channel::<Chunk>(8);
    let profile_of: Vec<usize> = data.service_profile.clone();
    let n_profiles = engines.len();
    let worker = tokio::task::spawn_blocking(move || -> Result<(Vec<Engine>, Vec<Batch>), InputError> {
        let mut batches: Vec<Batch> = engines.iter().map(|e| e.batch()).collect();
        let mut split: Vec<Vec<Visit>> = vec![Vec::new(); n_profiles];
        while let Some(chunk) = recv.blocking_recv() {
            for (client, visits) in chunk {
                if n_profiles == 1 {
                    let mut visits = visits;
                    engines[0].add_client(&mut batches[0], client, &mut visits)?;
                    continue;
                }
                for s in split.iter_mut() {
                    s.clear();
                }
                for v in visits {
                    split[profile_of.get(v.service as usize).copied().unwrap_or(0)].push(v);
                }
                for (p, vs) in split.iter_mut().enumerate() {
                    if !vs.is_empty() {
                        engines[p].add_client(&mut batches[p], client, vs)?;
                    }
                }
            }
        }
        Ok((engines, batches))
    });

    // Stream the month's visits client by client.
    let mut first_ext = vec![u32::MAX; data.clients.len()];
    let mut next_ext: u32 = 0;
    let mut visits_read: u64 = 0;
    let sql = format!("SELECT {VISIT_COLUMNS} FROM visits WHERE {VISIT_MONTH} ORDER BY client_id");
    let read = async {
        let mut rows = sqlx::query(&sql).bind(&month_text).fetch(&mut *tx);
        let mut current: Option<u32> = None;
        let mut pending: Vec<Pending> = Vec::new();
        let mut chunk: Chunk = Vec::new();
        let mut chunk_visits = 0usize;
        let mut flush_client = |client: u32, pending: &mut Vec<Pending>, chunk: &mut Chunk, chunk_visits: &mut usize| -> ApiResult<()> {
            sort_pending(pending);
            if first_ext[client as usize] != u32::MAX {
                // The query groups by client; seeing one twice means the
                // database did not, and the numbering would be wrong.
                return Err(ApiError::Internal(anyhow::anyhow!("visits of a client arrived in two groups")));
            }
            first_ext[client as usize] = next_ext;
            let mut vs = Vec::with_capacity(pending.len());
            for p in pending.drain(..) {
                let mut v = p.visit;
                v.external_id = next_ext;
                next_ext = next_ext.checked_add(1).ok_or_else(|| ApiError::Internal(anyhow::anyhow!("too many visits in a month")))?;
                vs.push(v);
            }
            *chunk_visits += vs.len();
            chunk.push((client, vs));
            Ok(())
        };
        while let Some(row) = rows.try_next().await? {
            let Some((client, p)) = pending_of(&row, &data, &provider_ids, &service_codes)? else {
                continue;
            };
            visits_read += 1;
            if current != Some(client) {
                if let Some(c) = current {
                    flush_client(c, &mut pending, &mut chunk, &mut chunk_visits)?;
                    if chunk_visits >= 8192 {
                        chunk_visits = 0;
                        if send.send(std::mem::take(&mut chunk)).await.is_err() {
                            // The worker stopped on an error; it is reported below.
                            return Ok(());
                        }
                    }
                }
                current = Some(client);
            }
            pending.push(p);
        }
        if let Some(c) = current {
            flush_client(c, &mut pending, &mut chunk, &mut chunk_visits)?;
        }
        if !chunk.is_empty() {
            let _ = send.send(chunk).await;
        }
        Ok::<(), ApiError>(())
    };
    let read_result = read.await;
    drop(send);
    let (engines, batches) =
        worker.await.map_err(|e| ApiError::Internal(anyhow::anyhow!("settling thread: {e}")))?.map_err(engine_error)?;
    read_result?;
    let stream_done = started.elapsed();
    let settle_started = Instant::now();

    // Finish each profile and merge per provider.
    let mut providers: Vec<ProviderResult> = vec![ProviderResult::default(); data.providers.len()];
    let mut raw_flags: Vec<Vec<Flag>> = vec![Vec::new(); data.providers.len()];
    let mut vat_rates: Vec<Option<Option<u32>>> = vec![None; data.providers.len()];
    for ((engine, batch), profile) in engines.iter().zip(batches).zip(&data.profiles) {
        let settled = engine.finish(vec![batch], Vec::new()).map_err(engine_error)?;
        for ps in settled.providers {
            let p = ps.provider as usize;
            let out = &mut providers[p];
            if !ps.lines.is_empty() {
                let bp = profile.settings.vat_compensation_bp;
                vat_rates[p] = Some(match vat_rates[p] {
                    None => Some(bp),
                    Some(Some(x)) if x == bp => Some(bp),
                    Some(_) => None,
                });
            }
            out.lines.extend(ps.lines);
            raw_flags[p].extend(ps.flags);
            out.lines_total = out.lines_total.checked_add(ps.lines_total).ok_or(engine_error(InputError::Overflow))?;
            out.vat = out.vat.checked_add(ps.vat).ok_or(engine_error(InputError::Overflow))?;
        }
    }
    let single_vat = if data.profiles.len() == 1 { Some(data.profiles[0].settings.vat_compensation_bp) } else { None };
    for (p, out) in providers.iter_mut().enumerate() {
        out.lines.sort_unstable();
        raw_flags[p].sort_unstable();
        out.vat_bp = match vat_rates[p] {
            Some(bp) => bp,
            None => single_vat,
        };
    }
    let settle_time = settle_started.elapsed();

    // Name the flagged visits.
    let resolve_started = Instant::now();
    let names = resolve_visits(&mut tx, &data, &raw_flags, &first_ext, &month_text, &provider_ids, &service_codes).await?;
    for (p, flags) in raw_flags.into_iter().enumerate() {
        providers[p].flags = flags
            .into_iter()
            .map(|flag| {
                let external_id = flag.visit.and_then(|v| names.get(&v)).cloned();
                ResolvedFlag { flag, external_id }
            })
            .collect();
    }
    tx.commit().await?;
    if std::env::var_os("VALFRI_SETTLE_TRACE").is_some() {
        eprintln!(
            "settle {month}: context {:?}, stream {:?}, finish {:?}, resolve {:?} ({} flagged visits)",
            load_context,
            stream_done - load_context,
            settle_time,
            resolve_started.elapsed(),
            names.len()
        );
    }
    Ok(Computed { data, providers, visits: visits_read, load_time: started.elapsed() - settle_time, settle_time })
}

/// Maps the external-id numbers of flagged visits back to the external ids:
/// re-reads only the flagged clients' visits, in chunks, sorted as before.
#[allow(clippy::too_many_arguments)]
async fn resolve_visits(
    conn: &mut AnyConnection,
    data: &MonthData,
    flags: &[Vec<Flag>],
    first_ext: &[u32],
    month: &str,
    provider_ids: &[String],
    service_codes: &[String],
) -> ApiResult<HashMap<u32, String>> {
    let mut wanted: Vec<(u32, u32)> = flags.iter().flatten().filter_map(|f| f.visit.map(|v| (f.client, v))).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut clients: Vec<u32> = wanted.iter().map(|w| w.0).collect();
    clients.dedup();
    let mut names = HashMap::with_capacity(wanted.len());
    for group in clients.chunks(400) {
        let placeholders: Vec<String> = (0..group.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT {VISIT_COLUMNS} FROM visits WHERE {VISIT_MONTH} AND client_id IN ({}) ORDER BY client_id",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(month);
        for &c in group {
            q = q.bind(&data.clients[c as usize]);
        }
        let rows = q.fetch_all(&mut *conn).await?;
        let mut per_client: HashMap<u32, Vec<Pending>> = HashMap::new();
        for r in &rows {
            if let Some((client, p)) = pending_of(r, data, provider_ids, service_codes)? {
                per_client.entry(client).or_default().push(p);
            }
        }
        for (client, mut pending) in per_client {
            sort_pending(&mut pending);
            let first = first_ext[client as usize];
            for (k, p) in pending.into_iter().enumerate() {
                let ext = first.wrapping_add(k as u32);
                if wanted.binary_search(&(client, ext)).is_ok() {
                    names.insert(ext, p.external_id);
                }
            }
        }
    }
    Ok(names)
}

/// Whether a flag blocks approval.
pub fn blocks_approval(code: FlagCode) -> bool {
    code == FlagCode::NoRate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stored_timestamps_like_jiff() {
        for s in ["2026-03-29T00:59:00Z", "2026-10-25T01:30:59Z", "1970-01-01T00:00:00Z", "2024-02-29T23:59:59Z", "2000-03-01T00:00:00Z"] {
            let j = s.parse::<jiff::Timestamp>().unwrap().as_second();
            assert_eq!(unix_seconds(s), Some(j), "{s}");
        }
        assert_eq!(unix_seconds("2026-03-29T02:00:00+02:00"), Some("2026-03-29T00:00:00Z".parse::<jiff::Timestamp>().unwrap().as_second()));
        assert_eq!(unix_seconds("nonsense"), None);
    }

    #[test]
    fn month_bounds_follow_local_midnight() {
        let m: Month = "2026-03".parse().unwrap();
        let (a, b) = utc_bounds(m, "Europe/Stockholm").unwrap();
        assert_eq!(a, "2026-02-28T23:00:00Z");
        // April starts in summer time.
        assert_eq!(b, "2026-03-31T22:00:00Z");
    }
}
