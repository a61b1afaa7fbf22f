//! The `valfri` command: the server, the demo, and administrative tasks.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use valfri::app::{self, AppState};
use valfri::clock::{stamp, SystemClock};
use valfri::db::Db;

#[derive(Parser)]
#[command(name = "valfri", version, about = "Free-choice systems in municipal elderly care")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct DbArgs {
    /// Directory for the embedded SQLite database (used unless --database-url is given).
    #[arg(long, env = "VALFRI_DATA", default_value = "data")]
    data: PathBuf,
    /// `postgres://…` for PostgreSQL, or `sqlite://FILE` for a specific SQLite file.
    #[arg(long, env = "VALFRI_DATABASE_URL")]
    database_url: Option<String>,
}

impl DbArgs {
    async fn open(&self) -> anyhow::Result<Db> {
        match &self.database_url {
            Some(url) => Db::connect(url).await,
            None => Db::open_dir(&self.data).await,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        #[arg(long, env = "VALFRI_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Create (once) a realistic demo municipality and serve it.
    Demo {
        #[arg(long, env = "VALFRI_ADDR", default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Directory for the demo's SQLite database.
        #[arg(long, env = "VALFRI_DATA", default_value = "data/demo")]
        data: PathBuf,
        /// Use this database instead of SQLite in --data.
        #[arg(long, env = "VALFRI_DATABASE_URL")]
        database_url: Option<String>,
    },
    /// The municipal setup file.
    Setup {
        #[command(subcommand)]
        command: SetupCommand,
    },
    /// Create a user (e.g. the first admin).
    AddUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        /// admin, case_officer, provider or citizen.
        #[arg(long)]
        role: String,
        #[arg(long)]
        provider_id: Option<String>,
        #[arg(long)]
        client_id: Option<String>,
        /// The password; read from VALFRI_PASSWORD so it stays out of shell history.
        #[arg(long, env = "VALFRI_PASSWORD", hide_env_values = true)]
        password: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Time reports (visits).
    Visits {
        #[command(subcommand)]
        command: VisitsCommand,
    },
    /// Compute every provider's settlement of a month (drafts; approved months are kept).
    Settle {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// Also approve every draft that may be approved.
        #[arg(long)]
        approve: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Subcommand)]
enum VisitsCommand {
    /// Import a CSV file of visits (columns in docs/visits-csv.md). Exit code 2 when rows were rejected.
    Import {
        file: PathBuf,
        /// The reporting provider, by organisation number or id (needed unless there is only one).
        #[arg(long)]
        provider: Option<String>,
        /// Store nothing if any row is rejected (default: keep the good rows).
        #[arg(long)]
        all_or_nothing: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum SetupCommand {
    /// Apply a setup file (TOML), all or nothing.
    Apply {
        file: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print the current setup as a setup file.
    Export {
        #[command(flatten)]
        db: DbArgs,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("VALFRI_LOG").unwrap_or_else(|_| "valfri=info,tower_http=warn".into()))
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

async fn state(db: Db) -> anyhow::Result<AppState> {
    AppState::new(db, Arc::new(SystemClock)).await
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { addr, db } => app::serve(state(db.open().await?).await?, addr).await,
        Command::Demo { addr, data, database_url } => {
            let db = DbArgs { data, database_url }.open().await?;
            let state = state(db).await?;
            let report = valfri::demo::ensure(&state).await?;
            println!("{report}");
            app::serve(state, addr).await
        }
        Command::Setup { command: SetupCommand::Apply { file, db } } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let doc = valfri::setup::file::parse(&text).map_err(|e| anyhow::anyhow!("{}: {}: {}", file.display(), e.field, e.reason))?;
            let state = state(db.open().await?).await?;
            match valfri::setup::store::apply(&state.db, &doc, "setup-file", &stamp(state.clock.now())).await {
                Ok(report) => {
                    println!(
                        "applied {}: {} condition versions and {} rate versions added, {} unchanged",
                        file.display(),
                        report.conditions_added,
                        report.rates_added,
                        report.unchanged_versions
                    );
                    Ok(())
                }
                Err(valfri::error::ApiError::Invalid(errs)) => {
                    for e in &errs {
                        eprintln!("{}: {}: {} ({})", file.display(), e.field, e.reason, e.code);
                    }
                    anyhow::bail!("{} errors; nothing was applied", errs.len())
                }
                Err(e) => anyhow::bail!("{}; nothing was applied", e.problem().detail),
            }
        }
        Command::Setup { command: SetupCommand::Export { db } } => {
            let state = state(db.open().await?).await?;
            let mut c = state.db.pool.acquire().await?;
            let doc = valfri::setup::store::load(&mut c).await.map_err(|e| anyhow::anyhow!("{e}"))?.context("no setup yet")?;
            print!("{}", valfri::setup::file::render(&doc)?);
            Ok(())
        }
        Command::AddUser { username, display_name, role, provider_id, client_id, password, db } => {
            let state = state(db.open().await?).await?;
            let role = valfri::auth::Role::parse(&role).context("role is admin, case_officer, provider or citizen")?;
            let user = valfri::auth::api::insert_user(
                &state,
                &valfri::auth::api::NewUser { username, display_name, password, role, provider_id, client_id },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.problem().detail))?;
            println!("created user {} ({})", user.username, user.id);
            Ok(())
        }
        Command::Visits { command: VisitsCommand::Import { file, provider, all_or_nothing, db } } => {
            let state = state(db.open().await?).await?;
            let code = valfri::visits::cli::import(&state, &file, provider.as_deref(), all_or_nothing).await?;
            if code != 0 {
                std::process::exit(i32::from(code));
            }
            Ok(())
        }
        Command::Settle { month, approve, db } => {
            let state = state(db.open().await?).await?;
            print!("{}", valfri::settlement::cli_settle(&state, &month, approve).await?);
            Ok(())
        }
        Command::Openapi => {
            println!("{}", serde_json::to_string_pretty(&valfri::api::openapi())?);
            Ok(())
        }
    }
}
