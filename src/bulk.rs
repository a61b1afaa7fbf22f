//! A native connection for the bulk paths (the visit import, writing a
//! month's settlement drafts), so they can use what each backend does
//! fastest: statements stepped on SQLite's own handle (`on_sqlite_handle`,
//! `with_sqlite_handle`), COPY on PostgreSQL. The `Any` driver converts
//! every bound value on the way, which millions of rows cannot afford.
//! Backend-specific code lives here and in its two callers, for speed only
//! (see src/db.rs); every other query goes through the portable `Any`
//! pool. Queries are written once, with `$n` placeholders both backends
//! accept.

use crate::db::{Backend, Db};
use crate::error::ApiResult;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, FromRow};
use std::str::FromStr;
use std::time::Duration;

pub enum Conn {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

/// A bind value.
#[derive(Debug, Clone, Copy)]
pub enum B<'a> {
    S(&'a str),
    OS(Option<&'a str>),
    I(i64),
    OI(Option<i64>),
}

macro_rules! bind_all {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        for b in $binds {
            q = match *b {
                B::S(v) => q.bind(v),
                B::OS(v) => q.bind(v),
                B::I(v) => q.bind(v),
                B::OI(v) => q.bind(v),
            };
        }
        q
    }};
}

/// How SQLite's page cache is set up on a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// SQLite's defaults.
    Default,
    /// A big page cache (384 MiB) and in-memory temporary tables, which
    /// keep much of the indexes of a large import in memory. Sized so the
    /// largest national-scale import (one provider's 3 M rows) stays under
    /// 1 GiB in all (docs/performance.md).
    Large,
}

/// The SQLite connection of the last import (`Cache::Large`), kept for the
/// next one. sqlx runs each SQLite connection on a thread of its own, and
/// glibc gives each thread its own malloc arena and keeps what is freed
/// there: a new connection per import left every earlier import's page
/// cache resident (1.5 GiB over the 1 500 imports of the national
/// benchmark, docs/performance.md). One connection, on one thread, reuses
/// the same memory import after import. Imports that overlap open their
/// own connection, as before; only one is kept.
#[derive(Clone, Default)]
pub struct Spare(std::sync::Arc<std::sync::Mutex<Option<SqliteConnection>>>);

impl Spare {
    fn take(&self) -> Option<SqliteConnection> {
        self.0.lock().ok()?.take()
    }

    /// Keeps `c` unless one is kept already (then hands it back).
    fn keep(&self, c: SqliteConnection) -> Result<(), SqliteConnection> {
        match self.0.lock() {
            Ok(mut slot) if slot.is_none() => {
                *slot = Some(c);
                Ok(())
            }
            _ => Err(c),
        }
    }
}

impl Conn {
    /// Opens a connection of the pool's backend to the pool's database
    /// (for `Cache::Large` on SQLite: the kept one, if there is one).
    pub async fn open(db: &Db, cache: Cache) -> ApiResult<Conn> {
        let url = db.pool.connect_options().database_url.to_string();
        Ok(match db.backend {
            Backend::Sqlite
                if cache == Cache::Large
                    && let Some(c) = db.spare.take() =>
            {
                Conn::Sqlite(c)
            }
            Backend::Sqlite => {
                let mut opts = SqliteConnectOptions::from_str(&url)
                    .map_err(anyhow::Error::from)?
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
                    .synchronous(SqliteSynchronous::Normal)
                    .disable_statement_logging();
                if cache == Cache::Large {
                    opts = opts.pragma("cache_size", "-393216").pragma("temp_store", "memory");
                }
                Conn::Sqlite(opts.connect().await?)
            }
            Backend::Postgres => {
                let opts = PgConnectOptions::from_str(&url).map_err(anyhow::Error::from)?.disable_statement_logging();
                Conn::Pg(opts.connect().await?)
            }
        })
    }

