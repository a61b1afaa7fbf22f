//! Identity numbers and codes, parsed once at the edge so that the rest of
//! the system can only ever hold valid ones.
//!
//! Every type here is built with `parse` (also reachable through `FromStr`
//! and `TryFrom<String>`), (de)serialises as its canonical string, and fails
//! with an error enum whose `code()` is a stable snake_case string for API
//! problem bodies. Error messages never repeat the input: it may be a
//! personal identity number, and error messages end up in logs.
//!
//! The `Debug` output of the personal identity numbers is masked for the same
//! reason; `Display` (and serde) give the full number, so use
//! [`Personnummer::masked`] or [`Fodselsnummer::masked`] in logs and lists.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// ASCII digits to their values, or `None` if any byte is not a digit.
fn digits<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    if bytes.len() != N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, &b) in out.iter_mut().zip(bytes) {
        if !b.is_ascii_digit() {
            return None;
        }
        *o = b - b'0';
    }
    Some(out)
}

/// The Luhn check digit for `payload` (each 0–9), as personnummer and
/// organisationsnummer end with: doubling from the first of their ten digits.
/// For making valid numbers (the demo, the benchmark); parsing checks with
/// `luhn_valid`.
pub fn luhn_check_digit(payload: &[u8]) -> u8 {
    let sum: u32 = payload
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let v = u32::from(d) * if i % 2 == 0 { 2 } else { 1 };
            v / 10 + v % 10
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// Luhn over a number whose last digit is the check digit.
fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// The mod-11 check digit used in Norway, or `None` when the remainder makes
/// it 10: such numbers are never issued.
fn mod11_check_digit(digits: &[u8], weights: &[u8]) -> Option<u8> {
    let sum: u32 = digits.iter().zip(weights).map(|(&d, &w)| u32::from(d) * u32::from(w)).sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        k => u8::try_from(k).ok(),
    }
}

fn two(d: &[u8]) -> u8 {
    d[0] * 10 + d[1]
}

/// Completed years from `born` to `on`. Someone born on 29 February becomes a
/// year older on 1 March in common years; some statutes count 28 February,
/// so a rule that hinges on the exact day should check that case itself.
fn age_between(born: Date, on: Date) -> i16 {
    let years = on.year() - born.year();
    if (on.month(), on.day()) < (born.month(), born.day()) {
        years - 1
    } else {
        years
    }
}

macro_rules! string_conversions {
    ($ty:ty, $err:ty) => {
        impl FromStr for $ty {
            type Err = $err;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$ty>::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $err;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                <$ty>::parse(&s)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = $err;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                <$ty>::parse(s)
            }
        }

        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.to_string()
            }
        }
    };
}

// ---------------------------------------------------------------------------
// Country

/// The country whose rules and identity numbers apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Country {
    Se,
    No,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CountryError {
    #[error("the country must be SE (Sweden) or NO (Norway)")]
    Unknown,
}

impl CountryError {
    pub fn code(&self) -> &'static str {
        match self {
            CountryError::Unknown => "unknown_country",
        }
    }
}

impl Country {
    /// Accepts the ISO 3166 code in either case.
    pub fn parse(s: &str) -> Result<Self, CountryError> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("se") {
            Ok(Country::Se)
        } else if s.eq_ignore_ascii_case("no") {
            Ok(Country::No)
        } else {
            Err(CountryError::Unknown)
        }
    }

    /// Lowercase, as in serde.
    pub fn as_str(self) -> &'static str {
        match self {
            Country::Se => "se",
            Country::No => "no",
        }
    }
}

impl FromStr for Country {
    type Err = CountryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Country::parse(s)
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------
// Personnummer

/// A Swedish personal identity number (*personnummer*) or coordination number
/// (*samordningsnummer*, day of birth + 60).
///
/// The canonical form is `YYYYMMDD-NNNN`. The check digit covers only the
/// last ten digits, so the century is not protected by it: [`parse`] cannot
/// tell 1912 from 2012 if the user mistypes it, while [`parse_at`] at least
/// rejects birth dates after the reference date.
///
/// [`parse`]: Personnummer::parse
/// [`parse_at`]: Personnummer::parse_at
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Personnummer {
    birth_date: Date,
    coordination: bool,
    serial: u16,
    check: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonnummerError {
    #[error("a personnummer is written YYYYMMDD-NNNN, e.g. 19121212-1212")]
    InvalidFormat,
    #[error("the personnummer needs a four-digit year: write it as YYYYMMDD-NNNN")]
    CenturyRequired,
    #[error("the personnummer does not pass the check digit test; a digit may be mistyped")]
    InvalidChecksum,
    #[error("the first digits of the personnummer are not a real date of birth")]
    InvalidDate,
    #[error("the birth number (digits 9 to 11) of a personnummer is never 000")]
    InvalidSerial,
    #[error("the personnummer gives a date of birth in the future")]
    BirthDateInFuture,
}

impl PersonnummerError {
    pub fn code(&self) -> &'static str {
        match self {
            PersonnummerError::InvalidFormat => "invalid_format",
            PersonnummerError::CenturyRequired => "century_required",
            PersonnummerError::InvalidChecksum => "invalid_checksum",
            PersonnummerError::InvalidDate => "invalid_date",
            PersonnummerError::InvalidSerial => "invalid_serial",
            PersonnummerError::BirthDateInFuture => "birth_date_in_future",
        }
    }
}

/// A personnummer split into its parts, before the century is known.
struct PnrParts {
    century: Option<u8>,
    /// `YYMMDDNNNC`, the digits the check digit covers.
    ten: [u8; 10],
    plus: bool,
}

impl PnrParts {
    fn lex(s: &str) -> Result<Self, PersonnummerError> {
        use PersonnummerError::InvalidFormat;
        let b = s.trim().as_bytes();
        let (head, sep, tail) = match b.len() {
            13 => (&b[..8], Some(b[8]), &b[9..]),
            12 => (&b[..8], None, &b[8..]),
            11 => (&b[..6], Some(b[6]), &b[7..]),
            10 => (&b[..6], None, &b[6..]),
            _ => return Err(InvalidFormat),
        };
        let plus = match sep {
            None | Some(b'-') => false,
            // `+` only means something in the ten-digit form, where it stands
            // in for the missing century.
            Some(b'+') if head.len() == 6 => true,
            Some(_) => return Err(InvalidFormat),
        };
        let tail: [u8; 4] = digits(tail).ok_or(InvalidFormat)?;
        let (century, date): (Option<u8>, [u8; 6]) = if head.len() == 8 {
            let head: [u8; 8] = digits(head).ok_or(InvalidFormat)?;
            let mut date = [0; 6];
            date.copy_from_slice(&head[2..]);
            (Some(two(&head[..2])), date)
        } else {
            (None, digits(head).ok_or(InvalidFormat)?)
        };
        let mut ten = [0; 10];
        ten[..6].copy_from_slice(&date);
        ten[6..].copy_from_slice(&tail);
        Ok(PnrParts { century, ten, plus })
    }

