//! The pure rules of the choice: which provider a default goes to, and how a
//! new choice fits into a client's timeline. No I/O here, so every rule is
//! unit-tested on its own; `mod.rs` feeds them from the database.

use jiff::civil::Date;
use jiff::ToSpan;

/// The municipal rule: the municipality's own unit. One that may take new
/// clients there is preferred; otherwise the first municipal unit at all,
/// because the municipality cannot refuse its residents.
pub fn municipal<'a>(municipal_units: &'a [String], eligible: &[String]) -> Option<&'a str> {
    let mut units: Vec<&String> = municipal_units.iter().collect();
    units.sort();
    units.iter().find(|u| eligible.contains(u)).or(units.first()).map(|u| u.as_str())
}

/// The rotation rule: the next eligible provider after the one that got the
/// previous default, in a fixed order (provider id, which is creation order),
/// wrapping around. A provider that left the list is simply skipped, and
/// one that joins takes its place in the order, so each eligible provider
/// gets one turn per round.
pub fn rotation<'a>(eligible: &'a [String], last: Option<&str>) -> Option<&'a str> {
    let mut order: Vec<&String> = eligible.iter().collect();
    order.sort();
    order.dedup();
    let next = match last {
        Some(last) => order.iter().find(|p| p.as_str() > last).or(order.first()),
        None => order.first(),
    };
    next.map(|p| p.as_str())
}

/// A contracted provider under the fixed-share model: its target share of
/// all granted hours and the granted minutes per month it carries now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareHolder {
    pub provider_id: String,
    pub target_permille: i64,
    pub current_minutes: i64,
    pub eligible: bool,
}

/// The LOU share rule (Borlänge): the eligible contracted provider furthest
/// below its target share of all granted hours in the choice system once
/// the incoming client's hours are counted: the largest
/// `target/1000 × (market + incoming) − current`, in minutes, compared
/// exactly in integers. `market_minutes` is every provider's, the municipal
/// unit's included. Counting the incoming hours keeps each provider within
/// one client of its share (see the property test). Only a provider
/// strictly below its target qualifies; None means everyone is at or above
/// target and the caller falls back to the municipal unit. Ties go to the
/// larger target, then the smaller id, so the outcome never depends on row
/// order. With no hours at all, the largest target wins.
pub fn lou_share(holders: &[ShareHolder], market_minutes: i64, incoming_minutes: i64) -> Option<&str> {
    let market = i128::from(market_minutes.max(0)) + i128::from(incoming_minutes.max(0));
    let deficit = |h: &ShareHolder| -> i128 {
        if market == 0 {
            i128::from(h.target_permille)
        } else {
            i128::from(h.target_permille) * market - 1000 * i128::from(h.current_minutes.max(0))
        }
    };
    holders
        .iter()
        .filter(|h| h.eligible && h.target_permille > 0 && deficit(h) > 0)
        .max_by(|a, b| {
            deficit(a).cmp(&deficit(b)).then(a.target_permille.cmp(&b.target_permille)).then_with(|| b.provider_id.cmp(&a.provider_id))
        })
        .map(|h| h.provider_id.as_str())
}

/// One row of a client's timeline for a service group (cancelled rows left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub id: String,
    pub provider_id: String,
    pub from: Date,
    pub to: Option<Date>,
    /// The row was a default because the provider left (a hand-over).
    pub hand_over: bool,
    /// The row is a default (the client did not choose it).
    pub default: bool,
}

impl Segment {
    pub fn covers(&self, d: Date) -> bool {
        self.from <= d && self.to.is_none_or(|t| t >= d)
    }
}

/// What a new choice does to the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Refused, with the rule's code.
    Refuse(&'static str),
    /// The client takes back a pending switch and stays where they are:
    /// cancel `cancel`, and `reopen` runs on without an end.
    StayWithCurrent { cancel: String, reopen: String },
    /// A new row from `from`; rows starting on or after it are cancelled and
    /// the row running over it ends the day before.
    Start { from: Date, cancel: Vec<String>, end: Option<(String, Date)>, first: bool },
}

