//! Time reports (besök): what providers report they did, visit by visit,
//! through the API, a CSV file (`valfri visits import` or the upload on
//! `/provider/visits`) and the demo. Rows are validated one by one; a bad
//! row is reported with its line, column and reason and never dropped
//! silently; good rows are stored, keyed by (provider, external id), so a
//! re-import changes nothing and a corrected row replaces the earlier one
//! until its month's settlement is approved. Stored rows that break a
//! payment rule or look wrong get import-time flags (`flags.rs`).
//!
//! Choices where the issue leaves room are listed in docs/visits-csv.md.

pub mod api;
pub mod cli;
pub mod csvfile;
pub mod demo;
pub mod flags;
pub mod import;
pub mod read;
pub mod time;
pub mod web;

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::LocalTime;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Performed,
    CancelledLate,
    CancelledInTime,
    Missed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Performed => "performed",
            Status::CancelledLate => "cancelled_late",
            Status::CancelledInTime => "cancelled_in_time",
            Status::Missed => "missed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "performed" => Status::Performed,
            "cancelled_late" => Status::CancelledLate,
            "cancelled_in_time" => Status::CancelledInTime,
            "missed" => Status::Missed,
            _ => return None,
        })
    }

    /// Statuses the payment rules apply to: a performed visit and a late
    /// cancellation are paid; the others are not.
    pub fn is_paid_kind(self) -> bool {
        matches!(self, Status::Performed | Status::CancelledLate)
    }
}

/// One reported visit as text, whatever it came from (a CSV record, a JSON
/// object, the demo). Empty means absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawVisit<'a> {
    pub provider: &'a str,
    pub external_id: &'a str,
    pub client: &'a str,
    pub service_type: &'a str,
    pub status: &'a str,
    pub planned_start: &'a str,
    pub planned_end: &'a str,
    pub actual_start: &'a str,
    pub actual_end: &'a str,
    pub cancelled_at: &'a str,
    pub staff_ref: &'a str,
    pub staff_count: &'a str,
    pub quantity: &'a str,
}

/// The columns of the CSV file and the fields of the JSON visit, in order.
pub const COLUMNS: [&str; 13] = [
    "provider",
    "external_id",
    "client",
    "service_type",
    "status",
    "planned_start",
    "planned_end",
    "actual_start",
    "actual_end",
    "cancelled_at",
    "staff_ref",
    "staff_count",
    "quantity",
];
pub const REQUIRED_COLUMNS: [&str; 4] = ["external_id", "client", "service_type", "status"];

impl<'a> RawVisit<'a> {
    /// Sets the field of column `i` of `COLUMNS`.
    pub fn set(&mut self, i: usize, v: &'a str) {
        let v = v.trim();
        match i {
            0 => self.provider = v,
            1 => self.external_id = v,
            2 => self.client = v,
            3 => self.service_type = v,
            4 => self.status = v,
            5 => self.planned_start = v,
            6 => self.planned_end = v,
            7 => self.actual_start = v,
            8 => self.actual_end = v,
            9 => self.cancelled_at = v,
            10 => self.staff_ref = v,
            11 => self.staff_count = v,
            12 => self.quantity = v,
            _ => {}
        }
    }
}

/// A service type as the import needs it.
#[derive(Debug, Clone)]
pub struct ServiceInfo {
    pub code: String,
    pub group: String,
    pub basis: String,
}

/// A visit that passed validation, with its derived values.
#[derive(Debug, Clone)]
pub struct Row {
    pub line: u64,
    pub external_id: String,
    pub client: u32,
    pub service: u16,
    pub status: Status,
    pub planned_start: Option<i64>,
    pub planned_end: Option<i64>,
    pub actual_start: Option<i64>,
    pub actual_end: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub staff_ref: String,
    pub staff_count: u8,
    pub quantity: Option<i64>,
    /// Actual times when performed, planned otherwise (compensation-choices.md item 3).
    pub start: i64,
    pub end: i64,
    /// Elapsed whole minutes, times floored to the minute.
    pub minutes: i64,
    /// The local day number (days since 1970-01-01) the visit starts on.
    pub local_day: i64,
    pub hash: u64,
}

/// One reason a row was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: &'static str,
    pub code: &'static str,
    pub reason: String,
}

