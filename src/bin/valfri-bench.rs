//! `valfri-bench`: generates a synthetic month and measures the visits
//! import and the monthly settlement on SQLite and PostgreSQL against a
//! DuckDB reference. `scripts/bench` is the one command that runs it all;
//! docs/performance.md has the figures and explains them.
//!
//! Subcommands:
//! - `generate`: the plan's master data into a database and/or the visits
//!   CSV files (one per provider) and the reference's side tables into a dir.
//! - `import`: every CSV file of a dir through the real import path
//!   (`visits::csvfile::import`, what `valfri visits import` and the upload
//!   call), one provider's report after the other.
//! - `settle`: the whole month through `settlement::run_month`, the
//!   function `valfri settle` calls.
//! - `run`: all of it, each measured step in its own child process under
//!   `/usr/bin/time` (wall time and peak RSS), then the table and the doc.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;
use valfri::bench::{bulk, reference, visits, Plan, Spec};
use valfri::web::pager::thousands;

/// Bumped whenever the generator's output changes, so stale CSV files are
/// regenerated rather than reused.
const GENERATOR_VERSION: u32 = 2;

#[derive(Parser)]
#[command(name = "valfri-bench", about = "Synthetic months and the import/settlement benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args, Clone)]
struct SpecArgs {
    /// stockholm, national, or a number of clients.
    #[arg(long, default_value = "stockholm")]
    scale: String,
    #[arg(long, default_value_t = Spec::DEFAULT_SEED)]
    seed: u64,
}

impl SpecArgs {
    fn spec(&self) -> anyhow::Result<Spec> {
        Spec::named(&self.scale, self.seed)
            .with_context(|| format!("unknown scale {:?}: stockholm, national or a number of clients", self.scale))
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Write a synthetic month: master data into a database, visits into CSV files.
    Generate {
        #[command(flatten)]
        spec: SpecArgs,
        /// Write the visits CSV files (visits/*.csv) and reference tables here.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Write the master data into this (freshly migrated, empty) database.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Import every visits/*.csv of DIR, provider by provider.
    Import {
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        dir: PathBuf,
    },
    /// Settle a whole month.
    Settle {
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        month: String,
    },
    /// Generate, import, settle and compare with DuckDB; print and record the figures.
    Run {
        #[command(flatten)]
        spec: SpecArgs,
        /// sqlite, postgres or both.
        #[arg(long, default_value = "both")]
        db: String,
        /// A PostgreSQL server to create the benchmark database on (superuser URL).
        #[arg(long, env = "VALFRI_BENCH_PG_URL")]
        pg_url: Option<String>,
        /// Python with the duckdb package, for the reference. Skipped when absent.
        #[arg(long)]
        python: Option<PathBuf>,
        /// Where generated data goes.
        #[arg(long, default_value = "target/bench-data")]
        data_dir: PathBuf,
        /// The document to record the figures in.
        #[arg(long, default_value = "docs/performance.md")]
        doc: PathBuf,
        /// Record the figures in the document.
        #[arg(long)]
        record: bool,
        /// The command line to show in the document.
        #[arg(long, default_value = "scripts/bench")]
        command_line: String,
        /// Settlement server settings in the document (e.g. the PostgreSQL configuration).
        #[arg(long, default_value = "")]
        pg_note: String,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("VALFRI_LOG").unwrap_or_else(|_| "warn,sqlx=error".into()))
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Cmd::Generate { spec, dir, database_url } => {
            let spec = spec.spec()?;
            let t = Instant::now();
            let plan = Plan::new(&spec);
            eprintln!("planned {} clients in {:.1?}", plan.clients.len(), t.elapsed());
            if let Some(dir) = dir {
                let m = write_files(&plan, &dir)?;
                println!("{}", serde_json::to_string(&m)?);
            }
            if let Some(url) = database_url {
                let t = Instant::now();
                let db = valfri::db::Db::connect(&url).await?;
                let w = bulk::write_database(&db, &plan).await?;
                db.pool.close().await;
                eprintln!("wrote {} rows in {:.1?}: {:?}", w.total(), t.elapsed(), w.tables);
            }
            Ok(())
        }
        Cmd::Import { database_url, dir } => {
            let out = import_dir(&database_url, &dir).await?;
            println!("{}", serde_json::to_string(&out)?);
            Ok(())
        }
        Cmd::Settle { database_url, month } => {
            let out = settle(&database_url, &month).await?;
            println!("{}", serde_json::to_string(&out)?);
            Ok(())
        }
        Cmd::Run { spec, db, pg_url, python, data_dir, doc, record, command_line, pg_note } => {
            let spec = spec.spec()?;
            let dbs: Vec<&str> = match db.as_str() {
                "both" => vec!["sqlite", "postgres"],
                "sqlite" => vec!["sqlite"],
                "postgres" => vec!["postgres"],
                other => bail!("--db is sqlite, postgres or both, not {other:?}"),
            };
            let r = run_all(&spec, &dbs, pg_url.as_deref(), python.as_deref(), &data_dir).await?;
            let table = render(&spec, &r);
            println!("\n{table}");
            if record {
                record_doc(&doc, &spec, &r, &table, &command_line, &pg_note)?;
                eprintln!("recorded in {}", doc.display());
            }
            Ok(())
        }
    }
}

/// What `generate --dir` wrote.
#[derive(Debug, Serialize, Deserialize, Clone)]
struct Manifest {
    generator: u32,
    scale: String,
    seed: u64,
    month: String,
    clients: u32,
    providers: u32,
    /// (file name, provider id, rows)
    files: Vec<(String, String, u64)>,
    visits: u64,
    bytes: u64,
    stats: serde_json::Value,
    generate_s: f64,
}

fn write_files(plan: &Plan, dir: &Path) -> anyhow::Result<Manifest> {
    let t = Instant::now();
    let vdir = dir.join("visits");
    if vdir.exists() {
        std::fs::remove_dir_all(&vdir)?;
    }
    let stats = visits::write_csv_dir(plan, &vdir)?;
    reference::write_tables(plan, dir)?;
    let mut files = Vec::new();
    let mut bytes = 0;
    for (p, prov) in plan.providers.iter().enumerate() {
        let f = visits::provider_file(plan, &vdir, p as u32);
        if let Ok(meta) = std::fs::metadata(&f) {
            bytes += meta.len();
            let rows = std::fs::read(&f).map(|b| b.iter().filter(|&&c| c == b'\n').count() as u64 - 1)?;
            files.push((f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), prov.id.clone(), rows));
        }
    }
    let m = Manifest {
        generator: GENERATOR_VERSION,
        scale: plan.spec.scale.clone(),
        seed: plan.spec.seed,
        month: plan.spec.month.to_string(),
        clients: plan.spec.clients,
        providers: plan.spec.providers,
        files,
        visits: stats.visits,
        bytes,
        stats: serde_json::to_value(StatsJson::from(&stats))?,
        generate_s: t.elapsed().as_secs_f64(),
    };
    std::fs::write(dir.join("manifest.json"), serde_json::to_string_pretty(&m)?)?;
    Ok(m)
}

