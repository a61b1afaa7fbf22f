//! The two files a settlement leaves the system as:
//!
//! - a CSV statement per provider (semicolon-separated, decimal comma, UTF-8
//!   with BOM, CRLF; amounts also as integer öre) — the columns are
//!   documented in docs/settlement.md;
//! - an SIE4 file (type 4I, import of vouchers) for the municipality's
//!   accounting: one voucher per provider-month, PC8 (code page 437).
//!
//! Both are pure functions of stored data, so the same settlement exports
//! byte for byte the same.

use super::{Adjustment, Line, Settlement};
use crate::error::{ApiResult, Fields};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;

/// How a service type is paid and counted, for the statement's columns.
#[derive(Debug, Clone)]
pub struct ServiceInfo {
    pub basis: String,
    pub unit: String,
    pub name_sv: String,
    pub name_en: String,
}

/// Kronor with a decimal comma and no thousands separator: `-1234,05`.
pub fn kr_comma(ore: i64) -> String {
    let sign = if ore < 0 { "-" } else { "" };
    let a = ore.unsigned_abs();
    format!("{sign}{},{:02}", a / 100, a % 100)
}

/// Kronor with a decimal point, as SIE wants: `-1234.05`.
pub fn kr_point(ore: i64) -> String {
    kr_comma(ore).replace(',', ".")
}

/// An exact fraction as a decimal with a comma, at most four decimals
/// (rounded half away from zero), trailing zeros dropped: `638,7097`, `22,5`, `90`.
pub fn decimal_comma(num: i64, den: i64) -> String {
    if den <= 0 {
        return String::new();
    }
    let scaled = i128::from(num) * 10_000;
    let d = i128::from(den);
    let q = scaled / d;
    let r = scaled % d;
    let rounded = if 2 * r.abs() >= d { q + scaled.signum() } else { q };
    let sign = if rounded < 0 { "-" } else { "" };
    let a = rounded.unsigned_abs();
    let (whole, frac) = (a / 10_000, a % 10_000);
    if frac == 0 {
        format!("{sign}{whole}")
    } else {
        let f = format!("{frac:04}");
        format!("{sign}{whole},{}", f.trim_end_matches('0'))
    }
}

/// What a line's rate is per and what its quantity counts.
pub fn units_of(class: &str) -> (&'static str, &'static str) {
    match class {
        "unit" => ("unit", "unit"),
        "month" => ("month", "month"),
        _ => ("hour", "minute"),
    }
}