    /// Checks everything that does not depend on the century.
    fn check(&self) -> Result<(), PersonnummerError> {
        if !luhn_valid(&self.ten) {
            return Err(PersonnummerError::InvalidChecksum);
        }
        Ok(())
    }

    fn build(&self, year: i16) -> Result<Personnummer, PersonnummerError> {
        let t = &self.ten;
        let month = two(&t[2..4]);
        let written_day = two(&t[4..6]);
        let coordination = written_day > 60;
        let day = if coordination { written_day - 60 } else { written_day };
        let birth_date = Date::new(
            year,
            i8::try_from(month).map_err(|_| PersonnummerError::InvalidDate)?,
            i8::try_from(day).map_err(|_| PersonnummerError::InvalidDate)?,
        )
        .map_err(|_| PersonnummerError::InvalidDate)?;
        let serial = u16::from(t[6]) * 100 + u16::from(t[7]) * 10 + u16::from(t[8]);
        if serial == 0 {
            return Err(PersonnummerError::InvalidSerial);
        }
        Ok(Personnummer { birth_date, coordination, serial, check: t[9] })
    }
}

impl Personnummer {
    /// Parses the twelve-digit forms `YYYYMMDD-NNNN` and `YYYYMMDDNNNN`,
    /// with surrounding whitespace ignored.
    ///
    /// The ten-digit forms are refused with `century_required`: which century
    /// they mean depends on the date they are read, and a pure function has
    /// no today. Use [`parse_at`](Personnummer::parse_at) for those.
    pub fn parse(s: &str) -> Result<Self, PersonnummerError> {
        let parts = PnrParts::lex(s)?;
        let century = parts.century.ok_or(PersonnummerError::CenturyRequired)?;
        parts.check()?;
        parts.build(i16::from(century) * 100 + i16::from(two(&parts.ten[..2])))
    }

    /// Parses every written form, reading the ten-digit ones as the Swedish
    /// Tax Agency defines them on `today`: `YYMMDD-NNNN` (and
    /// `YYMMDDNNNN`, which has lost its separator) is someone who turns at
    /// most 99 this calendar year; `YYMMDD+NNNN` someone who turns 100 or
    /// more. Also rejects a date of birth after `today`.
    pub fn parse_at(s: &str, today: Date) -> Result<Self, PersonnummerError> {
        let parts = PnrParts::lex(s)?;
        parts.check()?;
        let yy = i16::from(two(&parts.ten[..2]));
        let year = match parts.century {
            Some(c) => i16::from(c) * 100 + yy,
            None => {
                let latest = today.year() - (today.year() - yy).rem_euclid(100);
                if parts.plus {
                    latest - 100
                } else {
                    latest
                }
            }
        };
        let pnr = parts.build(year)?;
        if pnr.birth_date > today {
            return Err(PersonnummerError::BirthDateInFuture);
        }
        Ok(pnr)
    }

    /// The real date of birth, also for a coordination number.
    pub fn birth_date(&self) -> Date {
        self.birth_date
    }

    pub fn is_coordination_number(&self) -> bool {
        self.coordination
    }

    /// Completed years on `on` (negative before the date of birth).
    pub fn age_on(&self, on: Date) -> i16 {
        age_between(self.birth_date, on)
    }

    /// The date part with the last four digits hidden, e.g. `19400101-****`,
    /// for logs and lists where the person need not be identified exactly.
    pub fn masked(&self) -> String {
        format!("{}-****", self.date_part())
    }

    /// `YYYYMMDD` as written, i.e. with day + 60 for a coordination number.
    fn date_part(&self) -> String {
        let day = self.birth_date.day() + if self.coordination { 60 } else { 0 };
        format!("{:04}{:02}{:02}", self.birth_date.year(), self.birth_date.month(), day)
    }
}

impl fmt::Display for Personnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:03}{}", self.date_part(), self.serial, self.check)
    }
}

impl fmt::Debug for Personnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Personnummer").field(&format_args!("{}", self.masked())).finish()
    }
}

string_conversions!(Personnummer, PersonnummerError);

// ---------------------------------------------------------------------------
// OrgNr

/// A Swedish organisation number (*organisationsnummer*) of a legal person,
/// canonical `NNNNNN-NNNN`.
///
/// A sole trader (*enskild näringsidkare*) has no organisation number of its
/// own and uses its personnummer. Those are refused here with
/// `personal_identity_number`: a personnummer is personal data and has a
/// century that this type could not keep, so a provider that is a sole
/// trader is to be identified by a [`Personnummer`] instead.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrgNr {
    digits: [u8; 10],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgNrError {
    #[error("an organisationsnummer is written NNNNNN-NNNN, e.g. 202100-5448")]
    InvalidFormat,
    #[error(
        "this is a personal identity number (the third digit is 0 or 1), not an organisation \
         number; a sole trader is identified by their personnummer"
    )]
    PersonalIdentityNumber,
    #[error("the organisationsnummer does not pass the check digit test; a digit may be mistyped")]
    InvalidChecksum,
}

impl OrgNrError {
    pub fn code(&self) -> &'static str {
        match self {
            OrgNrError::InvalidFormat => "invalid_format",
            OrgNrError::PersonalIdentityNumber => "personal_identity_number",
            OrgNrError::InvalidChecksum => "invalid_checksum",
        }
    }
}

