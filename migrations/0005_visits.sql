-- Time reports (visits), issue #4. Owner: the visits module (src/visits).
-- See docs/visits-csv.md for the import and the meaning of every column.

-- One row per reported visit, keyed by the provider's own id for it, so a
-- re-import of the same report is recognised and a corrected row replaces
-- the earlier one. Times are UTC `YYYY-MM-DDTHH:MM:SSZ` text.
CREATE TABLE visits (
    provider_id TEXT NOT NULL REFERENCES providers (id),
    external_id TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id),
    service_type TEXT NOT NULL REFERENCES service_types (code),
    status TEXT NOT NULL CHECK (status IN ('performed', 'cancelled_late', 'cancelled_in_time', 'missed')),
    planned_start TEXT,
    planned_end TEXT,
    actual_start TEXT,
    actual_end TEXT,
    cancelled_at TEXT,
    -- Pseudonymous staff reference (never a name or identity number).
    staff_ref TEXT NOT NULL,
    staff_count BIGINT NOT NULL CHECK (staff_count IN (1, 2)),
    -- Units delivered, for per-unit services only; NULL = one.
    quantity BIGINT CHECK (quantity IS NULL OR quantity > 0),
    -- Derived at import, never input: the visit's times (actual when
    -- performed, planned otherwise), its elapsed whole minutes (times floored
    -- to the minute), and the local date and month (YYYY-MM) it starts in,
    -- which is the month it belongs to.
    start_at TEXT NOT NULL,
    end_at TEXT NOT NULL,
    minutes BIGINT NOT NULL CHECK (minutes >= 0),
    local_date TEXT NOT NULL,
    month TEXT NOT NULL,
    -- 64-bit hash of the reported content: equal hash = unchanged row.
    content_hash BIGINT NOT NULL,
    -- The import that last wrote the row (visit_imports has when and who).
    import_id TEXT NOT NULL,
    PRIMARY KEY (provider_id, external_id),
    CHECK ((status = 'performed') = (actual_start IS NOT NULL AND actual_end IS NOT NULL)),
    CHECK (status = 'performed' OR (planned_start IS NOT NULL AND planned_end IS NOT NULL)),
    CHECK (end_at >= start_at)
);
CREATE INDEX visits_provider_date ON visits (provider_id, local_date);
-- provider_id last: a client's visits by other providers are found in the index alone.
CREATE INDEX visits_client_date ON visits (client_id, local_date, provider_id);

-- Import-time warnings on stored visits (the settlement engine's flags are
-- the authoritative payment review; these warn the provider early).
CREATE TABLE visit_flags (
    provider_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    code TEXT NOT NULL CHECK (code IN ('outside_assignment', 'double_staffing_not_granted', 'beyond_granted',
        'staff_overlap', 'client_overlap', 'after_decision_end', 'no_decision')),
    client_id TEXT NOT NULL,
    month TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (provider_id, external_id, code),
    FOREIGN KEY (provider_id, external_id) REFERENCES visits (provider_id, external_id)
);
CREATE INDEX visit_flags_month ON visit_flags (month, provider_id);
CREATE INDEX visit_flags_client ON visit_flags (client_id, month);

-- One row per import (CSV file, API batch or single visit, demo seed), with
-- its counts; an all-or-nothing import that failed has stored = 0 and
-- changed no visit.
CREATE TABLE visit_imports (
    id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES providers (id),
    source TEXT NOT NULL CHECK (source IN ('csv', 'api', 'demo')),
    file_name TEXT NOT NULL,
    all_or_nothing BIGINT NOT NULL CHECK (all_or_nothing IN (0, 1)),
    stored BIGINT NOT NULL CHECK (stored IN (0, 1)),
    rows_total BIGINT NOT NULL,
    new_count BIGINT NOT NULL,
    replaced_count BIGINT NOT NULL,
    unchanged_count BIGINT NOT NULL,
    rejected_rows BIGINT NOT NULL,
    rejections_total BIGINT NOT NULL,    -- field errors over all rejected rows
    flagged_count BIGINT NOT NULL,
    months TEXT NOT NULL,                -- comma-separated YYYY-MM the accepted rows fall in
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL             -- username (or 'cli' / 'demo')
);
CREATE INDEX visit_imports_provider ON visit_imports (provider_id, created_at);

-- Why rows were rejected: one row per bad field (at most the first 10 000 of
-- an import are kept; rejections_total counts them all).
CREATE TABLE visit_import_rejections (
    import_id TEXT NOT NULL REFERENCES visit_imports (id),
    seq BIGINT NOT NULL,
    line BIGINT NOT NULL,
    external_id TEXT NOT NULL,
    field TEXT NOT NULL,
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (import_id, seq)
);
