//! Writes a plan's master data (setup, providers, clients, decisions,
//! provider periods, assignments) into the server's own tables. The setup
//! goes through `setup::store::apply`, the path `valfri setup apply` takes;
//! the bulk rows are written with multi-row INSERTs in one transaction,
//! which is what "fast path" means here: the rows are exactly those the
//! server's own code would write, without per-row round trips.

use super::det_uuid;
use super::plan::{kind, Plan, CREATED_AT};
use crate::db::Backend;
use anyhow::Context;
use sqlx::AnyConnection;

/// One bound value. NULLs carry their type: PostgreSQL refuses a NULL typed
/// as text in a BIGINT column.
#[derive(Debug, Clone)]
pub enum V {
    T(String),
    S(&'static str),
    I(i64),
    NullT,
}

/// Collects rows of one table and writes them in statements of many rows.
pub struct Bulk {
    table: &'static str,
    cols: &'static [&'static str],
    rows: Vec<Vec<V>>,
    per_stmt: usize,
    full_sql: String,
    backend: Backend,
    pub written: u64,
}

impl Bulk {
    pub fn new(backend: Backend, table: &'static str, cols: &'static [&'static str]) -> Bulk {
        // Below SQLite's 32 766 bound parameters per statement.
        let per_stmt = (16_000 / cols.len()).min(2_000);
        let full_sql = Self::sql(backend, table, cols, per_stmt);
        Bulk { table, cols, rows: Vec::with_capacity(per_stmt), per_stmt, full_sql, backend, written: 0 }
    }

    /// SQLite gets plain positional `?` (see `crate::bulk::positional`).
    fn sql(backend: Backend, table: &str, cols: &[&str], rows: usize) -> String {
        let sql = format!("INSERT INTO {table} ({}) VALUES {}", cols.join(", "), crate::bulk::value_rows(rows, cols.len()));
        match backend {
            Backend::Sqlite => crate::bulk::positional(&sql).into_owned(),
            Backend::Postgres => sql,
        }
    }

    pub async fn push(&mut self, conn: &mut AnyConnection, row: Vec<V>) -> anyhow::Result<()> {
        debug_assert_eq!(row.len(), self.cols.len());
        self.rows.push(row);
        if self.rows.len() >= self.per_stmt {
            self.flush(conn).await?;
        }
        Ok(())
    }

    pub async fn flush(&mut self, conn: &mut AnyConnection) -> anyhow::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let sql = if self.rows.len() == self.per_stmt {
            self.full_sql.clone()
        } else {
            Self::sql(self.backend, self.table, self.cols, self.rows.len())
        };
        let mut q = sqlx::query(&sql);
        for row in self.rows.drain(..) {
            for v in row {
                q = match v {
                    V::T(s) => q.bind(s),
                    V::S(s) => q.bind(s),
                    V::I(i) => q.bind(i),
                    V::NullT => q.bind(None::<String>),
                };
            }
        }
        let done = q.execute(&mut *conn).await.with_context(|| format!("inserting into {}", self.table))?;
        self.written += done.rows_affected();
        Ok(())
    }
}

