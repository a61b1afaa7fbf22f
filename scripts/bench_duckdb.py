#!/usr/bin/env python3
"""The DuckDB reference for the valfri benchmark (scripts/bench).

Reads the same visits CSV files the valfri import reads (DIR/visits/*.csv)
and the side tables the generator writes next to them (clients.csv: zone
per client, providers.csv: VAT entitlement, services.csv: basis per
service type, rates.csv: rate versions, segments.csv: the month's local-time
class segments as UTC instants, holidays and DST included), and computes the
month's settlement lines the way a competent analyst would in SQL:

  load       read_csv of all provider files into a table in a DuckDB file,
             times parsed from the municipality's local time to UTC, the
             visit's start/end chosen (actual when performed, planned
             otherwise) and floored to the minute. This is the counterpart of
             valfri's import (which also parses, validates and derives
             these values, then stores the rows).
  aggregate  for performed and late-cancelled visits starting in the month:
             hourly services split by the minute over the class segments
             (range join), × staff count, priced at the rate version in force
             on the local date of each piece for the client's zone, grouped
             per provider × client × service × class × rate version and
             rounded once, half away from zero; per-unit services: units ×
             the unit rate of the local start date; VAT compensation of 6 %
             per entitled provider. The counterpart of valfri's settlement.

What the reference does NOT do, and valfri's settlement does (so the
reference's total is higher than valfri's, and it does less work): coverage
by an assignment of that provider on the start date, double staffing only
where a decision grants it, late cancellation decided from cancelled_at, the
granted-time excess rule (chronologically last minutes per client and
service group, across providers), the granted and per-month bases (daily
pro-rating over assignments), flags, checksums, and storing lines.

Prints one JSON line with the timings and counts.
"""

