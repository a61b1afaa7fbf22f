//! Synthetic months for the benchmark (issue #4, "Scale"): a municipality
//! with its setup, providers, clients, decisions and assignments written
//! straight into the database, and the month's visits as an import CSV.
//!
//! Everything is a pure function of a [`Spec`] (scale, seed, month): the same
//! spec gives byte-identical CSV files and the same database rows, ids
//! included, on both databases. `scripts/bench` drives it through the
//! `valfri-bench` binary; `docs/performance.md` has the figures.
//!
//! The month is meant to look like a real home-care month, not a uniform
//! random one: care is delivered in routes (one staff member visits a few
//! clients in a row, so staff are never in two homes at once), visits have
//! fixed slots in the day (morning, lunch, evening crossing 19:00, late
//! crossing 22:00, night crossing midnight), meals and night patrol are
//! separate rounds, and a few percent of everything goes wrong in the ways
//! the settlement rules exist for (late and in-time cancellations, missed
//! visits, undeclared double staffing, visits by a provider without an
//! assignment, visits after a decision ended, clients reported beyond their
//! granted time). The default month, April 2026, has Good Friday and Easter
//! Monday, and a mid-month rate change on the 15th.

pub mod bulk;
pub mod plan;
pub mod reference;
pub mod visits;

pub use plan::{Plan, Spec};

/// A small, fast, stable pseudo-random generator (SplitMix64). Not `rand`:
/// its algorithms may change between versions, and the generated month must
/// not.
#[derive(Debug, Clone)]
pub struct Rng(u64);

/// The SplitMix64 finaliser: a good 64-bit mix.
pub const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// An independent stream for each `(seed, stream)`, so a client's or a
    /// visit's randomness does not depend on the order things are generated in.
    pub fn new(seed: u64, stream: u64) -> Rng {
        Rng(mix(seed ^ mix(stream.wrapping_add(0x9E37_79B9_7F4A_7C15))))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1).max(1) as u64) as i64
    }

    /// True with probability `per_100k` / 100 000.
    pub fn chance(&mut self, per_100k: u32) -> bool {
        self.below(100_000) < u64::from(per_100k)
    }
}

/// A UUIDv7-shaped id that is a pure function of (kind, index, seed): the
/// timestamp part grows with the index, so ids sort in index order, as ids
/// made by the server sort in creation order.
pub fn det_uuid(seed: u64, kind: u8, index: u64) -> String {
    // 2025-01-01T00:00:00Z in milliseconds, plus one millisecond per index.
    let ms = 1_735_689_600_000u64 + u64::from(kind) * 10_000_000_000 + index;
    let mut rng = Rng::new(seed, (u64::from(kind) << 56) ^ index);
    let mut tail = [0u8; 10];
    for chunk in tail.chunks_mut(8) {
        let r = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    uuid::Builder::from_unix_timestamp_millis(ms, &tail).into_uuid().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_numbers_are_valid() {
        let plan = Plan::new(&Spec::small(300, 7));
        for c in &plan.clients {
            valfri_core::ids::Personnummer::parse(&c.person_id).unwrap();
        }
        for p in &plan.providers {
            valfri_core::ids::OrgNr::parse(&p.org_nr).unwrap();
        }
        let mut ids: Vec<&str> = plan.clients.iter().map(|c| c.id.as_str()).collect();
        let sorted = {
            let mut s = ids.clone();
            s.sort();
            s
        };
        assert_eq!(ids, sorted, "ids sort in index order");
        ids.dedup();
        assert_eq!(ids.len(), plan.clients.len());
    }

    #[test]
    fn rng_is_stable() {
        // Pinned: changing the generator changes every published figure's input.
        let mut r = Rng::new(42, 1);
        assert_eq!(r.next_u64(), Rng::new(42, 1).next_u64());
        assert_ne!(Rng::new(42, 1).next_u64(), Rng::new(42, 2).next_u64());
        for n in [1u64, 2, 7, 1000] {
            assert!(r.below(n) < n);
        }
    }
}

/// Writes a month's files for trying the DuckDB reference without a
/// database: `VALFRI_BENCH_OUT=DIR VALFRI_BENCH_SCALE=2000 cargo test --release
/// --lib bench::write_sample -- --ignored`.
#[cfg(test)]
#[test]
#[ignore = "writes files; a developer's tool"]
fn write_sample() {
    let dir = std::path::PathBuf::from(std::env::var("VALFRI_BENCH_OUT").unwrap_or_else(|_| "target/bench-data/sample".into()));
    let scale = std::env::var("VALFRI_BENCH_SCALE").unwrap_or_else(|_| "2000".into());
    let spec = Spec::named(&scale, Spec::DEFAULT_SEED).unwrap();
    let t = std::time::Instant::now();
    let plan = Plan::new(&spec);
    eprintln!("plan {:?}", t.elapsed());
    let stats = visits::write_csv_dir(&plan, &dir.join("visits")).unwrap();
    reference::write_tables(&plan, &dir).unwrap();
    eprintln!("{stats:?} in {:?}", t.elapsed());
}
