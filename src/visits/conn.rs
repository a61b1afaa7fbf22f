//! A native connection for the import, so the bulk path can use what each
//! backend does fastest (multi-row INSERTs on SQLite, COPY on PostgreSQL).
//! Backend-specific code lives here and in `import.rs`, for speed only
//! (see src/db.rs); every other query goes through the portable `Any` pool.
//! Queries are written once, with `$n` placeholders both backends accept.

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

impl Conn {
    /// Opens a connection of the pool's backend to the pool's database.
    pub async fn open(db: &Db) -> ApiResult<Conn> {
        let url = db.pool.connect_options().database_url.to_string();
        Ok(match db.backend {
            Backend::Sqlite => {
                let opts = SqliteConnectOptions::from_str(&url)
                    .map_err(anyhow::Error::from)?
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
                    .synchronous(SqliteSynchronous::Normal)
                    // A big page cache keeps the indexes of a large import in memory.
                    .pragma("cache_size", "-524288")
                    .pragma("temp_store", "memory")
                    .disable_statement_logging();
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

    /// Starts the import's transaction. On SQLite it takes the write lock at
    /// once (IMMEDIATE), so a concurrent writer waits instead of failing midway.
    pub async fn begin(&mut self) -> ApiResult<()> {
        let sql = match self {
            Conn::Sqlite(_) => "BEGIN IMMEDIATE",
            Conn::Pg(_) => "BEGIN",
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

    pub async fn close(self) {
        let _ = match self {
            Conn::Sqlite(c) => c.close().await,
            Conn::Pg(c) => c.close().await,
        };
    }
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
    use super::positional;

    #[test]
    fn sequential_parameters_become_positional() {
        assert_eq!(positional("SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"), "SELECT a FROM t WHERE b = ? AND c IN (?, ?)");
        assert_eq!(positional("SELECT $1, $10"), "SELECT $1, $10", "out of order stays numbered");
        assert_eq!(positional("SELECT $1, $1"), "SELECT $1, $1", "reuse stays numbered");
        assert_eq!(positional("COMMIT"), "COMMIT");
    }
}
