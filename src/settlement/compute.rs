//! Runs the compensation engine over a month read from the database.
//!
//! The month's context (providers, clients, rates, decisions, assignments)
//! is loaded with one query per table, and the visits after it, in one
//! read transaction on a native connection (`crate::bulk`). How the visits
//! are read is the one backend-specific part, for speed:
//! - SQLite: one row per visit, in client order straight from the table's
//!   clustered key, stepped on sqlx's own handle (`bulk::on_sqlite_handle`)
//!   with no copy of any value.
//! - PostgreSQL: the same query through `COPY … TO STDOUT`, one text line
//!   per visit parsed here, instead of rows the driver decodes value by
//!   value (the server packing each client's visits with `string_agg`, as
//!   before, cost it more than the sort).
//!
//! Both are grouped by client, and `Sink` builds each client's visits.
//! The month is read in two halves at once (split at the middle client id,
//! one connection and thread each) when a second connection can see the
//! same snapshot (`Conn::begin_read_pair`); else on one.
//!
//! Clients are settled in chunks of whole clients on a blocking thread while
//! the next chunk is read: each chunk gets its own small engine (the month's
//! settings, rates and providers; only its clients' decisions and
//! assignments). Every rule of the model is local to one client except the
//! per-provider sums, so chunking changes nothing; the VAT compensation, the
//! one per-provider rule, is computed here over each provider's whole month,
//! with the engine's own rounding (`exact::basis_points_of`). Memory holds
//! the context, one chunk's visits and the output lines and flags.
//!
//! The engine numbers a visit's external id by a `u32` that must follow the
//! text order of (provider, external id) within a client: each client's
//! visits are sorted by (provider index, external id bytes) and numbered in
//! that order within the chunk, so flags can be named by external id at once.

use super::loader::{self, MonthData};
use crate::bulk::Conn;
use crate::error::{ApiError, ApiResult};
use futures_util::TryStreamExt;
use std::num::NonZeroU32;
use std::time::Instant;
use valfri_core::compensation::exact::basis_points_of;
use valfri_core::compensation::{
    Assignment, ClientInfo, Decision, Engine, Flag, FlagCode, InputError, Line, ProviderInfo, SettlementContext, Visit, VisitStatus,
};
use valfri_core::{Money, Month};

/// One provider's result for the month, with engine indices (global ones).
#[derive(Debug, Clone, Default)]
pub struct ProviderResult {
    /// Sorted (client, service, class, rate version, …): the text order of the ids.
    pub lines: Vec<Line>,
    /// Sorted (client, service, external id, code, detail).
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
    pub timings: Timings,
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Timings {
    /// Loading the month's context (everything but the visits), ms.
    pub context_ms: u64,
    /// Reading the visits, with the settling of chunks overlapping it, ms.
    pub visits_ms: u64,
    /// Settling what was left after the last read, and merging, ms.
    pub finish_ms: u64,
    /// Connections the visits were read on at once: 2 when a second one
    /// with the same snapshot could be had, else 1.
    pub readers: u32,
}

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
        let days = crate::visits::time::days_from_civil(y, m, d);
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

fn bad(what: &str, v: &str) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("stored visit has an invalid {what}: {v:?}"))
}

/// One client's visits, ready for the engine: sorted by (provider, external
/// id) and numbered from `ext_base` in that order.
struct ClientVisits {
    client: u32,
    visits: Vec<Visit>,
    external_ids: Texts,
}

/// Many short texts in one allocation (a client's external ids: one
/// `String` each cost the read of a month millions of allocations).
#[derive(Default)]
struct Texts {
    text: String,
    ends: Vec<u32>,
}

impl Texts {
    fn with_capacity(n: usize) -> Texts {
        Texts { text: String::with_capacity(n * 16), ends: Vec::with_capacity(n) }
    }

    fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len() as u32);
    }

    fn iter(&self) -> impl Iterator<Item = &str> + Clone {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(a, &b)| &self.text[a as usize..b as usize])
    }
}

/// One stored visit's fields, as text from either read.
struct Fields<'a> {
    provider: &'a str,
    service: &'a str,
    status: &'a str,
    start: &'a str,
    end: &'a str,
    double_staffed: bool,
    /// 0 when not stored (one unit).
    quantity: u32,
    cancelled: Option<&'a str>,
}