fn csv_field(out: &mut String, v: &str) {
    if v.contains([';', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

/// Free text a spreadsheet could take for a formula is prefixed with `'`.
fn neutral(v: &str) -> String {
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_string()
    }
}

pub const CSV_COLUMNS: [&str; 23] = [
    "record",
    "month",
    "provider_id",
    "provider_org_nr",
    "status",
    "line_no",
    "client_id",
    "person_id",
    "service_type",
    "basis",
    "time_class",
    "zone",
    "rate_valid_from",
    "rate_per",
    "rate_kr",
    "rate_ore",
    "quantity_unit",
    "quantity",
    "quantity_num",
    "quantity_den",
    "amount_kr",
    "amount_ore",
    "note",
];

fn push_row(out: &mut String, fields: &[&str]) {
    for (k, f) in fields.iter().enumerate() {
        if k > 0 {
            out.push(';');
        }
        csv_field(out, f);
    }
    out.push_str("\r\n");
}

/// The provider's statement for the month.
pub fn statement_csv(
    st: &Settlement,
    lines: &[Line],
    adjustments: &[Adjustment],
    person_ids: &HashMap<String, String>,
    services: &HashMap<String, ServiceInfo>,
) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    push_row(&mut out, &CSV_COLUMNS);
    let head = [st.month.as_str(), st.provider_id.as_str(), st.provider_org_nr.as_str(), st.status.as_str()];
    let summary = |out: &mut String, record: &str, no: &str, amount: i64, note: &str| {
        let (kr, ore) = (kr_comma(amount), amount.to_string());
        let mut row: Vec<&str> = vec![record];
        row.extend_from_slice(&head);
        row.push(no);
        row.extend_from_slice(&[""; 14]);
        row.extend_from_slice(&[kr.as_str(), ore.as_str(), note]);
        push_row(out, &row);
    };
    for l in lines {
        let (rate_per, quantity_unit) = units_of(&l.time_class);
        let basis = services.get(&l.service_type).map(|s| s.basis.as_str()).unwrap_or("");
        let person = person_ids.get(&l.client_id).map(String::as_str).unwrap_or("");
        let no = l.seq.to_string();
        let (rate_kr, rate_ore) = (kr_comma(l.rate_ore), l.rate_ore.to_string());
        let q = decimal_comma(l.quantity_num, l.quantity_den);
        let (qn, qd) = (l.quantity_num.to_string(), l.quantity_den.to_string());
        let (amount_kr, amount_ore) = (kr_comma(l.amount_ore), l.amount_ore.to_string());
        let mut row: Vec<&str> = vec!["line"];
        row.extend_from_slice(&head);
        row.extend_from_slice(&[
            &no,
            &l.client_id,
            person,
            &l.service_type,
            basis,
            &l.time_class,
            &l.zone,
            &l.rate_valid_from,
            rate_per,
            &rate_kr,
            &rate_ore,
            quantity_unit,
            &q,
            &qn,
            &qd,
            &amount_kr,
            &amount_ore,
            "",
        ]);
        push_row(&mut out, &row);
    }
    summary(&mut out, "lines_total", "", st.lines_total_ore, "");
    let vat_note = st.vat_basis_points.map(|bp| format!("vat_basis_points={bp}")).unwrap_or_default();
    summary(&mut out, "vat", "", st.vat_ore, &vat_note);
    for (k, a) in adjustments.iter().enumerate() {
        let mut note = neutral(&a.reason);
        if let Some(c) = &a.corrects {
            note.push_str(&format!(" (corrects {c})"));
        }
        summary(&mut out, "adjustment", &(k + 1).to_string(), a.amount_ore, &note);
    }
    summary(&mut out, "total", "", st.total_ore, &format!("checksum={}", st.checksum));
    out.into_bytes()
}

/// Accounts and series of the SIE export: a setting of the municipality.
/// Defaults follow the structure of Kommun-Bas (SKR's chart for
/// municipalities); check them against the municipality's own chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SieConfig {
    /// Voucher series.
    pub series: String,
    /// The municipality's organisation number for #ORGNR (empty: left out).
    pub org_nr: String,
    /// Debit: the compensation (lines).
    pub expense_account: String,
    pub expense_account_name: String,
    /// Debit: the VAT compensation (6 %) to private providers.
    pub vat_account: String,
    pub vat_account_name: String,
    /// Debit (or credit, when negative): manual adjustments.
    pub adjustment_account: String,
    pub adjustment_account_name: String,
    /// Credit: what is owed to the provider.
    pub payable_account: String,
    pub payable_account_name: String,
}

impl Default for SieConfig {
    fn default() -> Self {
        SieConfig {
            series: "A".into(),
            org_nr: String::new(),
            expense_account: "4540".into(),
            expense_account_name: "Köp av huvudverksamhet, valfrihetssystem".into(),
            vat_account: "4541".into(),
            vat_account_name: "Momskompensation till privata utförare".into(),
            adjustment_account: "4549".into(),
            adjustment_account_name: "Justeringar av avräkning".into(),
            payable_account: "2540".into(),
            payable_account_name: "Leverantörsskulder".into(),
        }
    }
}

impl SieConfig {
    /// The settings' keys, in the order the settings page shows them.
    pub const KEYS: [&'static str; 10] = [
        "series",
        "org_nr",
        "expense_account",
        "expense_account_name",
        "vat_account",
        "vat_account_name",
        "adjustment_account",
        "adjustment_account_name",
        "payable_account",
        "payable_account_name",
    ];

