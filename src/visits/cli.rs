//! `valfri visits import FILE.csv`: the CSV import from the command line,
//! printing the report (every rejected row with its line, column and
//! reason) and the rate.

use super::import::{Actor, Options, Source};
use crate::app::AppState;
use std::path::Path;

/// Runs the import and prints its report; returns the process exit code:
/// 0 all rows accepted, 2 some rows rejected (the good ones stored, or
/// nothing with `--all-or-nothing`), and an error when nothing could be done.
pub async fn import(state: &AppState, file: &Path, provider: Option<&str>, all_or_nothing: bool) -> anyhow::Result<u8> {
    let provider_id = match provider {
        Some(p) => super::import::resolve_provider(state, p)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.problem().detail))?
            .ok_or_else(|| anyhow::anyhow!("no provider with id or organisation number {p}"))?,
        None => {
            let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM providers ORDER BY id LIMIT 2").fetch_all(&state.db.pool).await?;
            match ids.as_slice() {
                [one] => one.clone(),
                _ => anyhow::bail!("name the provider with --provider ORGNR_OR_ID"),
            }
        }
    };
    let input = std::fs::File::open(file).map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
    let opts = Options {
        provider_id,
        source: Source::Csv,
        file_name: file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        all_or_nothing,
        actor: Actor::system("cli"),
    };
    let started = std::time::Instant::now();
    let report = match super::csvfile::import(state, opts, std::io::BufReader::with_capacity(1 << 20, input)).await {
        Ok(r) => r,
        Err(crate::error::ApiError::Invalid(errs)) => {
            for e in &errs {
                eprintln!("{}: {} ({})", file.display(), e.reason, e.code);
            }
            anyhow::bail!("the file was refused; nothing was imported");
        }
        Err(e) => anyhow::bail!("{}", e.problem().detail),
    };
    let secs = started.elapsed().as_secs_f64();
    for r in &report.rejections {
        let ext = if r.external_id.is_empty() { String::new() } else { format!(" [{}]", r.external_id) };
        eprintln!("{}:{}{}: {}: {} ({})", file.display(), r.line, ext, r.field, r.reason, r.code);
    }
    if report.rejections_total > report.rejections.len() as u64 {
        eprintln!("… and {} more problems", report.rejections_total - report.rejections.len() as u64);
    }
    println!(
        "{}: {} rows in {:.2} s ({:.0} rows/s): {} new, {} replaced, {} unchanged, {} rejected, {} flagged{}; import {}",
        file.display(),
        report.rows,
        secs,
        report.rows as f64 / secs.max(1e-9),
        report.new,
        report.replaced,
        report.unchanged,
        report.rejected_rows,
        report.flagged,
        if report.stored { "" } else { " (all or nothing: NOTHING was stored)" },
        report.import_id
    );
    Ok(if report.rejected_rows > 0 { 2 } else { 0 })
}
