//! The plain input and output structs of the engine. Every entity is named by
//! a compact `u32` index that the caller assigns (see the module docs for the
//! ordering the caller must respect).

use crate::calendar::Country;
use crate::money::Money;
use crate::month::Month;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::num::NonZeroU32;

/// What a service type is paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    Performed,
    Granted,
    PerUnit,
    PerMonth,
}

/// The class of a settlement line, and of a rate. Rates never have the class
/// `Granted`: the granted basis pays at the `Day` rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    Day,
    Evening,
    Night,
    Weekend,
    Granted,
    Unit,
    Month,
}

impl Class {
    pub const fn as_str(self) -> &'static str {
        match self {
            Class::Day => "day",
            Class::Evening => "evening",
            Class::Night => "night",
            Class::Weekend => "weekend",
            Class::Granted => "granted",
            Class::Unit => "unit",
            Class::Month => "month",
        }
    }

    /// The classes a minute of a visit can fall in.
    pub const fn is_time(self) -> bool {
        matches!(self, Class::Day | Class::Evening | Class::Night | Class::Weekend)
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a service type is paid and which group its time is capped in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSettings {
    pub basis: Basis,
    /// The service group for the granted-time excess rule. `None`: the
    /// service's time is never capped.
    pub group: Option<u32>,
}

/// The settings of the compensation model for one month. Ratios are in basis
/// points (1/10 000) so that they stay exact integers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// IANA name, e.g. `Europe/Stockholm`.
    pub time_zone: String,
    pub country: Country,
    /// Indexed by service type index.
    pub services: Vec<ServiceSettings>,
    /// Paid minutes allowed beyond granted time; 1000 = 10 %.
    pub excess_tolerance_bp: u32,
    /// A cancellation less than this long before the planned start is late.
    pub late_cancellation_notice_minutes: u32,
    /// The share of the planned minutes a late cancellation is paid; 10 000 = 1.0.
    pub late_cancellation_factor_bp: u32,
    /// VAT compensation for entitled providers; 600 = 6 %.
    pub vat_compensation_bp: u32,
    /// Longer visits are flagged and not paid: guards against a mistyped end
    /// date swallowing a month of pay.
    pub max_visit_minutes: u32,
}

impl Settings {
    pub const DEFAULT_EXCESS_TOLERANCE_BP: u32 = 1_000;
    pub const DEFAULT_LATE_CANCELLATION_NOTICE_MINUTES: u32 = 24 * 60;
    pub const DEFAULT_LATE_CANCELLATION_FACTOR_BP: u32 = 10_000;
    pub const DEFAULT_VAT_COMPENSATION_BP: u32 = 600;
    pub const DEFAULT_MAX_VISIT_MINUTES: u32 = 48 * 60;
    /// The largest `max_visit_minutes` accepted: 31 days.
    pub const MAX_MAX_VISIT_MINUTES: u32 = 31 * 24 * 60;

    /// The default model of compensation.md with the given zone, country and
    /// service types.
    pub fn with_defaults(time_zone: &str, country: Country, services: Vec<ServiceSettings>) -> Self {
        Settings {
            time_zone: time_zone.to_owned(),
            country,
            services,
            excess_tolerance_bp: Self::DEFAULT_EXCESS_TOLERANCE_BP,
            late_cancellation_notice_minutes: Self::DEFAULT_LATE_CANCELLATION_NOTICE_MINUTES,
            late_cancellation_factor_bp: Self::DEFAULT_LATE_CANCELLATION_FACTOR_BP,
            vat_compensation_bp: Self::DEFAULT_VAT_COMPENSATION_BP,
            max_visit_minutes: Self::DEFAULT_MAX_VISIT_MINUTES,
        }
    }
}

