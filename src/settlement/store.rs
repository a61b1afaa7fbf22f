//! Stored settlements: writing drafts, reading, approving, adjusting and
//! exporting. Every state change is a conditional UPDATE on the settlement
//! row (`... WHERE status = 'draft'`), whose row lock also orders concurrent
//! recomputes, adjustments and approvals on PostgreSQL; SQLite serialises
//! writers anyway.

use super::compute::{Computed, ProviderResult};
use super::native;
use super::{Adjustment, Flag, Line, NewAdjustment, Settlement};
use crate::bulk::{Cache, Conn, B};
use crate::error::{ApiError, ApiResult, Fields};
use sqlx::{AnyConnection, Row};
use valfri_core::compensation::{FlagCode, FlagDetail};
use valfri_core::Month;

fn s(r: &crate::db::Row, c: &str) -> ApiResult<String> {
    Ok(r.try_get::<String, _>(c).map_err(anyhow::Error::from)?)
}
fn os(r: &crate::db::Row, c: &str) -> ApiResult<Option<String>> {
    Ok(r.try_get::<Option<String>, _>(c).map_err(anyhow::Error::from)?)
}
fn i(r: &crate::db::Row, c: &str) -> ApiResult<i64> {
    Ok(r.try_get::<i64, _>(c).map_err(anyhow::Error::from)?)
}
fn oi(r: &crate::db::Row, c: &str) -> ApiResult<Option<i64>> {
    Ok(r.try_get::<Option<i64>, _>(c).map_err(anyhow::Error::from)?)
}

const SETTLEMENT_COLUMNS: &str =
    "s.id, s.provider_id, p.name AS provider_name, p.org_nr AS provider_org_nr, s.month, s.status, s.revision, \
     s.lines_total_ore, s.vat_basis_points, s.vat_ore, s.adjustments_total_ore, s.total_ore, s.line_count, s.flag_count, \
     s.no_rate_flags, s.checksum, s.flags_checksum, s.computed_at, s.computed_by, s.approved_at, s.approved_by, \
     s.exported_at, s.exported_by, s.export_batch";

fn settlement_of(r: &crate::db::Row) -> ApiResult<Settlement> {
    Ok(Settlement {
        id: s(r, "id")?,
        provider_id: s(r, "provider_id")?,
        provider_name: s(r, "provider_name")?,
        provider_org_nr: s(r, "provider_org_nr")?,
        month: s(r, "month")?,
        status: s(r, "status")?,
        revision: i(r, "revision")?,
        lines_total_ore: i(r, "lines_total_ore")?,
        vat_basis_points: oi(r, "vat_basis_points")?,
        vat_ore: i(r, "vat_ore")?,
        adjustments_total_ore: i(r, "adjustments_total_ore")?,
        total_ore: i(r, "total_ore")?,
        line_count: i(r, "line_count")?,
        flag_count: i(r, "flag_count")?,
        no_rate_flags: i(r, "no_rate_flags")?,
        checksum: s(r, "checksum")?,
        flags_checksum: s(r, "flags_checksum")?,
        computed_at: s(r, "computed_at")?,
        computed_by: s(r, "computed_by")?,
        approved_at: os(r, "approved_at")?,
        approved_by: os(r, "approved_by")?,
        exported_at: os(r, "exported_at")?,
        exported_by: os(r, "exported_by")?,
        export_batch: oi(r, "export_batch")?,
    })
}

/// Settlements, newest month first, then by provider name. `provider`
/// restricts to one provider; `statuses` to some statuses.
pub async fn list(c: &mut AnyConnection, month: Option<Month>, provider: Option<&str>, statuses: &[&str]) -> ApiResult<Vec<Settlement>> {
    let status_list = if statuses.is_empty() { "draft,approved,exported".to_string() } else { statuses.join(",") };
    let sql = format!(
        "SELECT {SETTLEMENT_COLUMNS} FROM settlements s JOIN providers p ON p.id = s.provider_id \
         WHERE ($1 = '' OR s.month = $1) AND ($2 = '' OR s.provider_id = $2) \
         AND (',' || $3 || ',') LIKE ('%,' || s.status || ',%') ORDER BY s.month DESC, p.name, s.provider_id"
    );
    let rows = sqlx::query(&sql)
        .bind(month.map(|m| m.to_string()).unwrap_or_default())
        .bind(provider.unwrap_or(""))
        .bind(status_list)
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(settlement_of).collect()
}