/// The first day a new provider takes over: today for a client who has no
/// provider yet; otherwise after the notice period, or sooner when the
/// current provider is leaving anyway (a pending row starts earlier).
pub fn takes_effect(today: Date, notice_days: i64, timeline: &[Segment]) -> Date {
    let current = timeline.iter().find(|s| s.covers(today));
    let Some(_) = current else { return today };
    let mut from = today.checked_add(notice_days.max(0).days()).unwrap_or(today);
    if let Some(pending) = timeline.iter().filter(|s| s.from > today).map(|s| s.from).min() {
        from = from.min(pending);
    }
    from.max(today)
}

/// Plans a choice of `provider` on `today`. `timeline` is every row that is
/// not cancelled, in any order.
pub fn plan_choice(today: Date, notice_days: i64, timeline: &[Segment], provider: &str) -> Plan {
    let head = timeline.iter().max_by_key(|s| s.from);
    let current = timeline.iter().find(|s| s.covers(today));
    if let Some(h) = head.filter(|h| h.provider_id == provider) {
        // Choosing the provider one was given by default makes it one's own
        // choice (it counts as an active choice), from today or its start.
        if h.default {
            return plan_start(timeline, h.from.max(today), false);
        }
        return Plan::Refuse("already_chosen");
    }
    if let (Some(head), Some(cur)) = (head, current) {
        if cur.provider_id == provider && head.id != cur.id {
            // Taking back a switch is only possible while the provider stays.
            if head.hand_over {
                return Plan::Refuse("provider_leaving");
            }
            return Plan::StayWithCurrent { cancel: head.id.clone(), reopen: cur.id.clone() };
        }
    }
    let from = takes_effect(today, notice_days, timeline);
    plan_start(timeline, from, current.is_none())
}

/// The rows to cancel and the row to end when something new starts on `from`.
pub fn plan_start(timeline: &[Segment], from: Date, first: bool) -> Plan {
    let cancel = timeline.iter().filter(|s| s.from >= from).map(|s| s.id.clone()).collect();
    let end = timeline.iter().find(|s| s.from < from && s.to.is_none_or(|t| t >= from)).map(|s| (s.id.clone(), prev_day(from)));
    Plan::Start { from, cancel, end, first }
}