/// Lookups from stored text ids to engine indices. Rows come sorted by
/// client and provider, so the last hit is tried first.
struct Ids<'a> {
    providers: &'a [String],
    services: &'a [String],
    last_provider: u32,
    last_service: u32,
}

fn find(sorted: &[String], last: &mut u32, id: &str) -> Option<u32> {
    if sorted.get(*last as usize).is_some_and(|x| x == id) {
        return Some(*last);
    }
    *last = loader::index_of(sorted, id)?;
    Some(*last)
}

impl<'a> Ids<'a> {
    fn new(providers: &'a [String], services: &'a [String]) -> Ids<'a> {
        Ids { providers, services, last_provider: 0, last_service: 0 }
    }

    /// The engine's visit and its provider index; `None` for a status the
    /// engine does not know (never paid; the table's CHECK allows none).
    fn visit(&mut self, client: u32, f: &Fields<'_>) -> ApiResult<Option<Visit>> {
        let provider = find(self.providers, &mut self.last_provider, f.provider).ok_or_else(|| bad("provider", f.provider))?;
        let service = find(self.services, &mut self.last_service, f.service).ok_or_else(|| bad("service type", f.service))?;
        let Some(status) = status_of(f.status) else { return Ok(None) };
        let start = unix_seconds(f.start).ok_or_else(|| bad("start", f.start))?;
        let end = unix_seconds(f.end).ok_or_else(|| bad("end", f.end))?;
        let cancelled_at = f.cancelled.map(|c| unix_seconds(c).ok_or_else(|| bad("cancelled_at", c))).transpose()?;
        Ok(Some(Visit {
            client,
            start,
            provider,
            external_id: 0,
            service,
            end,
            status,
            double_staffed: f.double_staffed,
            cancelled_at,
            quantity: NonZeroU32::new(f.quantity),
        }))
    }
}

impl ClientVisits {
    fn new(client: u32) -> ClientVisits {
        ClientVisits { client, visits: Vec::new(), external_ids: Texts::default() }
    }

    /// In the engine's order: (provider index, external id bytes). Rows
    /// read in that order (SQLite) are only checked.
    fn sorted(self) -> ClientVisits {
        let keys = self.visits.iter().map(|v| v.provider).zip(self.external_ids.iter().map(str::as_bytes));
        if keys.clone().zip(keys.skip(1)).all(|(a, b)| a <= b) {
            return self;
        }
        let ext: Vec<&str> = self.external_ids.iter().collect();
        let key = |i: usize| (self.visits[i].provider, ext[i].as_bytes());
        let mut order: Vec<usize> = (0..ext.len()).collect();
        order.sort_unstable_by(|&a, &b| key(a).cmp(&key(b)));
        let mut out =
            ClientVisits { client: self.client, visits: Vec::with_capacity(order.len()), external_ids: Texts::with_capacity(order.len()) };
        for i in order {
            out.visits.push(self.visits[i]);
            out.external_ids.push(ext[i]);
        }
        out
    }
}

/// Builds whole clients from visit rows that come grouped by client (both
/// reads order by client), and chunks of them for the settling thread.
struct Sink<'a> {
    clients: &'a [String],
    ids: Ids<'a>,
    current: Option<ClientVisits>,
    chunk: Vec<ClientVisits>,
    chunk_visits: usize,
    read: u64,
}

