//! The settlement's bulk writes: a month's draft lines and flags (a few
//! hundred thousand rows at Stockholm scale) through the shared native
//! connection (`crate::bulk`). Everything else in the module uses the
//! portable pool.

use super::{Adjustment, Flag, Line};
use crate::bulk::{Conn, B};
use crate::error::{ApiError, ApiResult};

const LINE_COLUMNS: &str =
    "settlement_id, seq, client_id, service_type, time_class, zone, rate_valid_from, rate_ore, quantity_num, quantity_den, amount_ore";
const FLAG_COLUMNS: &str = "settlement_id, seq, client_id, service_type, external_id, code, detail, excess_ore";

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

/// Inserts a draft's lines and flags. On SQLite through statements of
/// `SQLITE_ROWS` rows prepared once per draft and stepped on sqlx's own
/// handle (`bulk::on_sqlite_handle`): sqlx's driver copies every bound
/// value and re-binds a statement of thousands of values per call
/// (docs/performance.md). One COPY per table on PostgreSQL.
pub async fn insert_drafts(c: Conn, settlement_id: &str, lines: Vec<Line>, flags: Vec<Flag>) -> ApiResult<Conn> {
    match c {
        Conn::Sqlite(s) => {
            let id = settlement_id.to_string();
            let (s, done) = crate::bulk::on_sqlite_handle(s, move |h| -> rusqlite::Result<()> {
                let rows: Vec<[B<'_>; 11]> = lines.iter().map(|l| line_values(&id, l)).collect();
                insert_many(h, "settlement_lines", LINE_COLUMNS, &rows)?;
                let details: Vec<String> = flags.iter().map(|f| f.detail.to_string()).collect();
                let rows: Vec<[B<'_>; 8]> = flags.iter().zip(&details).map(|(f, d)| flag_values(&id, f, d)).collect();
                insert_many(h, "settlement_flags", FLAG_COLUMNS, &rows)
            })
            .await?;
            done.map_err(anyhow::Error::from)?;
            Ok(Conn::Sqlite(s))
        }
        mut pg => {
            insert_lines(&mut pg, settlement_id, &lines).await?;
            insert_flags(&mut pg, settlement_id, &flags).await?;
            Ok(pg)
        }
    }
}

/// Rows per statement of `insert_many`.
const SQLITE_ROWS: usize = 64;

/// Inserts `rows` into `table` with statements of `SQLITE_ROWS` rows (and
/// one of a row for the rest).
fn insert_many<const N: usize>(h: &rusqlite::Connection, table: &str, columns: &str, rows: &[[B<'_>; N]]) -> rusqlite::Result<()> {
    let sql = |k: usize| {
        let one = format!("({})", vec!["?"; N].join(", "));
        format!("INSERT INTO {table} ({columns}) VALUES {}", vec![one; k].join(", "))
    };
    let mut many = None;
    let mut single = None;
    for chunk in rows.chunks(SQLITE_ROWS) {
        let (st, k) = if chunk.len() == SQLITE_ROWS { (&mut many, SQLITE_ROWS) } else { (&mut single, 1) };
        let st = match st {
            Some(st) => st,
            None => st.insert(h.prepare(&sql(k))?),
        };
        for part in chunk.chunks(k) {
            for (i, v) in part.iter().flatten().enumerate() {
                match *v {
                    B::S(x) => st.raw_bind_parameter(i + 1, x)?,
                    B::OS(x) => st.raw_bind_parameter(i + 1, x)?,
                    B::I(x) => st.raw_bind_parameter(i + 1, x)?,
                    B::OI(x) => st.raw_bind_parameter(i + 1, x)?,
                }
            }
            st.raw_execute()?;
        }
    }
    Ok(())
}

async fn insert_lines(c: &mut Conn, settlement_id: &str, lines: &[Line]) -> ApiResult<()> {
    let rows: Vec<[B<'_>; 11]> = lines.iter().map(|l| line_values(settlement_id, l)).collect();
    c.insert_rows("settlement_lines", LINE_COLUMNS, &rows).await
}

async fn insert_flags(c: &mut Conn, settlement_id: &str, flags: &[Flag]) -> ApiResult<()> {
    let details: Vec<String> = flags.iter().map(|f| f.detail.to_string()).collect();
    let rows: Vec<[B<'_>; 8]> = flags.iter().zip(&details).map(|(f, d)| flag_values(settlement_id, f, d)).collect();
    c.insert_rows("settlement_flags", FLAG_COLUMNS, &rows).await
}