impl OrgNr {
    /// Parses `NNNNNN-NNNN` or `NNNNNNNNNN`, either optionally prefixed with
    /// `16` (the "century" some registers give legal persons so that all
    /// numbers have twelve digits).
    pub fn parse(s: &str) -> Result<Self, OrgNrError> {
        let b = s.trim().as_bytes();
        let (prefix, b) = match b.len() {
            12 | 13 => b.split_at(2),
            _ => (&b[..0], b),
        };
        let (head, tail) = match b.len() {
            11 if b[6] == b'-' => (&b[..6], &b[7..]),
            10 => b.split_at(6),
            _ => return Err(OrgNrError::InvalidFormat),
        };
        let head: [u8; 6] = digits(head).ok_or(OrgNrError::InvalidFormat)?;
        let tail: [u8; 4] = digits(tail).ok_or(OrgNrError::InvalidFormat)?;
        let mut d = [0; 10];
        d[..6].copy_from_slice(&head);
        d[6..].copy_from_slice(&tail);
        // A month's first digit is 0 or 1, so a third digit below 2 is what
        // tells a personnummer apart; check it before the prefix so that a
        // twelve-digit personnummer gets the helpful error.
        if d[2] < 2 {
            return Err(OrgNrError::PersonalIdentityNumber);
        }
        if !prefix.is_empty() && prefix != b"16" {
            return Err(OrgNrError::InvalidFormat);
        }
        if !luhn_valid(&d) {
            return Err(OrgNrError::InvalidChecksum);
        }
        Ok(OrgNr { digits: d })
    }
}

impl fmt::Display for OrgNr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.digits.iter().enumerate() {
            if i == 6 {
                f.write_str("-")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for OrgNr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgNr({self})")
    }
}

string_conversions!(OrgNr, OrgNrError);

// ---------------------------------------------------------------------------
// Fodselsnummer

/// A Norwegian national identity number (*fødselsnummer*), including
/// D-numbers (day + 40) and H-numbers (month + 40). Canonical form: the 11
/// digits `DDMMYYIIIKK`.
///
/// Not accepted: FH-numbers (first digit 8 or 9, no date of birth), test
/// numbers from Skatteetaten's Tenor (month + 80), and the check digit rules
/// announced for numbers issued from 2032, which loosen K1 and K2.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fodselsnummer {
    digits: [u8; 11],
    birth_date: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FodselsnummerError {
    #[error("a fødselsnummer is 11 digits, DDMMYYNNNNN")]
    InvalidFormat,
    #[error("the fødselsnummer does not pass the check digit test; a digit may be mistyped")]
    InvalidChecksum,
    #[error("the first six digits of the fødselsnummer are not a real date of birth")]
    InvalidDate,
    #[error("the individual number (digits 7 to 9) does not fit the year of birth")]
    InvalidIndividualNumber,
}

impl FodselsnummerError {
    pub fn code(&self) -> &'static str {
        match self {
            FodselsnummerError::InvalidFormat => "invalid_format",
            FodselsnummerError::InvalidChecksum => "invalid_checksum",
            FodselsnummerError::InvalidDate => "invalid_date",
            FodselsnummerError::InvalidIndividualNumber => "invalid_individual_number",
        }
    }
}

const FNR_K1_WEIGHTS: [u8; 9] = [3, 7, 6, 1, 8, 9, 4, 5, 2];
const FNR_K2_WEIGHTS: [u8; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

/// The century of a two-digit year as the individual number gives it
/// (Skatteetaten's allocation table).
fn fnr_century(yy: u8, individual: u16) -> Option<i16> {
    match individual {
        0..=499 => Some(1900),
        _ if yy <= 39 => Some(2000),
        900..=999 => Some(1900),
        500..=749 if yy >= 54 => Some(1800),
        _ => None,
    }
}

impl Fodselsnummer {
    /// Parses the 11 digits, optionally with a space after the date
    /// (`DDMMYY NNNNN`) and surrounding whitespace.
    pub fn parse(s: &str) -> Result<Self, FodselsnummerError> {
        let b = s.trim().as_bytes();
        let d: [u8; 11] = match b.len() {
            11 => digits(b).ok_or(FodselsnummerError::InvalidFormat)?,
            12 if b[6] == b' ' => {
                let head: [u8; 6] = digits(&b[..6]).ok_or(FodselsnummerError::InvalidFormat)?;
                let tail: [u8; 5] = digits(&b[7..]).ok_or(FodselsnummerError::InvalidFormat)?;
                let mut d = [0; 11];
                d[..6].copy_from_slice(&head);
                d[6..].copy_from_slice(&tail);
                d
            }
            _ => return Err(FodselsnummerError::InvalidFormat),
        };
        if mod11_check_digit(&d[..9], &FNR_K1_WEIGHTS) != Some(d[9]) || mod11_check_digit(&d[..10], &FNR_K2_WEIGHTS) != Some(d[10]) {
            return Err(FodselsnummerError::InvalidChecksum);
        }
        let (day, month) = match (two(&d[0..2]), two(&d[2..4])) {
            (dd, mm) if dd > 40 && mm > 40 => return Err(FodselsnummerError::InvalidDate),
            (dd, mm) if dd > 40 => (dd - 40, mm),
            (dd, mm) if mm > 40 => (dd, mm - 40),
            (dd, mm) => (dd, mm),
        };
        let yy = two(&d[4..6]);
        let individual = u16::from(d[6]) * 100 + u16::from(d[7]) * 10 + u16::from(d[8]);
        let century = fnr_century(yy, individual).ok_or(FodselsnummerError::InvalidIndividualNumber)?;
        let birth_date = Date::new(
            century + i16::from(yy),
            i8::try_from(month).map_err(|_| FodselsnummerError::InvalidDate)?,
            i8::try_from(day).map_err(|_| FodselsnummerError::InvalidDate)?,
        )
        .map_err(|_| FodselsnummerError::InvalidDate)?;
        Ok(Fodselsnummer { digits: d, birth_date })
    }

    /// The real date of birth, also for D- and H-numbers.
    pub fn birth_date(&self) -> Date {
        self.birth_date
    }

    /// A D-number, given to people who are not or not yet registered as
    /// residents.
    pub fn is_d_number(&self) -> bool {
        self.digits[0] >= 4
    }

    /// An H-number, a temporary number given by the health services.
    pub fn is_h_number(&self) -> bool {
        self.digits[2] >= 4
    }

    /// Completed years on `on` (negative before the date of birth).
    pub fn age_on(&self, on: Date) -> i16 {
        age_between(self.birth_date, on)
    }

    /// The date part as written with the personal number hidden, e.g.
    /// `010140*****`, for logs and lists.
    pub fn masked(&self) -> String {
        let mut s: String = self.digits[..6].iter().map(|d| char::from(b'0' + d)).collect();
        s.push_str("*****");
        s
    }
}

impl fmt::Display for Fodselsnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.digits.iter().try_for_each(|d| write!(f, "{d}"))
    }
}

impl fmt::Debug for Fodselsnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Fodselsnummer").field(&format_args!("{}", self.masked())).finish()
    }
}

