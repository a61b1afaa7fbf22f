-- Monthly settlement (avräkning), issue #4. Owner: settlement module.
-- One settlement per provider and month: draft (replaced on recompute) ->
-- approved (immutable; checksum over its stored lines) -> exported.

CREATE TABLE settlements (
    id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES providers (id),
    month TEXT NOT NULL,                      -- YYYY-MM
    status TEXT NOT NULL CHECK (status IN ('draft', 'approved', 'exported')),
    -- Bumped by every recompute or adjustment change of the draft, so an
    -- approval can name the exact version the admin looked at.
    revision BIGINT NOT NULL DEFAULT 1,
    lines_total_ore BIGINT NOT NULL,
    vat_basis_points BIGINT,                  -- NULL when lines had different VAT rates
    vat_ore BIGINT NOT NULL,
    adjustments_total_ore BIGINT NOT NULL,
    total_ore BIGINT NOT NULL,
    line_count BIGINT NOT NULL,
    flag_count BIGINT NOT NULL,
    no_rate_flags BIGINT NOT NULL,            -- > 0 blocks approval
    checksum TEXT NOT NULL,                   -- hex SHA-256, see docs/settlement.md
    flags_checksum TEXT NOT NULL,             -- lets a recompute skip rewriting an unchanged draft
    computed_at TEXT NOT NULL,
    computed_by TEXT NOT NULL,
    approved_at TEXT,
    approved_by TEXT,
    exported_at TEXT,
    exported_by TEXT,
    export_batch BIGINT,                      -- settlement_exports.batch of its month
    UNIQUE (provider_id, month),
    CHECK ((status = 'draft') = (approved_at IS NULL)),
    CHECK ((status = 'exported') = (exported_at IS NOT NULL))
);
CREATE INDEX settlements_month ON settlements (month, status);

-- The lines of a settlement in their canonical order (seq from 1). Written
-- in bulk from data that already exists, so client and service carry no
-- foreign keys (they would only slow the national-scale write).
CREATE TABLE settlement_lines (
    settlement_id TEXT NOT NULL REFERENCES settlements (id),
    seq BIGINT NOT NULL,
    client_id TEXT NOT NULL,
    service_type TEXT NOT NULL,
    time_class TEXT NOT NULL CHECK (time_class IN ('day', 'evening', 'night', 'weekend', 'granted', 'unit', 'month')),
    zone TEXT NOT NULL,
    rate_valid_from TEXT NOT NULL,
    rate_ore BIGINT NOT NULL,
    -- Exact quantity num/den in lowest terms: minutes for the time classes
    -- and granted, units for unit, months for month.
    quantity_num BIGINT NOT NULL,
    quantity_den BIGINT NOT NULL CHECK (quantity_den > 0),
    amount_ore BIGINT NOT NULL,
    PRIMARY KEY (settlement_id, seq)
);

-- Review notes from the engine (not money; not in the checksum).
CREATE TABLE settlement_flags (
    settlement_id TEXT NOT NULL REFERENCES settlements (id),
    seq BIGINT NOT NULL,
    client_id TEXT NOT NULL,
    service_type TEXT NOT NULL,
    external_id TEXT,                         -- the provider's id of the visit, when about one visit
    code TEXT NOT NULL,
    detail TEXT NOT NULL,                     -- JSON, the engine's FlagDetail
    excess_ore BIGINT,                        -- for code excess: the value of the removed minutes
    PRIMARY KEY (settlement_id, seq)
);

-- Manual, signed adjustments of a provider's month. They belong to the
-- provider-month rather than to a settlement row, so a recompute of the draft
-- keeps them. Frozen once the month's settlement is approved.
CREATE TABLE settlement_adjustments (
    id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES providers (id),
    month TEXT NOT NULL,
    amount_ore BIGINT NOT NULL,
    reason TEXT NOT NULL,
    -- An earlier, approved settlement this corrects.
    corrects TEXT REFERENCES settlements (id),
    -- Set for adjustments made from a flag (e.g. 'excess:<external id>'), so the
    -- same flag cannot be turned into money twice.
    source TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    UNIQUE (provider_id, month, source)
);
CREATE INDEX settlement_adjustments_month ON settlement_adjustments (month, provider_id);

-- One row per export of a month to accounting (an SIE file), numbered per month.
CREATE TABLE settlement_exports (
    month TEXT NOT NULL,
    batch BIGINT NOT NULL,
    exported_at TEXT NOT NULL,
    exported_by TEXT NOT NULL,
    PRIMARY KEY (month, batch)
);

-- Accounting settings of the SIE export (account numbers, voucher series).
-- The settlement reads a month's visits ordered by client (visits module's table).
CREATE INDEX settlement_visits_month ON visits (month, client_id);

CREATE TABLE settlement_config (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
