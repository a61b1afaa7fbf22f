//! The application: shared state, the router with every domain's routes,
//! and the middleware around them. `main.rs` and the tests both start the
//! server through `serve`.

use crate::clock::Clock;
use crate::db::Db;
use crate::error::ApiResult;
use crate::metrics::Metrics;
use crate::web::i18n::I18n;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use valfri_core::ids::Country;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub i18n: Arc<I18n>,
    municipality: Arc<RwLock<MunicipalityCache>>,
}

/// What nearly every date rule needs: the country and local time zone.
#[derive(Clone)]
struct MunicipalityCache {
    country: Country,
    tz: jiff::tz::TimeZone,
}

impl AppState {
    pub async fn new(db: Db, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
        let state = AppState {
            db,
            clock,
            metrics: Arc::new(Metrics::default()),
            i18n: Arc::new(I18n::load()?),
            municipality: Arc::new(RwLock::new(MunicipalityCache {
                country: Country::Se,
                tz: jiff::tz::TimeZone::get("Europe/Stockholm")?,
            })),
        };
        state.reload_municipality().await?;
        Ok(state)
    }

    pub async fn reload_municipality(&self) -> ApiResult<()> {
        let mut c = self.db.pool.acquire().await?;
        if let Some(m) = crate::setup::store::municipality(&mut c).await? {
            let cache = MunicipalityCache {
                country: m.country.parse().unwrap_or(Country::Se),
                tz: jiff::tz::TimeZone::get(&m.time_zone).map_err(anyhow::Error::from)?,
            };
            *self.municipality.write().unwrap_or_else(|p| p.into_inner()) = cache;
        }
        Ok(())
    }

    pub fn country(&self) -> Country {
        self.municipality.read().unwrap_or_else(|p| p.into_inner()).country
    }

    pub fn time_zone(&self) -> jiff::tz::TimeZone {
        self.municipality.read().unwrap_or_else(|p| p.into_inner()).tz.clone()
    }

    /// Today in the municipality's time zone.
    pub fn today(&self) -> jiff::civil::Date {
        self.clock.now().to_zoned(self.time_zone()).date()
    }
}

/// The largest request body anything accepts (a provider's month of visits
/// as one file); routes may set lower limits of their own.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

pub fn router(state: AppState) -> axum::Router {
    let (api, _openapi) = crate::api::router().split_for_parts();
    axum::Router::new()
        .merge(api)
        .merge(crate::web::routes())
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::metrics::track))
        .layer(axum::middleware::from_fn(crate::web::security_headers))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_REQUEST_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::web::too_large))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Binds and serves; prints `valfri listening on http://ADDR` once bound so
/// scripts and tests can find a server started on port 0.
pub async fn serve(state: AppState, addr: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    println!("valfri listening on http://{bound}");
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        tokio::signal::ctrl_c().await.ok();
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