/// Row counts written, per table.
#[derive(Debug, Default, Clone)]
pub struct Written {
    pub tables: Vec<(&'static str, u64)>,
}

impl Written {
    pub fn total(&self) -> u64 {
        self.tables.iter().map(|t| t.1).sum()
    }
}

/// Writes the plan into an empty database (migrated, nothing else).
pub async fn write_database(db: &crate::db::Db, plan: &Plan) -> anyhow::Result<Written> {
    let now = CREATED_AT;
    crate::setup::store::apply(db, &plan.setup, "bench", now).await.map_err(|e| anyhow::anyhow!("applying the setup: {e:?}"))?;

    let mut tx = sqlx::Acquire::begin(&db.pool).await?;
    let conn: &mut AnyConnection = &mut tx;
    // The case officer who made every decision. The password hash is not a
    // hash, so nobody can sign in as this user.
    sqlx::query(
        "INSERT INTO users (id, username, display_name, password_hash, role, provider_id, client_id, created_at) \
         VALUES ($1, $2, $3, '!', 'case_officer', NULL, NULL, $4)",
    )
    .bind(&plan.user_id)
    .bind(&plan.user_name)
    .bind("Benchmark case officer")
    .bind(now)
    .execute(&mut *conn)
    .await?;

    let mut written = Written::default();
    let mut b = Bulk::new(
        db.backend,
        "providers",
        &[
            "id",
            "name",
            "org_nr",
            "ownership",
            "owner_name",
            "description",
            "languages",
            "specialities",
            "phone",
            "email",
            "website",
            "vat_compensation",
            "created_at",
        ],
    );
    for p in &plan.providers {
        let row = vec![
            V::T(p.id.clone()),
            V::T(p.name.clone()),
            V::T(p.org_nr.clone()),
            V::S(p.ownership),
            V::T(p.name.clone()),
            V::S("Synthetic provider for the benchmark."),
            V::S("sv"),
            V::S(""),
            V::S("08-123 456 00"),
            V::T(format!("{}@example.org", p.code.to_lowercase())),
            V::S(""),
            V::I(i64::from(p.vat)),
            V::S(now),
        ];
        b.push(conn, row).await?;
    }
    b.flush(conn).await?;
    written.tables.push(("providers", b.written));

    let mut b = Bulk::new(
        db.backend,
        "clients",
        &[
            "id",
            "person_id",
            "name",
            "address",
            "postcode",
            "area_code",
            "preferred_language",
            "protected_identity",
            "representative",
            "created_at",
        ],
    );
    for c in &plan.clients {
        let row = vec![
            V::T(c.id.clone()),
            V::T(c.person_id.clone()),
            V::T(c.name.clone()),
            V::T(c.address.clone()),
            V::T(c.postcode.clone()),
            V::T(plan.areas[c.area as usize].0.clone()),
            V::S("sv"),
            V::I(0),
            V::S(""),
            V::S(now),
        ];
        b.push(conn, row).await?;
    }
    b.flush(conn).await?;
    written.tables.push(("clients", b.written));

    let mut decisions = Bulk::new(db.backend, "decisions", &["id", "client_id", "created_at", "created_by"]);
    for c in &plan.clients {
        decisions.push(conn, vec![V::T(c.decision_id.clone()), V::T(c.id.clone()), V::S(now), V::T(plan.user_id.clone())]).await?;
    }
    decisions.flush(conn).await?;
    written.tables.push(("decisions", decisions.written));

    let mut versions = Bulk::new(
        db.backend,
        "decision_versions",
        &[
            "id",
            "decision_id",
            "version",
            "valid_from",
            "valid_to",
            "state",
            "decided_by",
            "decided_at",
            "note",
            "replaced_by",
            "ended_at",
            "ended_by",
            "end_reason",
        ],
    );
    for c in &plan.clients {
        for (i, v) in c.versions.iter().enumerate() {
            let replaced_by = c.versions.get(i + 1).filter(|_| v.state != "current").map(|n| n.id.clone());
            let ended = v.state == "current" && v.to.is_some();
            versions
                .push(
                    conn,
                    vec![
                        V::T(v.id.clone()),
                        V::T(c.decision_id.clone()),
                        V::I(v.version),
                        V::T(v.from.to_string()),
                        v.to.map_or(V::NullT, |t| V::T(t.to_string())),
                        V::S(v.state),
                        V::T(plan.user_id.clone()),
                        V::S(now),
                        V::S(""),
                        replaced_by.map_or(V::NullT, V::T),
                        if ended { V::S(now) } else { V::NullT },
                        if ended { V::T(plan.user_id.clone()) } else { V::NullT },
                        if ended { V::S("moved_to_nursing_home") } else { V::NullT },
                    ],
                )
                .await?;
        }
    }
    versions.flush(conn).await?;
    written.tables.push(("decision_versions", versions.written));

    let mut services = Bulk::new(db.backend, "decision_services", &["version_id", "service_type", "monthly_amount", "double_staffing"]);
    for c in &plan.clients {
        for v in &c.versions {
            for &(s, amount, double) in &v.services {
                services.push(conn, vec![V::T(v.id.clone()), V::S(s), V::I(amount), V::I(i64::from(double))]).await?;
            }
        }
    }
    services.flush(conn).await?;
    written.tables.push(("decision_services", services.written));

    let mut periods = Bulk::new(
        db.backend,
        "client_provider_periods",
        &["client_id", "service_group", "valid_from", "valid_to", "provider_id", "choice_id"],
    );
    for c in &plan.clients {
        for p in &c.periods {
            periods
                .push(
                    conn,
                    vec![
                        V::T(c.id.clone()),
                        V::S(p.group),
                        V::T(p.from.to_string()),
                        p.to.map_or(V::NullT, |t| V::T(t.to_string())),
                        V::T(plan.providers[p.provider as usize].id.clone()),
                        V::NullT,
                    ],
                )
                .await?;
        }
    }
    periods.flush(conn).await?;
    written.tables.push(("client_provider_periods", periods.written));

    // Assignments = decision versions × provider periods, one row per
    // segment with a fixed provider, service and amount (as
    // `assignments::sync_client` derives them).
    let mut assignments = Bulk::new(
        db.backend,
        "assignments",
        &[
            "id",
            "client_id",
            "provider_id",
            "service_type",
            "start_date",
            "end_date",
            "monthly_amount",
            "created_at",
            "decision_id",
            "choice_id",
            "double_staffing",
            "status",
            "notice",
            "revision",
            "acknowledged_at",
            "updated_at",
        ],
    );
    let mut n = 0u64;
    for c in &plan.clients {
        for v in c.versions.iter().filter(|v| v.state != "superseded") {
            for &(s, amount, double) in &v.services {
                for p in c.periods.iter().filter(|p| p.group == s) {
                    let from = v.from.max(p.from);
                    let to = match (v.to, p.to) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    if to.is_some_and(|t| t < from) {
                        continue;
                    }
                    assignments
                        .push(
                            conn,
                            vec![
                                V::T(det_uuid(plan.spec.seed, kind::ASSIGNMENT, n)),
                                V::T(c.id.clone()),
                                V::T(plan.providers[p.provider as usize].id.clone()),
                                V::S(s),
                                V::T(from.to_string()),
                                to.map_or(V::NullT, |t| V::T(t.to_string())),
                                V::I(amount),
                                V::S(now),
                                V::T(c.decision_id.clone()),
                                V::NullT,
                                V::I(i64::from(double)),
                                V::S("acknowledged"),
                                V::S("new"),
                                V::I(1),
                                V::S(now),
                                V::S(now),
                            ],
                        )
                        .await?;
                    n += 1;
                }
            }
        }
    }
    assignments.flush(conn).await?;
    written.tables.push(("assignments", assignments.written));
    tx.commit().await?;
    Ok(written)
}