#[derive(Serialize)]
struct StatsJson {
    visits: u64,
    performed: u64,
    cancelled_late: u64,
    cancelled_in_time: u64,
    missed: u64,
    double_staffed: u64,
    across_midnight: u64,
    outside_assignment: u64,
    unknown_client: u64,
    personal_care: u64,
    service: u64,
    meals: u64,
    night_patrol: u64,
}

impl From<&visits::Stats> for StatsJson {
    fn from(s: &visits::Stats) -> Self {
        StatsJson {
            visits: s.visits,
            performed: s.performed,
            cancelled_late: s.cancelled_late,
            cancelled_in_time: s.cancelled_in_time,
            missed: s.missed,
            double_staffed: s.double_staffed,
            across_midnight: s.across_midnight,
            outside_assignment: s.outside_assignment,
            unknown_client: s.unknown_client,
            personal_care: s.personal_care,
            service: s.service,
            meals: s.meals,
            night_patrol: s.night_patrol,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize, Clone)]
struct ImportOut {
    files: u64,
    rows: u64,
    accepted: u64,
    rejected_rows: u64,
    flagged: u64,
    /// Time inside the import function, summed over files.
    import_s: f64,
}

async fn state_for(url: &str) -> anyhow::Result<valfri::app::AppState> {
    let db = valfri::db::Db::connect(url).await?;
    valfri::app::AppState::new(db, Arc::new(valfri::clock::SystemClock)).await
}

async fn import_dir(url: &str, dir: &Path) -> anyhow::Result<ImportOut> {
    use valfri::visits::import::{Actor, Options, Source};
    let state = state_for(url).await?;
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).context("reading manifest.json")?)?;
    let mut out = ImportOut::default();
    let t = Instant::now();
    for (file, provider_id, _) in &manifest.files {
        let path = dir.join("visits").join(file);
        let f = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        // The provider uploads its own report: it may name only its own clients.
        let opts = Options {
            provider_id: provider_id.clone(),
            source: Source::Csv,
            file_name: file.clone(),
            all_or_nothing: false,
            actor: Actor { user_id: None, username: format!("bench-{file}"), role: "provider".into(), any_client: false },
        };
        let report = valfri::visits::csvfile::import(&state, opts, std::io::BufReader::with_capacity(1 << 20, f))
            .await
            .map_err(|e| anyhow::anyhow!("importing {}: {}", path.display(), e.problem().detail))?;
        out.files += 1;
        out.rows += report.rows;
        out.accepted += report.accepted();
        out.rejected_rows += report.rejected_rows;
        out.flagged += report.flagged;
    }
    out.import_s = t.elapsed().as_secs_f64();
    Ok(out)
}

