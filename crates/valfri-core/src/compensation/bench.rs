//! A Stockholm-size month, to time the engine: run with
//! `cargo test --release -p valfri-core stockholm_size -- --ignored --nocapture`.

use super::tests::{at, base_rates, services, CARE, MEALS, PATROL, TASKS};
use super::*;
use crate::calendar::Country;
use jiff::civil::date;
use std::num::NonZeroU32;
use std::time::Instant;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn context(clients: u32, providers: u32) -> SettlementContext {
    let mut decisions = Vec::new();
    let mut assignments = Vec::new();
    for c in 0..clients {
        let provider = c % providers;
        // About a tenth of the clients are reported beyond their granted time.
        let granted = if c % 10 == 0 { 1_200 } else { 6_000 };
        for (service, minutes) in [(CARE, granted), (TASKS, 300), (MEALS, 0), (PATROL, 0)] {
            decisions.push(Decision {
                client: c,
                service,
                from: date(2025, 6, 1),
                to: None,
                granted_minutes_per_month: minutes,
                double_staffing: c % 50 == 0,
            });
            assignments.push(Assignment { client: c, service, provider, from: date(2025, 6, 1), to: None });
        }
        // Some clients switch provider mid-month.
        if c % 40 == 0 {
            assignments.push(Assignment {
                client: c,
                service: CARE,
                provider: (provider + 1) % providers,
                from: date(2026, 3, 16),
                to: None,
            });
        }
    }
    SettlementContext {
        month: "2026-03".parse().expect("month"),
        settings: Settings::with_defaults("Europe/Stockholm", Country::Sweden, services()),
        providers: (0..providers).map(|p| ProviderInfo { vat_entitled: p % 3 != 0 }).collect(),
        clients: (0..clients).map(|c| ClientInfo { zone: c % 2 }).collect(),
        rates: base_rates(),
        decisions,
        assignments,
    }
}

fn client_visits(c: u32, providers: u32, n: u32, rng: &mut Rng, out: &mut Vec<Visit>) {
    let first = at("2026-03-01T00:00");
    let provider = c % providers;
    for k in 0..n {
        let day = rng.below(31) as i64;
        let service = match rng.below(20) {
            0..=13 => CARE,
            14..=16 => TASKS,
            17..=18 => MEALS,
            _ => PATROL,
        };
        let minute = match rng.below(10) {
            0 => rng.below(1440),
            _ => 7 * 60 + rng.below(15 * 60),
        } as i64;
        let start = first + (day * 1440 + minute) * 60;
        let len = 10 + rng.below(80) as i64;
        let status = match rng.below(100) {
            0..=93 => VisitStatus::Performed,
            94..=95 => VisitStatus::CancelledLate,
            96..=98 => VisitStatus::CancelledInTime,
            _ => VisitStatus::Missed,
        };
        out.push(Visit {
            client: c,
            start,
            provider: if c % 40 == 0 && day >= 16 { (provider + 1) % providers } else { provider },
            external_id: c.wrapping_mul(n).wrapping_add(k),
            service,
            end: start + len * 60,
            status,
            double_staffed: rng.below(30) == 0,
            cancelled_at: None,
            quantity: NonZeroU32::new(rng.below(3) as u32),
        });
    }
}

fn month_of(clients: u32, providers: u32, visits_per_client: u32) -> SettlementInput {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut visits = Vec::with_capacity((clients * visits_per_client) as usize);
    for c in 0..clients {
        client_visits(c, providers, visits_per_client, &mut rng, &mut visits);
    }
    SettlementInput { context: context(clients, providers), visits, adjustments: Vec::new() }
}

fn report(label: &str, s: &Settlement, t: Instant) {
    let lines: usize = s.providers.iter().map(|p| p.lines.len()).sum();
    let flags: usize = s.providers.iter().map(|p| p.flags.len()).sum();
    let total: i64 = s.providers.iter().map(|p| p.total.ore()).sum();
    eprintln!("{label}: {:?}, {lines} lines, {flags} flags, total {total} öre", t.elapsed());
}

#[test]
#[ignore = "timing run; use --release"]
fn stockholm_size() {
    let threads: usize = std::env::var("VALFRI_THREADS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let scale: u32 = std::env::var("VALFRI_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let input = month_of(25_000 * scale, 150, 100);
    eprintln!("visit size {} bytes, {} visits", std::mem::size_of::<Visit>(), input.visits.len());
    let t = Instant::now();
    let s = settle_with_threads(input, threads).expect("settles");
    report(&format!("{threads} threads"), &s, t);
}

/// The national month through the streaming API: visits are produced (as a
/// database cursor ordered by client would) and settled client by client on
/// two threads, so memory holds the context and the output, not the visits.
#[test]
#[ignore = "timing run; use --release"]
fn national_size_streaming() {
    let scale: u32 = std::env::var("VALFRI_SCALE").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let (clients, providers, per_client) = (25_000 * scale, 150 * scale, 100);
    let engine = Engine::new(context(clients, providers)).expect("valid");
    let t = Instant::now();
    let batches: Vec<Batch> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2u32)
            .map(|part| {
                let engine = &engine;
                s.spawn(move || {
                    let mut batch = engine.batch();
                    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(part + 1));
                    let mut buf = Vec::new();
                    for c in (part..clients).step_by(2) {
                        buf.clear();
                        client_visits(c, providers, per_client, &mut rng, &mut buf);
                        engine.add_client(&mut batch, c, &mut buf).expect("ok");
                    }
                    batch
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let s = engine.finish(batches, Vec::new()).expect("settles");
    report(&format!("{} visits streamed", u64::from(clients) * u64::from(per_client)), &s, t);
}
