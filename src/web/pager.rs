//! Pages of a long numbered list (a settlement's lines, a month's flags):
//! which rows a page shows, the text saying so, and the links to the pages
//! before and after. A page past the last shows the last one, and a page
//! that is not a number shows the first, so an old or hand-edited link
//! still lands somewhere useful.

use super::i18n::Tr;

/// The rows one page shows, numbered from 1 (rows 1–1 of an empty list, which read nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageAt {
    pub page: i64,
    pub first: i64,
    pub last: i64,
}

impl PageAt {
    /// Page `wanted` of `total` rows, `per_page` a page; the last page if `wanted` is beyond it.
    pub fn of(wanted: i64, total: i64, per_page: i64) -> PageAt {
        let pages = ((total + per_page - 1) / per_page).max(1);
        let page = wanted.clamp(1, pages);
        let first = (page - 1) * per_page + 1;
        PageAt { page, first, last: (first + per_page - 1).min(total.max(first)) }
    }

    /// The number of rows before this page (an SQL offset).
    pub fn skip(self) -> i64 {
        self.first - 1
    }
}

/// A page number from a query string: anything but a whole number from 1 is the first page.
pub fn wanted(s: Option<&str>) -> i64 {
    s.and_then(|v| v.trim().parse::<i64>().ok()).filter(|n| *n >= 1).unwrap_or(1)
}

/// One page of a numbered list: the rows shown and the way to the others.
#[derive(Debug, Clone)]
pub struct Pager {
    /// "Lines 501–1 000 of 43 532", or empty when everything fits on one page.
    pub text: String,
    pub prev: Option<(String, String)>,
    pub next: Option<(String, String)>,
}

impl Pager {
    /// The pager of the list whose messages are `{keys}-shown`, `{keys}-prev` and
    /// `{keys}-next` (with `$first`, `$last`, `$total` and `$n`); `href` is the
    /// address of another page.
    pub fn new(t: &Tr, keys: &str, at: PageAt, total: i64, per_page: i64, href: impl Fn(i64) -> String) -> Pager {
        let n = per_page.to_string();
        let link = |p: i64, dir: &str| (href(p), t.with(&format!("{keys}-{dir}"), "n", &n));
        let text = if total > per_page {
            let count = |v: i64| thousands(v.unsigned_abs());
            let (first, last, total) = (count(at.first), count(at.last), count(total));
            t.with_all(&format!("{keys}-shown"), &[("first", &first), ("last", &last), ("total", &total)])
        } else {
            String::new()
        };
        Pager { text, prev: (at.page > 1).then(|| link(at.page - 1, "prev")), next: (at.last < total).then(|| link(at.page + 1, "next")) }
    }
}

/// A count with thin spaces between thousands ("43 532").
pub fn thousands(n: impl Into<u64>) -> String {
    let whole = n.into().to_string();
    let mut grouped = String::new();
    for (k, ch) in whole.chars().enumerate() {
        if k > 0 && (whole.len() - k) % 3 == 0 {
            grouped.push('\u{202f}');
        }
        grouped.push(ch);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_beyond_the_last_is_the_last_and_an_empty_list_has_one_empty_page() {
        assert_eq!(PageAt::of(1, 1200, 500), PageAt { page: 1, first: 1, last: 500 });
        assert_eq!(PageAt::of(3, 1200, 500), PageAt { page: 3, first: 1001, last: 1200 });
        assert_eq!(PageAt::of(9, 1200, 500), PageAt { page: 3, first: 1001, last: 1200 });
        assert_eq!(PageAt::of(2, 1000, 500), PageAt { page: 2, first: 501, last: 1000 });
        assert_eq!(PageAt::of(2, 0, 500), PageAt { page: 1, first: 1, last: 1 });
        assert_eq!(PageAt::of(3, 1200, 500).skip(), 1000);
    }

    #[test]
    fn a_page_number_is_a_whole_number_from_one_or_else_the_first() {
        for (s, n) in [(Some("2"), 2), (Some(" 7 "), 7), (Some("0"), 1), (Some("-3"), 1), (Some("två"), 1), (Some(""), 1), (None, 1)] {
            assert_eq!(wanted(s), n, "{s:?}");
        }
    }

    #[test]
    fn thousands_are_grouped_with_thin_spaces() {
        assert_eq!(thousands(7u32), "7");
        assert_eq!(thousands(43_532u32), "43\u{202f}532");
        assert_eq!(thousands(1_000_000u32), "1\u{202f}000\u{202f}000");
    }
}