#[derive(Debug, Default, Serialize, Deserialize, Clone)]
struct SettleOut {
    visits: u64,
    providers: usize,
    lines: u64,
    flags: u64,
    total_ore: i64,
    load_ms: u64,
    settle_ms: u64,
    store_ms: u64,
    /// The settlement's own finer timings, as it reports them.
    #[serde(default)]
    timings: serde_json::Value,
    /// Time inside `run_month`.
    settle_s: f64,
}

async fn settle(url: &str, month: &str) -> anyhow::Result<SettleOut> {
    let state = state_for(url).await?;
    let month: valfri_core::Month = month.parse().map_err(|_| anyhow::anyhow!("month is YYYY-MM"))?;
    let now = valfri::clock::stamp(jiff::Timestamp::now());
    let t = Instant::now();
    let r = valfri::settlement::run_month(&state.db, month, "bench", &now, false).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let settle_s = t.elapsed().as_secs_f64();
    // Read by name from the report's JSON, so the benchmark keeps working
    // while the settlement module adds or renames finer timings.
    let v = serde_json::to_value(&r)?;
    let u = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let (lines, flags): (i64, i64) =
        sqlx::query_as("SELECT CAST(COALESCE(SUM(line_count), 0) AS BIGINT), CAST(COALESCE(SUM(flag_count), 0) AS BIGINT) FROM settlements WHERE month = $1")
            .bind(month.to_string())
            .fetch_one(&state.db.pool)
            .await?;
    Ok(SettleOut {
        visits: u("visits"),
        providers: u("providers") as usize,
        lines: lines as u64,
        flags: flags as u64,
        total_ore: v.get("total_ore").and_then(serde_json::Value::as_i64).unwrap_or(0),
        load_ms: u("load_ms"),
        settle_ms: u("settle_ms"),
        store_ms: u("store_ms"),
        timings: v.get("timings").cloned().unwrap_or_default(),
        settle_s,
    })
}

/// A child process's wall time, CPU time and peak resident memory.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Measured {
    wall_s: f64,
    user_s: f64,
    sys_s: f64,
    max_rss_kib: u64,
}

/// Runs `cmd` under `/usr/bin/time`; returns its stdout and the measures.
fn measured(label: &str, program: &Path, args: &[&str], log_dir: &Path) -> anyhow::Result<(String, Measured)> {
    let time_file = log_dir.join(format!("{label}.time"));
    let err_file = log_dir.join(format!("{label}.stderr"));
    eprintln!("  {label}: {} {}", program.display(), args.join(" "));
    let t = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%e %U %S %M")
        .arg("-o")
        .arg(&time_file)
        .arg(program)
        .args(args)
        .stderr(std::fs::File::create(&err_file)?)
        .output()
        .context("running /usr/bin/time (apt-get install time)")?;
    let wall = t.elapsed().as_secs_f64();
    if !out.status.success() {
        let err = std::fs::read_to_string(&err_file).unwrap_or_default();
        bail!("{label} failed ({}): {}", out.status, err.lines().rev().take(5).collect::<Vec<_>>().join(" | "));
    }
    let text = std::fs::read_to_string(&time_file)?;
    let f: Vec<&str> = text.lines().last().unwrap_or("").split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    let m = Measured { wall_s: wall, user_s: num(1), sys_s: num(2), max_rss_kib: num(3) as u64 };
    Ok((String::from_utf8_lossy(&out.stdout).into_owned(), m))
}

