//! Small side tables for the DuckDB reference (`scripts/bench_duckdb.py`):
//! what valfri's settlement reads from its database besides the visits
//! (client zones, provider VAT entitlement, service bases, rates), and the
//! month's calendar as class segments in UTC, so the reference splits visits
//! by the same local-time classes, holidays and DST as valfri does.

use super::plan::Plan;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::ToSpan;
use std::io::Write;
use std::path::Path;
use valfri_core::calendar::{is_weekend_rate_day, Country};

fn create(dir: &Path, name: &str) -> std::io::Result<std::io::BufWriter<std::fs::File>> {
    Ok(std::io::BufWriter::new(std::fs::File::create(dir.join(name))?))
}

/// Writes `clients.csv`, `providers.csv`, `services.csv`, `rates.csv` and
/// `segments.csv` into `dir`.
pub fn write_tables(plan: &Plan, dir: &Path) -> std::io::Result<()> {
    let mut f = create(dir, "clients.csv")?;
    writeln!(f, "client,zone")?;
    for c in &plan.clients {
        writeln!(f, "{},{}", c.person_id, plan.zones[c.zone as usize])?;
    }
    f.flush()?;

    let mut f = create(dir, "providers.csv")?;
    writeln!(f, "provider,vat")?;
    for p in &plan.providers {
        writeln!(f, "{},{}", p.org_nr, u8::from(p.vat))?;
    }
    f.flush()?;

    let mut f = create(dir, "services.csv")?;
    writeln!(f, "service_type,basis")?;
    for s in &plan.setup.service_types {
        writeln!(f, "{},{}", s.code, s.basis)?;
    }
    f.flush()?;

    // Each rate version with the day its successor takes over (exclusive).
    let mut f = create(dir, "rates.csv")?;
    writeln!(f, "service_type,zone,time_class,valid_from,valid_until,amount_ore")?;
    let mut rates = plan.setup.rates.clone();
    rates.sort_by(|a, b| {
        (&a.service_type, &a.zone, &a.time_class, &a.valid_from).cmp(&(&b.service_type, &b.zone, &b.time_class, &b.valid_from))
    });
    for (i, r) in rates.iter().enumerate() {
        let until = rates
            .get(i + 1)
            .filter(|n| (&n.service_type, &n.zone, &n.time_class) == (&r.service_type, &r.zone, &r.time_class))
            .map_or("9999-12-31", |n| n.valid_from.as_str());
        writeln!(f, "{},{},{},{},{},{}", r.service_type, r.zone, r.time_class, r.valid_from, until, r.amount_ore)?;
    }
    f.flush()?;

    let tz = TimeZone::get(&plan.setup.municipality.time_zone).map_err(std::io::Error::other)?;
    let mut f = create(dir, "segments.csv")?;
    writeln!(f, "seg_start,seg_end,local_date,time_class")?;
    let month = plan.spec.month;
    let mut d: Date = month.first_day().checked_sub(1.day()).map_err(std::io::Error::other)?;
    let stop = month.next().first_day().checked_add(1.day()).map_err(std::io::Error::other)?;
    while d <= stop {
        let next = d.tomorrow().map_err(std::io::Error::other)?;
        let at = |day: Date, h: i8| tz.to_timestamp(day.at(h, 0, 0, 0)).map(|t| t.as_second()).map_err(std::io::Error::other);
        let b = [at(d, 0)?, at(d, 7)?, at(d, 19)?, at(d, 22)?, at(next, 0)?];
        let pieces: Vec<(i64, i64, &str)> = if is_weekend_rate_day(Country::Sweden, d) {
            vec![(b[0], b[1], "night"), (b[1], b[3], "weekend"), (b[3], b[4], "night")]
        } else {
            vec![(b[0], b[1], "night"), (b[1], b[2], "day"), (b[2], b[3], "evening"), (b[3], b[4], "night")]
        };
        for (s, e, class) in pieces {
            writeln!(f, "{s},{e},{d},{class}")?;
        }
        d = next;
    }
    f.flush()?;
    Ok(())
}