pub fn prev_day(d: Date) -> Date {
    d.yesterday().unwrap_or(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn seg(id: &str, p: &str, from: Date, to: Option<Date>) -> Segment {
        Segment { id: id.into(), provider_id: p.into(), from, to, hand_over: false, default: false }
    }

    #[test]
    fn municipal_prefers_an_eligible_unit_and_never_fails_when_one_exists() {
        let units = ids(&["m2", "m1"]);
        assert_eq!(municipal(&units, &ids(&["a", "m2"])), Some("m2"));
        assert_eq!(municipal(&units, &ids(&["a"])), Some("m1"));
        assert_eq!(municipal(&[], &ids(&["a"])), None);
    }

    #[test]
    fn rotation_goes_round_in_id_order() {
        let e = ids(&["c", "a", "b"]);
        assert_eq!(rotation(&e, None), Some("a"));
        assert_eq!(rotation(&e, Some("a")), Some("b"));
        assert_eq!(rotation(&e, Some("b")), Some("c"));
        assert_eq!(rotation(&e, Some("c")), Some("a"));
        // The last one left the list: its successor continues.
        assert_eq!(rotation(&ids(&["a", "c"]), Some("b")), Some("c"));
        assert_eq!(rotation(&[], Some("b")), None);
    }

    proptest! {
        /// Over any number of turns with a fixed list, no provider gets more
        /// than one turn more than any other, and the first `n` turns of a
        /// round go to `n` different providers.
        #[test]
        fn rotation_is_fair(n in 1usize..12, turns in 0usize..200, start in proptest::option::of(0usize..12)) {
            let list: Vec<String> = (0..n).map(|i| format!("p{i:02}")).collect();
            let mut last = start.map(|s| format!("p{s:02}"));
            let mut counts = std::collections::HashMap::new();
            let mut round = Vec::new();
            for _ in 0..turns {
                let next = rotation(&list, last.as_deref()).expect("a non-empty list has a next").to_string();
                *counts.entry(next.clone()).or_insert(0usize) += 1;
                round.push(next.clone());
                if round.len() == n {
                    let distinct: std::collections::HashSet<_> = round.drain(..).collect();
                    prop_assert_eq!(distinct.len(), n);
                }
                last = Some(next);
            }
            let max = list.iter().map(|p| counts.get(p).copied().unwrap_or(0)).max().unwrap_or(0);
            let min = list.iter().map(|p| counts.get(p).copied().unwrap_or(0)).min().unwrap_or(0);
            prop_assert!(max - min <= 1, "counts {:?}", counts);
        }

        /// Handing every default to the provider furthest below target (or,
        /// when all are on target, to the first) keeps each provider's hours
        /// within one client's hours of its target share.
        #[test]
        fn lou_share_converges_to_the_targets(cuts in proptest::collection::btree_set(1i64..1000, 1..4), hours in 1i64..40, n in 20usize..200) {
            // Targets that add up to 1000 ‰: the gaps between sorted cut points.
            let mut points: Vec<i64> = cuts.into_iter().collect();
            points.push(1000);
            let mut prev = 0;
            let mut holders = Vec::new();
            for (i, p) in points.iter().enumerate() {
                holders.push(ShareHolder { provider_id: format!("p{i}"), target_permille: p - prev, current_minutes: 0, eligible: true });
                prev = *p;
            }
            let minutes = hours * 60;
            for _ in 0..n {
                let market: i64 = holders.iter().map(|h| h.current_minutes).sum();
                let pick = lou_share(&holders, market, minutes).unwrap_or("p0").to_string();
                let h = holders.iter_mut().find(|h| h.provider_id == pick).expect("picked from the list");
                h.current_minutes += minutes;
            }
            let total: i64 = holders.iter().map(|h| h.current_minutes).sum();
            for h in &holders {
                let want = h.target_permille as f64 / 1000.0 * total as f64;
                prop_assert!((h.current_minutes as f64 - want).abs() < minutes as f64,
                    "{} got {} want {}", h.provider_id, h.current_minutes, want);
            }
        }
    }

    #[test]
    fn lou_share_picks_the_furthest_below_target() {
        let h =
            |id: &str, t: i64, c: i64, e: bool| ShareHolder { provider_id: id.into(), target_permille: t, current_minutes: c, eligible: e };
        // A market of 1000 h: municipal 700 ‰ with 690 h (10 h below), A 150 ‰ with 220 h (above), B 150 ‰ with 90 h (60 h below).
        let holders = vec![h("kommun", 700, 690 * 60, true), h("a", 150, 220 * 60, true), h("b", 150, 90 * 60, true)];
        assert_eq!(lou_share(&holders, 1000 * 60, 0), Some("b"));
        // B closed for new clients: the municipal unit is next.
        let holders = vec![h("kommun", 700, 690 * 60, true), h("a", 150, 220 * 60, true), h("b", 150, 90 * 60, false)];
        assert_eq!(lou_share(&holders, 1000 * 60, 0), Some("kommun"));
        // The incoming client's 100 h count: 70 % of 1100 h is 770 h, 80 h more than the municipal unit has,
        // while B is 75 h below its 165 h.
        let holders = vec![h("kommun", 700, 690 * 60, true), h("a", 150, 220 * 60, true), h("b", 150, 90 * 60, true)];
        assert_eq!(lou_share(&holders, 1000 * 60, 100 * 60), Some("kommun"));
        // Only private shares; everyone at or above target: no one (the caller uses the municipal unit).
        let holders = vec![h("a", 150, 150 * 60, true), h("b", 150, 200 * 60, true)];
        assert_eq!(lou_share(&holders, 1000 * 60, 0), None);
        // No hours at all: the largest target.
        let holders = vec![h("a", 150, 0, true), h("kommun", 700, 0, true)];
        assert_eq!(lou_share(&holders, 0, 0), Some("kommun"));
        // A provider without a share is never picked.
        assert_eq!(lou_share(&[h("x", 0, 0, true)], 0, 0), None);
        // Ties: equal deficit and target go to the smaller id.
        assert_eq!(lou_share(&[h("b", 500, 0, true), h("a", 500, 0, true)], 0, 0), Some("a"));
    }

    #[test]
    fn a_first_choice_takes_effect_today() {
        let today = date(2026, 3, 10);
        assert_eq!(plan_choice(today, 14, &[], "a"), Plan::Start { from: today, cancel: vec![], end: None, first: true });
    }

    #[test]
    fn a_switch_waits_for_the_notice_period() {
        let today = date(2026, 3, 10);
        let tl = vec![seg("1", "a", date(2026, 1, 1), None)];
        assert_eq!(
            plan_choice(today, 14, &tl, "b"),
            Plan::Start { from: date(2026, 3, 24), cancel: vec![], end: Some(("1".into(), date(2026, 3, 23))), first: false }
        );
        assert_eq!(plan_choice(today, 14, &tl, "a"), Plan::Refuse("already_chosen"));
    }

    #[test]
    fn a_second_switch_replaces_the_pending_one() {
        let today = date(2026, 3, 12);
        let tl = vec![seg("1", "a", date(2026, 1, 1), Some(date(2026, 3, 23))), seg("2", "b", date(2026, 3, 24), None)];
        // c from the 24th at the latest (the pending date), b's row is cancelled.
        assert_eq!(
            plan_choice(today, 14, &tl, "c"),
            Plan::Start { from: date(2026, 3, 24), cancel: vec!["2".into()], end: None, first: false }
        );
        // With a shorter notice period c comes sooner, and a's row ends earlier.
        assert_eq!(
            plan_choice(today, 7, &tl, "c"),
            Plan::Start { from: date(2026, 3, 19), cancel: vec!["2".into()], end: Some(("1".into(), date(2026, 3, 18))), first: false }
        );
        // Back to a: the switch is taken back.
        assert_eq!(plan_choice(today, 14, &tl, "a"), Plan::StayWithCurrent { cancel: "2".into(), reopen: "1".into() });
        assert_eq!(plan_choice(today, 14, &tl, "b"), Plan::Refuse("already_chosen"));
    }

    #[test]
    fn a_provider_that_is_leaving_cannot_be_kept_and_the_choice_comes_sooner() {
        let today = date(2026, 3, 10);
        let mut leaving = seg("2", "kommun", date(2026, 3, 15), None);
        leaving.hand_over = true;
        let tl = vec![seg("1", "a", date(2026, 1, 1), Some(date(2026, 3, 14))), leaving];
        assert_eq!(plan_choice(today, 14, &tl, "a"), Plan::Refuse("provider_leaving"));
        // Choosing b before the hand-over date: b starts on that date, not after 14 days.
        assert_eq!(
            plan_choice(today, 14, &tl, "b"),
            Plan::Start { from: date(2026, 3, 15), cancel: vec!["2".into()], end: None, first: false }
        );
    }

    #[test]
    fn choosing_the_default_provider_makes_it_a_choice_without_notice() {
        let today = date(2026, 3, 10);
        let mut given = seg("1", "kommun", date(2026, 2, 1), None);
        given.default = true;
        assert_eq!(
            plan_choice(today, 14, &[given.clone()], "kommun"),
            Plan::Start { from: today, cancel: vec![], end: Some(("1".into(), date(2026, 3, 9))), first: false }
        );
        // A default still to come (after a hand-over) is replaced on its own date.
        let old = seg("0", "a", date(2026, 1, 1), Some(date(2026, 3, 31)));
        given.from = date(2026, 4, 1);
        given.hand_over = true;
        assert_eq!(
            plan_choice(today, 14, &[old, given], "kommun"),
            Plan::Start { from: date(2026, 4, 1), cancel: vec!["1".into()], end: None, first: false }
        );
    }

    #[test]
    fn with_no_notice_a_row_that_never_ran_is_cancelled() {
        let today = date(2026, 3, 10);
        let tl = vec![seg("1", "a", today, None)];
        assert_eq!(plan_choice(today, 0, &tl, "b"), Plan::Start { from: today, cancel: vec!["1".into()], end: None, first: false });
    }
}