impl<'a> Sink<'a> {
    fn new(clients: &'a [String], ids: Ids<'a>) -> Sink<'a> {
        Sink { clients, ids, current: None, chunk: Vec::new(), chunk_visits: 0, read: 0 }
    }

    /// Adds one stored visit; returns a chunk when one is full.
    fn row(&mut self, client_id: &str, fields: &Fields<'_>, external_id: &str) -> ApiResult<Option<Vec<ClientVisits>>> {
        let mut full = None;
        if self.current.as_ref().is_none_or(|cv| self.clients[cv.client as usize] != client_id) {
            let client = loader::index_of(self.clients, client_id).ok_or_else(|| bad("client", client_id))?;
            if let Some(done) = self.current.replace(ClientVisits::new(client)) {
                full = self.push(done);
            }
        }
        if let Some(cv) = self.current.as_mut() {
            if let Some(v) = self.ids.visit(cv.client, fields)? {
                cv.visits.push(v);
                cv.external_ids.push(external_id);
                self.read += 1;
            }
        }
        Ok(full)
    }

    fn push(&mut self, cv: ClientVisits) -> Option<Vec<ClientVisits>> {
        self.chunk_visits += cv.visits.len();
        self.chunk.push(cv.sorted());
        if self.chunk_visits >= CHUNK_VISITS || self.chunk.len() >= CHUNK_CLIENTS {
            self.chunk_visits = 0;
            return Some(std::mem::take(&mut self.chunk));
        }
        None
    }

    /// The last chunk (and the visits read).
    fn finish(mut self) -> (Option<Vec<ClientVisits>>, u64) {
        let full = self.current.take().and_then(|cv| self.push(cv));
        (full.or(Some(self.chunk)).filter(|c| !c.is_empty()), self.read)
    }
}

/// The month's visits, one row per visit; each read orders them by client.
const VISITS: &str = "SELECT client_id, provider_id, service_type, status, start_at, end_at, staff_count, quantity, \
     cancelled_at, external_id FROM visits WHERE month = $1";

/// Which of the month's clients one reader reads: the month is split at a
/// client id into two halves read at once on two connections that see the
/// same snapshot (`Conn::begin_read_pair`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Whole,
    Below(String),
    From(String),
}

impl Part {
    /// The condition on `client_id` after `VISITS`, with `bound` standing
    /// for the client id.
    fn condition(&self, bound: &str) -> String {
        match self {
            Part::Whole => String::new(),
            Part::Below(_) => format!(" AND client_id < {bound}"),
            Part::From(_) => format!(" AND client_id >= {bound}"),
        }
    }

    fn client(&self) -> Option<&str> {
        match self {
            Part::Whole => None,
            Part::Below(c) | Part::From(c) => Some(c),
        }
    }

    /// The two halves of `clients` (sorted) by count, or the whole when
    /// there are fewer than two.
    fn halves(clients: &[String]) -> Option<(Part, Part)> {
        let middle = clients.get(clients.len() / 2).filter(|_| clients.len() >= 2)?;
        Some((Part::Below(middle.clone()), Part::From(middle.clone())))
    }
}

/// On SQLite the table is stored in exactly this order (migration 0007):
/// one range of it and no sort, in the engine's order already (SQLite
/// compares text by bytes).
const SQLITE_ORDER: &str = " ORDER BY client_id, provider_id, external_id";

fn text(v: rusqlite::types::ValueRef<'_>) -> ApiResult<&str> {
    v.as_str().map_err(|e| ApiError::Internal(e.into()))
}

/// Reads the month on SQLite's own handle (`bulk::on_sqlite_handle`) and
/// hands whole clients to `out` in chunks; returns the visits read.
fn read_sqlite(
    c: &rusqlite::Connection,
    month: &str,
    part: &Part,
    mut sink: Sink<'_>,
    out: &tokio::sync::mpsc::Sender<Vec<ClientVisits>>,
) -> ApiResult<u64> {
    let sqlite = |e: rusqlite::Error| ApiError::Internal(e.into());
    let int = |v: rusqlite::types::ValueRef<'_>| v.as_i64_or_null().map_err(|e| ApiError::Internal(e.into()));
    let sql = format!("{}{}{SQLITE_ORDER}", crate::bulk::numbered(VISITS), part.condition("?2"));
    let mut stmt = c.prepare(&sql).map_err(sqlite)?;
    let mut rows = match part.client() {
        Some(client) => stmt.query([month, client]),
        None => stmt.query([month]),
    }
    .map_err(sqlite)?;
    while let Some(r) = rows.next().map_err(sqlite)? {
        let col = |i: usize| r.get_ref(i).map_err(sqlite);
        let quantity = int(col(7)?)?.unwrap_or(0);
        let fields = Fields {
            provider: text(col(1)?)?,
            service: text(col(2)?)?,
            status: text(col(3)?)?,
            start: text(col(4)?)?,
            end: text(col(5)?)?,
            double_staffed: int(col(6)?)? == Some(2),
            quantity: u32::try_from(quantity).map_err(|_| bad("quantity", &quantity.to_string()))?,
            cancelled: col(8)?.as_str_or_null().map_err(|e| ApiError::Internal(e.into()))?,
        };
        if let Some(full) = sink.row(text(col(0)?)?, &fields, text(col(9)?)?)? {
            if out.blocking_send(full).is_err() {
                // The settling thread stopped on an error; it is reported there.
                break;
            }
        }
    }
    let (rest, read) = sink.finish();
    if let Some(rest) = rest {
        let _ = out.blocking_send(rest);
    }
    Ok(read)
}