    pub fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Pg(_) => Backend::Postgres,
        }
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once
    /// (IMMEDIATE), so a concurrent writer waits instead of failing midway.
    pub async fn begin(&mut self) -> ApiResult<()> {
        let sql = match self {
            Conn::Sqlite(_) => "BEGIN IMMEDIATE",
            Conn::Pg(_) => "BEGIN",
        };
        self.exec(sql, &[]).await.map(|_| ())
    }

    /// Makes writers that name the same `key` take turns until this write
    /// transaction ends. SQLite needs nothing: `begin` took the database's
    /// write lock. PostgreSQL takes a transaction-level advisory lock.
    pub async fn serialize_on(&mut self, key: &str) -> ApiResult<()> {
        match self {
            Conn::Sqlite(_) => Ok(()),
            Conn::Pg(_) => self.exec("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[B::S(key)]).await.map(|_| ()),
        }
    }

    /// Starts a read-only transaction: every query until `commit` sees one
    /// snapshot (SQLite: deferred, so it takes no lock and writers go on;
    /// PostgreSQL: repeatable read).
    pub async fn begin_read(&mut self) -> ApiResult<()> {
        let sql = match self {
            Conn::Sqlite(_) => "BEGIN",
            Conn::Pg(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        };
        self.exec(sql, &[]).await.map(|_| ())
    }

    pub async fn commit(&mut self) -> ApiResult<()> {
        self.exec("COMMIT", &[]).await.map(|_| ())
    }

    pub async fn rollback(&mut self) -> ApiResult<()> {
        self.exec("ROLLBACK", &[]).await.map(|_| ())
    }

    pub async fn exec(&mut self, sql: &str, binds: &[B<'_>]) -> ApiResult<u64> {
        Ok(match self {
            Conn::Sqlite(c) => {
                let sql = positional(sql);
                bind_all!(sqlx::query(&sql), binds).execute(&mut *c).await?.rows_affected()
            }
            Conn::Pg(c) => bind_all!(sqlx::query(sql), binds).execute(&mut *c).await?.rows_affected(),
        })
    }

    pub async fn fetch<T>(&mut self, sql: &str, binds: &[B<'_>]) -> ApiResult<Vec<T>>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        Ok(match self {
            Conn::Sqlite(c) => {
                let sql = positional(sql);
                bind_all!(sqlx::query_as::<_, T>(&sql), binds).fetch_all(&mut *c).await?
            }
            Conn::Pg(c) => bind_all!(sqlx::query_as::<_, T>(sql), binds).fetch_all(&mut *c).await?,
        })
    }

    /// `fetch` for results of many rows: on SQLite they are stepped on
    /// sqlx's own handle (`on_sqlite_handle`), about three times faster
    /// than through sqlx's driver; the connection is handed back with them.
    pub async fn fetch_many<T>(self, sql: &str, binds: &[B<'_>]) -> ApiResult<(Conn, Vec<T>)>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin + 'static,
        T: for<'r> TryFrom<&'r rusqlite::Row<'r>, Error = rusqlite::Error>,
    {
        match self {
            Conn::Sqlite(c) => {
                let sql = numbered(sql);
                let values: Vec<rusqlite::types::Value> = binds.iter().map(sqlite_value).collect();
                let (c, rows) = on_sqlite_handle(c, move |h| -> rusqlite::Result<Vec<T>> {
                    let mut stmt = h.prepare(&sql)?;
                    let rows = stmt.query_map(rusqlite::params_from_iter(values), |r| T::try_from(r))?;
                    rows.collect()
                })
                .await?;
                Ok((Conn::Sqlite(c), rows.map_err(anyhow::Error::from)?))
            }
            mut pg => {
                let rows = pg.fetch(sql, binds).await?;
                Ok((pg, rows))
            }
        }
    }

    /// Ends the use of a connection opened with `Cache::Large` after its
    /// transaction ended: on SQLite it is kept for the next import, its
    /// page cache emptied (the memory stays with its thread, for reuse).
    pub async fn release_large(self, db: &Db) {
        let Conn::Sqlite(mut c) = self else { return self.close().await };
        if sqlx::query("PRAGMA shrink_memory").execute(&mut c).await.is_err() {
            return c.close().await.unwrap_or_default();
        }
        if let Err(c) = db.spare.keep(c) {
            let _ = c.close().await;
        }
    }

    pub async fn close(self) {
        let _ = match self {
            Conn::Sqlite(c) => c.close().await,
            Conn::Pg(c) => c.close().await,
        };
    }

    /// Two read-only transactions that see the database at the same
    /// moment, so one long read can be split over two threads (the
    /// settlement's read of a month). The second is `None` when that cannot
    /// be had at once; the first is always there.
    /// - PostgreSQL: the second imports the first's snapshot
    ///   (`pg_export_snapshot`, `SET TRANSACTION SNAPSHOT`).
    /// - SQLite (a database file): WAL gives each reader the snapshot of
    ///   its first read. Both first reads happen while a third connection
    ///   holds the write lock, so no commit can come between them. When
    ///   another writer holds the lock (an import), there is one reader
    ///   rather than a wait.
    pub async fn begin_read_pair(db: &Db) -> ApiResult<(Conn, Option<Conn>)> {
        let mut first = Conn::open(db, Cache::Default).await?;
        if db.backend == Backend::Sqlite && sqlite_file(db).is_none() {
            first.begin_read().await?;
            return Ok((first, None));
        }
        let mut second = Conn::open(db, Cache::Default).await?;
        if db.backend == Backend::Postgres {
            first.begin_read().await?;
            let snapshot: Vec<(String,)> = first.fetch("SELECT pg_export_snapshot()", &[]).await?;
            let snapshot = snapshot.into_iter().next().map(|(s,)| s).unwrap_or_default();
            second.begin_read().await?;
            second.exec(&format!("SET TRANSACTION SNAPSHOT '{}'", snapshot.replace('\'', "''")), &[]).await?;
            return Ok((first, Some(second)));
        }
        let mut lock = Conn::open(db, Cache::Default).await?;
        lock.exec("PRAGMA busy_timeout = 0", &[]).await?;
        let locked = lock.exec("BEGIN IMMEDIATE", &[]).await.is_ok();
        for c in if locked { [Some(&mut first), Some(&mut second)] } else { [Some(&mut first), None] }.into_iter().flatten() {
            c.begin_read().await?;
            c.exec("SELECT count(*) FROM sqlite_schema", &[]).await?;
        }
        if locked {
            lock.rollback().await?;
        }
        lock.close().await;
        if locked {
            Ok((first, Some(second)))
        } else {
            second.close().await;
            Ok((first, None))
        }
    }
}

/// The file of a SQLite database (None in memory or for PostgreSQL).
fn sqlite_file(db: &Db) -> Option<std::path::PathBuf> {
    if db.backend != Backend::Sqlite {
        return None;
    }
    let url = db.pool.connect_options().database_url.to_string();
    let path = SqliteConnectOptions::from_str(&url).ok()?.get_filename().to_path_buf();
    path.is_file().then_some(path)
}

/// Runs `f` on a blocking thread with `c`'s own SQLite handle, borrowed
/// through rusqlite, inside whatever transaction `c` has open; hands `c`
/// back with what `f` returned. For reads of millions of rows: sqlx's
/// driver copies every value and passes every row from its worker thread to
/// ours, which cost the settlement's read of a month about half its time
/// (docs/performance.md); here SQLite's step and the caller's decoding run
/// on one thread without a copy. The reading thread outlives a caller that
/// gives up waiting, and keeps the connection until it is done.
pub async fn on_sqlite_handle<T, F>(mut c: SqliteConnection, f: F) -> ApiResult<(SqliteConnection, T)>
where
    T: Send + 'static,
    F: FnOnce(&rusqlite::Connection) -> T + Send + 'static,
{
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let out = {
            let mut locked = rt.block_on(c.lock_handle())?;
            borrow_handle(&mut locked, f)?
        };
        Ok((c, out))
    })
    .await
    .map_err(|e| crate::error::ApiError::Internal(anyhow::anyhow!("reading thread: {e}")))?
}

/// `on_sqlite_handle` for a connection the caller keeps (a writer in the
/// middle of its transaction): `f` runs on this thread, which the runtime
/// is told is blocked (`block_in_place`) when it has other workers to give
/// the rest of its tasks to. For work of milliseconds per call, like one
/// chunk of an import's rows.
pub async fn with_sqlite_handle<T, F>(c: &mut SqliteConnection, f: F) -> ApiResult<T>
where
    F: FnOnce(&rusqlite::Connection) -> T,
{
    let mut locked = c.lock_handle().await?;
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(|| borrow_handle(&mut locked, f)),
        _ => borrow_handle(&mut locked, f),
    }
}