fn last_json<T: serde::de::DeserializeOwned>(stdout: &str) -> anyhow::Result<T> {
    let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).context("no JSON result on stdout")?;
    Ok(serde_json::from_str(line)?)
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct DbResult {
    db: String,
    seed_s: f64,
    seed_rows: u64,
    import: ImportOut,
    import_m: Measured,
    settle: SettleOut,
    settle_m: Measured,
    db_bytes: u64,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct DuckOut {
    duckdb_version: String,
    threads: u64,
    rows: u64,
    load_s: f64,
    aggregate_s: f64,
    lines: u64,
    total_ore: i64,
    paid_minutes: i64,
}

struct RunResult {
    manifest: Manifest,
    dbs: Vec<DbResult>,
    duck: Option<(DuckOut, Measured)>,
    machine: String,
    when: String,
    commit: String,
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .map_or("? GiB".to_string(), |kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0));
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), {mem} RAM")
}

fn git_commit() -> String {
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let dirty =
        Command::new("git").args(["status", "--porcelain", "--untracked-files=no"]).output().ok().is_some_and(|o| !o.stdout.is_empty());
    match head {
        Some(h) if !h.is_empty() => format!("{h}{}", if dirty { " (with uncommitted changes)" } else { "" }),
        _ => "unknown".into(),
    }
}

async fn fresh_db_url(kind: &str, spec: &Spec, dir: &Path, pg_url: Option<&str>) -> anyhow::Result<String> {
    match kind {
        "sqlite" => {
            let d = dir.join("sqlite");
            if d.exists() {
                std::fs::remove_dir_all(&d)?;
            }
            std::fs::create_dir_all(&d)?;
            Ok(format!("sqlite://{}?mode=rwc", d.join("valfri.sqlite").display()))
        }
        _ => {
            let base = pg_url.context("PostgreSQL needs --pg-url (scripts/bench starts a server)")?;
            let name = format!("valfri_bench_{}", spec.scale.replace('-', "_"));
            sqlx::any::install_default_drivers();
            let admin = sqlx::AnyPool::connect(base).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&admin).await?;
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await?;
            admin.close().await;
            let (prefix, _) = base.rsplit_once('/').context("a PostgreSQL URL with a database name")?;
            Ok(format!("{prefix}/{name}"))
        }
    }
}