/// Reads the month on PostgreSQL as COPY's text output (one line per
/// visit, no message or value conversion per field), grouped by client,
/// and hands whole clients to `out` in chunks; returns the visits read.
async fn read_copy(
    c: &mut sqlx::PgConnection,
    month: Month,
    part: &Part,
    mut sink: Sink<'_>,
    out: tokio::sync::mpsc::Sender<Vec<ClientVisits>>,
) -> ApiResult<u64> {
    // COPY takes no parameters; a `Month` prints as YYYY-MM only. Ordered
    // by client alone (`Sink` sorts within a client): the (month, client)
    // index gives that order, where sorting by provider and external id
    // too cost the server 1.5 s of 3.9 s on the Stockholm month. A sort
    // the planner may still choose stays in memory.
    sqlx::query("SET LOCAL work_mem = '256MB'").execute(&mut *c).await?;
    let bound = format!("'{}'", part.client().unwrap_or_default().replace('\'', "''"));
    let sql = format!("COPY ({}{} ORDER BY client_id) TO STDOUT", VISITS.replace("$1", &format!("'{month}'")), part.condition(&bound));
    let mut stream = c.copy_out_raw(&sql).await?;
    let mut carry: Vec<u8> = Vec::new();
    while let Some(bytes) = stream.try_next().await? {
        // PostgreSQL sends a line per message; a line split over two is joined.
        let data: &[u8] = if carry.is_empty() && bytes.ends_with(b"\n") {
            &bytes
        } else {
            carry.extend_from_slice(&bytes);
            if !carry.ends_with(b"\n") {
                continue;
            }
            &carry
        };
        for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let [client, provider, service, status, start, end, staff, quantity, cancelled, ext] = copy_fields::<10>(line)?;
            let quantity = quantity.as_deref().unwrap_or("0");
            let fields = Fields {
                provider: provider.as_deref().unwrap_or_default(),
                service: service.as_deref().unwrap_or_default(),
                status: status.as_deref().unwrap_or_default(),
                start: start.as_deref().unwrap_or_default(),
                end: end.as_deref().unwrap_or_default(),
                double_staffed: staff.as_deref() == Some("2"),
                quantity: quantity.parse().map_err(|_| bad("quantity", quantity))?,
                cancelled: cancelled.as_deref(),
            };
            let client = client.as_deref().ok_or_else(|| bad("client", "NULL"))?;
            let ext = ext.as_deref().unwrap_or_default();
            if let Some(full) = sink.row(client, &fields, ext)? {
                if out.send(full).await.is_err() {
                    return Ok(sink.read);
                }
            }
        }
        carry.clear();
    }
    let (rest, read) = sink.finish();
    if let Some(rest) = rest {
        let _ = out.send(rest).await;
    }
    Ok(read)
}