/// One version of one rate: in öre per hour (time classes), per unit
/// (`Unit`) or per month (`Month`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rate {
    pub service: u32,
    pub zone: u32,
    pub class: Class,
    /// In force from this local date until the next version's `valid_from`.
    pub valid_from: Date,
    pub amount: Money,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInfo {
    /// Private providers whose services are VAT exempt get VAT compensation.
    pub vat_entitled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// The zone of the client's area.
    pub zone: u32,
}

/// A needs-assessment decision for one service type. Active from `from` to
/// `to`, both inclusive local dates; `to: None` is open-ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Decision {
    pub client: u32,
    pub service: u32,
    pub from: Date,
    pub to: Option<Date>,
    pub granted_minutes_per_month: u32,
    pub double_staffing: bool,
}

/// An assignment of a client's service to a provider, active from `from` to
/// `to`, both inclusive local dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Assignment {
    pub client: u32,
    pub service: u32,
    pub provider: u32,
    pub from: Date,
    pub to: Option<Date>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitStatus {
    Performed,
    CancelledLate,
    CancelledInTime,
    Missed,
}

/// A reported visit. Times are Unix seconds (UTC); the engine truncates them
/// to the whole minute (floor), so `10:00:59` counts as `10:00`.
///
/// The field order is the visit's sort order (derived `Ord`): client, then
/// chronological, then provider and external id, which is the tie order of
/// the excess rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Visit {
    pub client: u32,
    /// Actual start when performed; planned start otherwise.
    pub start: i64,
    pub provider: u32,
    /// The caller's index of the provider's external id for the visit.
    pub external_id: u32,
    pub service: u32,
    /// Actual end when performed; planned end otherwise.
    pub end: i64,
    pub status: VisitStatus,
    pub double_staffed: bool,
    /// When the client cancelled (Unix seconds). When present it decides
    /// whether a cancellation was late, whatever the reported status said.
    pub cancelled_at: Option<i64>,
    /// Units delivered (meal portions) for a `PerUnit` service; `None`: one.
    pub quantity: Option<NonZeroU32>,
}

/// A manual, signed amount added to a provider's month.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Adjustment {
    pub provider: u32,
    pub amount: Money,
    pub reason: String,
    pub author: String,
    /// The approved settlement (or line) this corrects, if any.
    pub corrects: Option<String>,
}

/// Everything the settlement of a month needs apart from the visits and the
/// adjustments. Indices: `providers[p]`, `clients[c]`, `settings.services[s]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementContext {
    pub month: Month,
    pub settings: Settings,
    pub providers: Vec<ProviderInfo>,
    pub clients: Vec<ClientInfo>,
    pub rates: Vec<Rate>,
    pub decisions: Vec<Decision>,
    pub assignments: Vec<Assignment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementInput {
    pub context: SettlementContext,
    pub visits: Vec<Visit>,
    pub adjustments: Vec<Adjustment>,
}

/// An exact non-negative rational quantity, in lowest terms: minutes for the
/// time classes and `Granted`, units for `Unit`, months for `Month`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Quantity {
    pub num: i64,
    pub den: i64,
}