/// The longest visit accepted at all: longer is surely a typing error.
const MAX_VISIT_SECONDS: i64 = 31 * 86_400;
const MAX_TEXT: usize = 64;
const MAX_QUANTITY: i64 = 10_000;

/// What validation looks names up in: the provider, its clients and the
/// service types.
#[derive(Clone)]
pub struct Refs {
    pub provider_id: String,
    pub provider_org_nr: String,
    /// Client id and identity number (as stored) -> index into `client_ids`.
    pub clients: HashMap<String, u32>,
    pub client_ids: Vec<String>,
    pub services: Vec<ServiceInfo>,
    pub country: valfri_core::ids::Country,
    pub today: jiff::civil::Date,
}

impl Refs {
    pub fn service_index(&self, code: &str) -> Option<u16> {
        self.services.iter().position(|s| s.code == code).map(|i| i as u16)
    }

    /// The index of a client id, adding it when it is new (for stored rows
    /// read back, whose client may no longer be among the provider's).
    pub fn intern_client(&mut self, id: &str) -> u32 {
        if let Some(i) = self.clients.get(id) {
            return *i;
        }
        let i = self.client_ids.len() as u32;
        self.client_ids.push(id.to_string());
        self.clients.insert(id.to_string(), i);
        i
    }

    fn find_client(&self, s: &str) -> Result<u32, FieldProblem> {
        if let Some(i) = self.clients.get(s) {
            return Ok(*i);
        }
        let unknown = || FieldProblem {
            field: "client",
            code: "unknown_client",
            reason: "no client with this id or identity number among the provider's clients".into(),
        };
        if s.bytes().filter(u8::is_ascii_digit).count() >= 10 {
            return match valfri_core::ids::PersonId::parse_for_at(self.country, s, self.today) {
                Ok(p) => self.clients.get(&p.to_string()).copied().ok_or_else(unknown),
                Err(e) => Err(FieldProblem { field: "client", code: "invalid_person_id", reason: e.to_string() }),
            };
        }
        Err(unknown())
    }
}

fn fnv(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // A separator, so ("ab","c") and ("a","bc") differ.
    *h ^= 0xff;
    *h = h.wrapping_mul(0x0000_0100_0000_01b3);
}

/// Text from a rejected row as it may be shown and stored: control
/// characters written as escapes (a NUL cannot be stored in PostgreSQL,
/// and a line break would break the report's lines), at most `max`
/// characters, the cut marked.
pub fn printable(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

fn text_ok(s: &str) -> bool {
    s.chars().count() <= MAX_TEXT && !s.chars().any(char::is_control)
}

/// A staff reference must not identify a person outside the provider:
/// something shaped like an identity number (10 or 12 digits) is refused.
fn looks_like_person_id(s: &str) -> bool {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    (digits == 10 || digits == 12) && s.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b'+' || b == b' ')
}

