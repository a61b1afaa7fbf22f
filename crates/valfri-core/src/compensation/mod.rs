//! The compensation engine: one month's settlement for every provider of a
//! choice system, from plain input structs, per `compensation.md`.
//!
//! Entry points: [`settle`] for a whole month in memory, or [`Engine`] to feed
//! the visits client by client (streaming from a database ordered by client,
//! or in parallel batches) and [`Engine::finish`] to merge.
//!
//! Providers, clients, service types, zones and visits' external ids are
//! `u32` indices the caller assigns; lines and flags carry them back. The
//! output is byte-identical for the same input in any order, and whatever
//! the number of threads or batches.
//!
//! ```
//! use jiff::civil::date;
//! use valfri_core::calendar::Country;
//! use valfri_core::compensation::*;
//! use valfri_core::Money;
//!
//! let care = ServiceSettings { basis: Basis::Performed, group: Some(0) };
//! let at = |s: &str| s.parse::<jiff::Timestamp>().map(|t| t.as_second());
//! let input = SettlementInput {
//!     context: SettlementContext {
//!         month: "2026-03".parse()?,
//!         settings: Settings::with_defaults("Europe/Stockholm", Country::Sweden, vec![care]),
//!         providers: vec![ProviderInfo { vat_entitled: true }],
//!         clients: vec![ClientInfo { zone: 0 }],
//!         rates: vec![Rate {
//!             service: 0,
//!             zone: 0,
//!             class: Class::Day,
//!             valid_from: date(2026, 1, 1),
//!             amount: Money::from_ore(42_600), // 426 kr/h
//!         }],
//!         decisions: vec![Decision {
//!             client: 0,
//!             service: 0,
//!             from: date(2026, 1, 1),
//!             to: None,
//!             granted_minutes_per_month: 22 * 60,
//!             double_staffing: false,
//!         }],
//!         assignments: vec![Assignment {
//!             client: 0,
//!             service: 0,
//!             provider: 0,
//!             from: date(2026, 1, 1),
//!             to: None,
//!         }],
//!     },
//!     visits: vec![Visit {
//!         client: 0,
//!         start: at("2026-03-10T08:00:00Z")?, // 09:00 in Stockholm
//!         provider: 0,
//!         external_id: 0,
//!         service: 0,
//!         end: at("2026-03-10T09:30:00Z")?,
//!         status: VisitStatus::Performed,
//!         double_staffed: false,
//!         cancelled_at: None,
//!         quantity: None,
//!     }],
//!     adjustments: vec![],
//! };
//! let month = settle(input)?;
//! let p = &month.providers[0];
//! assert_eq!(p.lines_total, Money::from_ore(63_900)); // 90 min × 426 kr/h
//! assert_eq!(p.vat, Money::from_ore(3_834)); // 6 %
//! assert_eq!(p.total, Money::from_ore(67_734));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Measured (release, 2 threads): a Stockholm-size month of 2.5 M visits,
//! 25 000 clients and 150 providers settles in about 0.4 s with [`settle`]
//! (the visits take 56 bytes each in memory). For a national month of 25 M
//! visits use [`Engine`] and stream the visits client by client: about 3.5 s
//! and 0.6 GB, most of it the output lines and flags.
//!
//! # Choices where the contract is silent or ambiguous
//!
//! These are also listed in `docs/compensation-choices.md`.
//!
//! 1. **Time.** Visit times and `cancelled_at` are Unix seconds (UTC),
//!    truncated to the minute (floor); a visit is the half-open interval `[start, end)`. Classes are
//!    half-open too: the minute 07:00 is day (or weekend), 19:00 evening,
//!    22:00 night. Minutes are elapsed minutes: the autumn DST hour is paid
//!    twice (as night), the spring hour does not exist.
//! 2. **Dates** of decisions and assignments are local dates, `from` and `to`
//!    both inclusive, `to: None` open-ended. Overlapping assignments of the
//!    same provider, client and service pay a day once; overlapping
//!    assignments of two providers each pay their days (the contract pays
//!    per assignment), without a flag; valfri's assignments never overlap
//!    so (one provider per service group on any day).
//! 3. **Visit times by status.** `start`/`end` are the actual times of a
//!    performed visit and the planned times of any other.
//! 4. **Late cancellation** is measured from the time of cancellation
//!    (`cancelled_at`) to the planned start, in elapsed minutes: late when
//!    the notice is less than the setting (exactly 24 h is in time; after the
//!    planned start is late). When `cancelled_at` is given it decides, and a
//!    contradicted status is flagged `cancellation_reclassified`; without it
//!    the reported status is taken as given.
//! 5. A late cancellation is paid its planned minutes, classed and priced by
//!    the planned times, × the factor; it must be covered by an assignment on
//!    the planned start date; and it is paid twice when reported double
//!    staffed and the decision grants double staffing (the staffing that was
//!    planned). Unit services (`per_unit`) pay delivered units only: a
//!    cancelled meal is not paid.
//! 6. **Double staffing** is granted when a decision of the client for the
//!    service with `double_staffing` is active on the visit's local start
//!    date. It pays exactly twice. It does not apply to units.
//! 7. **Coverage** is decided on the local start date and covers the whole
//!    visit, including minutes after midnight or in the next month.
//! 8. **Missing rates.** If any minute of a visit has no rate in force the
//!    whole visit is unpaid and flagged `no_rate` (first date and class), so
//!    the gap cannot hide in a partial payment; a day of the granted or
//!    per-month basis without a rate is unpaid and flagged (`Days`). A
//!    settlement with `no_rate` flags must not be approved.
//! 9. **Rates** are valid from a local date; negative rates, amounts above
//!    10^12 öre (a guard against overflow), and two versions with the same
//!    key and date but different amounts are input errors. So are settings
//!    out of range: tolerance above 1 000 000 bp, late factor or VAT above
//!    10 000 bp, `max_visit_minutes` above 31 days.
//! 10. **The excess rule** applies to service types with basis `performed`
//!     and a group; `group: None` means the type is never capped. Granted
//!     basis types take no part, neither their granted time nor their pay
//!     (their pay is the granted time by construction, and has no time of
//!     day to be taken from), nor do units and months: the contract's
//!     "summed over the group's service types" is read as the types whose
//!     minutes are capped.
//!     - Paid minutes are paid quantity: ×2 for granted double staffing and
//!       × the factor for late cancellations.
//!     - Granted time: per performed-basis type of the group, the largest
//!       `granted_minutes_per_month` among the client's decisions active on
//!       any day of the month, summed; a type without a decision adds 0.
//!     - The limit granted × (1 + tolerance) is exact, and so is the excess:
//!       it can be a fraction of a minute.
//!     - The excess comes off the chronologically last paid minutes of the
//!       month: minutes ordered by instant, then provider index, then
//!       external id index (then the visit's sort position, for duplicates),
//!       removed from the last. Overlapping visits thus lose their common
//!       minutes in turn, minute by minute. A double-staffed minute holds two
//!       paid minutes and may lose one; a late-cancelled minute sits at its
//!       planned time and holds `factor` paid minutes.
//!     - Removed minutes come off the lines they were in (their class and
//!       rate version); a line left with nothing is dropped. Each visit that
//!       lost minutes gets an `excess` flag with the minutes and their value
//!       (rounded once), ready to become an adjustment when approved.
//!     - Because the rule spans providers, a provider's lines depend on
//!       other providers' visits to the same client.
//! 11. **Granted basis.** For each day an assignment is active: the granted
//!     minutes of the decision active that day (the largest if several) ÷ the
//!     days of the month, at that day's `day` rate. Days without a decision
//!     pay nothing and are flagged `no_decision`.
//! 12. **Per month basis.** For each day an assignment is active: 1/days of
//!     the month at that day's `month` rate. No decision needed.
//! 13. **Per unit basis.** Performed, covered visits; `quantity` or 1 unit,
//!     at the unit rate of the local start date.
//! 14. **Exactness.** A line's quantity is a fraction with a fixed
//!     denominator: 1/10 000 minute for the time classes (the resolution of
//!     the factor and of the tolerance), 1/days-of-month for `granted` (in
//!     minutes) and `month` (in months), 1 for `unit`. Integer numerators are
//!     summed, then the amount quantity × rate (÷ 60 for hourly rates) is
//!     rounded once, half away from zero. Output quantities are in lowest
//!     terms. Lines with zero quantity are omitted.
//! 15. **VAT compensation** is `lines_total × vat_bp / 10 000` rounded once,
//!     for entitled providers; adjustments are excluded.
//! 16. **Ratios** are basis points: tolerance 1 000 = 10 %, late factor
//!     10 000 = 1.0, VAT 600 = 6 %.
//! 17. **Out of scope visits.** A visit starting (local) outside the month is
//!     unpaid and flagged `not_in_month`; end before start is `invalid_times`;
//!     longer than `max_visit_minutes` (default 48 h) is `too_long`. A
//!     zero-length visit of an hourly service pays nothing (a unit delivery
//!     is paid by its units whatever its length). Visits of granted or per-month types
//!     are ignored silently (they are paid per day). Identical duplicate
//!     visits are both paid: de-duplication belongs to the import.
//! 18. **Indices and order.** The caller must number providers and external
//!     ids in the order of their text ids: the excess rule's ties use the
//!     indices, and lines sort by them.
//! 19. **One zone per client** and one version of the non-rate settings per
//!     month (the caller passes those in force for the month).
//! 20. **Checksum** covers lines, totals and adjustments in a documented
//!     canonical text (see `checksum`), not flags. Every provider in the
//!     provider table gets a settlement, empty or not.

mod checksum;
mod engine;
pub mod exact;
mod rates;
pub mod time_class;
mod types;

#[cfg(test)]
mod bench;
#[cfg(test)]
mod oracle;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use engine::{offsets_by_client, settle, settle_with_threads, Batch, Engine};
pub use exact::{minutes_amount, round_half_away};
pub use time_class::{split_interval, ClassSegment};
pub use types::*;
