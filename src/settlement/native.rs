//! The settlement's bulk writes: a month's draft lines and flags (a few
//! hundred thousand rows at Stockholm scale) through the shared native
//! connection (`crate::bulk`). Everything else in the module uses the
//! portable pool.

use super::{Adjustment, Flag, Line};
use crate::bulk::{copy_rows, insert_rows_on, Conn, B};
use crate::error::{ApiError, ApiResult};

const LINE_COLUMNS: &str =
    "settlement_id, seq, client_id, service_type, time_class, zone, rate_valid_from, rate_ore, quantity_num, quantity_den, amount_ore";
const FLAG_COLUMNS: &str = "settlement_id, seq, client_id, service_type, external_id, code, detail, excess_ore";

fn line_rows<'a>(id: &'a str, lines: &'a [Line]) -> Vec<[B<'a>; 11]> {
    lines.iter().map(|l| line_values(id, l)).collect()
}

fn flag_rows<'a>(id: &'a str, flags: &'a [Flag], details: &'a [String]) -> Vec<[B<'a>; 8]> {
    flags.iter().zip(details).map(|(f, d)| flag_values(id, f, d)).collect()
}

fn line_values<'a>(id: &'a str, l: &'a Line) -> [B<'a>; 11] {
    [
        B::S(id),
        B::I(l.seq),
        B::S(&l.client_id),
        B::S(&l.service_type),
        B::S(&l.time_class),
        B::S(&l.zone),
        B::S(&l.rate_valid_from),
        B::I(l.rate_ore),
        B::I(l.quantity_num),
        B::I(l.quantity_den),
        B::I(l.amount_ore),
    ]
}

fn flag_values<'a>(id: &'a str, f: &'a Flag, detail: &'a str) -> [B<'a>; 8] {
    [
        B::S(id),
        B::I(f.seq),
        B::S(&f.client_id),
        B::S(&f.service_type),
        B::OS(f.external_id.as_deref()),
        B::S(&f.code),
        B::S(detail),
        B::OI(f.excess_ore),
    ]
}

/// The settlement row's (id, checksum, flags_checksum).
pub async fn head(c: &mut Conn, provider_id: &str, month: &str) -> ApiResult<(String, String, String)> {
    let sql = "SELECT id, checksum, flags_checksum FROM settlements WHERE provider_id = $1 AND month = $2";
    let rows: Vec<(String, String, String)> = c.fetch(sql, &[B::S(provider_id), B::S(month)]).await?;
    rows.into_iter().next().ok_or_else(|| ApiError::from(sqlx::Error::RowNotFound))
}

pub async fn adjustments(c: &mut Conn, provider_id: &str, month: &str) -> ApiResult<Vec<Adjustment>> {
    type Row = (String, String, String, i64, String, Option<String>, Option<String>, String, String);
    let sql = "SELECT id, provider_id, month, amount_ore, reason, corrects, source, created_at, created_by \
               FROM settlement_adjustments WHERE provider_id = $1 AND month = $2 ORDER BY created_at, id";
    let rows: Vec<Row> = c.fetch(sql, &[B::S(provider_id), B::S(month)]).await?;
    Ok(rows
        .into_iter()
        .map(|r| Adjustment {
            id: r.0,
            provider_id: r.1,
            month: r.2,
            amount_ore: r.3,
            reason: r.4,
            corrects: r.5,
            source: r.6,
            created_at: r.7,
            created_by: r.8,
        })
        .collect())
}

/// Inserts a draft's lines and flags (with each flag's detail as stored,
/// JSON text): on SQLite on sqlx's own handle (`bulk::on_sqlite_handle`,
/// `bulk::insert_rows_on`), one COPY per table on PostgreSQL.
pub async fn insert_drafts(c: Conn, settlement_id: &str, lines: Vec<Line>, flags: Vec<Flag>, details: Vec<String>) -> ApiResult<Conn> {
    match c {
        Conn::Sqlite(s) => {
            let id = settlement_id.to_string();
            let (s, done) = crate::bulk::on_sqlite_handle(s, move |h| -> rusqlite::Result<()> {
                insert_rows_on(h, "settlement_lines", LINE_COLUMNS, &line_rows(&id, &lines))?;
                insert_rows_on(h, "settlement_flags", FLAG_COLUMNS, &flag_rows(&id, &flags, &details))
            })
            .await?;
            done.map_err(anyhow::Error::from)?;
            Ok(Conn::Sqlite(s))
        }
        Conn::Pg(mut p) => {
            copy_rows(&mut p, "settlement_lines", LINE_COLUMNS, &line_rows(settlement_id, &lines)).await?;
            copy_rows(&mut p, "settlement_flags", FLAG_COLUMNS, &flag_rows(settlement_id, &flags, &details)).await?;
            Ok(Conn::Pg(p))
        }
    }
}