pub async fn get(c: &mut AnyConnection, id: &str) -> ApiResult<Option<Settlement>> {
    let sql = format!("SELECT {SETTLEMENT_COLUMNS} FROM settlements s JOIN providers p ON p.id = s.provider_id WHERE s.id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *c).await?;
    row.as_ref().map(settlement_of).transpose()
}

pub async fn lines(c: &mut AnyConnection, settlement_id: &str) -> ApiResult<Vec<Line>> {
    lines_between(c, settlement_id, Seqs::ALL).await
}

/// A range of a settlement's lines or flags by their number (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seqs {
    pub first: i64,
    pub last: i64,
}

impl Seqs {
    pub const ALL: Seqs = Seqs { first: 1, last: i64::MAX };
}

/// The lines numbered `seqs.first..=seqs.last` (a page of them).
pub async fn lines_between(c: &mut AnyConnection, settlement_id: &str, seqs: Seqs) -> ApiResult<Vec<Line>> {
    let rows = sqlx::query(
        "SELECT seq, client_id, service_type, time_class, zone, rate_valid_from, rate_ore, quantity_num, quantity_den, amount_ore \
         FROM settlement_lines WHERE settlement_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq",
    )
    .bind(settlement_id)
    .bind(seqs.first)
    .bind(seqs.last)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Line {
                seq: i(r, "seq")?,
                client_id: s(r, "client_id")?,
                service_type: s(r, "service_type")?,
                time_class: s(r, "time_class")?,
                zone: s(r, "zone")?,
                rate_valid_from: s(r, "rate_valid_from")?,
                rate_ore: i(r, "rate_ore")?,
                quantity_num: i(r, "quantity_num")?,
                quantity_den: i(r, "quantity_den")?,
                amount_ore: i(r, "amount_ore")?,
            })
        })
        .collect()
}

pub async fn flags(c: &mut AnyConnection, settlement_id: &str) -> ApiResult<Vec<Flag>> {
    flags_between(c, settlement_id, Seqs::ALL).await
}

/// The flags numbered `seqs.first..=seqs.last` (a page of them).
pub async fn flags_between(c: &mut AnyConnection, settlement_id: &str, seqs: Seqs) -> ApiResult<Vec<Flag>> {
    let rows = sqlx::query(
        "SELECT seq, client_id, service_type, external_id, code, detail, excess_ore \
         FROM settlement_flags WHERE settlement_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq",
    )
    .bind(settlement_id)
    .bind(seqs.first)
    .bind(seqs.last)
    .fetch_all(&mut *c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Flag {
                seq: i(r, "seq")?,
                client_id: s(r, "client_id")?,
                service_type: s(r, "service_type")?,
                external_id: os(r, "external_id")?,
                code: s(r, "code")?,
                detail: serde_json::from_str(&s(r, "detail")?).map_err(anyhow::Error::from)?,
                excess_ore: oi(r, "excess_ore")?,
            })
        })
        .collect()
}

fn adjustment_of(r: &crate::db::Row) -> ApiResult<Adjustment> {
    Ok(Adjustment {
        id: s(r, "id")?,
        provider_id: s(r, "provider_id")?,
        month: s(r, "month")?,
        amount_ore: i(r, "amount_ore")?,
        reason: s(r, "reason")?,
        corrects: os(r, "corrects")?,
        source: os(r, "source")?,
        created_at: s(r, "created_at")?,
        created_by: s(r, "created_by")?,
    })
}

