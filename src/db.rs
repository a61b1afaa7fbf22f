//! One database handle for both backends. SQLite is the embedded default;
//! PostgreSQL is chosen by a `postgres://` URL. Queries are written once, in
//! the portable subset both accept: `$1` placeholders, text ids, BIGINT
//! integers (money in öre), ISO-8601 text for dates and UTC timestamps.
//! Backend-specific code exists only where speed demands it (bulk import)
//! and where the schema needs it (append-only triggers), and is marked so.

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// The SQLite import connection kept between imports (`crate::bulk`).
    pub(crate) spare: crate::bulk::Spare,
}

pub type Row = AnyRow;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Db {
    /// The SQLite file `valfri.sqlite` in `dir`, created if missing.
    pub async fn open_dir(dir: &Path) -> anyhow::Result<Db> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
        let file = dir.join("valfri.sqlite");
        Db::connect(&format!("sqlite://{}?mode=rwc", file.display())).await
    }

    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!("database URL must start with sqlite: or postgres://");
        };
        let pool = match backend {
            Backend::Sqlite => {
                // WAL lets readers proceed during the one writer; the pragma is
                // persistent, so setting it once on the first connection is enough.
                let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    .create_if_missing(true);
                // Make sure the file exists in WAL mode before the Any pool opens it.
                let first = sqlx::ConnectOptions::connect(&opts).await?;
                sqlx::Connection::close(first).await?;
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
            Backend::Postgres => AnyPoolOptions::new().max_connections(16).connect(url).await?,
        };
        let db = Db { pool, backend, spare: Default::default() };
        db.migrate().await?;
        Ok(db)
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR.run(&self.pool).await.context("running migrations")?;
        self.install_append_only_guards().await
    }

    /// The audit log must not change once written, even by a bug in our own
    /// code: the database itself refuses UPDATE and DELETE on it.
    async fn install_append_only_guards(&self) -> anyhow::Result<()> {
        match self.backend {
            Backend::Sqlite => {
                for op in ["UPDATE", "DELETE"] {
                    let sql = format!(
                        "CREATE TRIGGER IF NOT EXISTS audit_log_no_{l} BEFORE {op} ON audit_log \
                         BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
                        l = op.to_lowercase()
                    );
                    self.pool.execute(sql.as_str()).await?;
                }
            }
            Backend::Postgres => {
                self.pool
                    .execute(
                        "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger \
                         LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
                    )
                    .await?;
                self.pool
                    .execute(
                        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'audit_log_no_change') THEN \
                         CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log \
                         FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only(); END IF; END $$",
                    )
                    .await?;
            }
        }
        Ok(())
    }
}

/// Booleans are stored as 0/1 BIGINT on both backends (sqlx's Any driver
/// cannot decode SQLite's BOOLEAN).
pub fn flag(b: bool) -> i64 {
    i64::from(b)
}

pub fn get_flag(row: &Row, col: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row as _;
    Ok(row.try_get::<i64, _>(col)? != 0)
}