async fn db_bytes(url: &str, dir: &Path) -> u64 {
    if url.starts_with("sqlite") {
        let d = dir.join("sqlite");
        std::fs::read_dir(&d).map(|it| it.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
    } else {
        let Ok(db) = valfri::db::Db::connect(url).await else { return 0 };
        let n: Option<i64> = sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(&db.pool).await.ok();
        db.pool.close().await;
        n.unwrap_or(0) as u64
    }
}

async fn run_all(spec: &Spec, dbs: &[&str], pg_url: Option<&str>, python: Option<&Path>, data_dir: &Path) -> anyhow::Result<RunResult> {
    let dir = data_dir.join(&spec.scale);
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let exe = std::env::current_exe()?;
    let t = Instant::now();
    let plan = Plan::new(spec);
    eprintln!("{}: planned {} clients, {} providers in {:.1?}", spec.scale, plan.clients.len(), plan.providers.len(), t.elapsed());

    // The CSV files are a pure function of the spec: reuse them when present.
    let reuse = std::fs::read(dir.join("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
        .filter(|m| m.generator == GENERATOR_VERSION && m.scale == spec.scale && m.seed == spec.seed && m.month == spec.month.to_string());
    let manifest = match reuse {
        Some(m) => {
            eprintln!("  reusing the {} visits in {}", m.visits, dir.display());
            m
        }
        None => {
            let m = write_files(&plan, &dir)?;
            eprintln!(
                "  wrote {} visits ({:.0} MiB) in {} files in {:.1} s",
                m.visits,
                m.bytes as f64 / 1048576.0,
                m.files.len(),
                m.generate_s
            );
            m
        }
    };

    let mut results = Vec::new();
    for &kind in dbs {
        eprintln!("{kind}:");
        let url = fresh_db_url(kind, spec, &dir, pg_url).await?;
        let t = Instant::now();
        let db = valfri::db::Db::connect(&url).await?;
        let w = bulk::write_database(&db, &plan).await?;
        db.pool.close().await;
        let seed_s = t.elapsed().as_secs_f64();
        eprintln!("  seeded {} rows of master data in {seed_s:.1} s", w.total());
        let dir_s = dir.to_string_lossy().into_owned();
        let (out, import_m) = measured(&format!("{kind}-import"), &exe, &["import", "--database-url", &url, "--dir", &dir_s], &logs)?;
        let import: ImportOut = last_json(&out)?;
        eprintln!("  imported {} rows ({} rejected) in {:.1} s", import.rows, import.rejected_rows, import.import_s);
        let month = spec.month.to_string();
        let (out, settle_m) = measured(&format!("{kind}-settle"), &exe, &["settle", "--database-url", &url, "--month", &month], &logs)?;
        let settle: SettleOut = last_json(&out)?;
        eprintln!("  settled {} visits in {:.2} s", settle.visits, settle.settle_s);
        let db_bytes = db_bytes(&url, &dir).await;
        results.push(DbResult { db: kind.into(), seed_s, seed_rows: w.total(), import, import_m, settle, settle_m, db_bytes });
    }

    let duck = match python {
        Some(py) => {
            eprintln!("duckdb reference:");
            let script =
                Path::new("scripts/bench_duckdb.py").canonicalize().context("scripts/bench_duckdb.py (run from the repository root)")?;
            let dir_s = dir.to_string_lossy().into_owned();
            let month = spec.month.to_string();
            let (out, m) = measured("duckdb", py, &[&script.to_string_lossy(), "--dir", &dir_s, "--month", &month], &logs)?;
            Some((last_json::<DuckOut>(&out)?, m))
        }
        None => None,
    };
    Ok(RunResult {
        manifest,
        dbs: results,
        duck,
        machine: machine(),
        when: jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC").to_string(),
        commit: git_commit(),
    })
}

fn mib(kib: u64) -> String {
    format!("{} MiB", thousands(kib / 1024))
}

fn render(spec: &Spec, r: &RunResult) -> String {
    let m = &r.manifest;
    let mut rows: Vec<(String, Vec<String>, String)> = Vec::new();
    let per_db = |f: &dyn Fn(&DbResult) -> String| -> Vec<String> { r.dbs.iter().map(f).collect() };
    let duck = r.duck.as_ref();
    let national = spec.scale == "national";
    rows.push((
        "import: visits/s".into(),
        per_db(&|d| thousands((d.import.rows as f64 / d.import.import_s.max(1e-9)) as u64)),
        duck.map_or("–".into(), |(o, _)| format!("{} (CSV load)", thousands((o.rows as f64 / o.load_s.max(1e-9)) as u64))),
    ));
    rows.push((
        "import: time".into(),
        per_db(&|d| format!("{:.1} s", d.import.import_s)),
        duck.map_or("–".into(), |(o, _)| format!("{:.1} s (CSV load)", o.load_s)),
    ));
    rows.push(("import: peak RSS".into(), per_db(&|d| mib(d.import_m.max_rss_kib)), "".into()));
    rows.push(("import: CPU user+sys".into(), per_db(&|d| format!("{:.1} s", d.import_m.user_s + d.import_m.sys_s)), "".into()));
    rows.push((
        "settle: whole month".into(),
        per_db(&|d| format!("{:.2} s", d.settle.settle_s)),
        duck.map_or("–".into(), |(o, _)| format!("{:.2} s (aggregation)", o.aggregate_s)),
    ));
    rows.push((
        "  load / engine / store".into(),
        per_db(&|d| {
            format!(
                "{:.2} / {:.2} / {:.2} s",
                d.settle.load_ms as f64 / 1e3,
                d.settle.settle_ms as f64 / 1e3,
                d.settle.store_ms as f64 / 1e3
            )
        }),
        "".into(),
    ));
    rows.push((
        "settle: peak RSS".into(),
        per_db(&|d| mib(d.settle_m.max_rss_kib)),
        duck.map_or("–".into(), |(_, dm)| format!("{} (whole script)", mib(dm.max_rss_kib))),
    ));
    rows.push((
        "settle ÷ DuckDB aggregation".into(),
        per_db(&|d| duck.map_or("–".into(), |(o, _)| format!("{:.1}×", d.settle.settle_s / o.aggregate_s.max(1e-9)))),
        "".into(),
    ));
    rows.push((
        "import+settle ÷ DuckDB load+aggr.".into(),
        per_db(&|d| {
            duck.map_or("–".into(), |(o, _)| {
                format!("{:.1}×", (d.settle.settle_s + d.import.import_s) / (o.aggregate_s + o.load_s).max(1e-9))
            })
        }),
        "".into(),
    ));
    rows.push((
        "settlement lines / flags".into(),
        per_db(&|d| format!("{} / {}", thousands(d.settle.lines), thousands(d.settle.flags))),
        duck.map_or("–".into(), |(o, _)| format!("{} lines", thousands(o.lines))),
    ));
    rows.push((
        "month total (SEK)".into(),
        per_db(&|d| thousands((d.settle.total_ore / 100) as u64)),
        duck.map_or("–".into(), |(o, _)| format!("{} (lines only)", thousands((o.total_ore / 100) as u64))),
    ));
    rows.push(("database size after".into(), per_db(&|d| mib(d.db_bytes / 1024)), "".into()));
    rows.push((
        "master data seeded (not timed)".into(),
        per_db(&|d| format!("{} rows, {:.1} s", thousands(d.seed_rows), d.seed_s)),
        "".into(),
    ));

    let targets: Vec<&str> = vec![
        "≥ 300 000 (SQLite)",
        "",
        "",
        "",
        if national { "≤ 20 s" } else { "≤ 2 s" },
        "",
        if national { "≤ 1 GiB" } else { "(≤ 1 GiB national)" },
        "≤ 3×",
        "",
        "",
        "",
        "",
        "",
    ];
    let mut header = vec!["".to_string()];
    header.extend(r.dbs.iter().map(|d| if d.db == "sqlite" { "SQLite".to_string() } else { "PostgreSQL".to_string() }));
    header.push(format!("DuckDB {}", duck.map_or(String::new(), |(o, _)| o.duckdb_version.clone())));
    header.push("target".into());
    let mut out = String::new();
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for (i, (name, cells, d)) in rows.iter().enumerate() {
        out.push_str(&format!("| {name} | {} | {d} | {} |\n", cells.join(" | "), targets.get(i).copied().unwrap_or("")));
    }
    let s = &m.stats;
    let g = |k: &str| s.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    let pct = |k: &str| g(k) as f64 * 100.0 / g("visits").max(1) as f64;
    out.push_str(&format!(
        "\n{} clients, {} providers, {} visits in {} provider files ({:.0} MiB of CSV), month {}. \
         Performed {:.1} %, cancelled late {:.1} %, in time {:.1} %, missed {:.1} %; double staffed {:.1} %; \
         across midnight {:.1} %; outside an assignment {}; naming an unknown client (rejected) {}.\n",
        thousands(u64::from(m.clients)),
        thousands(u64::from(m.providers)),
        thousands(m.visits),
        m.files.len(),
        m.bytes as f64 / 1048576.0,
        m.month,
        pct("performed"),
        pct("cancelled_late"),
        pct("cancelled_in_time"),
        pct("missed"),
        pct("double_staffed"),
        pct("across_midnight"),
        thousands(g("outside_assignment")),
        thousands(g("unknown_client")),
    ));
    for d in &r.dbs {
        out.push_str(&format!(
            "{}: import {} rows, {} accepted, {} rejected, {} flagged; process wall {:.1} s (import) and {:.2} s (settle, incl. start and connect); settlement's own timings {}.\n",
            d.db,
            thousands(d.import.rows),
            thousands(d.import.accepted),
            thousands(d.import.rejected_rows),
            thousands(d.import.flagged),
            d.import_m.wall_s,
            d.settle_m.wall_s,
            d.settle.timings
        ));
    }
    if let Some((o, m)) = duck {
        out.push_str(&format!("DuckDB: {} threads, script wall {:.1} s.\n", o.threads, m.wall_s));
    }
    out.push_str(&format!("\nMachine: {}. Run {}, commit {}.\n", r.machine, r.when, r.commit));
    out
}

fn record_doc(doc: &Path, spec: &Spec, r: &RunResult, table: &str, command_line: &str, pg_note: &str) -> anyhow::Result<()> {
    let begin = format!("<!-- bench:{}:begin -->", spec.scale);
    let end = format!("<!-- bench:{}:end -->", spec.scale);
    let dbs: Vec<&str> = r.dbs.iter().map(|d| d.db.as_str()).collect();
    let mut block = format!("{begin}\n### {} month\n\nCommand: `{command_line}`", spec.scale);
    block.push_str(&format!(" (databases: {})", dbs.join(", ")));
    if !pg_note.is_empty() {
        block.push_str(&format!("; PostgreSQL: {pg_note}"));
    }
    block.push_str(".\n\n");
    block.push_str(table);
    block.push_str(&end);
    let text = std::fs::read_to_string(doc).unwrap_or_default();
    let new = match (text.find(&begin), text.find(&end)) {
        (Some(a), Some(b)) if b > a => format!("{}{}{}", &text[..a], block, &text[b + end.len()..]),
        _ => format!("{}\n\n{block}\n", text.trim_end()),
    };
    std::fs::write(doc, new)?;
    Ok(())
}