pub async fn adjustments(c: &mut AnyConnection, provider_id: &str, month: &str) -> ApiResult<Vec<Adjustment>> {
    let rows = sqlx::query(
        "SELECT id, provider_id, month, amount_ore, reason, corrects, source, created_at, created_by \
         FROM settlement_adjustments WHERE provider_id = $1 AND month = $2 ORDER BY created_at, id",
    )
    .bind(provider_id)
    .bind(month)
    .fetch_all(&mut *c)
    .await?;
    rows.iter().map(adjustment_of).collect()
}

/// The engine's result for one provider as stored rows (text ids).
pub fn rows_of(computed: &Computed, p: &ProviderResult) -> (Vec<Line>, Vec<Flag>) {
    let d = &computed.data;
    let lines = p
        .lines
        .iter()
        .enumerate()
        .map(|(k, l)| Line {
            seq: k as i64 + 1,
            client_id: d.clients[l.client as usize].clone(),
            service_type: d.services[l.service as usize].code.clone(),
            time_class: l.class.as_str().to_string(),
            zone: d.zones[l.zone as usize].clone(),
            rate_valid_from: l.rate_valid_from.to_string(),
            rate_ore: l.rate.ore(),
            quantity_num: l.quantity.num,
            quantity_den: l.quantity.den,
            amount_ore: l.amount.ore(),
        })
        .collect();
    let flags = p
        .flags
        .iter()
        .enumerate()
        .map(|(k, f)| Flag {
            seq: k as i64 + 1,
            client_id: d.clients[f.flag.client as usize].clone(),
            service_type: d.services[f.flag.service as usize].code.clone(),
            external_id: f.external_id.clone(),
            code: f.flag.code.as_str().to_string(),
            detail: serde_json::to_value(f.flag.detail).unwrap_or(serde_json::Value::Null),
            excess_ore: match f.flag.detail {
                FlagDetail::Excess { amount, .. } => Some(amount.ore()),
                _ => None,
            },
        })
        .collect();
    (lines, flags)
}

#[derive(Debug, Default, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SaveReport {
    /// Drafts written (new or changed).
    pub written: Vec<String>,
    /// Drafts recomputed without any change.
    pub unchanged: Vec<String>,
    /// Providers whose month is already approved or exported: left alone.
    pub kept_approved: Vec<String>,
}

/// Rows written before a commit: bounds how long SQLite's write lock is held.
const ROWS_PER_TRANSACTION: usize = 100_000;

/// One provider's draft as rows, with its lines and flags hashed.
struct Prepared {
    lines: Vec<Line>,
    flags: Vec<Flag>,
    /// Each flag's detail as stored (JSON text).
    details: Vec<String>,
    lines_sum: super::LinesChecksum,
    flags_sum: String,
}

fn prepare(computed: &Computed, p: usize) -> Prepared {
    let (lines, flags) = rows_of(computed, &computed.providers[p]);
    let details: Vec<String> = flags.iter().map(|f| f.detail.to_string()).collect();
    let lines_sum = super::LinesChecksum::new(&computed.data.month.to_string(), &computed.data.providers[p].id, &lines);
    let flags_sum = super::flags_checksum_with(&flags, &details);
    Prepared { lines, flags, details, lines_sum, flags_sum }
}

/// Stores the computed month as drafts: one per provider, replacing the
/// previous draft; approved and exported months are left as they are. A
/// draft whose lines, adjustments and flags are unchanged is not rewritten
/// (and keeps its revision). Written through a native connection, several
/// providers per transaction, while a thread of its own builds (and hashes)
/// the next providers' rows: the two took about the same time one after
/// the other (docs/performance.md).
pub async fn save(db: &crate::db::Db, computed: std::sync::Arc<Computed>, by: &str, now: &str) -> ApiResult<SaveReport> {
    let conn = Conn::open(db, Cache::Default).await?;
    let (send, prepared) = tokio::sync::mpsc::channel::<Prepared>(2);
    let ahead = computed.clone();
    let builder = tokio::task::spawn_blocking(move || {
        for p in 0..ahead.providers.len() {
            if send.blocking_send(prepare(&ahead, p)).is_err() {
                // The writer stopped on an error; it is reported there.
                break;
            }
        }
    });
    // On an error the connection is dropped, which rolls back what is not
    // committed.
    let saved = save_on(conn, &computed, prepared, by, now).await;
    let built = builder.await;
    let (conn, report) = saved?;
    built.map_err(|e| ApiError::Internal(anyhow::anyhow!("building the drafts' rows: {e}")))?;
    conn.close().await;
    Ok(report)
}