/// The fields of one line of COPY's text format: `\N` is NULL, and a
/// backslash escapes the next character (`\\`, `\t`, `\n`, `\r`; stored
/// visits hold no other control characters).
fn copy_fields<const N: usize>(line: &[u8]) -> ApiResult<[Option<std::borrow::Cow<'_, str>>; N]> {
    use std::borrow::Cow;
    let wrong = || bad("row", &String::from_utf8_lossy(line));
    let mut out: [Option<Cow<'_, str>>; N] = std::array::from_fn(|_| None);
    let mut n = 0;
    for field in line.split(|&b| b == b'\t') {
        let slot = out.get_mut(n).ok_or_else(wrong)?;
        n += 1;
        if field == b"\\N" {
            continue;
        }
        *slot = Some(if field.contains(&b'\\') {
            let mut s = Vec::with_capacity(field.len());
            let mut it = field.iter();
            while let Some(&b) = it.next() {
                if b != b'\\' {
                    s.push(b);
                    continue;
                }
                s.push(match it.next() {
                    Some(b't') => b'\t',
                    Some(b'n') => b'\n',
                    Some(b'r') => b'\r',
                    Some(&e) => e,
                    None => b,
                });
            }
            Cow::Owned(String::from_utf8(s).map_err(|_| wrong())?)
        } else {
            Cow::Borrowed(std::str::from_utf8(field).map_err(|_| wrong())?)
        });
    }
    if n != N {
        return Err(wrong());
    }
    Ok(out)
}

/// Reads one part of the month's visits on `conn` (in its read
/// transaction) and hands whole clients to `out`; gives the connection back
/// with the visits read.
async fn read_part(
    conn: Conn,
    month: Month,
    part: Part,
    clients: std::sync::Arc<Vec<String>>,
    ids: std::sync::Arc<(Vec<String>, Vec<String>)>,
    out: tokio::sync::mpsc::Sender<Vec<ClientVisits>>,
) -> ApiResult<(Conn, ApiResult<u64>)> {
    match conn {
        Conn::Sqlite(c) => {
            let (c, read) = crate::bulk::on_sqlite_handle(c, move |h| {
                let sink = Sink::new(&clients, Ids::new(&ids.0, &ids.1));
                read_sqlite(h, &month.to_string(), &part, sink, &out)
            })
            .await?;
            Ok((Conn::Sqlite(c), read))
        }
        Conn::Pg(mut c) => {
            let sink = Sink::new(&clients, Ids::new(&ids.0, &ids.1));
            let read = read_copy(&mut c, month, &part, sink, out).await;
            Ok((Conn::Pg(c), read))
        }
    }
}

fn engine_error(e: InputError) -> ApiError {
    ApiError::rule("invalid_settlement_input", format!("the month cannot be settled: {e}"))
}

/// The month's context indexed by client, shared by every chunk.
struct Shared {
    month: Month,
    profiles: Vec<valfri_core::compensation::Settings>,
    service_profile: Vec<usize>,
    providers: Vec<ProviderInfo>,
    client_zone: Vec<u32>,
    /// Per profile: the rates of its service types.
    rates: Vec<Vec<valfri_core::compensation::Rate>>,
    /// Sorted by client; `*_at[c]..*_at[c + 1]` are client c's.
    decisions: Vec<Decision>,
    decisions_at: Vec<usize>,
    assignments: Vec<Assignment>,
    assignments_at: Vec<usize>,
}

/// What the chunks add up to, per provider (and per profile for VAT).
struct Totals {
    lines: Vec<Vec<Line>>,
    flags: Vec<Vec<ResolvedFlag>>,
    /// `[provider][profile]`: lines total, in öre.
    by_profile: Vec<Vec<i64>>,
}

impl Shared {
    /// Settles a chunk of whole clients (with or without visits).
    fn settle_chunk(&self, chunk: Vec<ClientVisits>, out: &mut Totals) -> Result<(), InputError> {
        let local: Vec<u32> = chunk.iter().map(|c| c.client).collect();
        let clients: Vec<ClientInfo> = local.iter().map(|&c| ClientInfo { zone: self.client_zone[c as usize] }).collect();
        let mut external_ids: Vec<&str> = Vec::new();
        for (p, settings) in self.profiles.iter().enumerate() {
            let mine = |s: u32| self.service_profile.get(s as usize) == Some(&p);
            let mut decisions = Vec::new();
            let mut assignments = Vec::new();
            for (k, &c) in local.iter().enumerate() {
                let k = k as u32;
                let c = c as usize;
                let ds = &self.decisions[self.decisions_at[c]..self.decisions_at[c + 1]];
                decisions.extend(ds.iter().filter(|d| mine(d.service)).map(|d| Decision { client: k, ..*d }));
                let asg = &self.assignments[self.assignments_at[c]..self.assignments_at[c + 1]];
                assignments.extend(asg.iter().filter(|a| mine(a.service)).map(|a| Assignment { client: k, ..*a }));
            }
            let any_visits = chunk.iter().any(|cv| cv.visits.iter().any(|v| mine(v.service)));
            if assignments.is_empty() && !any_visits {
                continue;
            }
            let engine = Engine::new(SettlementContext {
                month: self.month,
                settings: settings.clone(),
                providers: self.providers.clone(),
                clients: clients.clone(),
                rates: self.rates[p].clone(),
                decisions,
                assignments,
            })?;
            let mut batch = engine.batch();
            external_ids.clear();
            let mut buf: Vec<Visit> = Vec::new();
            for (k, cv) in chunk.iter().enumerate() {
                buf.clear();
                for (v, ext) in cv.visits.iter().zip(cv.external_ids.iter()) {
                    if mine(v.service) {
                        buf.push(Visit { client: k as u32, external_id: external_ids.len() as u32, ..*v });
                        external_ids.push(ext);
                    }
                }
                if !buf.is_empty() {
                    engine.add_client(&mut batch, k as u32, &mut buf)?;
                }
            }
            let settled = engine.finish(vec![batch], Vec::new())?;
            for ps in settled.providers {
                let pi = ps.provider as usize;
                out.by_profile[pi][p] = out.by_profile[pi][p].checked_add(ps.lines_total.ore()).ok_or(InputError::Overflow)?;
                out.lines[pi].extend(ps.lines.into_iter().map(|l| Line { client: local[l.client as usize], ..l }));
                out.flags[pi].extend(ps.flags.into_iter().map(|f| ResolvedFlag {
                    external_id: f.visit.and_then(|v| external_ids.get(v as usize)).map(|s| s.to_string()),
                    flag: Flag { client: local[f.client as usize], ..f },
                }));
            }
        }
        Ok(())
    }
}

/// A chunk is settled once it holds this many visits (or clients).
const CHUNK_VISITS: usize = 65_536;
const CHUNK_CLIENTS: usize = 4_096;

/// Loads and settles `month`. Reads in one transaction on a connection of
/// its own, so every table is seen at the same moment (PostgreSQL:
/// repeatable read; SQLite: the WAL snapshot) and writers go on meanwhile;
/// the visits in two halves at once when a second connection with the same
/// snapshot can be had (`Conn::begin_read_pair`).
pub async fn compute(db: &crate::db::Db, month: Month) -> ApiResult<Computed> {
    let started = Instant::now();
    let _prefetch = crate::bulk::prefetch_sqlite_file(db);
    let (conn, second) = Conn::begin_read_pair(db).await?;
    let result = compute_on(conn, second, month, started).await;
    if let Err(e) = &result {
        tracing::debug!(error = ?e, "settlement read failed");
    }
    result
}

async fn compute_on(conn: Conn, second: Option<Conn>, month: Month, started: Instant) -> ApiResult<Computed> {
    let (conn, mut data) = loader::load(conn, month).await?;
    let n_clients = data.clients.len();
    let n_providers = data.providers.len();
    let n_profiles = data.profiles.len();
    let mut decisions = std::mem::take(&mut data.decisions);
    decisions.sort_unstable();
    let mut assignments = std::mem::take(&mut data.assignments);
    assignments.sort_unstable();
    let shared = Shared {
        month,
        profiles: data.profiles.iter().map(|p| p.settings.clone()).collect(),
        service_profile: data.service_profile.clone(),
        providers: data.providers.iter().map(|p| ProviderInfo { vat_entitled: p.vat_entitled }).collect(),
        client_zone: data.client_zone.clone(),
        rates: (0..n_profiles)
            .map(|p| data.rates.iter().filter(|r| data.service_profile.get(r.service as usize) == Some(&p)).copied().collect())
            .collect(),
        decisions_at: valfri_core::compensation::offsets_by_client(n_clients, decisions.iter().map(|d| d.client)),
        decisions,
        assignments_at: valfri_core::compensation::offsets_by_client(n_clients, assignments.iter().map(|a| a.client)),
        assignments,
    };
    // Refuse bad settings before reading anything more.
    for s in &shared.profiles {
        Engine::new(SettlementContext {
            month,
            settings: s.clone(),
            providers: vec![],
            clients: vec![],
            rates: vec![],
            decisions: vec![],
            assignments: vec![],
        })
        .map_err(engine_error)?;
    }
    let context_ms = started.elapsed().as_millis() as u64;
    let provider_ids = data.provider_ids();
    let service_codes = data.service_codes();

    // The settling thread: owns the totals while the chunks stream in.
    let (send, mut recv) = tokio::sync::mpsc::channel::<Vec<ClientVisits>>(2);
    let worker = tokio::task::spawn_blocking(move || -> Result<(Shared, Totals), InputError> {
        let mut totals = Totals {
            lines: vec![Vec::new(); n_providers],
            flags: vec![Vec::new(); n_providers],
            by_profile: vec![vec![0; n_profiles]; n_providers],
        };
        let mut seen = vec![false; n_clients];
        while let Some(chunk) = recv.blocking_recv() {
            for cv in &chunk {
                seen[cv.client as usize] = true;
            }
            shared.settle_chunk(chunk, &mut totals)?;
        }
        // Clients without visits are paid from their assignments alone.
        let rest: Vec<u32> = (0..n_clients as u32)
            .filter(|&c| !seen[c as usize] && shared.assignments_at[c as usize] < shared.assignments_at[c as usize + 1])
            .collect();
        for part in rest.chunks(CHUNK_CLIENTS) {
            let chunk = part.iter().map(|&client| ClientVisits { client, visits: vec![], external_ids: Texts::default() }).collect();
            shared.settle_chunk(chunk, &mut totals)?;
        }
        Ok((shared, totals))
    });

    // The readers share the id lists; they come back to `data` after.
    let clients = std::sync::Arc::new(std::mem::take(&mut data.clients));
    let ids = std::sync::Arc::new((provider_ids, service_codes));
    let (first_part, second_part) = match (&second, Part::halves(&clients)) {
        (Some(_), Some((a, b))) => (a, Some(b)),
        _ => (Part::Whole, None),
    };
    let mut readers = Vec::new();
    let n_readers = 1 + u32::from(second_part.is_some());
    for (c, part) in std::iter::once((conn, first_part)).chain(second.zip(second_part)) {
        readers.push(tokio::spawn(read_part(c, month, part, clients.clone(), ids.clone(), send.clone())));
    }
    drop(send);
    let mut read_result: ApiResult<u64> = Ok(0);
    let mut conns = Vec::new();
    for reader in readers {
        let (c, read) = reader.await.map_err(|e| ApiError::Internal(anyhow::anyhow!("reading task: {e}")))??;
        conns.push(c);
        read_result = match (read_result, read) {
            (Ok(a), Ok(b)) => Ok(a + b),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
    }
    data.clients = std::sync::Arc::try_unwrap(clients).unwrap_or_else(|shared| shared.as_ref().clone());
    let visits_done = Instant::now();
    let visits_ms = (visits_done - started).as_millis() as u64 - context_ms;
    let joined = worker.await.map_err(|e| ApiError::Internal(anyhow::anyhow!("settling thread: {e}")))?;
    let visits_read = read_result?;
    let (shared, totals) = joined.map_err(engine_error)?;
    for mut c in conns {
        c.commit().await?;
        c.close().await;
    }

    let Totals { lines, flags, by_profile } = totals;
    let mut providers = Vec::with_capacity(n_providers);
    for (p, ((mut lines, mut flags), sums)) in lines.into_iter().zip(flags).zip(by_profile).enumerate() {
        lines.sort_unstable();
        flags.sort_unstable_by(|a, b| {
            (a.flag.client, a.flag.service, a.external_id.as_deref().map(str::as_bytes), a.flag.code, a.flag.detail).cmp(&(
                b.flag.client,
                b.flag.service,
                b.external_id.as_deref().map(str::as_bytes),
                b.flag.code,
                b.flag.detail,
            ))
        });
        let lines_total: i64 =
            sums.iter().try_fold(0i64, |acc, x| acc.checked_add(*x)).ok_or_else(|| engine_error(InputError::Overflow))?;
        let mut vat = Money::ZERO;
        let mut rates_used: Vec<u32> = Vec::new();
        for (k, sum) in sums.iter().enumerate() {
            let bp = shared.profiles[k].vat_compensation_bp;
            if *sum != 0 || (n_profiles == 1) {
                rates_used.push(bp);
            }
            if shared.providers[p].vat_entitled {
                let v = basis_points_of(Money::from_ore(*sum), bp).ok_or_else(|| engine_error(InputError::Overflow))?;
                vat = vat.checked_add(v).ok_or_else(|| engine_error(InputError::Overflow))?;
            }
        }
        rates_used.sort_unstable();
        rates_used.dedup();
        let vat_bp = match rates_used.as_slice() {
            [one] => Some(*one),
            [] => Some(shared.profiles.first().map_or(0, |s| s.vat_compensation_bp)),
            _ => None,
        };
        providers.push(ProviderResult { lines, flags, lines_total: Money::from_ore(lines_total), vat, vat_bp });
    }
    let finish_ms = visits_done.elapsed().as_millis() as u64;
    data.decisions = Vec::new();
    data.assignments = Vec::new();
    Ok(Computed { data, providers, visits: visits_read, timings: Timings { context_ms, visits_ms, finish_ms, readers: n_readers } })
}

/// Whether a flag blocks approval.
pub fn blocks_approval(code: FlagCode) -> bool {
    code == FlagCode::NoRate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_month_splits_at_the_middle_client() {
        let ids: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        assert_eq!(Part::halves(&ids), Some((Part::Below("c".into()), Part::From("c".into()))));
        assert_eq!(Part::halves(&ids[..2]), Some((Part::Below("b".into()), Part::From("b".into()))));
        assert_eq!(Part::halves(&ids[..1]), None);
        assert_eq!(Part::Below("c".into()).condition("?2"), " AND client_id < ?2");
        assert_eq!(Part::From("c".into()).condition("?2"), " AND client_id >= ?2");
        assert_eq!(Part::Whole.condition("?2"), "");
        assert_eq!(Part::Whole.client(), None);
    }

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

    #[test]
    fn copy_lines_split_into_fields() {
        let f = copy_fields::<4>(b"c1\tp\\\\a\\tb\t\\N\t2").unwrap();
        let got: Vec<Option<&str>> = f.iter().map(|x| x.as_deref()).collect();
        assert_eq!(got, vec![Some("c1"), Some("p\\a\tb"), None, Some("2")]);
        assert!(copy_fields::<3>(b"a\tb\tc\td").is_err());
        assert!(copy_fields::<5>(b"a\tb\tc\td").is_err());
    }

    #[test]
    fn a_clients_visits_are_put_in_the_engines_order() {
        let providers = vec!["pa".to_string(), "pb".to_string()];
        let services = vec!["meals".to_string(), "personal_care".to_string()];
        let clients = vec!["c0".to_string(), "c7".to_string()];
        let mut sink = Sink::new(&clients, Ids::new(&providers, &services));
        let row = |p: &'static str, q: u32, cancelled: Option<&'static str>| Fields {
            provider: p,
            service: "personal_care",
            status: "performed",
            start: "2026-03-10T08:00:00Z",
            end: "2026-03-10T09:00:00Z",
            double_staffed: q == 0,
            quantity: q,
            cancelled,
        };
        assert!(sink.row("c7", &row("pb", 0, None), "a").unwrap().is_none());
        assert!(sink.row("c7", &row("pa", 3, Some("2026-03-09T08:00:00Z")), "z,;x").unwrap().is_none());
        assert!(sink.row("c7", &row("pa", 0, None), "b").unwrap().is_none());
        let (chunk, read) = sink.finish();
        let cv = chunk.unwrap().pop().unwrap();
        assert_eq!((cv.client, read), (1, 3));
        assert_eq!(cv.external_ids.iter().collect::<Vec<_>>(), vec!["b", "z,;x", "a"]);
        assert_eq!(cv.visits[0].provider, 0);
        assert_eq!(cv.visits[2].provider, 1);
        assert!(cv.visits[0].double_staffed);
        assert_eq!(cv.visits[1].quantity.map(|q| q.get()), Some(3));
        assert_eq!(cv.visits[0].quantity, None);
        assert!(cv.visits[1].cancelled_at.is_some());
        assert_eq!(cv.visits[0].service, 1);
        let mut sink = Sink::new(&clients, Ids::new(&providers, &services));
        assert!(sink.row("nobody", &row("pa", 0, None), "x").is_err());
        assert!(sink.row("c0", &row("px", 0, None), "x").is_err());
    }
}
