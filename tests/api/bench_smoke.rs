//! The benchmark's pipeline at a tiny scale, so `scripts/bench` cannot rot:
//! generate a month (master data into the database, visits as provider CSV
//! files), import every file through the real import path, settle the month
//! through the real settlement path. Timings are not asserted here.

use crate::common::{spawn_app, TestApp};
use valfri::bench::visits::Stats;
use valfri::bench::{bulk, visits, Plan, Spec};
use valfri::visits::import::{Actor, ImportReport, Options, Source};

/// A generated month in `app`'s (empty) database.
pub struct Generated {
    pub spec: Spec,
    pub plan: Plan,
    pub stats: Stats,
    /// Each provider's file, the options it was imported with and its report.
    pub imports: Vec<(std::path::PathBuf, Options, ImportReport)>,
    _dir: tempfile::TempDir,
}

/// Writes `spec`'s month into `app`'s database and imports every
/// provider's file as the provider would upload it (only its own clients).
pub async fn generated_month(app: &TestApp, spec: Spec) -> Generated {
    // After the month, as when a month is settled.
    app.clock.set("2026-05-05T09:00:00Z".parse().unwrap());
    let plan = Plan::new(&spec);
    let written = bulk::write_database(&app.state.db, &plan).await.unwrap();
    assert!(written.total() > 200, "{:?}", written.tables);
    app.state.reload_municipality().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let stats = visits::write_csv_dir(&plan, dir.path()).unwrap();
    let mut imports = Vec::new();
    for (p, prov) in plan.providers.iter().enumerate() {
        let path = visits::provider_file(&plan, dir.path(), p as u32);
        if !path.exists() {
            continue;
        }
        let opts = || Options {
            provider_id: prov.id.clone(),
            source: Source::Csv,
            file_name: "bench.csv".into(),
            all_or_nothing: false,
            actor: Actor { user_id: None, username: "bench".into(), role: "provider".into(), any_client: false },
        };
        let report = valfri::visits::csvfile::import(&app.state, opts(), std::fs::File::open(&path).unwrap()).await.unwrap();
        imports.push((path, opts(), report));
    }
    Generated { spec, plan, stats, imports, _dir: dir }
}

#[tokio::test]
async fn generate_import_and_settle_a_small_month() {
    let app = spawn_app().await;
    let g = generated_month(&app, Spec::small(50, 4)).await;
    assert!(g.stats.visits > 2_000, "{:?}", g.stats);
    let mut rows = 0;
    let mut accepted = 0;
    let mut rejected = 0;
    for (_, _, report) in &g.imports {
        // Every rejection is a row naming a client the provider never had.
        for r in &report.rejections {
            assert_eq!((r.field.as_str(), r.code.as_str()), ("client", "unknown_client"), "{r:?}");
        }
        rows += report.rows;
        accepted += report.accepted();
        rejected += report.rejected_rows;
    }
    assert_eq!(rows, g.stats.visits);
    assert_eq!(accepted + rejected, rows);
    assert!(rejected <= g.stats.unknown_client, "{rejected} rejected, {:?}", g.stats);

    // Re-importing a file changes nothing.
    let (path, opts, _) = &g.imports[0];
    let again = valfri::visits::csvfile::import(&app.state, opts.clone(), std::fs::File::open(path).unwrap()).await.unwrap();
    assert_eq!((again.new, again.replaced), (0, 0), "{again:?}");

    let month = g.spec.month;
    let run = valfri::settlement::run_month(&app.state.db, month, "bench", "2026-05-05T09:00:00Z", false).await.unwrap();
    assert_eq!(run.visits, accepted, "every stored visit of the month is read");
    assert_eq!(run.providers, g.plan.providers.len());
    assert!(run.total_ore > 0, "{run:?}");
    let (lines, flags): (i64, i64) =
        sqlx::query_as("SELECT CAST(SUM(line_count) AS BIGINT), CAST(SUM(flag_count) AS BIGINT) FROM settlements WHERE month = $1")
            .bind(month.to_string())
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert!(lines > 100, "{lines} lines");
    // The month has late cancellations, excess time and visits outside an
    // assignment, so the engine must flag something.
    assert!(flags > 0, "{flags} flags");
}