async fn save_on(
    mut conn: Conn,
    computed: &Computed,
    mut prepared: tokio::sync::mpsc::Receiver<Prepared>,
    by: &str,
    now: &str,
) -> ApiResult<(Conn, SaveReport)> {
    let month = computed.data.month.to_string();
    let mut report = SaveReport::default();
    let mut pending_rows = 0usize;
    conn.begin().await?;
    for (p, result) in computed.data.providers.iter().zip(&computed.providers) {
        let Prepared { lines, flags, details, lines_sum, flags_sum: fsum } =
            prepared.recv().await.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the drafts' rows stopped coming")))?;
        let no_rate = result.flags.iter().filter(|f| f.flag.code == FlagCode::NoRate).count() as i64;
        let vat_bp = result.vat_bp.map(i64::from);
        let new_id = uuid::Uuid::now_v7().to_string();
        let inserted = conn
            .exec(
                "INSERT INTO settlements (id, provider_id, month, status, revision, lines_total_ore, vat_basis_points, vat_ore, \
                 adjustments_total_ore, total_ore, line_count, flag_count, no_rate_flags, checksum, flags_checksum, computed_at, computed_by) \
                 VALUES ($1, $2, $3, 'draft', 1, 0, NULL, 0, 0, 0, 0, 0, 0, '', '', $4, $5) ON CONFLICT (provider_id, month) DO NOTHING",
                &[B::S(&new_id), B::S(&p.id), B::S(&month), B::S(now), B::S(by)],
            )
            .await?
            == 1;
        if !inserted {
            // Takes the row lock; an approved month is left alone.
            let locked = conn
                .exec(
                    "UPDATE settlements SET revision = revision WHERE provider_id = $1 AND month = $2 AND status = 'draft'",
                    &[B::S(&p.id), B::S(&month)],
                )
                .await?;
            if locked == 0 {
                report.kept_approved.push(p.id.clone());
                continue;
            }
        }
        let (id, old_sum, old_flags) = native::head(&mut conn, &p.id, &month).await?;
        let adjustments = native::adjustments(&mut conn, &p.id, &month).await?;
        let totals = (result.lines_total.ore(), result.vat.ore());
        let sum = lines_sum.finish(totals, &adjustments);
        if !inserted && sum == old_sum && fsum == old_flags {
            conn.exec("UPDATE settlements SET computed_at = $1, computed_by = $2 WHERE id = $3", &[B::S(now), B::S(by), B::S(&id)]).await?;
            report.unchanged.push(p.id.clone());
            continue;
        }
        if !inserted {
            conn.exec("DELETE FROM settlement_lines WHERE settlement_id = $1", &[B::S(&id)]).await?;
            conn.exec("DELETE FROM settlement_flags WHERE settlement_id = $1", &[B::S(&id)]).await?;
        }
        let adjustments_total: i64 = adjustments.iter().map(|a| a.amount_ore).sum();
        let (line_count, flag_count) = (lines.len(), flags.len());
        conn = native::insert_drafts(conn, &id, lines, flags, details).await?;
        conn.exec(
            "UPDATE settlements SET revision = revision + $1, lines_total_ore = $2, vat_basis_points = $3, vat_ore = $4, \
             adjustments_total_ore = $5, total_ore = $6, line_count = $7, flag_count = $8, no_rate_flags = $9, checksum = $10, \
             flags_checksum = $11, computed_at = $12, computed_by = $13 WHERE id = $14",
            &[
                B::I(if inserted { 0 } else { 1 }),
                B::I(totals.0),
                B::OI(vat_bp),
                B::I(totals.1),
                B::I(adjustments_total),
                B::I(totals.0 + totals.1 + adjustments_total),
                B::I(line_count as i64),
                B::I(flag_count as i64),
                B::I(no_rate),
                B::S(&sum),
                B::S(&fsum),
                B::S(now),
                B::S(by),
                B::S(&id),
            ],
        )
        .await?;
        report.written.push(p.id.clone());
        pending_rows += line_count + flag_count + 1;
        if pending_rows >= ROWS_PER_TRANSACTION {
            conn.commit().await?;
            conn.begin().await?;
            pending_rows = 0;
        }
    }
    conn.commit().await?;
    Ok((conn, report))
}

