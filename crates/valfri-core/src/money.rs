//! Money as an exact integer number of öre (1/100 SEK or NOK). Never a float.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign, Neg, Sub};

/// An amount in öre. Signed: adjustments may be negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_ore(ore: i64) -> Self {
        Money(ore)
    }

    pub const fn ore(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0 + rhs.0)
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        self.0 += rhs.0;
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, rhs: Money) -> Money {
        Money(self.0 - rhs.0)
    }
}

impl Neg for Money {
    type Output = Money;
    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        Money(iter.map(|m| m.0).sum())
    }
}

/// Formats as kronor with two decimals and a decimal point, e.g. `-12.05`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads the `Display` form back, independently of `Money`.
    fn ore_of(s: &str) -> Option<i128> {
        let (neg, abs) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (kr, ore) = abs.split_once('.')?;
        if kr.is_empty() || ore.len() != 2 || !kr.bytes().chain(ore.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v = kr.parse::<i128>().ok()? * 100 + ore.parse::<i128>().ok()?;
        Some(if neg { -v } else { v })
    }

    #[test]
    fn displays_kronor_with_two_decimals() {
        let cases = [
            (0, "0.00"),
            (5, "0.05"),
            (-5, "-0.05"),
            (-1205, "-12.05"),
            (100, "1.00"),
            (123_456_789, "1234567.89"),
            (i64::MIN, "-92233720368547758.08"),
        ];
        for (ore, s) in cases {
            assert_eq!(Money::from_ore(ore).to_string(), s);
        }
    }

    #[test]
    fn serialises_as_a_number_of_ore() {
        let m = Money::from_ore(-1205);
        assert_eq!(serde_json::to_string(&m).expect("serialises"), "-1205");
        assert_eq!(serde_json::from_str::<Money>("-1205").expect("valid"), m);
    }

    #[test]
    fn sum_of_nothing_is_zero() {
        assert_eq!(std::iter::empty::<Money>().sum::<Money>(), Money::ZERO);
        assert_eq!(Money::default(), Money::ZERO);
    }

    /// Amounts far enough from the limits that sums of a few hundred cannot
    /// overflow.
    fn amount() -> impl Strategy<Value = i64> {
        -(1i64 << 50)..(1i64 << 50)
    }

    proptest! {
        #[test]
        fn display_reads_back_exactly(ore in any::<i64>()) {
            let s = Money::from_ore(ore).to_string();
            prop_assert_eq!(ore_of(&s), Some(i128::from(ore)), "{}", s);
        }

        #[test]
        fn display_of_negation_adds_a_minus(ore in 1..=i64::MAX) {
            let m = Money::from_ore(ore);
            prop_assert_eq!((-m).to_string(), format!("-{m}"));
        }

        #[test]
        fn sum_is_the_sum_of_ore(xs in prop::collection::vec(amount(), 0..200)) {
            let total: Money = xs.iter().copied().map(Money::from_ore).sum();
            prop_assert_eq!(total.ore(), xs.iter().sum::<i64>());
            let mut acc = Money::ZERO;
            for &x in &xs {
                acc += Money::from_ore(x);
            }
            prop_assert_eq!(acc, total);
        }

        #[test]
        fn arithmetic_is_integer_arithmetic(a in amount(), b in amount()) {
            let (ma, mb) = (Money::from_ore(a), Money::from_ore(b));
            prop_assert_eq!((ma + mb).ore(), a + b);
            prop_assert_eq!(ma + mb - mb, ma);
            prop_assert_eq!(ma - ma, Money::ZERO);
            prop_assert_eq!(-(-ma), ma);
            prop_assert_eq!(ma < mb, a < b);
        }

        #[test]
        fn checked_add_reports_overflow(a in any::<i64>(), b in any::<i64>()) {
            prop_assert_eq!(
                Money::from_ore(a).checked_add(Money::from_ore(b)).map(Money::ore),
                a.checked_add(b)
            );
        }
    }
}
