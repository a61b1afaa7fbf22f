//! Exact rational arithmetic for money: every amount is a fraction of
//! integers until it is rounded, once, half away from zero.

use crate::money::Money;

/// `num / den` rounded to the nearest integer, halves away from zero.
/// `None` when `den` is not positive or the result does not fit in i64.
pub fn round_half_away(num: i128, den: i128) -> Option<i64> {
    if den <= 0 {
        return None;
    }
    let q = num / den;
    let r = num % den;
    // |r| < den, so 2|r| cannot overflow for any den below i128::MAX / 2.
    let twice = r.unsigned_abs().checked_mul(2)?;
    let q = if twice >= den.unsigned_abs() { q + num.signum() } else { q };
    i64::try_from(q).ok()
}

/// The amount for `num / den` minutes at `rate_per_hour`, rounded once.
/// Negative quantities give negative amounts, rounded away from zero: the
/// helper an approved excess or a correction can use to become an
/// adjustment.
pub fn minutes_amount(num: i128, den: i128, rate_per_hour: Money) -> Option<Money> {
    let n = num.checked_mul(i128::from(rate_per_hour.ore()))?;
    let d = den.checked_mul(60)?;
    round_half_away(n, d).map(Money::from_ore)
}

/// `amount × bp / 10 000`, rounded once.
pub fn basis_points_of(amount: Money, bp: u32) -> Option<Money> {
    round_half_away(i128::from(amount.ore()) * i128::from(bp), 10_000).map(Money::from_ore)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_go_away_from_zero() {
        assert_eq!(round_half_away(5, 2), Some(3));
        assert_eq!(round_half_away(-5, 2), Some(-3));
        assert_eq!(round_half_away(7, 3), Some(2));
        assert_eq!(round_half_away(-7, 3), Some(-2));
        assert_eq!(round_half_away(8, 3), Some(3));
        assert_eq!(round_half_away(-8, 3), Some(-3));
        assert_eq!(round_half_away(0, 7), Some(0));
        assert_eq!(round_half_away(1, 0), None);
        assert_eq!(round_half_away(i128::MAX, 1), None);
    }

    #[test]
    fn minutes_at_a_rate() {
        // 30 min at 101 öre/h = 3030/60 = 50.5 öre → 51.
        assert_eq!(minutes_amount(30, 1, Money::from_ore(101)), Some(Money::from_ore(51)));
        // A correction of −30 min at 101 öre/h = −50.5 öre → −51.
        assert_eq!(minutes_amount(-30, 1, Money::from_ore(101)), Some(Money::from_ore(-51)));
        // 6 % of 100.25 kr = 601.5 öre → 602; of −100.25 kr → −602.
        assert_eq!(basis_points_of(Money::from_ore(10_025), 600), Some(Money::from_ore(602)));
        assert_eq!(basis_points_of(Money::from_ore(-10_025), 600), Some(Money::from_ore(-602)));
    }
}