string_conversions!(Fodselsnummer, FodselsnummerError);

// ---------------------------------------------------------------------------
// NorwegianOrgNr

/// A Norwegian organisation number (*organisasjonsnummer*) from the Central
/// Coordinating Register for Legal Entities: nine digits, the first 8 or 9.
/// Canonical form: the nine digits without spaces.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NorwegianOrgNr {
    digits: [u8; 9],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NorwegianOrgNrError {
    #[error("an organisasjonsnummer is nine digits beginning with 8 or 9, e.g. 974 760 673")]
    InvalidFormat,
    #[error("the organisasjonsnummer does not pass the check digit test; a digit may be mistyped")]
    InvalidChecksum,
}

impl NorwegianOrgNrError {
    pub fn code(&self) -> &'static str {
        match self {
            NorwegianOrgNrError::InvalidFormat => "invalid_format",
            NorwegianOrgNrError::InvalidChecksum => "invalid_checksum",
        }
    }
}

const NO_ORGNR_WEIGHTS: [u8; 8] = [3, 2, 7, 6, 5, 4, 3, 2];

impl NorwegianOrgNr {
    /// Parses `NNNNNNNNN` or the grouped `NNN NNN NNN`.
    pub fn parse(s: &str) -> Result<Self, NorwegianOrgNrError> {
        let b = s.trim().as_bytes();
        let d: [u8; 9] = match b.len() {
            9 => digits(b),
            11 if b[3] == b' ' && b[7] == b' ' => {
                let mut joined = [0u8; 9];
                joined[..3].copy_from_slice(&b[..3]);
                joined[3..6].copy_from_slice(&b[4..7]);
                joined[6..].copy_from_slice(&b[8..]);
                digits(&joined)
            }
            _ => None,
        }
        .ok_or(NorwegianOrgNrError::InvalidFormat)?;
        if d[0] < 8 {
            return Err(NorwegianOrgNrError::InvalidFormat);
        }
        if mod11_check_digit(&d[..8], &NO_ORGNR_WEIGHTS) != Some(d[8]) {
            return Err(NorwegianOrgNrError::InvalidChecksum);
        }
        Ok(NorwegianOrgNr { digits: d })
    }
}

impl fmt::Display for NorwegianOrgNr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.digits.iter().try_for_each(|d| write!(f, "{d}"))
    }
}

impl fmt::Debug for NorwegianOrgNr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NorwegianOrgNr({self})")
    }
}

string_conversions!(NorwegianOrgNr, NorwegianOrgNrError);

// ---------------------------------------------------------------------------
// MunicipalityCode

/// A four-digit municipality code (Swedish *kommunkod*, Norwegian
/// *kommunenummer*), e.g. `2380` Östersund, `0581` Norrköping, `3405`
/// Lillehammer. The first two digits are the county.
///
/// Only the form is checked: which codes exist changes with municipal
/// reforms and is a lookup in the register, and the same code can exist in
/// both countries, so the country comes from context.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MunicipalityCode(u16);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MunicipalityCodeError {
    #[error("a municipality code is four digits, e.g. 2380 or 0581")]
    InvalidFormat,
}

impl MunicipalityCodeError {
    pub fn code(&self) -> &'static str {
        match self {
            MunicipalityCodeError::InvalidFormat => "invalid_format",
        }
    }
}

impl MunicipalityCode {
    pub fn parse(s: &str) -> Result<Self, MunicipalityCodeError> {
        let d: [u8; 4] = digits(s.trim().as_bytes()).ok_or(MunicipalityCodeError::InvalidFormat)?;
        Ok(MunicipalityCode(d.iter().fold(0, |n, &d| n * 10 + u16::from(d))))
    }

    /// The county (*län*, *fylke*): the first two digits.
    pub fn county(self) -> u8 {
        // At most 9999 / 100, so nothing is truncated.
        (self.0 / 100) as u8
    }
}

impl fmt::Display for MunicipalityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.0)
    }
}

impl fmt::Debug for MunicipalityCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MunicipalityCode({self})")
    }
}

string_conversions!(MunicipalityCode, MunicipalityCodeError);

// ---------------------------------------------------------------------------
// PersonId

/// A person's identity number in the country of the municipality.
///
/// Serialises as the canonical string of the inner number; the two canonical
/// forms cannot be confused (`YYYYMMDD-NNNN` against eleven plain digits),
/// so [`PersonId::parse`] reads either without being told the country.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PersonId {
    Se(Personnummer),
    No(Fodselsnummer),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonIdError {
    #[error(transparent)]
    Se(#[from] PersonnummerError),
    #[error(transparent)]
    No(#[from] FodselsnummerError),
}

impl PersonIdError {
    pub fn code(&self) -> &'static str {
        match self {
            PersonIdError::Se(e) => e.code(),
            PersonIdError::No(e) => e.code(),
        }
    }
}

impl PersonId {
    /// Parses with the rules of `country`; Swedish numbers need the
    /// twelve-digit form, as in [`Personnummer::parse`].
    pub fn parse_for(country: Country, s: &str) -> Result<Self, PersonIdError> {
        Ok(match country {
            Country::Se => PersonId::Se(Personnummer::parse(s)?),
            Country::No => PersonId::No(Fodselsnummer::parse(s)?),
        })
    }

    /// As [`parse_for`](PersonId::parse_for), but Swedish numbers may also be
    /// written in the ten-digit forms, read as on `today`.
    pub fn parse_for_at(country: Country, s: &str, today: Date) -> Result<Self, PersonIdError> {
        Ok(match country {
            Country::Se => PersonId::Se(Personnummer::parse_at(s, today)?),
            Country::No => PersonId::No(Fodselsnummer::parse(s)?),
        })
    }

    /// Reads a Norwegian number if the input has its shape (eleven digits,
    /// possibly as `DDMMYY NNNNN`), otherwise a Swedish twelve-digit one.
    pub fn parse(s: &str) -> Result<Self, PersonIdError> {
        let b = s.trim().as_bytes();
        let norwegian = match b.len() {
            11 => b.iter().all(u8::is_ascii_digit),
            12 => b[6] == b' ',
            _ => false,
        };
        let country = if norwegian { Country::No } else { Country::Se };
        PersonId::parse_for(country, s)
    }

    pub fn country(&self) -> Country {
        match self {
            PersonId::Se(_) => Country::Se,
            PersonId::No(_) => Country::No,
        }
    }

    pub fn birth_date(&self) -> Date {
        match self {
            PersonId::Se(p) => p.birth_date(),
            PersonId::No(p) => p.birth_date(),
        }
    }

    pub fn age_on(&self, on: Date) -> i16 {
        match self {
            PersonId::Se(p) => p.age_on(on),
            PersonId::No(p) => p.age_on(on),
        }
    }

    pub fn masked(&self) -> String {
        match self {
            PersonId::Se(p) => p.masked(),
            PersonId::No(p) => p.masked(),
        }
    }
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersonId::Se(p) => p.fmt(f),
            PersonId::No(p) => p.fmt(f),
        }
    }
}

