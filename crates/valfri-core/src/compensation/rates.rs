//! The rate versions in force on each day of the settlement's day table,
//! resolved once so that pricing a piece of a visit is two array reads.

use super::time_class::DayTable;
use super::types::{Class, InputError, Rate};

/// Rate classes in slot order; `Granted` has no rates of its own.
const SLOTS: [Class; 6] = [Class::Day, Class::Evening, Class::Night, Class::Weekend, Class::Unit, Class::Month];

pub(crate) const fn slot(class: Class) -> Option<usize> {
    match class {
        Class::Day => Some(0),
        Class::Evening => Some(1),
        Class::Night => Some(2),
        Class::Weekend => Some(3),
        Class::Unit => Some(4),
        Class::Month => Some(5),
        Class::Granted => None,
    }
}

const NONE: u32 = u32::MAX;

pub(crate) struct RateTable {
    /// Sorted by (service, zone, class, valid_from), one per version.
    rates: Vec<Rate>,
    /// The distinct (service, zone) pairs, sorted.
    keys: Vec<(u32, u32)>,
    /// `by_day[(key * 6 + slot) * days + day]`: index into `rates`, or NONE.
    by_day: Vec<u32>,
    days: usize,
}

impl RateTable {
    pub(crate) fn new(mut rates: Vec<Rate>, services: usize, table: &DayTable) -> Result<RateTable, InputError> {
        for r in &rates {
            if r.service as usize >= services {
                return Err(InputError::UnknownIndex { what: "rate service", index: r.service });
            }
            let bad = |problem| InputError::InvalidRate { service: r.service, zone: r.zone, valid_from: r.valid_from, problem };
            if r.class == Class::Granted {
                return Err(bad("rates have no class granted (the granted basis pays the day rate)"));
            }
            // Negative rates are meaningless, and the bound keeps every
            // product of a quantity and a rate far inside i128.
            if !(0..=1_000_000_000_000).contains(&r.amount.ore()) {
                return Err(bad("amount out of range"));
            }
        }
        rates.sort_unstable();
        rates.dedup();
        for w in rates.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            if (a.service, a.zone, a.class, a.valid_from) == (b.service, b.zone, b.class, b.valid_from) {
                return Err(InputError::ConflictingRates { service: a.service, zone: a.zone, class: a.class, valid_from: a.valid_from });
            }
        }
        let mut keys: Vec<(u32, u32)> = rates.iter().map(|r| (r.service, r.zone)).collect();
        keys.dedup();
        let days = table.days().len();
        let mut by_day = vec![NONE; keys.len() * SLOTS.len() * days];
        let mut i = 0;
        while i < rates.len() {
            let (service, zone, class) = (rates[i].service, rates[i].zone, rates[i].class);
            let mut j = i;
            while j < rates.len() && (rates[j].service, rates[j].zone, rates[j].class) == (service, zone, class) {
                j += 1;
            }
            let versions = i..j;
            i = j;
            // Both always succeed: the keys come from these rates, and
            // `Granted` was refused above.
            let (Ok(key), Some(s)) = (keys.binary_search(&(service, zone)), slot(class)) else {
                continue;
            };
            let base = (key * SLOTS.len() + s) * days;
            // Versions ascend by valid_from; walk them along the days.
            let mut v = versions.start;
            for (d, day) in table.days().iter().enumerate() {
                while v + 1 < versions.end && rates[v + 1].valid_from <= day.date {
                    v += 1;
                }
                if rates[v].valid_from <= day.date {
                    by_day[base + d] = u32::try_from(v).map_err(|_| InputError::Overflow)?;
                }
            }
        }
        Ok(RateTable { rates, keys, by_day, days })
    }

    /// The key of a (service, zone) pair with any rates at all.
    pub(crate) fn key(&self, service: u32, zone: u32) -> Option<usize> {
        self.keys.binary_search(&(service, zone)).ok()
    }

    /// The index of the rate in force for a class on day `day` of the table.
    pub(crate) fn lookup(&self, key: Option<usize>, class: Class, day: usize) -> Option<u32> {
        let key = key?;
        let s = slot(class)?;
        let r = *self.by_day.get((key * SLOTS.len() + s) * self.days + day)?;
        (r != NONE).then_some(r)
    }

    pub(crate) fn rate(&self, index: u32) -> &Rate {
        &self.rates[index as usize]
    }
}