/// Validates one visit; every bad field is named, not just the first.
pub fn validate(lt: &mut LocalTime, refs: &Refs, line: u64, raw: &RawVisit<'_>) -> Result<Row, Vec<FieldProblem>> {
    let mut errs: Vec<FieldProblem> = Vec::new();
    let mut push = |field: &'static str, code: &'static str, reason: String| errs.push(FieldProblem { field, code, reason });

    if !raw.provider.is_empty() && raw.provider != refs.provider_id && raw.provider != refs.provider_org_nr {
        let same_org = valfri_core::ids::OrgNr::parse(raw.provider).map(|o| o.to_string() == refs.provider_org_nr).unwrap_or(false);
        if !same_org {
            push("provider", "provider_mismatch", "the row names another provider than the one reporting".into());
        }
    }
    if raw.external_id.is_empty() {
        push("external_id", "required", "the provider's own id of the visit is required".into());
    } else if !text_ok(raw.external_id) {
        push("external_id", "invalid_external_id", format!("at most {MAX_TEXT} characters, no control characters"));
    }
    let client = if raw.client.is_empty() {
        push("client", "required", "the client's id or identity number is required".into());
        None
    } else {
        match refs.find_client(raw.client) {
            Ok(c) => Some(c),
            Err(p) => {
                push(p.field, p.code, p.reason);
                None
            }
        }
    };
    let service = if raw.service_type.is_empty() {
        push("service_type", "required", "the service type code is required".into());
        None
    } else {
        let s = refs.service_index(raw.service_type);
        if s.is_none() {
            push("service_type", "unknown_service_type", format!("no service type with code {}", raw.service_type));
        }
        s
    };
    let status = if raw.status.is_empty() {
        push("status", "required", "the status is required: performed, cancelled_late, cancelled_in_time or missed".into());
        None
    } else {
        let s = Status::parse(raw.status);
        if s.is_none() {
            push("status", "invalid_status", "the status is performed, cancelled_late, cancelled_in_time or missed".into());
        }
        s
    };

    let mut time = |field: &'static str, v: &str, errs: &mut Vec<FieldProblem>| -> Option<i64> {
        if v.is_empty() {
            return None;
        }
        match lt.parse(v) {
            Ok(p) => Some(p.unix),
            Err(e) => {
                errs.push(FieldProblem { field, code: e.code, reason: e.reason });
                None
            }
        }
    };
    let planned_start = time("planned_start", raw.planned_start, &mut errs);
    let planned_end = time("planned_end", raw.planned_end, &mut errs);
    let actual_start = time("actual_start", raw.actual_start, &mut errs);
    let actual_end = time("actual_end", raw.actual_end, &mut errs);
    let cancelled_at = time("cancelled_at", raw.cancelled_at, &mut errs);
    let mut push = |field: &'static str, code: &'static str, reason: String| errs.push(FieldProblem { field, code, reason });

    let performed = status == Some(Status::Performed);
    if let Some(st) = status {
        if performed {
            for (f, v) in [("actual_start", raw.actual_start), ("actual_end", raw.actual_end)] {
                if v.is_empty() {
                    push(f, "required", "a performed visit needs its actual start and end".into());
                }
            }
        } else {
            for (f, v) in [("actual_start", raw.actual_start), ("actual_end", raw.actual_end)] {
                if !v.is_empty() {
                    push(f, "not_allowed", format!("a visit with status {} has no actual times", st.as_str()));
                }
            }
            for (f, v) in [("planned_start", raw.planned_start), ("planned_end", raw.planned_end)] {
                if v.is_empty() {
                    push(f, "required", format!("a visit with status {} needs its planned start and end", st.as_str()));
                }
            }
        }
        let cancelled = matches!(st, Status::CancelledLate | Status::CancelledInTime);
        if !cancelled && !raw.cancelled_at.is_empty() {
            push("cancelled_at", "not_allowed", "only a cancelled visit has a time of cancellation".into());
        }
    }
    if raw.planned_start.is_empty() != raw.planned_end.is_empty() {
        let f = if raw.planned_start.is_empty() { "planned_start" } else { "planned_end" };
        push(f, "required", "planned start and end go together".into());
    }
    for (f, s, e) in [("planned_end", planned_start, planned_end), ("actual_end", actual_start, actual_end)] {
        if let (Some(s), Some(e)) = (s, e) {
            if e < s {
                push(f, "end_before_start", "the end is before the start".into());
            } else if e - s > MAX_VISIT_SECONDS {
                push(f, "too_long", "a visit longer than 31 days is surely a typing error".into());
            }
        }
    }
    let staff_ref = raw.staff_ref;
    if staff_ref.is_empty() {
        if performed {
            push("staff_ref", "required", "a performed visit needs the (pseudonymous) reference of its staff".into());
        }
    } else if !text_ok(staff_ref) {
        push("staff_ref", "invalid_staff_ref", format!("at most {MAX_TEXT} characters, no control characters"));
    } else if looks_like_person_id(staff_ref) {
        push("staff_ref", "staff_ref_not_pseudonymous", "use the staff member's pseudonymous reference, not an identity number".into());
    }
    let staff_count = match raw.staff_count {
        "" | "1" => 1,
        "2" => 2,
        _ => {
            push("staff_count", "invalid_staff_count", "staff_count is 1 or 2".into());
            1
        }
    };
    let quantity = if raw.quantity.is_empty() {
        None
    } else {
        match raw.quantity.parse::<i64>() {
            Ok(q) if (1..=MAX_QUANTITY).contains(&q) => {
                if let Some(s) = service {
                    if refs.services[usize::from(s)].basis != "per_unit" {
                        push(
                            "quantity",
                            "not_allowed",
                            format!("a quantity is reported only for per-unit services, not {}", raw.service_type),
                        );
                    }
                }
                Some(q)
            }
            _ => {
                push("quantity", "invalid_quantity", format!("a whole number from 1 to {MAX_QUANTITY}"));
                None
            }
        }
    };

    if !errs.is_empty() {
        return Err(errs);
    }
    let (Some(client), Some(service), Some(status)) = (client, service, status) else {
        return Err(vec![FieldProblem { field: "line", code: "invalid_row", reason: "the row could not be read".into() }]);
    };
    let (start, end) = if performed { (actual_start, actual_end) } else { (planned_start, planned_end) };
    let (Some(start), Some(end)) = (start, end) else {
        return Err(vec![FieldProblem { field: "line", code: "invalid_row", reason: "the row has no times".into() }]);
    };
    let minutes = end.div_euclid(60) - start.div_euclid(60);
    let local_day = lt.local_day(start);

    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    fnv(&mut h, refs.client_ids[client as usize].as_bytes());
    fnv(&mut h, refs.services[usize::from(service)].code.as_bytes());
    fnv(&mut h, status.as_str().as_bytes());
    for t in [planned_start, planned_end, actual_start, actual_end, cancelled_at] {
        fnv(&mut h, &t.map_or(i64::MIN, |v| v).to_le_bytes());
    }
    fnv(&mut h, staff_ref.as_bytes());
    fnv(&mut h, &[staff_count]);
    fnv(&mut h, &quantity.unwrap_or(0).to_le_bytes());

    Ok(Row {
        line,
        external_id: raw.external_id.to_string(),
        client,
        service,
        status,
        planned_start,
        planned_end,
        actual_start,
        actual_end,
        cancelled_at,
        staff_ref: staff_ref.to_string(),
        staff_count,
        quantity,
        start,
        end,
        minutes,
        local_day,
        hash: h,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_text_is_shown_printable_and_short() {
        assert_eq!(printable("a\u{0}b\nc", 10), "a\\0b\\nc");
        assert_eq!(printable("åäö", 2), "åä…");
        assert_eq!(printable("", 5), "");
    }

    fn refs() -> Refs {
        let mut clients = HashMap::new();
        clients.insert("c1".to_string(), 0);
        clients.insert("19121212-1212".to_string(), 0);
        Refs {
            provider_id: "p1".into(),
            provider_org_nr: "556677-8899".into(),
            clients,
            client_ids: vec!["c1".into()],
            services: vec![
                ServiceInfo { code: "personal_care".into(), group: "personal_care".into(), basis: "performed".into() },
                ServiceInfo { code: "meals".into(), group: "meals".into(), basis: "per_unit".into() },
            ],
            country: valfri_core::ids::Country::Se,
            today: jiff::civil::date(2026, 3, 10),
        }
    }

    fn lt() -> LocalTime {
        LocalTime::new(jiff::tz::TimeZone::get("Europe/Stockholm").unwrap())
    }

    fn performed<'a>() -> RawVisit<'a> {
        RawVisit {
            external_id: "v1",
            client: "c1",
            service_type: "personal_care",
            status: "performed",
            planned_start: "2026-03-10 08:00",
            planned_end: "2026-03-10 08:30",
            actual_start: "2026-03-10 08:05",
            actual_end: "2026-03-10 08:40",
            staff_ref: "S-17",
            ..RawVisit::default()
        }
    }

    fn codes(r: Result<Row, Vec<FieldProblem>>) -> Vec<(&'static str, &'static str)> {
        r.err().unwrap_or_default().into_iter().map(|p| (p.field, p.code)).collect()
    }

    #[test]
    fn a_performed_visit_is_timed_by_its_actual_times() {
        let row = validate(&mut lt(), &refs(), 2, &performed()).unwrap();
        assert_eq!(row.minutes, 35);
        assert_eq!(time::stamp(row.start), "2026-03-10T07:05:00Z");
        assert_eq!(time::date(row.local_day), "2026-03-10");
        assert_eq!(row.staff_count, 1);
    }

    #[test]
    fn the_client_can_be_named_by_identity_number_in_any_form() {
        let r = refs();
        for c in ["19121212-1212", "191212121212", "121212+1212"] {
            let raw = RawVisit { client: c, ..performed() };
            let a = validate(&mut lt(), &r, 2, &raw).unwrap();
            assert_eq!(a.client, 0, "{c}");
            // The same visit with the client named either way is the same content.
            assert_eq!(a.hash, validate(&mut lt(), &r, 2, &performed()).unwrap().hash);
        }
        assert_eq!(codes(validate(&mut lt(), &r, 2, &RawVisit { client: "19400101-0018", ..performed() })), [("client", "unknown_client")]);
        assert_eq!(
            codes(validate(&mut lt(), &r, 2, &RawVisit { client: "19121212-1213", ..performed() })),
            [("client", "invalid_person_id")]
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let raw = RawVisit {
            status: "done",
            actual_end: "2026-03-10 25:00",
            staff_count: "3",
            quantity: "2",
            service_type: "dance",
            ..performed()
        };
        let c = codes(validate(&mut lt(), &refs(), 2, &raw));
        assert!(c.contains(&("status", "invalid_status")), "{c:?}");
        assert!(c.contains(&("actual_end", "invalid_time")), "{c:?}");
        assert!(c.contains(&("staff_count", "invalid_staff_count")), "{c:?}");
        assert!(c.contains(&("service_type", "unknown_service_type")), "{c:?}");
    }

    #[test]
    fn status_decides_which_times_are_needed() {
        let r = refs();
        let raw = RawVisit { actual_start: "", ..performed() };
        assert_eq!(codes(validate(&mut lt(), &r, 2, &raw)), [("actual_start", "required")]);
        let raw = RawVisit { status: "cancelled_late", ..performed() };
        assert_eq!(codes(validate(&mut lt(), &r, 2, &raw)), [("actual_start", "not_allowed"), ("actual_end", "not_allowed")]);
        let raw = RawVisit { status: "cancelled_late", actual_start: "", actual_end: "", cancelled_at: "2026-03-09 20:00", ..performed() };
        let row = validate(&mut lt(), &r, 2, &raw).unwrap();
        assert_eq!(row.minutes, 30, "a late cancellation is timed by its planned times");
        let raw = RawVisit { status: "missed", actual_start: "", actual_end: "", cancelled_at: "2026-03-09 20:00", ..performed() };
        assert_eq!(codes(validate(&mut lt(), &r, 2, &raw)), [("cancelled_at", "not_allowed")]);
        let raw = RawVisit { actual_end: "2026-03-10 08:00", ..performed() };
        assert_eq!(codes(validate(&mut lt(), &r, 2, &raw)), [("actual_end", "end_before_start")]);
    }

    #[test]
    fn staff_references_stay_pseudonymous() {
        let raw = RawVisit { staff_ref: "19121212-1212", ..performed() };
        assert_eq!(codes(validate(&mut lt(), &refs(), 2, &raw)), [("staff_ref", "staff_ref_not_pseudonymous")]);
    }

    #[test]
    fn quantity_only_for_per_unit_services() {
        let r = refs();
        let raw = RawVisit { quantity: "2", ..performed() };
        assert_eq!(codes(validate(&mut lt(), &r, 2, &raw)), [("quantity", "not_allowed")]);
        let raw = RawVisit { quantity: "2", service_type: "meals", ..performed() };
        assert_eq!(validate(&mut lt(), &r, 2, &raw).unwrap().quantity, Some(2));
    }

    #[test]
    fn provider_column_must_name_the_reporter() {
        let r = refs();
        assert!(validate(&mut lt(), &r, 2, &RawVisit { provider: "5566778899", ..performed() }).is_ok());
        assert!(validate(&mut lt(), &r, 2, &RawVisit { provider: "p1", ..performed() }).is_ok());
        assert_eq!(codes(validate(&mut lt(), &r, 2, &RawVisit { provider: "p2", ..performed() })), [("provider", "provider_mismatch")]);
    }

    #[test]
    fn content_hash_sees_every_change() {
        let r = refs();
        let base = validate(&mut lt(), &r, 2, &performed()).unwrap().hash;
        for raw in [
            RawVisit { actual_end: "2026-03-10 08:41", ..performed() },
            RawVisit { staff_ref: "S-18", ..performed() },
            RawVisit { staff_count: "2", ..performed() },
            RawVisit { planned_start: "", planned_end: "", ..performed() },
        ] {
            assert_ne!(validate(&mut lt(), &r, 2, &raw).unwrap().hash, base);
        }
        // The line number and the form of the time are not content.
        assert_eq!(validate(&mut lt(), &r, 9, &RawVisit { actual_end: "2026-03-10T07:40Z", ..performed() }).unwrap().hash, base);
    }
}