impl From<Personnummer> for PersonId {
    fn from(p: Personnummer) -> Self {
        PersonId::Se(p)
    }
}

impl From<Fodselsnummer> for PersonId {
    fn from(p: Fodselsnummer) -> Self {
        PersonId::No(p)
    }
}

string_conversions!(PersonId, PersonIdError);

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    // Check digits are computed here independently of the code under test,
    // so that a wrong algorithm there cannot make the fixtures agree with it.

    /// Luhn check digit for a payload, doubling from the rightmost digit.
    fn luhn_digit(payload: &str) -> char {
        let sum: u32 = payload
            .chars()
            .rev()
            .enumerate()
            .map(|(i, c)| {
                let d = c.to_digit(10).expect("digit") * if i % 2 == 0 { 2 } else { 1 };
                d / 10 + d % 10
            })
            .sum();
        char::from_digit((10 - sum % 10) % 10, 10).expect("digit")
    }

    /// `YYYYMMDD` and `NNN` to a full personnummer with its check digit.
    fn pnr(ymd: &str, serial: &str) -> String {
        let check = luhn_digit(&format!("{}{}", &ymd[2..], serial));
        format!("{ymd}-{serial}{check}")
    }

    fn mod11(digits: &str, weights: &[u32]) -> Option<char> {
        let sum: u32 = digits.chars().zip(weights).map(|(c, w)| c.to_digit(10).expect("digit") * w).sum();
        match (11 - sum % 11) % 11 {
            10 => None,
            k => char::from_digit(k, 10),
        }
    }

    /// `DDMMYY` and `III` to a fødselsnummer, if the check digits exist.
    fn fnr(ddmmyy: &str, individual: &str) -> Option<String> {
        let nine = format!("{ddmmyy}{individual}");
        let k1 = mod11(&nine, &[3, 7, 6, 1, 8, 9, 4, 5, 2])?;
        let ten = format!("{nine}{k1}");
        let k2 = mod11(&ten, &[5, 4, 3, 2, 7, 6, 5, 4, 3, 2])?;
        Some(format!("{ten}{k2}"))
    }

    /// The first individual number in `range` that has check digits.
    fn fnr_in(ddmmyy: &str, range: std::ops::RangeInclusive<u16>) -> String {
        range.into_iter().find_map(|i| fnr(ddmmyy, &format!("{i:03}"))).expect("some individual number in the range has check digits")
    }

    fn no_orgnr(eight: &str) -> Option<String> {
        Some(format!("{eight}{}", mod11(eight, &[3, 2, 7, 6, 5, 4, 3, 2])?))
    }

    fn se_orgnr(nine: &str) -> String {
        format!("{}-{}{}", &nine[..6], &nine[6..], luhn_digit(nine))
    }

    fn replace_digit(s: &str, pos: usize, shift: u32) -> String {
        s.char_indices()
            .map(|(i, c)| {
                if i == pos {
                    let d = c.to_digit(10).expect("digit");
                    char::from_digit((d + shift) % 10, 10).expect("digit")
                } else {
                    c
                }
            })
            .collect()
    }

    // ---- Country

    #[test]
    fn country_parses_either_case_and_serialises_lowercase() {
        for s in ["SE", "se", "Se", " se "] {
            assert_eq!(s.parse::<Country>(), Ok(Country::Se));
        }
        for s in ["NO", "no"] {
            assert_eq!(s.parse::<Country>(), Ok(Country::No));
        }
        for s in ["", "dk", "sweden", "s e"] {
            assert_eq!(s.parse::<Country>().map_err(|e| e.code()), Err("unknown_country"));
        }
        assert_eq!(serde_json::to_string(&Country::No).expect("serialises"), "\"no\"");
        assert_eq!(serde_json::from_str::<Country>("\"se\"").expect("deserialises"), Country::Se);
        assert_eq!(Country::Se.to_string(), "se");
    }

    // ---- Personnummer

    #[test]
    fn skatteverket_test_number() {
        let p = Personnummer::parse("19121212-1212").expect("valid");
        assert_eq!(p.to_string(), "19121212-1212");
        assert_eq!(p.birth_date(), date(1912, 12, 12));
        assert!(!p.is_coordination_number());
        assert_eq!(p.masked(), "19121212-****");
        assert_eq!(format!("{p:?}"), "Personnummer(19121212-****)");
        assert_eq!(Personnummer::parse(" 191212121212 "), Ok(p));
    }

    #[test]
    fn ten_digit_forms_need_a_reference_date() {
        for s in ["121212-1212", "121212+1212", "1212121212"] {
            assert_eq!(Personnummer::parse(s), Err(PersonnummerError::CenturyRequired));
        }
        let today = date(2025, 6, 1);
        let at = |s| Personnummer::parse_at(s, today).map(|p| p.birth_date());
        assert_eq!(at("121212-1212"), Ok(date(2012, 12, 12)));
        assert_eq!(at("1212121212"), Ok(date(2012, 12, 12)));
        assert_eq!(at("121212+1212"), Ok(date(1912, 12, 12)));
        assert_eq!(at("19121212-1212"), Ok(date(1912, 12, 12)));
    }

    #[test]
    fn century_is_chosen_by_the_year_the_person_turns_100() {
        // Born in 1925: turns 100 during 2025, so already written with `+`.
        let n = pnr("19250901", "123");
        let short_minus = n[2..].to_string();
        let short_plus = short_minus.replace('-', "+");
        let today = date(2025, 1, 1);
        assert_eq!(Personnummer::parse_at(&short_plus, today).map(|p| p.birth_date()), Ok(date(1925, 9, 1)));
        // With `-` it would be someone born later this year.
        assert_eq!(Personnummer::parse_at(&short_minus, today), Err(PersonnummerError::BirthDateInFuture));
        assert_eq!(Personnummer::parse_at(&short_minus, date(2025, 9, 1)).map(|p| p.birth_date()), Ok(date(2025, 9, 1)));
    }

    #[test]
    fn leap_day_depends_on_the_century() {
        let n = pnr("20000229", "004");
        let today = date(2025, 6, 1);
        assert!(Personnummer::parse(&n).is_ok());
        assert_eq!(Personnummer::parse_at(&n[2..], today).map(|p| p.birth_date()), Ok(date(2000, 2, 29)));
        // 1900 was not a leap year.
        assert_eq!(Personnummer::parse_at(&n[2..].replace('-', "+"), today), Err(PersonnummerError::InvalidDate));
        assert_eq!(Personnummer::parse(&pnr("19230229", "123")), Err(PersonnummerError::InvalidDate));
    }

    #[test]
    fn coordination_number() {
        let n = pnr("19400161", "238");
        let p = Personnummer::parse(&n).expect("valid");
        assert!(p.is_coordination_number());
        assert_eq!(p.birth_date(), date(1940, 1, 1));
        assert_eq!(p.to_string(), n);
        assert_eq!(p.masked(), "19400161-****");
        assert_eq!(Personnummer::parse(&pnr("19400192", "238")), Err(PersonnummerError::InvalidDate));
        assert_eq!(Personnummer::parse(&pnr("19400160", "238")), Err(PersonnummerError::InvalidDate));
    }

    #[test]
    fn personnummer_errors() {
        let cases = [
            ("", "invalid_format"),
            ("19121212 1212", "invalid_format"),
            ("19121212+1212", "invalid_format"),
            ("1912121-21212", "invalid_format"),
            ("19121212-121", "invalid_format"),
            ("19121212-12a2", "invalid_format"),
            ("١٩١٢١٢١٢-١٢١٢", "invalid_format"),
            ("19121212-1213", "invalid_checksum"),
        ];
        for (s, code) in cases {
            assert_eq!(Personnummer::parse(s).map_err(|e| e.code()), Err(code), "{s}");
        }
        assert_eq!(Personnummer::parse(&pnr("19121312", "121")).map_err(|e| e.code()), Err("invalid_date"));
        assert_eq!(Personnummer::parse(&pnr("19121212", "000")).map_err(|e| e.code()), Err("invalid_serial"));
        assert_eq!(Personnummer::parse_at(&pnr("20300101", "123"), date(2025, 1, 1)).map_err(|e| e.code()), Err("birth_date_in_future"));
    }

    #[test]
    fn errors_do_not_repeat_the_number() {
        let e = Personnummer::parse("19121212-1213").expect_err("bad checksum");
        assert!(!e.to_string().contains("1213"));
    }

    #[test]
    fn age_counts_completed_years() {
        let p = Personnummer::parse(&pnr("19400315", "123")).expect("valid");
        assert_eq!(p.age_on(date(2025, 3, 14)), 84);
        assert_eq!(p.age_on(date(2025, 3, 15)), 85);
        assert_eq!(p.age_on(date(1940, 3, 15)), 0);
        assert_eq!(p.age_on(date(1940, 3, 14)), -1);
        let leapling = Personnummer::parse(&pnr("19480229", "123")).expect("valid");
        assert_eq!(leapling.age_on(date(2025, 2, 28)), 76);
        assert_eq!(leapling.age_on(date(2025, 3, 1)), 77);
        assert_eq!(leapling.age_on(date(2024, 2, 29)), 76);
    }

    #[test]
    fn personnummer_serde_is_the_canonical_string() {
        let p: Personnummer = serde_json::from_str("\"191212121212\"").expect("valid");
        assert_eq!(serde_json::to_string(&p).expect("serialises"), "\"19121212-1212\"");
        assert!(serde_json::from_str::<Personnummer>("\"121212-1212\"").is_err());
        assert!(serde_json::from_str::<Personnummer>("19121212").is_err());
    }

    // ---- OrgNr

    #[test]
    fn swedish_orgnr() {
        // Skatteverket's own number.
        let o = OrgNr::parse("202100-5448").expect("valid");
        assert_eq!(o.to_string(), "202100-5448");
        for s in ["2021005448", "16202100-5448", "162021005448", " 202100-5448 "] {
            assert_eq!(OrgNr::parse(s), Ok(o), "{s}");
        }
        assert_eq!(format!("{o:?}"), "OrgNr(202100-5448)");
        assert_eq!(serde_json::to_string(&o).expect("serialises"), "\"202100-5448\"");
    }

    #[test]
    fn swedish_orgnr_errors() {
        let cases = [
            ("", "invalid_format"),
            ("202100 5448", "invalid_format"),
            ("2021-005448", "invalid_format"),
            ("17202100-5448", "invalid_format"),
            ("202100-5449", "invalid_checksum"),
            ("19121212-1212", "personal_identity_number"),
            ("121212-1212", "personal_identity_number"),
            ("161212121212", "personal_identity_number"),
        ];
        for (s, code) in cases {
            assert_eq!(OrgNr::parse(s).map_err(|e| e.code()), Err(code), "{s}");
        }
    }

    // ---- Fodselsnummer

    #[test]
    fn fodselsnummer_centuries() {
        let cases = [
            ("010150", 0..=499, date(1950, 1, 1)),
            ("010145", 900..=999, date(1945, 1, 1)),
            ("120305", 500..=999, date(2005, 3, 12)),
            ("311260", 500..=749, date(1860, 12, 31)),
            ("010154", 500..=749, date(1854, 1, 1)),
            ("010139", 500..=999, date(2039, 1, 1)),
        ];
        for (ddmmyy, range, born) in cases {
            let n = fnr_in(ddmmyy, range);
            let f = Fodselsnummer::parse(&n).expect("valid");
            assert_eq!(f.birth_date(), born, "{n}");
            assert_eq!(f.to_string(), n);
            assert!(!f.is_d_number() && !f.is_h_number());
        }
        for (ddmmyy, range) in [("010145", 750..=899), ("010140", 500..=749), ("010153", 500..=749)] {
            assert_eq!(Fodselsnummer::parse(&fnr_in(ddmmyy, range)).map_err(|e| e.code()), Err("invalid_individual_number"));
        }
    }

    #[test]
    fn d_and_h_numbers() {
        let d = Fodselsnummer::parse(&fnr_in("410150", 0..=499)).expect("valid");
        assert!(d.is_d_number() && !d.is_h_number());
        assert_eq!(d.birth_date(), date(1950, 1, 1));
        assert_eq!(d.masked(), "410150*****");

        let h = Fodselsnummer::parse(&fnr_in("015150", 0..=499)).expect("valid");
        assert!(h.is_h_number() && !h.is_d_number());
        assert_eq!(h.birth_date(), date(1950, 11, 1));

        assert_eq!(Fodselsnummer::parse(&fnr_in("415150", 0..=499)).map_err(|e| e.code()), Err("invalid_date"));
    }

    #[test]
    fn fodselsnummer_forms_and_errors() {
        let n = fnr_in("010150", 0..=499);
        let f = Fodselsnummer::parse(&n).expect("valid");
        let spaced = format!("{} {}", &n[..6], &n[6..]);
        assert_eq!(Fodselsnummer::parse(&spaced), Ok(f));
        assert_eq!(f.masked(), "010150*****");
        assert_eq!(format!("{f:?}"), "Fodselsnummer(010150*****)");
        assert_eq!(serde_json::to_string(&f).expect("serialises"), format!("\"{n}\""));

        let bad_check = replace_digit(&n, 10, 1);
        let cases = [
            ("", "invalid_format"),
            ("0101501234", "invalid_format"),
            ("010150-12345", "invalid_format"),
            ("0101501234x", "invalid_format"),
            (bad_check.as_str(), "invalid_checksum"),
        ];
        for (s, code) in cases {
            assert_eq!(Fodselsnummer::parse(s).map_err(|e| e.code()), Err(code), "{s}");
        }
        let feb31 = fnr_in("310250", 0..=499);
        assert_eq!(Fodselsnummer::parse(&feb31).map_err(|e| e.code()), Err("invalid_date"));
    }

    // ---- NorwegianOrgNr

    #[test]
    fn norwegian_orgnr() {
        // Brønnøysundregistrene's own number.
        let o = NorwegianOrgNr::parse("974760673").expect("valid");
        assert_eq!(o.to_string(), "974760673");
        assert_eq!(NorwegianOrgNr::parse("974 760 673"), Ok(o));
        let cases = [
            ("974760674", "invalid_checksum"),
            ("97476067", "invalid_format"),
            ("974-760-673", "invalid_format"),
            ("97476 0673", "invalid_format"),
        ];
        for (s, code) in cases {
            assert_eq!(NorwegianOrgNr::parse(s).map_err(|e| e.code()), Err(code), "{s}");
        }
        let low = no_orgnr("12345678").expect("has a check digit");
        assert_eq!(NorwegianOrgNr::parse(&low).map_err(|e| e.code()), Err("invalid_format"));
    }

    // ---- MunicipalityCode

    #[test]
    fn municipality_codes_keep_leading_zeros() {
        for s in ["2380", "0581", "3405", "0301"] {
            let m = MunicipalityCode::parse(s).expect("valid");
            assert_eq!(m.to_string(), s);
            assert_eq!(serde_json::to_string(&m).expect("serialises"), format!("\"{s}\""));
        }
        assert_eq!(MunicipalityCode::parse("0581").map(|m| m.county()), Ok(5));
        assert_eq!(MunicipalityCode::parse("2380").map(|m| m.county()), Ok(23));
        for s in ["581", "05811", "05a1", "", "+581", "−581"] {
            assert_eq!(MunicipalityCode::parse(s).map_err(|e| e.code()), Err("invalid_format"));
        }
        assert!(serde_json::from_str::<MunicipalityCode>("581").is_err());
    }

    // ---- PersonId

    #[test]
    fn person_id_dispatches_on_country_and_form() {
        let se = "19121212-1212";
        let no = fnr_in("010150", 0..=499);
        assert_eq!(PersonId::parse_for(Country::Se, se).map(|p| p.country()), Ok(Country::Se));
        assert_eq!(PersonId::parse_for(Country::No, &no).map(|p| p.country()), Ok(Country::No));
        assert_eq!(PersonId::parse_for(Country::No, se).map_err(|e| e.code()), Err("invalid_format"));
        assert_eq!(PersonId::parse_for(Country::Se, &no).map_err(|e| e.code()), Err("invalid_format"));
        assert_eq!(PersonId::parse_for(Country::Se, "121212-1212").map_err(|e| e.code()), Err("century_required"));
        assert_eq!(PersonId::parse_for_at(Country::Se, "121212-1212", date(2025, 1, 1)).map(|p| p.birth_date()), Ok(date(2012, 12, 12)));

        for s in [se.to_string(), no.clone()] {
            let id = PersonId::parse(&s).expect("valid");
            let json = serde_json::to_string(&id).expect("serialises");
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<PersonId>(&json).expect("valid"), id);
        }
        let spaced = format!("{} {}", &no[..6], &no[6..]);
        assert_eq!(PersonId::parse(&spaced).map(|p| p.country()), Ok(Country::No));
        assert_eq!(PersonId::parse("19121212-1213").map_err(|e| e.code()), Err("invalid_checksum"));
        let id = PersonId::parse(se).expect("valid");
        assert_eq!(id.masked(), "19121212-****");
        assert_eq!(format!("{id:?}"), "Se(Personnummer(19121212-****))");
        assert_eq!(id.age_on(date(2012, 12, 12)), 100);
    }

    // ---- Properties

    fn arb_date(years: std::ops::RangeInclusive<i16>) -> impl Strategy<Value = Date> {
        (years, 1i8..=12, 1i8..=31).prop_filter_map("not a date", |(y, m, d)| Date::new(y, m, d).ok())
    }

    /// A valid personnummer as a canonical string.
    fn arb_pnr() -> impl Strategy<Value = String> {
        (arb_date(1850..=2099), any::<bool>(), 1u16..=999).prop_map(|(d, coordination, serial)| {
            let day = d.day() + if coordination { 60 } else { 0 };
            let ymd = format!("{:04}{:02}{:02}", d.year(), d.month(), day);
            pnr(&ymd, &format!("{serial:03}"))
        })
    }

    fn arb_fnr() -> impl Strategy<Value = String> {
        (arb_date(1854..=2039), 0u16..250, 0u8..3).prop_filter_map("no check digit", |(d, raw, kind)| {
            let individual = match d.year() {
                ..=1899 => 500 + raw,
                1900..=1999 => raw * 2,
                _ => 500 + raw * 2,
            };
            let (dd, mm) = match kind {
                0 => (d.day(), d.month()),
                1 => (d.day() + 40, d.month()),
                _ => (d.day(), d.month() + 40),
            };
            let ddmmyy = format!("{dd:02}{mm:02}{:02}", d.year() % 100);
            fnr(&ddmmyy, &format!("{individual:03}"))
        })
    }

    fn arb_se_orgnr() -> impl Strategy<Value = String> {
        ("[0-9]{2}[2-9][0-9]{6}").prop_map(|nine| se_orgnr(&nine))
    }

    fn arb_no_orgnr() -> impl Strategy<Value = String> {
        "[89][0-9]{7}".prop_filter_map("no check digit", |eight| no_orgnr(&eight))
    }

    /// Strings that look roughly like the numbers, to reach deeper branches
    /// than arbitrary text does.
    fn numberish() -> impl Strategy<Value = String> {
        "[0-9+\\- ]{0,15}"
    }

    proptest! {
        #[test]
        fn pnr_round_trips(s in arb_pnr()) {
            let p = Personnummer::parse(&s).expect("generated numbers are valid");
            prop_assert_eq!(p.to_string(), s.clone());
            prop_assert_eq!(Personnummer::parse(&p.to_string()), Ok(p));
            prop_assert_eq!(Personnummer::parse(&s.replace('-', "")), Ok(p));
            let json = serde_json::to_string(&p).expect("serialises");
            prop_assert_eq!(serde_json::from_str::<Personnummer>(&json).expect("valid"), p);
            prop_assert_eq!(PersonId::parse(&s), Ok(PersonId::Se(p)));
        }

        #[test]
        fn pnr_single_digit_change_is_rejected(
            s in arb_pnr(),
            pos in prop::sample::select(vec![2usize, 3, 4, 5, 6, 7, 9, 10, 11, 12]),
            shift in 1u32..=9,
        ) {
            prop_assert!(Personnummer::parse(&replace_digit(&s, pos, shift)).is_err());
        }

        #[test]
        fn pnr_short_form_reads_back_on_any_later_date(
            s in arb_pnr(),
            years_later in 0i16..200,
            day_of_year in 0i16..365,
        ) {
            let p = Personnummer::parse(&s).expect("valid");
            let born = p.birth_date();
            let today = Date::new(born.year() + years_later, 1, 1)
                .ok()
                .and_then(|d| d.checked_add(jiff::Span::new().days(day_of_year)).ok());
            prop_assume!(today.is_some_and(|t| t >= born));
            let today = today.expect("checked above");
            let sep = if today.year() - born.year() >= 100 { "+" } else { "-" };
            let short = format!("{}{}{}", &s[2..8], sep, &s[9..]);
            prop_assert_eq!(Personnummer::parse_at(&short, today), Ok(p));
            prop_assert_eq!(Personnummer::parse_at(&s, today), Ok(p));
        }

        #[test]
        fn pnr_never_panics(s in any::<String>(), t in numberish(), today in arb_date(1900..=2100)) {
            let _ = Personnummer::parse(&s);
            let _ = Personnummer::parse_at(&s, today);
            if let Ok(p) = Personnummer::parse_at(&t, today) {
                prop_assert!(p.birth_date() <= today);
                prop_assert_eq!(Personnummer::parse(&p.to_string()), Ok(p));
            }
        }

        #[test]
        fn fnr_round_trips(s in arb_fnr()) {
            let f = Fodselsnummer::parse(&s).expect("generated numbers are valid");
            prop_assert_eq!(f.to_string(), s.clone());
            let json = serde_json::to_string(&f).expect("serialises");
            prop_assert_eq!(serde_json::from_str::<Fodselsnummer>(&json).expect("valid"), f);
            prop_assert_eq!(PersonId::parse(&s), Ok(PersonId::No(f)));
        }

        #[test]
        fn fnr_single_digit_change_is_rejected(s in arb_fnr(), pos in 0usize..11, shift in 1u32..=9) {
            prop_assert!(Fodselsnummer::parse(&replace_digit(&s, pos, shift)).is_err());
        }

        #[test]
        fn se_orgnr_round_trips(s in arb_se_orgnr()) {
            let o = OrgNr::parse(&s).expect("generated numbers are valid");
            prop_assert_eq!(o.to_string(), s.clone());
            prop_assert_eq!(OrgNr::parse(&format!("16{s}")), Ok(o));
            let json = serde_json::to_string(&o).expect("serialises");
            prop_assert_eq!(serde_json::from_str::<OrgNr>(&json).expect("valid"), o);
        }

        #[test]
        fn se_orgnr_single_digit_change_is_rejected(
            s in arb_se_orgnr(),
            pos in prop::sample::select(vec![0usize, 1, 2, 3, 4, 5, 7, 8, 9, 10]),
            shift in 1u32..=9,
        ) {
            prop_assert!(OrgNr::parse(&replace_digit(&s, pos, shift)).is_err());
        }

        #[test]
        fn no_orgnr_round_trips(s in arb_no_orgnr()) {
            let o = NorwegianOrgNr::parse(&s).expect("generated numbers are valid");
            prop_assert_eq!(o.to_string(), s.clone());
            let json = serde_json::to_string(&o).expect("serialises");
            prop_assert_eq!(serde_json::from_str::<NorwegianOrgNr>(&json).expect("valid"), o);
        }

        #[test]
        fn no_orgnr_single_digit_change_is_rejected(s in arb_no_orgnr(), pos in 0usize..9, shift in 1u32..=9) {
            prop_assert!(NorwegianOrgNr::parse(&replace_digit(&s, pos, shift)).is_err());
        }

        #[test]
        fn municipality_code_round_trips(n in 0u16..=9999) {
            let s = format!("{n:04}");
            let m = MunicipalityCode::parse(&s).expect("four digits");
            prop_assert_eq!(m.to_string(), s);
        }

        #[test]
        fn nothing_panics_on_any_input(s in any::<String>(), t in numberish()) {
            for s in [&s, &t] {
                let _ = Fodselsnummer::parse(s);
                let _ = OrgNr::parse(s);
                let _ = NorwegianOrgNr::parse(s);
                let _ = MunicipalityCode::parse(s);
                let _ = Country::parse(s);
                let _ = PersonId::parse(s);
                // Whatever parses is canonical after one round.
                if let Ok(id) = PersonId::parse(s) {
                    prop_assert_eq!(PersonId::parse(&id.to_string()), Ok(id));
                }
                if let Ok(o) = OrgNr::parse(s) {
                    prop_assert_eq!(OrgNr::parse(&o.to_string()), Ok(o));
                }
            }
        }
    }
}
