//! The demo's settlements: last month computed and approved (what a
//! municipality has done by the 10th), this month so far as drafts. Runs
//! after the visits demo; does nothing when settlements exist.

use crate::app::AppState;
use crate::clock::stamp;
use valfri_core::Month;

pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    let any: Option<String> = sqlx::query_scalar("SELECT id FROM settlements LIMIT 1").fetch_optional(&state.db.pool).await?;
    if any.is_some() {
        return Ok(());
    }
    let this = Month::of(state.today());
    let now = stamp(state.clock.now());
    let err = |e: crate::error::ApiError| anyhow::anyhow!("demo settlement: {}: {}", e.code(), e.problem().detail);
    super::run_month(&state.db, this.prev(), "demo", &now, true).await.map_err(err)?;
    super::run_month(&state.db, this, "demo", &now, false).await.map_err(err)?;
    Ok(())
}
