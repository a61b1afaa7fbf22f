//! The one import pipeline for every way visits arrive (CSV, API, demo):
//! rows are validated as they stream in, buffered in chunks, compared with
//! what is stored (only when the provider had visits before), and written
//! in one transaction on a native connection: on SQLite one row a
//! statement on sqlx's own handle, in the clustered key's order (a plain
//! INSERT for a new visit, `INSERT … ON CONFLICT` for a correction), COPY
//! into a staging table and one merge on PostgreSQL. Then the flags of the
//! touched months are recomputed, the audit events and the import report
//! written, and the transaction commits.
//!
//! Policy (docs/visits-csv.md): keep the good rows and report the bad ones;
//! with `all_or_nothing`, one bad row stores nothing (the report is kept).

use super::flags::{self, FlagVisit};
use super::time::{self, month_of_day, LocalTime};
use super::{validate, RawVisit, Refs, Row, ServiceInfo, Status};
use crate::app::AppState;
use crate::auth::{Principal, PrincipalKind};
use crate::bulk::{copy_row, placeholders, value_rows, Cache, Conn, B};
use crate::clock::stamp;
use crate::db::Backend;
use crate::error::{ApiError, ApiResult};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher;
use utoipa::ToSchema;

/// Rows per chunk: sorted and written together on SQLite, one COPY on PostgreSQL.
const SQLITE_CHUNK: usize = 8192;
const PG_CHUNK: usize = 20_000;
/// Rejections kept in the report and the database; the count has them all.
pub const MAX_REJECTIONS_KEPT: usize = 10_000;
/// The characters of a rejected row's external id kept in its report (its
/// reason may be four times as long): a field of a megabyte is not echoed.
const MAX_ECHO: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Csv,
    Api,
    Demo,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Csv => "csv",
            Source::Api => "api",
            Source::Demo => "demo",
        }
    }
}

/// Who imports, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<String>,
    pub username: String,
    pub role: String,
    /// Admins (and the CLI) may report for any client of the municipality;
    /// a provider only for clients it has (or had) an assignment for.
    pub any_client: bool,
}

impl Actor {
    pub fn of(p: &Principal) -> Actor {
        Actor {
            user_id: Some(p.user_id.clone()),
            username: p.username.clone(),
            role: p.role().as_str().into(),
            any_client: matches!(p.kind, PrincipalKind::Admin),
        }
    }

    pub fn system(name: &str) -> Actor {
        Actor { user_id: None, username: name.into(), role: "admin".into(), any_client: true }
    }
}