/// Recomputes a draft's totals and checksum after its adjustments changed.
/// Runs inside the caller's transaction, after it locked the row.
async fn refresh_totals(c: &mut AnyConnection, st: &Settlement) -> ApiResult<()> {
    let lines = lines(&mut *c, &st.id).await?;
    let adjustments = adjustments(&mut *c, &st.provider_id, &st.month).await?;
    let adjustments_total: i64 = adjustments.iter().map(|a| a.amount_ore).sum();
    let sum = super::checksum(&st.month, &st.provider_id, &lines, (st.lines_total_ore, st.vat_ore), &adjustments);
    sqlx::query("UPDATE settlements SET adjustments_total_ore = $1, total_ore = $2, checksum = $3 WHERE id = $4")
        .bind(adjustments_total)
        .bind(st.lines_total_ore + st.vat_ore + adjustments_total)
        .bind(&sum)
        .bind(&st.id)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// Locks a draft (bumping its revision) inside `c`'s transaction; a
/// settlement no longer in draft is a conflict.
async fn lock_draft(c: &mut AnyConnection, id: &str) -> ApiResult<Settlement> {
    let n = sqlx::query("UPDATE settlements SET revision = revision + 1 WHERE id = $1 AND status = 'draft'")
        .bind(id)
        .execute(&mut *c)
        .await?
        .rows_affected();
    let st = get(&mut *c, id).await?.ok_or(ApiError::NotFound("settlement"))?;
    if n == 0 {
        return Err(ApiError::conflict(
            "settlement_not_draft",
            format!("the settlement is {}; correct it with an adjustment in a later month that names it", st.status),
        ));
    }
    Ok(st)
}

pub fn check_new_adjustment(a: &NewAdjustment) -> ApiResult<()> {
    let mut f = Fields::new();
    if a.amount_ore == 0 {
        f.push("amount_ore", "zero_amount", "an adjustment is a non-zero amount in öre");
    }
    if a.amount_ore.unsigned_abs() > 100_000_000_000 {
        f.push("amount_ore", "amount_too_large", "at most 1 000 000 000 kr");
    }
    let reason = a.reason.trim();
    if reason.is_empty() {
        f.push("reason", "required", "give the reason for the adjustment");
    } else if reason.chars().count() > 500 {
        f.push("reason", "too_long", "at most 500 characters");
    }
    f.finish()
}

/// Adds an adjustment to a draft and updates its totals.
pub async fn add_adjustment(
    db: &crate::db::Db,
    settlement_id: &str,
    a: &NewAdjustment,
    source: Option<&str>,
    by: &str,
    now: &str,
) -> ApiResult<Adjustment> {
    check_new_adjustment(a)?;
    let mut tx = db.pool.begin().await?;
    let st = lock_draft(&mut tx, settlement_id).await?;
    if let Some(orig) = &a.corrects {
        let o = get(&mut tx, orig).await?;
        let ok = o.as_ref().is_some_and(|o| o.provider_id == st.provider_id && o.status != "draft" && o.month < st.month);
        if !ok {
            return Err(ApiError::field(
                "corrects",
                "not_correctable",
                "name an approved settlement of the same provider from an earlier month",
            ));
        }
    }
    let adj = Adjustment {
        id: uuid::Uuid::now_v7().to_string(),
        provider_id: st.provider_id.clone(),
        month: st.month.clone(),
        amount_ore: a.amount_ore,
        reason: a.reason.trim().to_string(),
        corrects: a.corrects.clone(),
        source: source.map(str::to_string),
        created_at: now.to_string(),
        created_by: by.to_string(),
    };
    sqlx::query(
        "INSERT INTO settlement_adjustments (id, provider_id, month, amount_ore, reason, corrects, source, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&adj.id)
    .bind(&adj.provider_id)
    .bind(&adj.month)
    .bind(adj.amount_ore)
    .bind(&adj.reason)
    .bind(adj.corrects.clone())
    .bind(adj.source.clone())
    .bind(&adj.created_at)
    .bind(&adj.created_by)
    .execute(&mut *tx)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict { .. } => ApiError::conflict("adjustment_exists", "this flag has already been turned into an adjustment"),
        other => other,
    })?;
    refresh_totals(&mut tx, &st).await?;
    tx.commit().await?;
    Ok(adj)
}

