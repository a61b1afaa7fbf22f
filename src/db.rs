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

/// The page size of a new SQLite database (see `Db::connect`).
const SQLITE_PAGE_SIZE: u32 = 16384;

/// The key `visits` is stored by on SQLite (see `Db::cluster_visits`).
const VISITS_KEY: &str = "PRIMARY KEY (provider_id, external_id),";
const VISITS_CLUSTERED_KEY: &str = "PRIMARY KEY (month, client_id, provider_id, external_id),\n    UNIQUE (provider_id, external_id),";
/// Made redundant by the clustered key, so not rebuilt on SQLite.
const VISITS_MONTH_INDEX: &str = "settlement_visits_month";

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
                // Pages of 16 KiB rather than SQLite's 4: a new database only
                // (an existing one keeps its size until a VACUUM). The import
                // and the month's settlement walk B-trees of millions of
                // rows, and each took about 0.84× and 0.88× the time when
                // measured (docs/performance.md, sixth round).
                let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                    .page_size(SQLITE_PAGE_SIZE)
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
        if self.backend == Backend::Sqlite {
            self.cluster_visits().await.context("clustering the visits table")?;
        }
        self.install_append_only_guards().await
    }

    /// SQLite only, once (migration 0007 says why): rebuilds `visits` as a
    /// WITHOUT ROWID table keyed by (month, client, provider, external id),
    /// so the settlement reads a month in one sequential range instead of
    /// fetching each row through an index from all over the file (measured
    /// in docs/performance.md). The table is rebuilt from its own stored
    /// definition, so it keeps every column and constraint the migrations
    /// gave it; (provider, external id) stays a unique key, which the visit
    /// flags' foreign key and the import's upsert name, and every index is
    /// rebuilt but the (month, client) one the new key replaces.
    async fn cluster_visits(&self) -> anyhow::Result<()> {
        let sql: Option<String> =
            sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'visits'").fetch_optional(&self.pool).await?;
        let Some(sql) = sql.filter(|s| !s.contains("WITHOUT ROWID")) else {
            return Ok(());
        };
        // The stored text is `CREATE TABLE visits (…)`, the name quoted if
        // the table was ever renamed: keep what is between the parentheses.
        let body = sql.split_once('(').and_then(|(_, rest)| rest.trim_end().strip_suffix(')'));
        let Some(body) = body.filter(|b| b.matches(VISITS_KEY).count() == 1) else {
            anyhow::bail!("the visits table's definition is not the migrations' one: {sql}");
        };
        let create = format!("CREATE TABLE visits_clustered ({}) WITHOUT ROWID", body.replace(VISITS_KEY, VISITS_CLUSTERED_KEY));
        let indexes: Vec<String> = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'visits' AND sql IS NOT NULL AND name <> $1",
        )
        .bind(VISITS_MONTH_INDEX)
        .fetch_all(&self.pool)
        .await?;
        let mut conn = self.pool.acquire().await?;
        // The 12-step table change of SQLite's ALTER TABLE documentation:
        // foreign keys off (outside the transaction), copy, swap, check.
        conn.execute("PRAGMA foreign_keys = OFF").await?;
        let rebuilt = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            tx.execute(create.as_str()).await?;
            tx.execute("INSERT INTO visits_clustered SELECT * FROM visits").await?;
            tx.execute("DROP TABLE visits").await?;
            tx.execute("ALTER TABLE visits_clustered RENAME TO visits").await?;
            for index in &indexes {
                tx.execute(index.as_str()).await?;
            }
            let broken: Option<String> =
                sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_check LIMIT 1").fetch_optional(&mut *tx).await?;
            if let Some(table) = broken {
                anyhow::bail!("foreign key check failed in {table}");
            }
            tx.commit().await?;
            anyhow::Ok(())
        }
        .await;
        conn.execute("PRAGMA foreign_keys = ON").await?;
        rebuilt
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