#[derive(Clone)]
pub struct Options {
    pub provider_id: String,
    pub source: Source,
    /// As the user gave it: `Importer::begin` makes it printable and cuts
    /// it at 200 characters, whatever the way in.
    pub file_name: String,
    pub all_or_nothing: bool,
    pub actor: Actor,
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct Rejection {
    /// The line of the CSV file (header = line 1), or the 1-based position in an API batch.
    pub line: u64,
    pub external_id: String,
    /// The column (CSV) or field (JSON) at fault; `line` for the row as a whole.
    pub field: String,
    pub code: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportReport {
    pub import_id: String,
    pub provider_id: String,
    pub source: String,
    pub file_name: String,
    pub all_or_nothing: bool,
    /// False when an all-or-nothing import had a bad row: nothing was stored.
    pub stored: bool,
    /// Data rows read.
    pub rows: u64,
    /// Stored for the first time.
    pub new: u64,
    /// Replaced an earlier report of the same external id.
    pub replaced: u64,
    /// Identical to what was stored: nothing changed.
    pub unchanged: u64,
    pub rejected_rows: u64,
    /// Every bad field of every rejected row (the first 10 000).
    pub rejections: Vec<Rejection>,
    pub rejections_total: u64,
    /// Accepted rows of this import that carry at least one flag.
    pub flagged: u64,
    /// The months (YYYY-MM) of the accepted rows.
    pub months: Vec<String>,
}

impl ImportReport {
    pub fn accepted(&self) -> u64 {
        self.new + self.replaced + self.unchanged
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    New,
    Replaced,
    Unchanged,
}

/// Finds a provider by id or organisation number.
pub async fn resolve_provider(state: &AppState, s: &str) -> ApiResult<Option<String>> {
    let s = s.trim();
    let org = valfri_core::ids::OrgNr::parse(s).map(|o| o.to_string()).unwrap_or_else(|_| s.to_string());
    let id: Option<String> = sqlx::query_scalar("SELECT id FROM providers WHERE id = $1 OR org_nr = $2 ORDER BY id LIMIT 1")
        .bind(s)
        .bind(org)
        .fetch_optional(&state.db.pool)
        .await?;
    Ok(id)
}

/// The months of the provider whose settlement is approved or exported:
/// their visits must not change. Read inside the import's transaction from
/// the settlement module's table (on PostgreSQL the rows are locked FOR
/// SHARE, so an approval waits for the import instead of racing it).
async fn approved_months(conn: &mut Conn, provider_id: &str) -> ApiResult<HashSet<String>> {
    let sql = match conn.backend() {
        Backend::Sqlite => "SELECT month, status FROM settlements WHERE provider_id = $1",
        Backend::Postgres => "SELECT month, status FROM settlements WHERE provider_id = $1 FOR SHARE",
    };
    let rows: Vec<(String, String)> = conn.fetch(sql, &[B::S(provider_id)]).await?;
    Ok(rows.into_iter().filter(|(_, s)| s == "approved" || s == "exported").map(|(m, _)| m).collect())
}

/// One input row after validation.
pub enum Item {
    Row(Row),
    Rejected {
        line: u64,
        external_id: String,
        problems: Vec<super::FieldProblem>,
    },
    /// A line that could not be read as a row (e.g. the wrong number of fields).
    Line {
        line: u64,
        code: &'static str,
        reason: String,
    },
}

/// Validates one row (pure: may run on any thread).
pub fn check(lt: &mut LocalTime, refs: &Refs, line: u64, raw: &RawVisit<'_>) -> Item {
    match validate(lt, refs, line, raw) {
        Ok(row) => Item::Row(row),
        Err(problems) => Item::Rejected { line, external_id: raw.external_id.to_string(), problems },
    }
}

pub struct Importer {
    conn: Conn,
    db: crate::db::Db,
    opts: Options,
    import_id: String,
    now: String,
    lt: LocalTime,
    refs: std::sync::Arc<Refs>,
    approved: HashSet<String>,
    had_visits: bool,
    /// The texts of `own` (and of the rows waiting in `pending`).
    names: flags::Names,
    /// The rows of this import so far, by external id (`names`), for
    /// duplicates in the input; `stored[i]` once row i is kept.
    seen: hashbrown::HashTable<u32>,
    hasher: std::collections::hash_map::RandomState,
    stored: Vec<bool>,
    pending: Vec<Row>,
    /// The external id number (`names`) of each pending row.
    pending_ext: Vec<u32>,
    chunk: usize,
    rows: u64,
    new: u64,
    replaced: u64,
    unchanged: u64,
    rejected_rows: u64,
    rejections: Vec<Rejection>,
    rejections_total: u64,
    per_client: BTreeMap<u32, (u64, u64)>,
    months: BTreeSet<String>,
    own: Vec<FlagVisit>,
    pg_stage: bool,
}

const COLS: &str = "provider_id, import_id, external_id, client_id, service_type, status, planned_start, planned_end, \
                    actual_start, actual_end, cancelled_at, staff_ref, staff_count, quantity, start_at, end_at, minutes, local_date, month, content_hash";
const UPSERT_SET: &str = "client_id = excluded.client_id, service_type = excluded.service_type, status = excluded.status, \
     planned_start = excluded.planned_start, planned_end = excluded.planned_end, actual_start = excluded.actual_start, \
     actual_end = excluded.actual_end, cancelled_at = excluded.cancelled_at, staff_ref = excluded.staff_ref, \
     staff_count = excluded.staff_count, quantity = excluded.quantity, start_at = excluded.start_at, end_at = excluded.end_at, \
     minutes = excluded.minutes, local_date = excluded.local_date, month = excluded.month, content_hash = excluded.content_hash, \
     import_id = excluded.import_id";
const PER_ROW: usize = 20;

/// external id, client, service, status, staff, staff count, start, end, local date, minutes.
type StoredRow = (String, String, String, String, String, i64, String, String, String, i64);

/// One row's INSERT with plain positional `?`, every value bound in order;
/// with `upsert`, replacing the provider's visit of the same external id.
fn sqlite_insert_sql(upsert: bool) -> String {
    let values = vec!["?"; PER_ROW].join(", ");
    let mut sql = format!("INSERT INTO visits ({COLS}) VALUES ({values})");
    if upsert {
        sql.push_str(" ON CONFLICT (provider_id, external_id) DO UPDATE SET ");
        sql.push_str(UPSERT_SET);
    }
    sql
}

/// The text columns of a row that are formatted, not borrowed.
struct Formatted {
    arena: String,
    /// Per row: planned_start, planned_end, actual_start, actual_end, cancelled_at, start_at, end_at, local_date, month.
    spans: Vec<[(usize, usize); 9]>,
}

impl Formatted {
    fn of(rows: &[&Row]) -> Formatted {
        let mut arena = String::with_capacity(rows.len() * 150);
        let mut spans = Vec::with_capacity(rows.len());
        for r in rows {
            let mut s = [(0, 0); 9];
            let stamps = [r.planned_start, r.planned_end, r.actual_start, r.actual_end, r.cancelled_at, Some(r.start), Some(r.end)];
            for (k, t) in stamps.into_iter().enumerate() {
                let a = arena.len();
                if let Some(t) = t {
                    time::push_stamp(&mut arena, t);
                }
                s[k] = (a, arena.len());
            }
            let a = arena.len();
            time::push_date(&mut arena, r.local_day);
            s[7] = (a, arena.len());
            s[8] = (a, a + 7);
            spans.push(s);
        }
        Formatted { arena, spans }
    }

    fn get(&self, row: usize, k: usize) -> &str {
        let (a, b) = self.spans[row][k];
        &self.arena[a..b]
    }

    fn opt(&self, row: usize, k: usize) -> Option<&str> {
        let (a, b) = self.spans[row][k];
        (a != b).then(|| &self.arena[a..b])
    }
}

impl Importer {
    pub async fn begin(state: &AppState, mut opts: Options) -> ApiResult<Importer> {
        opts.file_name = super::printable(&opts.file_name, 200);
        let mut conn = Conn::open(&state.db, Cache::Large).await?;
        conn.begin().await?;
        let provider: Vec<(String, String)> =
            conn.fetch("SELECT id, org_nr FROM providers WHERE id = $1", &[B::S(&opts.provider_id)]).await?;
        let Some((provider_id, org_nr)) = provider.into_iter().next() else {
            conn.rollback().await?;
            return Err(ApiError::NotFound("provider"));
        };
        // One provider's imports one after the other: the second of two
        // uploads at once then sees the first's rows, so its report says
        // unchanged, not new.
        conn.serialize_on(&format!("visits import {provider_id}")).await?;
        let clients: Vec<(String, String)> = if opts.actor.any_client {
            conn.fetch("SELECT id, person_id FROM clients", &[]).await?
        } else {
            conn.fetch(
                "SELECT id, person_id FROM clients WHERE id IN \
                 (SELECT client_id FROM assignments WHERE provider_id = $1 AND status <> 'cancelled')",
                &[B::S(&provider_id)],
            )
            .await?
        };
        let mut map = HashMap::with_capacity(clients.len() * 2);
        let mut client_ids = Vec::with_capacity(clients.len());
        for (i, (id, person)) in clients.into_iter().enumerate() {
            map.insert(person, i as u32);
            map.insert(id.clone(), i as u32);
            client_ids.push(id);
        }
        let services: Vec<(String, String, String)> =
            conn.fetch("SELECT code, service_group, basis FROM service_types ORDER BY code", &[]).await?;
        let refs = Refs {
            provider_id: provider_id.clone(),
            provider_org_nr: org_nr,
            clients: map,
            client_ids,
            services: services.into_iter().map(|(code, group, basis)| ServiceInfo { code, group, basis }).collect(),
            country: state.country(),
            today: state.today(),
        };
        let approved = approved_months(&mut conn, &provider_id).await?;
        let existing: Vec<(String,)> =
            conn.fetch("SELECT external_id FROM visits WHERE provider_id = $1 LIMIT 1", &[B::S(&provider_id)]).await?;
        let chunk = match conn.backend() {
            Backend::Sqlite => SQLITE_CHUNK,
            Backend::Postgres => PG_CHUNK,
        };
        Ok(Importer {
            conn,
            db: state.db.clone(),
            opts: Options { provider_id, ..opts },
            import_id: uuid::Uuid::now_v7().to_string(),
            now: stamp(state.clock.now()),
            lt: LocalTime::new(state.time_zone()),
            refs: std::sync::Arc::new(refs),
            approved,
            had_visits: !existing.is_empty(),
            names: flags::Names::default(),
            seen: hashbrown::HashTable::new(),
            hasher: Default::default(),
            stored: Vec::new(),
            pending: Vec::with_capacity(chunk),
            pending_ext: Vec::with_capacity(chunk),
            chunk,
            rows: 0,
            new: 0,
            replaced: 0,
            unchanged: 0,
            rejected_rows: 0,
            rejections: Vec::new(),
            rejections_total: 0,
            per_client: BTreeMap::new(),
            months: BTreeSet::new(),
            own: Vec::new(),
            pg_stage: false,
        })
    }

    pub fn import_id(&self) -> &str {
        &self.import_id
    }

    fn reject(&mut self, line: u64, external_id: &str, field: &str, code: &str, reason: String) {
        self.rejections_total += 1;
        if self.rejections.len() < MAX_REJECTIONS_KEPT {
            // Both may echo anything the row held.
            let (external_id, reason) = (super::printable(external_id, MAX_ECHO), super::printable(&reason, 4 * MAX_ECHO));
            self.rejections.push(Rejection { line, external_id, field: field.into(), code: code.into(), reason });
        }
    }

    /// Validates one row; call `flush` when `needs_flush` says so.
    pub fn push(&mut self, line: u64, raw: &RawVisit<'_>) {
        let item = check(&mut self.lt, &self.refs, line, raw);
        self.accept(item);
    }

    /// Takes a row checked elsewhere (`check`, on another thread).
    pub fn accept(&mut self, item: Item) {
        self.rows += 1;
        match item {
            Item::Line { line, code, reason } => {
                self.rejected_rows += 1;
                self.reject(line, "", "line", code, reason);
            }
            Item::Rejected { line, external_id, problems } => {
                self.rejected_rows += 1;
                for p in problems {
                    self.reject(line, &external_id, p.field, p.code, p.reason);
                }
            }
            Item::Row(row) => {
                let hash = self.hasher.hash_one(row.external_id.as_str());
                let names = &self.names;
                if self.seen.find(hash, |&i| names.ext(i) == row.external_id).is_some() {
                    self.rejected_rows += 1;
                    let (line, ext) = (row.line, row.external_id);
                    self.reject(
                        line,
                        &ext,
                        "external_id",
                        "duplicate_external_id",
                        "the same external_id is on an earlier row of this import".into(),
                    );
                    return;
                }
                let i = self.names.push_ext(&row.external_id);
                let (names, hasher) = (&self.names, &self.hasher);
                self.seen.insert_unique(hash, i, |&j| hasher.hash_one(names.ext(j)));
                self.pending.push(row);
                self.pending_ext.push(i);
            }
        }
    }

    /// What `check` needs, for a validating thread: the zone and the lookups.
    pub fn checker(&self) -> (LocalTime, std::sync::Arc<Refs>) {
        (LocalTime::new(self.lt.zone().clone()), self.refs.clone())
    }

    pub fn needs_flush(&self) -> bool {
        self.pending.len() >= self.chunk
    }

    /// Classifies and writes the buffered rows.
    pub async fn flush(&mut self) -> ApiResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        let exts = std::mem::take(&mut self.pending_ext);
        let mut existing: HashMap<String, (i64, String)> = HashMap::new();
        if self.had_visits {
            for part in rows.chunks(1000) {
                let sql = format!(
                    "SELECT external_id, content_hash, month FROM visits WHERE provider_id = $1 AND external_id IN ({})",
                    placeholders(2, part.len())
                );
                let mut binds = vec![B::S(&self.opts.provider_id)];
                binds.extend(part.iter().map(|r| B::S(&r.external_id)));
                let found: Vec<(String, i64, String)> = self.conn.fetch(&sql, &binds).await?;
                existing.extend(found.into_iter().map(|(e, h, m)| (e, (h, m))));
            }
        }
        let mut keep: Vec<(Row, Kind, u32)> = Vec::with_capacity(rows.len());
        // The month of the row before: most rows share it, so its text is made once.
        let mut last: Option<(i64, i64, String, bool)> = None;
        for (row, ext) in rows.into_iter().zip(exts) {
            let in_last = last.as_ref().is_some_and(|(from, to, _, _)| *from <= row.local_day && row.local_day <= *to);
            if !in_last {
                let m = month_of_day(row.local_day);
                let (from, to) = flags::month_bounds(&m).unwrap_or((row.local_day, row.local_day));
                last = Some((from, to, m, false));
            }
            let Some((_, _, month, recorded)) = last.as_mut() else { continue };
            let kind = match existing.get(&row.external_id) {
                None => Kind::New,
                Some((h, _)) if *h == row.hash as i64 => Kind::Unchanged,
                Some(_) => Kind::Replaced,
            };
            if kind != Kind::Unchanged {
                let old_month = existing.get(&row.external_id).map(|(_, m)| m.as_str());
                let locked =
                    [Some(month.as_str()), old_month].into_iter().flatten().find(|m| self.approved.contains(*m)).map(str::to_string);
                if let Some(m) = locked {
                    self.rejected_rows += 1;
                    let what = if kind == Kind::New { "a new visit" } else { "a correction" };
                    self.reject(
                        row.line,
                        &row.external_id,
                        "line",
                        "month_approved",
                        format!(
                            "the settlement of {m} is approved, so {what} in it cannot be stored; ask the municipality for an adjustment"
                        ),
                    );
                    continue;
                }
            }
            if !*recorded {
                self.months.insert(month.clone());
                *recorded = true;
            }
            keep.push((row, kind, ext));
        }
        let mut writes: Vec<(&Row, bool)> =
            keep.iter().filter(|(_, k, _)| *k != Kind::Unchanged).map(|(r, k, _)| (r, *k == Kind::New)).collect();
        if self.conn.backend() == Backend::Sqlite {
            // In the clustered key's order (month, client, …): neighbours
            // land on the same pages, which stay in the cache.
            let ids = &self.refs.client_ids;
            writes.sort_by_cached_key(|&(r, _)| {
                let (y, m, _) = time::civil_from_days(r.local_day);
                (y * 12 + m, ids[r.client as usize].as_str(), r.external_id.as_str())
            });
        }
        let (writes, fresh): (Vec<&Row>, Vec<bool>) = writes.into_iter().unzip();
        let f = Formatted::of(&writes);
        let (provider, import, refs) = (self.opts.provider_id.as_str(), self.import_id.as_str(), &self.refs);
        let values = |i: usize| -> [B<'_>; PER_ROW] {
            let r = writes[i];
            [
                B::S(provider),
                B::S(import),
                B::S(&r.external_id),
                B::S(&refs.client_ids[r.client as usize]),
                B::S(&refs.services[usize::from(r.service)].code),
                B::S(r.status.as_str()),
                B::OS(f.opt(i, 0)),
                B::OS(f.opt(i, 1)),
                B::OS(f.opt(i, 2)),
                B::OS(f.opt(i, 3)),
                B::OS(f.opt(i, 4)),
                B::S(&r.staff_ref),
                B::I(i64::from(r.staff_count)),
                B::OI(r.quantity),
                B::S(f.get(i, 5)),
                B::S(f.get(i, 6)),
                B::I(r.minutes),
                B::S(f.get(i, 7)),
                B::S(f.get(i, 8)),
                B::I(r.hash as i64),
            ]
        };
        match &mut self.conn {
            Conn::Sqlite(c) => {
                if !writes.is_empty() {
                    let done = crate::bulk::with_sqlite_handle(c, |h| -> rusqlite::Result<()> {
                        // One row a statement, and a plain INSERT for a
                        // visit not stored before: a statement that may
                        // abort after writing more than one B-tree entry
                        // (many rows, or an upsert) keeps a journal of every
                        // page it touches (a tenth of the import's CPU when
                        // measured, docs/performance.md). A single-row
                        // INSERT checks every constraint before it writes,
                        // so one that fails has written nothing, and the row
                        // goes through the upsert after all.
                        let mut insert = h.prepare(&sqlite_insert_sql(false))?;
                        let mut upsert = h.prepare(&sqlite_insert_sql(true))?;
                        for (i, &fresh) in fresh.iter().enumerate() {
                            let row = values(i);
                            let st = if fresh { &mut insert } else { &mut upsert };
                            crate::bulk::bind_all(st, &row)?;
                            match st.raw_execute() {
                                Err(rusqlite::Error::SqliteFailure(e, _))
                                    if fresh && e.code == rusqlite::ErrorCode::ConstraintViolation =>
                                {
                                    crate::bulk::bind_all(&mut upsert, &row)?;
                                    upsert.raw_execute()?;
                                }
                                done => {
                                    done?;
                                }
                            }
                        }
                        Ok(())
                    })
                    .await?;
                    done.map_err(anyhow::Error::from)?;
                }
            }
            Conn::Pg(c) => {
                if !writes.is_empty() {
                    if !self.pg_stage {
                        sqlx::query("CREATE TEMP TABLE visit_stage (LIKE visits) ON COMMIT DROP").execute(&mut *c).await?;
                        self.pg_stage = true;
                    }
                    let mut buf: Vec<u8> = Vec::with_capacity(writes.len() * 260);
                    for i in 0..writes.len() {
                        copy_row(&mut buf, &values(i));
                    }
                    let mut copy = c.copy_in_raw(&format!("COPY visit_stage ({COLS}) FROM STDIN")).await?;
                    copy.send(buf).await?;
                    copy.finish().await?;
                }
            }
        }
        // Grown in steps of an eighth (realloc moves pages, not bytes),
        // not doubled: at national scale this vector is the import's biggest.
        if self.own.capacity() - self.own.len() < keep.len() {
            self.own.reserve_exact(keep.len().max(self.own.len() / 8));
        }
        for (row, kind, ext) in keep {
            match kind {
                Kind::New => self.new += 1,
                Kind::Replaced => self.replaced += 1,
                Kind::Unchanged => self.unchanged += 1,
            }
            if kind != Kind::Unchanged {
                let e = self.per_client.entry(row.client).or_default();
                if kind == Kind::New {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
            }
            let i = ext as usize;
            if self.stored.len() <= i {
                self.stored.resize(i + 1, false);
            }
            self.stored[i] = true;
            self.own.push(FlagVisit {
                ext,
                client: row.client,
                service: row.service,
                status: row.status,
                staff: self.names.staff(&row.staff_ref),
                staff_count: row.staff_count,
                start: row.start,
                end: row.end,
                local_day: row.local_day,
                minutes: row.minutes,
                scoped: true,
                in_import: true,
            });
        }
        Ok(())
    }

    /// Finishes the import: merges, flags, audits, records and commits.
    pub async fn finish(mut self) -> ApiResult<ImportReport> {
        self.flush().await?;
        let rows_done = std::time::Instant::now();
        let all_or_nothing_failed = self.opts.all_or_nothing && self.rejected_rows > 0;
        let mut flagged = 0;
        if all_or_nothing_failed {
            self.conn.rollback().await?;
            self.conn.begin().await?;
            self.new = 0;
            self.replaced = 0;
            self.unchanged = 0;
            self.months.clear();
        } else {
            if self.pg_stage {
                let sql = format!(
                    "INSERT INTO visits ({COLS}) SELECT {COLS} FROM visit_stage \
                     ON CONFLICT (provider_id, external_id) DO UPDATE SET {UPSERT_SET}"
                );
                self.conn.exec(&sql, &[]).await?;
                // Fresh statistics after a big load, or the next import's
                // lookups by primary key may be planned as full scans.
                if self.new >= 10_000 {
                    self.conn.exec("ANALYZE visits", &[]).await?;
                }
            }
            let merged = std::time::Instant::now();
            flagged = self.recompute_flags().await?;
            let flags_done = std::time::Instant::now();
            self.audit().await?;
            tracing::info!(
                import = %self.import_id,
                rows = self.rows,
                merge_ms = (merged - rows_done).as_millis() as u64,
                flags_ms = (flags_done - merged).as_millis() as u64,
                audit_ms = flags_done.elapsed().as_millis() as u64,
                "visits import stored"
            );
        }
        let report = ImportReport {
            import_id: self.import_id.clone(),
            provider_id: self.opts.provider_id.clone(),
            source: self.opts.source.as_str().into(),
            file_name: self.opts.file_name.clone(),
            all_or_nothing: self.opts.all_or_nothing,
            stored: !all_or_nothing_failed,
            rows: self.rows,
            new: self.new,
            replaced: self.replaced,
            unchanged: self.unchanged,
            rejected_rows: self.rejected_rows,
            rejections: std::mem::take(&mut self.rejections),
            rejections_total: self.rejections_total,
            flagged,
            months: self.months.iter().cloned().collect(),
        };
        self.record(&report).await?;
        let commit = std::time::Instant::now();
        self.conn.commit().await?;
        tracing::info!(import = %report.import_id, commit_ms = commit.elapsed().as_millis() as u64, "visits import committed");
        self.conn.release_large(&self.db).await;
        Ok(report)
    }

    /// Recomputes the flags of the provider's touched months; returns how
    /// many rows of this import carry a flag.
    async fn recompute_flags(&mut self) -> ApiResult<u64> {
        let months: Vec<String> = self.months.iter().cloned().collect();
        if months.is_empty() {
            return Ok(0);
        }
        // Contiguous date ranges of the months, widened by a day on each side
        // so overlaps across a month boundary are seen.
        let mut ranges: Vec<(i64, i64)> = Vec::new();
        for m in &months {
            let Some((first, last)) = flags::month_bounds(m) else { continue };
            match ranges.last_mut() {
                Some(r) if r.1 + 1 >= first - 1 => r.1 = last + 1,
                _ => ranges.push((first - 1, last + 1)),
            }
        }
        let scoped = |day: i64| months.iter().any(|m| flags::month_bounds(m).is_some_and(|(f, l)| f <= day && day <= l));
        // A provider without visits before this import has no others to read.
        if !self.had_visits {
            ranges.clear();
        }
        for (from, to) in ranges {
            let rows: Vec<StoredRow> = self
                .conn
                .fetch(
                    "SELECT external_id, client_id, service_type, status, staff_ref, staff_count, start_at, end_at, local_date, minutes \
                     FROM visits WHERE provider_id = $1 AND local_date >= $2 AND local_date <= $3 AND import_id <> $4",
                    &[B::S(&self.opts.provider_id), B::S(&time::date(from)), B::S(&time::date(to)), B::S(&self.import_id)],
                )
                .await?;
            for (ext, client, service, status, staff, count, start, end, day, minutes) in rows {
                let hash = self.hasher.hash_one(ext.as_str());
                let names = &self.names;
                if self.seen.find(hash, |&i| names.ext(i) == ext).is_some_and(|&i| self.stored.get(i as usize) == Some(&true)) {
                    continue;
                }
                let (Some(si), Some(st), Some(start), Some(end), Some(day)) = (
                    self.refs.service_index(&service),
                    Status::parse(&status),
                    time::parse_stamp(&start),
                    time::parse_stamp(&end),
                    time::parse_date(&day),
                ) else {
                    continue;
                };
                let ci = std::sync::Arc::make_mut(&mut self.refs).intern_client(&client);
                self.own.push(FlagVisit {
                    ext: self.names.push_ext(&ext),
                    client: ci,
                    service: si,
                    status: st,
                    staff: self.names.staff(&staff),
                    staff_count: count as u8,
                    start,
                    end,
                    local_day: day,
                    minutes,
                    scoped: scoped(day),
                    in_import: false,
                });
            }
        }
        let clients: BTreeSet<u32> = self.own.iter().map(|v| v.client).collect();
        let refs = std::sync::Arc::make_mut(&mut self.refs);
        let ctx = flags::load_context(&mut self.conn, refs, &self.opts.provider_id, &clients, &months).await?;
        let local = flags::local_flags(&self.own, &ctx, &self.names);
        flags::write_local(&mut self.conn, &self.opts.provider_id, &months, &self.own, &local, refs, &self.names).await?;
        let beyond = flags::beyond_granted(&mut self.conn, refs, &ctx, &self.opts.provider_id, &months, &self.own).await?;
        let mut flagged: HashSet<usize> = local.iter().map(|f| f.visit).filter(|&i| self.own[i].in_import).collect();
        for (i, v) in self.own.iter().enumerate() {
            if v.in_import && beyond.contains(self.names.ext(v.ext)) {
                flagged.insert(i);
            }
        }
        Ok(flagged.len() as u64)
    }

    /// One audit event per client whose visits were stored or replaced
    /// (the log answers "who changed this person's data?"), and one summary
    /// event for the import.
    async fn audit(&mut self) -> ApiResult<()> {
        let a = self.opts.actor.clone();
        let detail_of = |new: u64, replaced: u64| {
            format!("visits import {} ({}): {new} new, {replaced} replaced", self.import_id, self.opts.source.as_str())
        };
        let events: Vec<(String, Option<String>, String, String, String)> = self
            .per_client
            .iter()
            .map(|(c, (n, r))| {
                let action = if *n > 0 { "create" } else { "update" };
                (
                    uuid::Uuid::now_v7().to_string(),
                    Some(self.refs.client_ids[*c as usize].clone()),
                    action.to_string(),
                    "visits".to_string(),
                    detail_of(*n, *r),
                )
            })
            .chain(std::iter::once((
                uuid::Uuid::now_v7().to_string(),
                None,
                "create".to_string(),
                "visit_import".to_string(),
                format!(
                    "visits import ({}) for provider {}: {} rows, {} new, {} replaced, {} unchanged, {} rejected, {} clients",
                    self.opts.source.as_str(),
                    self.opts.provider_id,
                    self.rows,
                    self.new,
                    self.replaced,
                    self.unchanged,
                    self.rejected_rows,
                    self.per_client.len()
                ),
            )))
            .collect();
        for chunk in events.chunks(100) {
            let sql = format!(
                "INSERT INTO audit_log (id, at, actor_user_id, actor_username, actor_role, action, client_id, subject_type, subject_id, detail) VALUES {}",
                value_rows(chunk.len(), 10)
            );
            let mut binds = Vec::with_capacity(chunk.len() * 10);
            for (id, client, action, subject, detail) in chunk {
                binds.extend([
                    B::S(id),
                    B::S(&self.now),
                    B::OS(a.user_id.as_deref()),
                    B::S(&a.username),
                    B::S(&a.role),
                    B::S(action),
                    B::OS(client.as_deref()),
                    B::S(subject),
                    B::S(&self.import_id),
                    B::S(detail),
                ]);
            }
            self.conn.exec(&sql, &binds).await?;
        }
        Ok(())
    }

    async fn record(&mut self, r: &ImportReport) -> ApiResult<()> {
        let months = r.months.join(",");
        self.conn
            .exec(
                "INSERT INTO visit_imports (id, provider_id, source, file_name, all_or_nothing, stored, rows_total, new_count, replaced_count, \
                 unchanged_count, rejected_rows, rejections_total, flagged_count, months, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                &[
                    B::S(&r.import_id),
                    B::S(&r.provider_id),
                    B::S(&r.source),
                    B::S(&r.file_name),
                    B::I(i64::from(r.all_or_nothing)),
                    B::I(i64::from(r.stored)),
                    B::I(r.rows as i64),
                    B::I(r.new as i64),
                    B::I(r.replaced as i64),
                    B::I(r.unchanged as i64),
                    B::I(r.rejected_rows as i64),
                    B::I(r.rejections_total as i64),
                    B::I(r.flagged as i64),
                    B::S(&months),
                    B::S(&self.now),
                    B::S(&self.opts.actor.username),
                ],
            )
            .await?;
        for (ci, chunk) in r.rejections.chunks(200).enumerate() {
            let sql = format!(
                "INSERT INTO visit_import_rejections (import_id, seq, line, external_id, field, code, reason) VALUES {}",
                value_rows(chunk.len(), 7)
            );
            let mut binds = Vec::with_capacity(chunk.len() * 7);
            for (i, x) in chunk.iter().enumerate() {
                binds.extend([
                    B::S(&r.import_id),
                    B::I((ci * 200 + i + 1) as i64),
                    B::I(x.line as i64),
                    B::S(&x.external_id),
                    B::S(&x.field),
                    B::S(&x.code),
                    B::S(&x.reason),
                ]);
            }
            self.conn.exec(&sql, &binds).await?;
        }
        Ok(())
    }
}

/// Imports rows that are already in memory (API batches, the demo).
pub async fn import_rows(state: &AppState, opts: Options, rows: &[RawVisit<'_>]) -> ApiResult<ImportReport> {
    let mut imp = Importer::begin(state, opts).await?;
    for (i, raw) in rows.iter().enumerate() {
        imp.push(i as u64 + 1, raw);
        if imp.needs_flush() {
            imp.flush().await?;
        }
    }
    imp.finish().await
}