pub async fn delete_adjustment(db: &crate::db::Db, settlement_id: &str, adjustment_id: &str) -> ApiResult<()> {
    let mut tx = db.pool.begin().await?;
    let st = lock_draft(&mut tx, settlement_id).await?;
    let n = sqlx::query("DELETE FROM settlement_adjustments WHERE id = $1 AND provider_id = $2 AND month = $3")
        .bind(adjustment_id)
        .bind(&st.provider_id)
        .bind(&st.month)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(ApiError::NotFound("adjustment"));
    }
    refresh_totals(&mut tx, &st).await?;
    tx.commit().await?;
    Ok(())
}

/// Turns an `excess` flag into an adjustment of the value it removed: the
/// municipality has reviewed the extra time and accepts to pay it.
pub async fn accept_excess(db: &crate::db::Db, settlement_id: &str, flag_seq: i64, by: &str, now: &str) -> ApiResult<Adjustment> {
    let flag = {
        let mut c = db.pool.acquire().await?;
        flags(&mut c, settlement_id).await?.into_iter().find(|f| f.seq == flag_seq).ok_or(ApiError::NotFound("flag"))?
    };
    let (Some(amount), "excess") = (flag.excess_ore, flag.code.as_str()) else {
        return Err(ApiError::rule("not_an_excess_flag", "only an excess flag can be accepted as an adjustment"));
    };
    let visit = flag.external_id.clone().unwrap_or_else(|| format!("{}/{}", flag.client_id, flag.seq));
    let minutes = &flag.detail["minutes"];
    let minutes = match (minutes["num"].as_i64(), minutes["den"].as_i64()) {
        (Some(n), Some(d)) => super::export::decimal_comma(n, d),
        _ => String::new(),
    };
    let reason = format!("Godkänd tid utöver beviljad tid: besök {visit}, {minutes} min");
    let source = format!("excess:{visit}");
    add_adjustment(db, settlement_id, &NewAdjustment { amount_ore: amount, reason, corrects: None }, Some(&source), by, now).await
}

/// Approves a draft: refused with `no_rate` flags, and when `revision` is
/// given and the draft has changed since. The stored checksum is verified
/// against the stored lines first.
pub async fn approve(db: &crate::db::Db, id: &str, revision: Option<i64>, by: &str, now: &str) -> ApiResult<Settlement> {
    let mut tx = db.pool.begin().await?;
    let st = get(&mut tx, id).await?.ok_or(ApiError::NotFound("settlement"))?;
    if st.status != "draft" {
        return Err(ApiError::conflict("settlement_not_draft", format!("the settlement is already {}", st.status)));
    }
    if st.no_rate_flags > 0 {
        return Err(ApiError::rule(
            "no_rate_flags",
            format!("{} visits or days have no rate in force; add the missing rates and recompute before approving", st.no_rate_flags),
        ));
    }
    if let Some(r) = revision {
        if r != st.revision {
            return Err(ApiError::conflict("settlement_changed", "the draft has changed since you looked at it; review it again"));
        }
    }
    let lines = lines(&mut tx, id).await?;
    let adjustments = adjustments(&mut tx, &st.provider_id, &st.month).await?;
    let sum = super::checksum(&st.month, &st.provider_id, &lines, (st.lines_total_ore, st.vat_ore), &adjustments);
    if sum != st.checksum || lines.len() as i64 != st.line_count {
        return Err(ApiError::Internal(anyhow::anyhow!("settlement {id}: stored checksum does not match its lines")));
    }
    let n = sqlx::query(
        "UPDATE settlements SET status = 'approved', approved_at = $1, approved_by = $2 \
         WHERE id = $3 AND status = 'draft' AND revision = $4 AND no_rate_flags = 0",
    )
    .bind(now)
    .bind(by)
    .bind(id)
    .bind(st.revision)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(ApiError::conflict("settlement_changed", "the draft changed while it was being approved; review it again"));
    }
    let approved = get(&mut tx, id).await?.ok_or(ApiError::NotFound("settlement"))?;
    tx.commit().await?;
    Ok(approved)
}

