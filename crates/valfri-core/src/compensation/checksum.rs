//! The canonical serialisation of a provider's month and its SHA-256.
//!
//! One record per line of text, fields separated by a space, every id and
//! free text length-prefixed (`<bytes>:<text>`) so that no two settlements
//! serialise alike:
//!
//! ```text
//! valfri-settlement 1
//! month 2026-03
//! provider 1:7
//! line <client> <service> <class> <rate from> <rate öre> <zone> <num>/<den> <amount öre>
//! lines_total <öre>
//! vat <öre>
//! adjustment <öre> <reason> <author> <corrects or ->
//! adjustments_total <öre>
//! total <öre>
//! ```
//!
//! Lines and adjustments appear in their sorted order. Flags are not part of
//! it: they are review notes, not money. With the caller's text ids in place
//! of indices the same text can be recomputed from stored, approved lines.

use super::types::{Line, ProviderSettlement};
use crate::month::Month;
use sha2::{Digest, Sha256};
use std::fmt::{self, Write};

struct Hasher(Sha256);

impl Write for Hasher {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

fn text(out: &mut impl Write, s: &str) -> fmt::Result {
    write!(out, "{}:{}", s.len(), s)
}

fn write_line(out: &mut impl Write, l: &Line, client: &str, service: &str) -> fmt::Result {
    out.write_str("line ")?;
    text(out, client)?;
    out.write_char(' ')?;
    text(out, service)?;
    writeln!(out, " {} {} {} {} {}/{} {}", l.class, l.rate_valid_from, l.rate.ore(), l.zone, l.quantity.num, l.quantity.den, l.amount.ore())
}

fn write_canonical(
    out: &mut impl Write,
    ps: &ProviderSettlement,
    month: Month,
    provider: &str,
    client: &dyn Fn(u32) -> String,
    service: &dyn Fn(u32) -> String,
) -> fmt::Result {
    writeln!(out, "valfri-settlement 1")?;
    writeln!(out, "month {month}")?;
    out.write_str("provider ")?;
    text(out, provider)?;
    out.write_char('\n')?;
    // Consecutive lines usually share the client and service; format each
    // id once per run.
    let mut named: Option<(u32, u32)> = None;
    let (mut client_id, mut service_id) = (String::new(), String::new());
    for l in &ps.lines {
        if named.map(|n| n.0) != Some(l.client) {
            client_id = client(l.client);
        }
        if named != Some((l.client, l.service)) {
            service_id = service(l.service);
        }
        named = Some((l.client, l.service));
        write_line(out, l, &client_id, &service_id)?;
    }
    writeln!(out, "lines_total {}", ps.lines_total.ore())?;
    writeln!(out, "vat {}", ps.vat.ore())?;
    for a in &ps.adjustments {
        write!(out, "adjustment {} ", a.amount.ore())?;
        text(out, &a.reason)?;
        out.write_char(' ')?;
        text(out, &a.author)?;
        out.write_char(' ')?;
        match &a.corrects {
            Some(c) => text(out, c)?,
            None => out.write_char('-')?,
        }
        out.write_char('\n')?;
    }
    writeln!(out, "adjustments_total {}", ps.adjustments_total.ore())?;
    writeln!(out, "total {}", ps.total.ore())
}

pub(crate) fn checksum(
    ps: &ProviderSettlement,
    month: Month,
    provider: &str,
    client: impl Fn(u32) -> String,
    service: impl Fn(u32) -> String,
) -> String {
    let mut h = Hasher(Sha256::new());
    // Writing to a hasher cannot fail.
    let _ = write_canonical(&mut h, ps, month, provider, &client, &service);
    hex::encode(h.0.finalize())
}

impl ProviderSettlement {
    /// The canonical text, with the caller's ids for provider, clients and
    /// service types.
    pub fn canonical_text(&self, month: Month, provider: &str, client: impl Fn(u32) -> String, service: impl Fn(u32) -> String) -> String {
        let mut s = String::new();
        let _ = write_canonical(&mut s, self, month, provider, &client, &service);
        s
    }

    /// SHA-256 (hex) of [`ProviderSettlement::canonical_text`]. With decimal
    /// indices as ids it equals `self.checksum`.
    pub fn checksum_with(&self, month: Month, provider: &str, client: impl Fn(u32) -> String, service: impl Fn(u32) -> String) -> String {
        checksum(self, month, provider, client, service)
    }
}
