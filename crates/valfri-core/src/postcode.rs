//! Postcodes, stored in their canonical written form: Swedish `NNN NN`,
//! Norwegian `NNNN`.
//!
//! Only the form is checked. Whether a postcode exists is a lookup in the
//! postal register, which changes every year.

use crate::ids::Country;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A Swedish or Norwegian postcode. The two forms differ in length, so the
/// canonical string says which country it is, and serde needs no tag.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Postcode {
    country: Country,
    number: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostcodeError {
    #[error("a Swedish postcode is five digits, written NNN NN, e.g. 831 30")]
    InvalidSwedish,
    #[error("a Norwegian postcode is four digits, e.g. 2609")]
    InvalidNorwegian,
    #[error("a postcode is either Swedish, NNN NN, or Norwegian, NNNN")]
    InvalidFormat,
}

impl PostcodeError {
    /// All variants share a code: they differ only in which form the message
    /// explains.
    pub fn code(&self) -> &'static str {
        match self {
            PostcodeError::InvalidSwedish | PostcodeError::InvalidNorwegian | PostcodeError::InvalidFormat => "invalid_format",
        }
    }
}

fn number(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0, |n, &b| n * 10 + u32::from(b - b'0')))
}

impl Postcode {
    /// Parses with the rules of `country`. A Swedish postcode may be written
    /// with or without the space; it never begins with 0.
    pub fn parse_for(country: Country, s: &str) -> Result<Self, PostcodeError> {
        let b = s.trim().as_bytes();
        match country {
            Country::Se => {
                let digits: [u8; 5] = match b.len() {
                    5 => [b[0], b[1], b[2], b[3], b[4]],
                    6 if b[3] == b' ' => [b[0], b[1], b[2], b[4], b[5]],
                    _ => return Err(PostcodeError::InvalidSwedish),
                };
                match number(&digits) {
                    Some(n) if digits[0] != b'0' => Ok(Postcode { country, number: n }),
                    _ => Err(PostcodeError::InvalidSwedish),
                }
            }
            Country::No => match b.len() {
                4 => number(b).map(|n| Postcode { country, number: n }).ok_or(PostcodeError::InvalidNorwegian),
                _ => Err(PostcodeError::InvalidNorwegian),
            },
        }
    }

    /// Parses either country's form, telling them apart by the number of
    /// digits. Use [`parse_for`](Postcode::parse_for) when the country is
    /// known, so that a Norwegian code is not accepted for a Swedish address.
    pub fn parse(s: &str) -> Result<Self, PostcodeError> {
        let digit_count = s.bytes().filter(u8::is_ascii_digit).count();
        let country = match digit_count {
            5 => Country::Se,
            4 => Country::No,
            _ => return Err(PostcodeError::InvalidFormat),
        };
        Postcode::parse_for(country, s).map_err(|_| PostcodeError::InvalidFormat)
    }

    pub fn country(&self) -> Country {
        self.country
    }
}

impl fmt::Display for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.country {
            Country::Se => write!(f, "{:03} {:02}", self.number / 100, self.number % 100),
            Country::No => write!(f, "{:04}", self.number),
        }
    }
}

impl fmt::Debug for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Postcode({self})")
    }
}

impl FromStr for Postcode {
    type Err = PostcodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Postcode::parse(s)
    }
}

impl TryFrom<String> for Postcode {
    type Error = PostcodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Postcode::parse(&s)
    }
}

impl TryFrom<&str> for Postcode {
    type Error = PostcodeError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Postcode::parse(s)
    }
}

impl From<Postcode> for String {
    fn from(p: Postcode) -> String {
        p.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn swedish_with_or_without_space() {
        for s in ["831 30", "83130", " 831 30 "] {
            let p = Postcode::parse_for(Country::Se, s).expect("valid");
            assert_eq!(p.to_string(), "831 30");
            assert_eq!(p.country(), Country::Se);
            assert_eq!(Postcode::parse(s), Ok(p));
        }
        let p = Postcode::parse_for(Country::Se, "60224").expect("valid");
        assert_eq!(format!("{p:?}"), "Postcode(602 24)");
    }

    #[test]
    fn norwegian_keeps_leading_zeros() {
        for s in ["2609", "0150", "0001"] {
            let p = Postcode::parse_for(Country::No, s).expect("valid");
            assert_eq!(p.to_string(), s);
            assert_eq!(p.country(), Country::No);
            assert_eq!(Postcode::parse(s), Ok(p));
        }
    }

    #[test]
    fn wrong_forms_are_rejected() {
        let swedish = ["", "831", "8313", "831300", "83 130", "831-30", "031 30", "831 3a", "2609"];
        for s in swedish {
            assert_eq!(Postcode::parse_for(Country::Se, s), Err(PostcodeError::InvalidSwedish), "{s}");
        }
        for s in ["", "260", "26090", "26 09", "831 30", "２６０９"] {
            assert_eq!(Postcode::parse_for(Country::No, s), Err(PostcodeError::InvalidNorwegian), "{s}");
        }
        for s in ["", "123", "123456", "031 30", "8 3130", "26 09"] {
            assert_eq!(Postcode::parse(s), Err(PostcodeError::InvalidFormat), "{s}");
            assert_eq!(Postcode::parse(s).map_err(|e| e.code()), Err("invalid_format"));
        }
    }

    #[test]
    fn serde_is_the_canonical_string() {
        let se: Postcode = serde_json::from_str("\"83130\"").expect("valid");
        assert_eq!(serde_json::to_string(&se).expect("serialises"), "\"831 30\"");
        let no: Postcode = serde_json::from_str("\"0150\"").expect("valid");
        assert_eq!(no.country(), Country::No);
        assert_eq!(serde_json::to_string(&no).expect("serialises"), "\"0150\"");
        assert!(serde_json::from_str::<Postcode>("\"015\"").is_err());
        assert!(serde_json::from_str::<Postcode>("150").is_err());
    }

    proptest! {
        #[test]
        fn swedish_round_trips(n in 10_000u32..=99_999, spaced in any::<bool>()) {
            let s = if spaced { format!("{:03} {:02}", n / 100, n % 100) } else { n.to_string() };
            let p = Postcode::parse_for(Country::Se, &s).expect("valid");
            prop_assert_eq!(Postcode::parse(&p.to_string()), Ok(p));
            prop_assert_eq!(p.to_string().replace(' ', ""), n.to_string());
            let json = serde_json::to_string(&p).expect("serialises");
            prop_assert_eq!(serde_json::from_str::<Postcode>(&json).expect("valid"), p);
        }

        #[test]
        fn norwegian_round_trips(n in 0u32..=9999) {
            let s = format!("{n:04}");
            let p = Postcode::parse_for(Country::No, &s).expect("valid");
            prop_assert_eq!(p.to_string(), s);
            prop_assert_eq!(Postcode::parse(&p.to_string()), Ok(p));
        }

        #[test]
        fn never_panics_and_what_parses_is_canonical(
            s in any::<String>(),
            t in "[0-9 \\-]{0,8}",
        ) {
            for s in [&s, &t] {
                for country in [Country::Se, Country::No] {
                    if let Ok(p) = Postcode::parse_for(country, s) {
                        prop_assert_eq!(p.country(), country);
                        prop_assert_eq!(Postcode::parse_for(country, &p.to_string()), Ok(p));
                    }
                }
                if let Ok(p) = Postcode::parse(s) {
                    prop_assert_eq!(Postcode::parse(&p.to_string()), Ok(p));
                }
            }
        }
    }
}