    fn slot(&mut self, key: &str) -> Option<&mut String> {
        Some(match key {
            "series" => &mut self.series,
            "org_nr" => &mut self.org_nr,
            "expense_account" => &mut self.expense_account,
            "expense_account_name" => &mut self.expense_account_name,
            "vat_account" => &mut self.vat_account,
            "vat_account_name" => &mut self.vat_account_name,
            "adjustment_account" => &mut self.adjustment_account,
            "adjustment_account_name" => &mut self.adjustment_account_name,
            "payable_account" => &mut self.payable_account,
            "payable_account_name" => &mut self.payable_account_name,
            _ => return None,
        })
    }

    /// From stored `sie.<key>` rows over the defaults.
    pub fn from_rows(rows: &[(String, String)]) -> Self {
        let mut c = SieConfig::default();
        for (k, v) in rows {
            if let Some(slot) = k.strip_prefix("sie.").and_then(|k| c.slot(k)) {
                *slot = v.clone();
            }
        }
        c
    }

    pub fn to_rows(&self) -> Vec<(String, String)> {
        let mut me = self.clone();
        Self::KEYS.iter().map(|k| (format!("sie.{k}"), me.slot(k).map(|s| s.clone()).unwrap_or_default())).collect()
    }

    pub fn check(&self) -> ApiResult<()> {
        let mut f = Fields::new();
        for (k, v) in [
            ("expense_account", &self.expense_account),
            ("vat_account", &self.vat_account),
            ("adjustment_account", &self.adjustment_account),
            ("payable_account", &self.payable_account),
        ] {
            if v.is_empty() || v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
                f.push(k, "invalid_account", "an account number of 1–10 digits");
            }
        }
        if self.series.is_empty() || self.series.len() > 10 || !self.series.bytes().all(|b| b.is_ascii_alphanumeric()) {
            f.push("series", "invalid_series", "1–10 letters or digits");
        }
        if !self.org_nr.is_empty() && !self.org_nr.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            f.push("org_nr", "invalid_org_nr", "an organisation number such as 212000-2411");
        }
        for (k, v) in [
            ("expense_account_name", &self.expense_account_name),
            ("vat_account_name", &self.vat_account_name),
            ("adjustment_account_name", &self.adjustment_account_name),
            ("payable_account_name", &self.payable_account_name),
        ] {
            if v.trim().is_empty() || v.chars().count() > 100 {
                f.push(k, "invalid_name", "1–100 characters");
            }
        }
        f.finish()
    }
}

/// An SIE string: always quoted, `"` and `\` escaped with a backslash,
/// control characters dropped.
fn sie_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn sie_date(iso: &str) -> String {
    iso.chars().filter(|c| c.is_ascii_digit()).take(8).collect()
}

/// The upper half (0x80–0xFF) of code page 437, the PC8 of SIE.
const CP437_HIGH: [char; 128] = [
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', 'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü',
    '¢', '£', '¥', '₧', 'ƒ', 'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡', '«', '»', '░', '▒', '▓', '│', '┤', '╡',
    '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐', '└', '┴', '┬', '├', '─', '┼', '╞', '╟', '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧', '╨',
    '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘', '┌', '█', '▄', '▌', '▐', '▀', 'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ',
    '∞', 'φ', 'ε', '∩', '≡', '±', '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', '\u{a0}',
];

/// Encodes text as code page 437; characters it lacks become `?`.
pub fn cp437(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| if c.is_ascii() { c as u8 } else { CP437_HIGH.iter().position(|&x| x == c).map_or(b'?', |p| 0x80 + p as u8) })
        .collect()
}

/// One voucher: a settlement with its provider.
pub struct Voucher<'a> {
    pub settlement: &'a Settlement,
}