/// Recomputes the checksum of a stored settlement from its lines; true when it matches.
pub async fn verify(c: &mut AnyConnection, st: &Settlement) -> ApiResult<bool> {
    let lines = lines(&mut *c, &st.id).await?;
    let adjustments = adjustments(&mut *c, &st.provider_id, &st.month).await?;
    Ok(super::checksum(&st.month, &st.provider_id, &lines, (st.lines_total_ore, st.vat_ore), &adjustments) == st.checksum)
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ExportBatch {
    pub month: String,
    /// Numbered per month from 1.
    pub batch: i64,
    pub exported_at: String,
    pub exported_by: String,
    /// The settlements in this batch.
    pub settlements: Vec<String>,
}

/// Marks every approved settlement of `month` as exported, in a new batch.
/// A month with none approved is refused (nothing to send to accounting).
pub async fn export_month(db: &crate::db::Db, month: Month, by: &str, now: &str) -> ApiResult<ExportBatch> {
    let m = month.to_string();
    let mut tx = db.pool.begin().await?;
    // The batch number is claimed by its primary key, so two exports at
    // once cannot share one.
    let mut batch: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(batch), 0) FROM settlement_exports WHERE month = $1").bind(&m).fetch_one(&mut *tx).await?;
    loop {
        batch += 1;
        let n = sqlx::query(
            "INSERT INTO settlement_exports (month, batch, exported_at, exported_by) VALUES ($1, $2, $3, $4) ON CONFLICT (month, batch) DO NOTHING",
        )
        .bind(&m)
        .bind(batch)
        .bind(now)
        .bind(by)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            break;
        }
    }
    let n = sqlx::query(
        "UPDATE settlements SET status = 'exported', exported_at = $1, exported_by = $2, export_batch = $3 WHERE month = $4 AND status = 'approved'",
    )
    .bind(now)
    .bind(by)
    .bind(batch)
    .bind(&m)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        tx.rollback().await?;
        return Err(ApiError::rule("nothing_to_export", format!("no approved settlement of {m} is waiting for export")));
    }
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM settlements WHERE month = $1 AND export_batch = $2 ORDER BY id")
        .bind(&m)
        .bind(batch)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(ExportBatch { month: m, batch, exported_at: now.to_string(), exported_by: by.to_string(), settlements: ids })
}

pub async fn export_batches(c: &mut AnyConnection, month: Month) -> ApiResult<Vec<(i64, String, String)>> {
    let rows = sqlx::query("SELECT batch, exported_at, exported_by FROM settlement_exports WHERE month = $1 ORDER BY batch")
        .bind(month.to_string())
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(|r| Ok((i(r, "batch")?, s(r, "exported_at")?, s(r, "exported_by")?))).collect()
}

pub async fn config(c: &mut AnyConnection) -> ApiResult<Vec<(String, String)>> {
    let rows = sqlx::query("SELECT key, value FROM settlement_config ORDER BY key").fetch_all(&mut *c).await?;
    rows.iter().map(|r| Ok((s(r, "key")?, s(r, "value")?))).collect()
}

pub async fn put_config(c: &mut AnyConnection, key: &str, value: &str) -> ApiResult<()> {
    sqlx::query("INSERT INTO settlement_config (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(&mut *c)
        .await?;
    Ok(())
}
