//! A native connection for writing a month's drafts in bulk: the `Any`
//! driver converts every bound value on the way, which is what a few hundred
//! thousand lines and flags cannot afford. Backend-specific for speed only
//! (see src/db.rs): multi-row INSERTs with positional `?` on SQLite, COPY on
//! PostgreSQL. Everything else in the module uses the portable pool.

use super::{Adjustment, Flag, Line};
use crate::db::{Backend, Db};
use crate::error::ApiResult;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::time::Duration;

pub enum Native {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

/// A bound value.
#[derive(Debug, Clone, Copy)]
pub enum V<'a> {
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
                V::S(v) => q.bind(v),
                V::OS(v) => q.bind(v),
                V::I(v) => q.bind(v),
                V::OI(v) => q.bind(v),
            };
        }
        q
    }};
}

/// `$1, $2, …` → `?, ?, …` for SQLite (which looks numbered parameters up by
/// a linear scan). Statements here number their parameters in order.
fn positional(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// Escapes a value for PostgreSQL's COPY text format.
fn copy_text(out: &mut Vec<u8>, v: &str) {
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

fn copy_row(out: &mut Vec<u8>, values: &[V<'_>]) {
    for (k, v) in values.iter().enumerate() {
        if k > 0 {
            out.push(b'\t');
        }
        match *v {
            V::S(s) | V::OS(Some(s)) => copy_text(out, s),
            V::I(i) | V::OI(Some(i)) => out.extend_from_slice(i.to_string().as_bytes()),
            V::OS(None) | V::OI(None) => out.extend_from_slice(b"\\N"),
        }
    }
    out.push(b'\n');
}

const LINE_COLUMNS: &str =
    "settlement_id, seq, client_id, service_type, time_class, zone, rate_valid_from, rate_ore, quantity_num, quantity_den, amount_ore";
const FLAG_COLUMNS: &str = "settlement_id, seq, client_id, service_type, external_id, code, detail, excess_ore";

fn line_values<'a>(id: &'a str, l: &'a Line) -> [V<'a>; 11] {
    [
        V::S(id),
        V::I(l.seq),
        V::S(&l.client_id),
        V::S(&l.service_type),
        V::S(&l.time_class),
        V::S(&l.zone),
        V::S(&l.rate_valid_from),
        V::I(l.rate_ore),
        V::I(l.quantity_num),
        V::I(l.quantity_den),
        V::I(l.amount_ore),
    ]
}

fn flag_values<'a>(id: &'a str, f: &'a Flag, detail: &'a str) -> [V<'a>; 8] {
    [
        V::S(id),
        V::I(f.seq),
        V::S(&f.client_id),
        V::S(&f.service_type),
        V::OS(f.external_id.as_deref()),
        V::S(&f.code),
        V::S(detail),
        V::OI(f.excess_ore),
    ]
}

/// Rows per multi-row INSERT on SQLite (11 × 500 values, far below its limit).
const SQLITE_ROWS: usize = 500;

impl Native {
    /// A connection of the pool's backend to the pool's database.
    pub async fn open(db: &Db) -> ApiResult<Native> {
        let url = db.pool.connect_options().database_url.to_string();
        Ok(match db.backend {
            Backend::Sqlite => {
                let opts = SqliteConnectOptions::from_str(&url)
                    .map_err(anyhow::Error::from)?
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
                    .synchronous(SqliteSynchronous::Normal)
                    .disable_statement_logging();
                Native::Sqlite(opts.connect().await?)
            }
            Backend::Postgres => {
                let opts = PgConnectOptions::from_str(&url).map_err(anyhow::Error::from)?.disable_statement_logging();
                Native::Pg(opts.connect().await?)
            }
        })
    }

    /// Starts a write transaction; on SQLite it takes the write lock at once
    /// (IMMEDIATE), so a concurrent writer waits rather than fails midway.
    pub async fn begin(&mut self) -> ApiResult<()> {
        let sql = match self {
            Native::Sqlite(_) => "BEGIN IMMEDIATE",
            Native::Pg(_) => "BEGIN",
        };
        self.exec(sql, &[]).await.map(|_| ())
    }

    pub async fn commit(&mut self) -> ApiResult<()> {
        self.exec("COMMIT", &[]).await.map(|_| ())
    }

    pub async fn rollback(&mut self) -> ApiResult<()> {
        self.exec("ROLLBACK", &[]).await.map(|_| ())
    }

    /// Runs a statement whose parameters are numbered `$1, $2, …` in order.
    pub async fn exec(&mut self, sql: &str, binds: &[V<'_>]) -> ApiResult<u64> {
        Ok(match self {
            Native::Sqlite(c) => {
                let sql = positional(sql);
                bind_all!(sqlx::query(&sql), binds).execute(&mut *c).await?.rows_affected()
            }
            Native::Pg(c) => bind_all!(sqlx::query(sql), binds).execute(&mut *c).await?.rows_affected(),
        })
    }

    /// The settlement row's (id, checksum, flags_checksum).
    pub async fn head(&mut self, provider_id: &str, month: &str) -> ApiResult<(String, String, String)> {
        let sql = "SELECT id, checksum, flags_checksum FROM settlements WHERE provider_id = $1 AND month = $2";
        Ok(match self {
            Native::Sqlite(c) => sqlx::query_as(&positional(sql)).bind(provider_id).bind(month).fetch_one(&mut *c).await?,
            Native::Pg(c) => sqlx::query_as(sql).bind(provider_id).bind(month).fetch_one(&mut *c).await?,
        })
    }

    pub async fn adjustments(&mut self, provider_id: &str, month: &str) -> ApiResult<Vec<Adjustment>> {
        type Row = (String, String, String, i64, String, Option<String>, Option<String>, String, String);
        let sql = "SELECT id, provider_id, month, amount_ore, reason, corrects, source, created_at, created_by \
                   FROM settlement_adjustments WHERE provider_id = $1 AND month = $2 ORDER BY created_at, id";
        let rows: Vec<Row> = match self {
            Native::Sqlite(c) => sqlx::query_as(&positional(sql)).bind(provider_id).bind(month).fetch_all(&mut *c).await?,
            Native::Pg(c) => sqlx::query_as(sql).bind(provider_id).bind(month).fetch_all(&mut *c).await?,
        };
        Ok(rows
            .into_iter()
            .map(|r| Adjustment {
                id: r.0,
                provider_id: r.1,
                month: r.2,
                amount_ore: r.3,
                reason: r.4,
                corrects: r.5,
                source: r.6,
                created_at: r.7,
                created_by: r.8,
            })
            .collect())
    }

    async fn insert_rows<'a>(&mut self, table: &str, columns: &str, per_row: usize, rows: &[Vec<V<'a>>]) -> ApiResult<()> {
        match self {
            Native::Sqlite(c) => {
                for chunk in rows.chunks(SQLITE_ROWS) {
                    let one = format!("({})", vec!["?"; per_row].join(","));
                    let sql = format!("INSERT INTO {table} ({columns}) VALUES {}", vec![one; chunk.len()].join(","));
                    let all: Vec<V<'a>> = chunk.iter().flatten().copied().collect();
                    bind_all!(sqlx::query(&sql), all.iter()).execute(&mut *c).await?;
                }
            }
            Native::Pg(c) => {
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
            }
        }
        Ok(())
    }

    pub async fn insert_lines(&mut self, settlement_id: &str, lines: &[Line]) -> ApiResult<()> {
        let rows: Vec<Vec<V<'_>>> = lines.iter().map(|l| line_values(settlement_id, l).to_vec()).collect();
        self.insert_rows("settlement_lines", LINE_COLUMNS, 11, &rows).await
    }

    pub async fn insert_flags(&mut self, settlement_id: &str, flags: &[Flag]) -> ApiResult<()> {
        let details: Vec<String> = flags.iter().map(|f| f.detail.to_string()).collect();
        let rows: Vec<Vec<V<'_>>> = flags.iter().zip(&details).map(|(f, d)| flag_values(settlement_id, f, d).to_vec()).collect();
        self.insert_rows("settlement_flags", FLAG_COLUMNS, 8, &rows).await
    }

    pub async fn close(self) {
        let _ = match self {
            Native::Sqlite(c) => c.close().await,
            Native::Pg(c) => c.close().await,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_parameters_become_positional() {
        assert_eq!(positional("UPDATE t SET a = $1 WHERE b = $2 AND c = $10"), "UPDATE t SET a = ? WHERE b = ? AND c = ?");
        assert_eq!(positional("SELECT '$x'"), "SELECT '$x'");
    }

    #[test]
    fn copy_rows_escape() {
        let mut out = Vec::new();
        copy_row(&mut out, &[V::S("a\\b\tc"), V::OS(None), V::I(-5), V::OI(Some(7))]);
        assert_eq!(out, b"a\\\\b\\tc\t\\N\t-5\t7\n");
    }
}