/// The SIE4 (4I) file of some settlements of one month: one voucher each,
/// dated the month's last day. `generated` is the export date (YYYY-MM-DD).
pub fn sie4(
    cfg: &SieConfig,
    municipality: &str,
    currency: &str,
    month: valfri_core::Month,
    generated: &str,
    settlements: &[&Settlement],
) -> Vec<u8> {
    let mut t = String::new();
    let mut line = |s: String| {
        t.push_str(&s);
        t.push_str("\r\n");
    };
    line("#FLAGGA 0".into());
    line("#FORMAT PC8".into());
    line("#SIETYP 4".into());
    line(format!("#PROGRAM {} {}", sie_string("valfri"), sie_string(env!("CARGO_PKG_VERSION"))));
    line(format!("#GEN {}", sie_date(generated)));
    line(format!("#FNAMN {}", sie_string(municipality)));
    if !cfg.org_nr.is_empty() {
        line(format!("#ORGNR {}", cfg.org_nr));
    }
    let year = month.year();
    line(format!("#RAR 0 {year:04}0101 {year:04}1231"));
    line(format!("#VALUTA {currency}"));
    let mut accounts = vec![
        (&cfg.expense_account, &cfg.expense_account_name),
        (&cfg.vat_account, &cfg.vat_account_name),
        (&cfg.adjustment_account, &cfg.adjustment_account_name),
        (&cfg.payable_account, &cfg.payable_account_name),
    ];
    accounts.sort();
    accounts.dedup_by(|a, b| a.0 == b.0);
    for (no, name) in accounts {
        line(format!("#KONTO {no} {}", sie_string(name)));
    }
    let date = sie_date(&month.last_day().to_string());
    let gen = sie_date(generated);
    for st in settlements {
        let trans = [
            (&cfg.expense_account, st.lines_total_ore),
            (&cfg.vat_account, st.vat_ore),
            (&cfg.adjustment_account, st.adjustments_total_ore),
            (&cfg.payable_account, -st.total_ore),
        ];
        if trans.iter().all(|(_, a)| *a == 0) {
            continue;
        }
        let text = format!("Avräkning {} {} {}", st.month, st.provider_name, st.provider_org_nr);
        line(format!("#VER {} \"\" {date} {} {gen}", sie_string(&cfg.series), sie_string(&text)));
        line("{".into());
        let who = format!("{} {}", st.provider_name, st.provider_org_nr);
        for (account, amount) in trans {
            if amount != 0 {
                line(format!("   #TRANS {account} {{}} {} {date} {}", kr_point(amount), sie_string(&who)));
            }
        }
        line("}".into());
    }
    cp437(&t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swedish_decimals() {
        assert_eq!(kr_comma(41480), "414,80");
        assert_eq!(kr_comma(-5), "-0,05");
        assert_eq!(kr_point(-123405), "-1234.05");
        assert_eq!(decimal_comma(90, 1), "90");
        assert_eq!(decimal_comma(45, 2), "22,5");
        assert_eq!(decimal_comma(19800, 31), "638,7097");
        assert_eq!(decimal_comma(1, 3), "0,3333");
        assert_eq!(decimal_comma(2, 3), "0,6667");
        assert_eq!(decimal_comma(-2, 3), "-0,6667");
    }

    #[test]
    fn pc8_has_the_swedish_letters() {
        assert_eq!(cp437("åäöÅÄÖé"), vec![0x86, 0x84, 0x94, 0x8F, 0x8E, 0x99, 0x82]);
        assert_eq!(cp437("a€"), vec![b'a', b'?']);
        assert_eq!(CP437_HIGH.len(), 128);
    }

    #[test]
    fn csv_quotes_and_neutralises() {
        let mut s = String::new();
        csv_field(&mut s, "a;b\"c");
        assert_eq!(s, "\"a;b\"\"c\"");
        assert_eq!(neutral("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(neutral("Rättelse"), "Rättelse");
    }

    #[test]
    fn sie_strings_escape_quotes() {
        assert_eq!(sie_string("Al \"Amal\" AB"), "\"Al \\\"Amal\\\" AB\"");
    }

    #[test]
    fn config_round_trips_and_checks() {
        let c = SieConfig::default();
        assert_eq!(SieConfig::from_rows(&c.to_rows()), c);
        assert!(c.check().is_ok());
        let bad = SieConfig { expense_account: "45x".into(), ..SieConfig::default() };
        assert!(bad.check().is_err());
    }
}