import argparse
import json
import os
import resource
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True, help="the benchmark data directory")
    ap.add_argument("--month", required=True, help="YYYY-MM")
    ap.add_argument("--time-zone", default="Europe/Stockholm")
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (default: DuckDB's own, the number of cores)")
    args = ap.parse_args()

    import duckdb  # noqa: E402  (installed by scripts/bench into a venv)

    d = args.dir
    db_file = os.path.join(d, "reference.duckdb")
    for f in (db_file, db_file + ".wal"):
        if os.path.exists(f):
            os.remove(f)
    con = duckdb.connect(db_file)
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    tz = args.time_zone.replace("'", "")
    con.execute(f"SET TimeZone = '{tz}'")

    def q(path: str) -> str:
        return "'" + os.path.join(d, path).replace("'", "''") + "'"

    # Side tables (small): not timed separately, part of the load.
    t0 = time.perf_counter()
    con.execute(f"CREATE TABLE clients AS SELECT * FROM read_csv({q('clients.csv')}, header = true, auto_detect = false, delim = ',', columns = {{'client': 'VARCHAR', 'zone': 'VARCHAR'}})")
    con.execute(f"CREATE TABLE providers AS SELECT * FROM read_csv({q('providers.csv')}, header = true, auto_detect = false, delim = ',', columns = {{'provider': 'VARCHAR', 'vat': 'INTEGER'}})")
    con.execute(f"CREATE TABLE services AS SELECT * FROM read_csv({q('services.csv')}, header = true, auto_detect = false, delim = ',', columns = {{'service_type': 'VARCHAR', 'basis': 'VARCHAR'}})")
    con.execute(
        f"""CREATE TABLE rates AS SELECT * FROM read_csv({q('rates.csv')}, header = true, auto_detect = false, delim = ',', columns = {{
            'service_type': 'VARCHAR', 'zone': 'VARCHAR', 'time_class': 'VARCHAR',
            'valid_from': 'DATE', 'valid_until': 'DATE', 'amount_ore': 'BIGINT'}})"""
    )
    con.execute(
        f"""CREATE TABLE segments AS SELECT seg_start // 60 AS seg_start_m, seg_end // 60 AS seg_end_m, local_date, time_class
            FROM read_csv({q('segments.csv')}, header = true, auto_detect = false, delim = ',', columns = {{
            'seg_start': 'BIGINT', 'seg_end': 'BIGINT', 'local_date': 'DATE', 'time_class': 'VARCHAR'}})"""
    )

    # Local time (no offset) -> UTC seconds; a time written with an offset
    # (the autumn fold) is taken as written.
    def instant(col: str) -> str:
        return (
            f"CASE WHEN {col} IS NULL THEN NULL "
            f"WHEN length({col}) > 19 THEN epoch({col}::TIMESTAMPTZ)::BIGINT "
            f"ELSE epoch(timezone('{tz}', {col}::TIMESTAMP))::BIGINT END"
        )

    visits_glob = q("visits/*.csv")
    con.execute(
        f"""CREATE TABLE visits AS
        WITH raw AS (
            SELECT * FROM read_csv({visits_glob}, header = true, auto_detect = false, delim = ',', columns = {{
                'provider': 'VARCHAR', 'external_id': 'VARCHAR', 'client': 'VARCHAR', 'service_type': 'VARCHAR',
                'status': 'VARCHAR', 'planned_start': 'VARCHAR', 'planned_end': 'VARCHAR', 'actual_start': 'VARCHAR',
                'actual_end': 'VARCHAR', 'cancelled_at': 'VARCHAR', 'staff_ref': 'VARCHAR', 'staff_count': 'INTEGER',
                'quantity': 'INTEGER'}})
        ), parsed AS (
            SELECT provider, external_id, client, service_type, status, staff_ref,
                   coalesce(staff_count, 1) AS staff_count, quantity,
                   {instant('planned_start')} AS planned_start, {instant('planned_end')} AS planned_end,
                   {instant('actual_start')} AS actual_start, {instant('actual_end')} AS actual_end,
                   {instant('cancelled_at')} AS cancelled_at
            FROM raw
        )
        SELECT *,
               (CASE WHEN status = 'performed' THEN actual_start ELSE planned_start END) // 60 AS start_m,
               (CASE WHEN status = 'performed' THEN actual_end ELSE planned_end END) // 60 AS end_m
        FROM parsed"""
    )
    rows = con.execute("SELECT count(*) FROM visits").fetchone()[0]
    load_s = time.perf_counter() - t0

    year, month = (int(x) for x in args.month.split("-"))
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    first, after = f"{year:04d}-{month:02d}-01", f"{next_year:04d}-{next_month:02d}-01"

    t1 = time.perf_counter()
    con.execute(
        f"""CREATE TABLE lines AS
        WITH month AS (
            -- UTC minute bounds of the month: the first and the next month's first local midnight.
            SELECT min(seg_start_m) FILTER (WHERE local_date = DATE '{first}') AS m0,
                   min(seg_start_m) FILTER (WHERE local_date = DATE '{after}') AS m1
            FROM segments
        ), paid AS (
            SELECT v.provider, v.client, v.service_type, s.basis, v.start_m, v.end_m, v.staff_count,
                   coalesce(v.quantity, 1) AS units, c.zone
            FROM visits v
            JOIN services s USING (service_type)
            JOIN clients c USING (client)
            CROSS JOIN month
            WHERE v.status IN ('performed', 'cancelled_late')
              AND v.start_m >= month.m0 AND v.start_m < month.m1
              AND s.basis IN ('performed', 'per_unit')
        ), pieces AS (
            -- Hourly services: the visit's minutes in each class segment it touches.
            SELECT p.provider, p.client, p.service_type, p.zone, g.time_class, g.local_date,
                   (least(p.end_m, g.seg_end_m) - greatest(p.start_m, g.seg_start_m)) * p.staff_count AS qty
            FROM paid p JOIN segments g ON g.seg_start_m < p.end_m AND g.seg_end_m > p.start_m
            WHERE p.basis = 'performed' AND p.end_m > p.start_m
            UNION ALL
            -- Per-unit services: units on the local date the visit starts.
            SELECT p.provider, p.client, p.service_type, p.zone, 'unit', g.local_date, p.units
            FROM paid p JOIN segments g ON p.start_m >= g.seg_start_m AND p.start_m < g.seg_end_m
            WHERE p.basis = 'per_unit'
        ), priced AS (
            SELECT x.provider, x.client, x.service_type, x.time_class, r.valid_from, r.amount_ore, sum(x.qty) AS qty
            FROM pieces x JOIN rates r
              ON r.service_type = x.service_type AND r.zone = x.zone AND r.time_class = x.time_class
             AND x.local_date >= r.valid_from AND x.local_date < r.valid_until
            GROUP BY ALL
        )
        SELECT *,
               -- minutes × öre/hour ÷ 60 (units × öre), rounded once, half away from zero.
               CASE WHEN time_class = 'unit' THEN qty * amount_ore
                    ELSE (qty * amount_ore * 2 + 60) // 120 END AS amount_ore_line
        FROM priced"""
    )
    con.execute(
        """CREATE TABLE provider_totals AS
        SELECT l.provider, sum(l.amount_ore_line) AS lines_total,
               CASE WHEN any_value(p.vat) = 1 THEN (sum(l.amount_ore_line) * 600 * 2 + 10000) // 20000 ELSE 0 END AS vat
        FROM lines l JOIN providers p USING (provider) GROUP BY l.provider"""
    )
    lines, minutes = con.execute("SELECT count(*), coalesce(sum(qty) FILTER (WHERE time_class <> 'unit'), 0) FROM lines").fetchone()
    total = con.execute("SELECT coalesce(sum(lines_total + vat), 0) FROM provider_totals").fetchone()[0]
    aggregate_s = time.perf_counter() - t1
    threads = int(con.execute("SELECT current_setting('threads')").fetchone()[0])
    con.close()

    print(
        json.dumps(
            {
                "duckdb_version": duckdb.__version__,
                "threads": threads,
                "rows": int(rows),
                "load_s": load_s,
                "aggregate_s": aggregate_s,
                "lines": int(lines),
                "total_ore": int(total),
                "paid_minutes": int(minutes),
                "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