impl Quantity {
    pub(crate) fn reduced(num: i128, den: i128) -> Option<Quantity> {
        let g = gcd(num.unsigned_abs(), den.unsigned_abs()).max(1);
        let g = i128::try_from(g).ok()?;
        Some(Quantity { num: i64::try_from(num / g).ok()?, den: i64::try_from(den / g).ok()? })
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// One settlement line: a client × service type × class × rate version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Line {
    pub client: u32,
    pub service: u32,
    pub class: Class,
    pub rate_valid_from: Date,
    pub rate: Money,
    pub zone: u32,
    pub quantity: Quantity,
    pub amount: Money,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagCode {
    /// End before start. Not paid.
    InvalidTimes,
    /// Longer than `max_visit_minutes`. Not paid.
    TooLong,
    /// Starts (local time) outside the settled month: belongs to another.
    NotInMonth,
    /// No active assignment of this provider, client and service on the
    /// local start date. Not paid.
    NotCovered,
    /// Reported with two staff without a decision granting it: paid once.
    DoubleStaffingNotGranted,
    /// A minute or day with no rate in force. The visit (or day) is not paid;
    /// a settlement with this flag must not be approved.
    NoRate,
    /// `cancelled_at` contradicts the reported cancellation status; the
    /// engine followed `cancelled_at`.
    CancellationReclassified,
    /// Minutes removed by the granted-time excess rule.
    Excess,
    /// Granted basis: assignment days with no active decision, paid nothing.
    NoDecision,
}

impl FlagCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            FlagCode::InvalidTimes => "invalid_times",
            FlagCode::TooLong => "too_long",
            FlagCode::NotInMonth => "not_in_month",
            FlagCode::NotCovered => "not_covered",
            FlagCode::DoubleStaffingNotGranted => "double_staffing_not_granted",
            FlagCode::NoRate => "no_rate",
            FlagCode::CancellationReclassified => "cancellation_reclassified",
            FlagCode::Excess => "excess",
            FlagCode::NoDecision => "no_decision",
        }
    }
}

impl fmt::Display for FlagCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FlagDetail {
    None,
    /// The local date concerned (start date of the visit).
    Date {
        date: Date,
    },
    /// Elapsed minutes of the visit.
    Minutes {
        minutes: i64,
    },
    /// The first date and class that had no rate.
    Rate {
        date: Date,
        class: Class,
    },
    /// Days of the month concerned: the first and how many.
    Days {
        first: Date,
        count: u32,
    },
    /// Minutes between cancellation and planned start, and whether the
    /// engine found it late.
    Notice {
        minutes: i64,
        late: bool,
    },
    /// Paid minutes removed from this visit and what they would have been
    /// paid (at the visit's lines' rates, rounded once): the amount an
    /// approved excess adjustment would carry.
    Excess {
        minutes: Quantity,
        amount: Money,
    },
}

/// Something for the municipality to review. `visit` is the external id
/// index; `None` for flags about a client's month (granted, per-month bases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Flag {
    pub client: u32,
    pub service: u32,
    pub visit: Option<u32>,
    pub code: FlagCode,
    pub detail: FlagDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSettlement {
    pub provider: u32,
    /// Sorted by client, service, class, rate version.
    pub lines: Vec<Line>,
    /// Sorted by client, service, visit, code, detail.
    pub flags: Vec<Flag>,
    pub lines_total: Money,
    pub vat: Money,
    /// Sorted (amount, reason, author, corrects).
    pub adjustments: Vec<Adjustment>,
    pub adjustments_total: Money,
    /// `lines_total + vat + adjustments_total`.
    pub total: Money,
    /// Hex SHA-256 over [`ProviderSettlement::canonical_text`] with decimal
    /// indices as ids.
    pub checksum: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    pub month: Month,
    /// One per provider index, in index order.
    pub providers: Vec<ProviderSettlement>,
}

/// Input the engine refuses to settle. Data problems in single visits are
/// flags instead; these are problems of the whole input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    #[error("{what} index {index} is out of range")]
    UnknownIndex { what: &'static str, index: u32 },
    #[error("setting {0} is out of range")]
    InvalidSetting(&'static str),
    #[error("rate for service {service} zone {zone} from {valid_from}: {problem}")]
    InvalidRate { service: u32, zone: u32, valid_from: Date, problem: &'static str },
    #[error("two different rates for service {service} zone {zone} class {class} from {valid_from}")]
    ConflictingRates { service: u32, zone: u32, class: Class, valid_from: Date },
    #[error("the month's dates are outside the supported range")]
    DateOutOfRange,
    #[error("an amount does not fit in 64 bits")]
    Overflow,
    #[error("client {0} was given to the engine twice")]
    ClientTwice(u32),
    #[error("a visit of client {visit_client} was given with the visits of client {client}")]
    VisitOfOtherClient { client: u32, visit_client: u32 },
}