/// Calls `f` with the locked handle as a rusqlite connection.
fn borrow_handle<T, F>(locked: &mut sqlx::sqlite::LockedSqliteHandle<'_>, f: F) -> ApiResult<T>
where
    F: FnOnce(&rusqlite::Connection) -> T,
{
    let raw = locked.as_raw_handle().as_ptr();
    // SAFETY: while `locked` lives, sqlx's worker thread makes no call on
    // this handle or its statements (sqlx documents `LockedSqliteHandle`
    // so), and `locked` outlives this call. `from_handle` borrows the
    // handle: the rusqlite connection never closes it, and it is dropped
    // (its statements finalized) before this function returns.
    #[allow(unsafe_code)]
    let borrowed = unsafe { rusqlite::Connection::from_handle(raw) }.map_err(anyhow::Error::from)?;
    let out = f(&borrowed);
    drop(borrowed);
    Ok(out)
}

/// Has the OS read a SQLite database file into its page cache, from start
/// to end, on a thread of its own, before a read of most of it (a month's
/// settlement) needs it. Such a read follows the table's key, and an
/// import that inserted in random key order leaves the key's pages
/// scattered through the file: read cold, each page is one random read of
/// the disk (about 9 s of the Stockholm month's 10 s cold, 222 s at
/// national scale), where the file read in order goes at the disk's
/// bandwidth (1.1 GB/s here). The thread only advises the kernel
/// (`POSIX_FADV_WILLNEED`, 128 KiB a call: the kernel reads no more than
/// its readahead window per call), so nothing is copied and a file that is
/// cached already costs next to nothing (reading it through a buffer cost
/// the warm Stockholm settlement 0.2 s of CPU). Only when the file fits in
/// the memory the system has available; nothing for PostgreSQL or a
/// database in memory. The thread stops when the returned guard is dropped.
pub fn prefetch_sqlite_file(db: &Db) -> Option<Prefetch> {
    let path = sqlite_file(db)?;
    let size = std::fs::metadata(&path).ok()?.len();
    if size < (64 << 20) || size > available_memory()? {
        return None;
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let spawned = std::thread::Builder::new().name("valfri-prefetch".into()).spawn(move || {
        const STEP: u64 = 128 << 10;
        let Ok(f) = std::fs::File::open(&path) else { return };
        let mut at = 0;
        while at < size && !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let advised = rustix::fs::fadvise(&f, at, std::num::NonZeroU64::new(STEP), rustix::fs::Advice::WillNeed);
            if advised.is_err() {
                break;
            }
            at += STEP;
        }
    });
    spawned.ok().map(|_| Prefetch(stop))
}

/// Stops the prefetching thread when dropped.
pub struct Prefetch(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// `MemAvailable` of /proc/meminfo in bytes (None where there is none).
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Rows per statement of `insert_rows_on` (SQLite's limit on bound values,
/// 32 766, allows 64 rows of up to 511 columns).
const SQLITE_ROWS: usize = 64;

/// Inserts whole rows into `table` on a SQLite handle lent by
/// `on_sqlite_handle`: statements of `SQLITE_ROWS` rows (and one of a row
/// for the rest), each prepared once. Through sqlx's driver the same rows
/// cost about twice as much: it copies every bound value and re-binds a
/// statement of thousands of values per call (docs/performance.md).
pub fn insert_rows_on<const N: usize>(h: &rusqlite::Connection, table: &str, columns: &str, rows: &[[B<'_>; N]]) -> rusqlite::Result<()> {
    let sql = |k: usize| {
        let one = format!("({})", vec!["?"; N].join(", "));
        format!("INSERT INTO {table} ({columns}) VALUES {}", vec![one; k].join(", "))
    };
    let mut many = None;
    let mut single = None;
    for chunk in rows.chunks(SQLITE_ROWS) {
        let (st, k) = if chunk.len() == SQLITE_ROWS { (&mut many, SQLITE_ROWS) } else { (&mut single, 1) };
        let st = match st {
            Some(st) => st,
            None => st.insert(h.prepare(&sql(k))?),
        };
        for part in chunk.chunks(k) {
            bind_all(st, part.iter().flatten())?;
            st.raw_execute()?;
        }
    }
    Ok(())
}

/// Binds `values` to a prepared SQLite statement's positional `?`, in order.
pub fn bind_all<'r, 'v: 'r>(st: &mut rusqlite::Statement<'_>, values: impl IntoIterator<Item = &'r B<'v>>) -> rusqlite::Result<()> {
    for (i, v) in values.into_iter().enumerate() {
        match *v {
            B::S(x) => st.raw_bind_parameter(i + 1, x)?,
            B::OS(x) => st.raw_bind_parameter(i + 1, x)?,
            B::I(x) => st.raw_bind_parameter(i + 1, x)?,
            B::OI(x) => st.raw_bind_parameter(i + 1, x)?,
        }
    }
    Ok(())
}

/// Inserts whole rows into `table` with one COPY (PostgreSQL).
pub async fn copy_rows<const N: usize>(c: &mut PgConnection, table: &str, columns: &str, rows: &[[B<'_>; N]]) -> ApiResult<()> {
    let mut copy = c.copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN")).await?;
    let mut buf = Vec::with_capacity(1 << 20);
    for r in rows {
        copy_row(&mut buf, r);
        if buf.len() >= 1 << 20 {
            copy.send(std::mem::take(&mut buf)).await?;
        }
    }
    if !buf.is_empty() {
        copy.send(buf).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// Escapes a value for PostgreSQL's COPY text format.
pub fn copy_text(out: &mut Vec<u8>, v: &str) {
    for b in v.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// One row in PostgreSQL's COPY text format.
pub fn copy_row(out: &mut Vec<u8>, values: &[B<'_>]) {
    for (k, v) in values.iter().enumerate() {
        if k > 0 {
            out.push(b'\t');
        }
        match *v {
            B::S(s) | B::OS(Some(s)) => copy_text(out, s),
            B::I(i) | B::OI(Some(i)) => out.extend_from_slice(i.to_string().as_bytes()),
            B::OS(None) | B::OI(None) => out.extend_from_slice(b"\\N"),
        }
    }
    out.push(b'\n');
}

/// SQLite looks a named or numbered parameter up by a linear scan, so a
/// statement with thousands of `$n` costs quadratic time to bind (sqlx asks
/// each one's name). When the `$n` appear exactly as 1, 2, 3, … they are
/// rewritten to plain positional `?`; otherwise the SQL is kept as it is
/// (small statements that reuse a parameter).
pub fn positional(sql: &str) -> std::borrow::Cow<'_, str> {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut next = 1usize;
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] == b'$' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if sql[i + 1..j].parse::<usize>().ok() != Some(next) {
                return std::borrow::Cow::Borrowed(sql);
            }
            next += 1;
            out.push_str(&sql[last..i]);
            out.push('?');
            last = j;
            i = j;
        } else {
            i += 1;
        }
    }
    if next == 1 {
        return std::borrow::Cow::Borrowed(sql);
    }
    out.push_str(&sql[last..]);
    std::borrow::Cow::Owned(out)
}

/// A bind value as rusqlite takes it.
fn sqlite_value(b: &B<'_>) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match *b {
        B::S(s) | B::OS(Some(s)) => Value::Text(s.to_string()),
        B::I(i) | B::OI(Some(i)) => Value::Integer(i),
        B::OS(None) | B::OI(None) => Value::Null,
    }
}

/// `$n` as SQLite's `?n`, which binds the n-th value wherever it appears
/// (SQLite reads `$1` as a name, numbered in order of first appearance).
pub fn numbered(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    for (i, ch) in sql.char_indices() {
        if ch == '$' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(ch);
        }
    }
    out
}

/// `($1, …, $k), ($k+1, …), …` for `rows` rows of `per_row` values.
pub fn value_rows(rows: usize, per_row: usize) -> String {
    let mut s = String::with_capacity(rows * per_row * 6);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        s.push_str(&placeholders(1 + r * per_row, per_row));
        s.push(')');
    }
    s
}

/// `$from, $from+1, …` for `n` values: an IN list.
pub fn placeholders(from: usize, n: usize) -> String {
    let mut s = String::with_capacity(n * 5);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('$');
        s.push_str(&(from + i).to_string());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_rows_escape() {
        let mut out = Vec::new();
        copy_row(&mut out, &[B::S("a\\b\tc"), B::OS(None), B::I(-5), B::OI(Some(7))]);
        assert_eq!(out, b"a\\\\b\\tc\t\\N\t-5\t7\n");
    }

    #[test]
    fn sequential_parameters_become_positional() {
        assert_eq!(positional("SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"), "SELECT a FROM t WHERE b = ? AND c IN (?, ?)");
        assert_eq!(positional("SELECT $1, $10"), "SELECT $1, $10", "out of order stays numbered");
        assert_eq!(positional("SELECT $1, $1"), "SELECT $1, $1", "reuse stays numbered");
        assert_eq!(positional("COMMIT"), "COMMIT");
    }

    #[test]
    fn numbered_parameters_keep_their_numbers() {
        assert_eq!(numbered("WHERE a <= $2 AND b >= $1 AND c = $10"), "WHERE a <= ?2 AND b >= ?1 AND c = ?10");
        assert_eq!(numbered("SELECT '$' || x FROM t"), "SELECT '$' || x FROM t");
    }
}
