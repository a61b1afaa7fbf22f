//! Prometheus metrics at `/metrics`: request counts and latency by route
//! and status, plus a few gauges read from the database when scraped.

use crate::app::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

/// Method, route and status of a request; the value is its count and total seconds.
type RequestKey = (String, String, u16);

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<RequestKey, (u64, f64)>>,
}

pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    // The matched route pattern, not the raw path, so ids do not explode the label set.
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let start = Instant::now();
    let res = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    let mut m = state.metrics.requests.lock().unwrap_or_else(|p| p.into_inner());
    let e = m.entry((method, route, res.status().as_u16())).or_insert((0, 0.0));
    e.0 += 1;
    e.1 += secs;
    res
}

pub async fn render(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    out.push_str("# HELP valfri_http_requests_total HTTP requests by method, route and status.\n");
    out.push_str("# TYPE valfri_http_requests_total counter\n");
    let snapshot: Vec<_> = {
        let m = state.metrics.requests.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|(k, v)| (k.clone(), *v)).collect()
    };
    for ((method, route, status), (n, _)) in &snapshot {
        let _ = writeln!(out, "valfri_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}");
    }
    out.push_str("# HELP valfri_http_request_duration_seconds_sum Total time spent answering, by method, route and status.\n");
    out.push_str("# TYPE valfri_http_request_duration_seconds_sum counter\n");
    for ((method, route, status), (_, secs)) in &snapshot {
        let _ = writeln!(
            out,
            "valfri_http_request_duration_seconds_sum{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {secs:.6}"
        );
    }
    for (name, table, help) in [
        ("valfri_clients", "clients", "Registered clients."),
        ("valfri_providers", "providers", "Registered providers."),
        ("valfri_audit_log_entries", "audit_log", "Entries in the audit log."),
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&state.db.pool).await.unwrap_or(-1);
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {n}");
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
