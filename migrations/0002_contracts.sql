-- Contracts (avtal) between the municipality and providers under a choice
-- system: the application with its answers and evidence, the review, the
-- contract's coverage and capacity, intake closures and the municipality's
-- area closures. Owner: the contracts module (src/contracts).

-- One row per application; an approved application becomes the contract (the
-- same row moves on through the status machine). Status changes are
-- conditional UPDATEs (`WHERE status = ...`), each with a row in
-- contract_events.
CREATE TABLE contracts (
    id TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL REFERENCES providers (id),
    choice_system_id TEXT NOT NULL REFERENCES choice_systems (id),
    -- The version of the conditions the provider answered (choice_system_versions.valid_from).
    conditions_from TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN
        ('applied', 'under_review', 'approved', 'rejected', 'active', 'paused', 'terminated')),
    -- What the provider applied for: comma-separated service type and area codes.
    applied_services TEXT NOT NULL,
    applied_areas TEXT NOT NULL,
    applied_capacity_unit TEXT NOT NULL CHECK (applied_capacity_unit IN ('none', 'hours', 'clients')),
    applied_capacity_amount BIGINT CHECK (applied_capacity_amount IS NULL OR applied_capacity_amount > 0),
    applied_at TEXT NOT NULL,
    applied_by TEXT NOT NULL,
    -- Set on approval: the contract period (end inclusive; NULL = until further notice).
    start_date TEXT,
    end_date TEXT,
    decision_reason TEXT NOT NULL DEFAULT '',
    decided_at TEXT,
    decided_by TEXT,
    updated_at TEXT NOT NULL,
    CHECK (end_date IS NULL OR start_date IS NULL OR end_date >= start_date)
);
CREATE INDEX contracts_provider ON contracts (provider_id);
CREATE INDEX contracts_status ON contracts (status);
-- A provider has at most one open application or contract per choice system,
-- so two simultaneous applications yield exactly one.
CREATE UNIQUE INDEX contracts_one_open ON contracts (provider_id, choice_system_id)
    WHERE status IN ('applied', 'under_review', 'approved', 'active', 'paused');

-- Who did what when and why: every status change, review verdict, capacity
-- report, intake change and upload. Append-only by convention.
CREATE TABLE contract_events (
    id TEXT PRIMARY KEY,                 -- UUIDv7: sorts by time
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    at TEXT NOT NULL,
    actor_user_id TEXT,
    actor_username TEXT NOT NULL,
    kind TEXT NOT NULL,                  -- status, review, capacity, intake, coverage, evidence
    from_status TEXT,
    to_status TEXT,
    detail TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX contract_events_contract ON contract_events (contract_id, id);

-- The provider's answer to each requirement of the conditions, and the
-- municipality's verdict on it.
CREATE TABLE contract_answers (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    requirement_code TEXT NOT NULL,
    requirement_text TEXT NOT NULL,
    answer TEXT NOT NULL,
    verdict TEXT NOT NULL DEFAULT 'pending' CHECK (verdict IN ('pending', 'met', 'not_met')),
    verdict_note TEXT NOT NULL DEFAULT '',
    reviewed_at TEXT,
    reviewed_by TEXT,
    PRIMARY KEY (contract_id, requirement_code)
);

-- Evidence files, stored in the database so that a backup of the database is
-- a backup of everything. Type checked by magic bytes (PDF, PNG, JPEG) and
-- size limited before they get here.
CREATE TABLE contract_evidence (
    id TEXT PRIMARY KEY,
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    requirement_code TEXT NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL CHECK (content_type IN ('application/pdf', 'image/png', 'image/jpeg')),
    size_bytes BIGINT NOT NULL CHECK (size_bytes > 0),
    sha256 TEXT NOT NULL,
    content BYTEA NOT NULL,
    uploaded_at TEXT NOT NULL,
    uploaded_by TEXT NOT NULL,
    FOREIGN KEY (contract_id, requirement_code) REFERENCES contract_answers (contract_id, requirement_code)
);
CREATE INDEX contract_evidence_contract ON contract_evidence (contract_id);

-- What the contract covers, effective-dated so that a narrowed coverage keeps
-- its history (valid_to inclusive; NULL = open-ended).
CREATE TABLE contract_services (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    service_type TEXT NOT NULL REFERENCES service_types (code),
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    PRIMARY KEY (contract_id, service_type, valid_from)
);
CREATE TABLE contract_areas (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    area_code TEXT NOT NULL REFERENCES areas (code),
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    PRIMARY KEY (contract_id, area_code, valid_from)
);
CREATE INDEX contract_areas_area ON contract_areas (area_code);

-- The capacity ceiling, one version per date it takes effect. `none` lifts
-- the ceiling; `hours` counts granted hours per month, `clients` distinct clients.
CREATE TABLE contract_capacity (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    valid_from TEXT NOT NULL,
    unit TEXT NOT NULL CHECK (unit IN ('none', 'hours', 'clients')),
    amount BIGINT CHECK (amount IS NULL OR amount > 0),
    reported_at TEXT NOT NULL,
    reported_by TEXT NOT NULL,
    CHECK ((unit = 'none') = (amount IS NULL)),
    PRIMARY KEY (contract_id, valid_from)
);

-- The provider open or closed for new clients from a date; the latest
-- version on or before a date rules.
CREATE TABLE contract_intake (
    contract_id TEXT NOT NULL REFERENCES contracts (id),
    valid_from TEXT NOT NULL,
    is_open BIGINT NOT NULL CHECK (is_open IN (0, 1)),
    reason TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    PRIMARY KEY (contract_id, valid_from)
);

-- The municipality closes an area (or one service in it) to private and
-- non-profit providers for new clients from a date; existing clients keep
-- their provider. The municipal provider is never closed out.
CREATE TABLE area_closures (
    id TEXT PRIMARY KEY,
    area_code TEXT NOT NULL REFERENCES areas (code),
    service_type TEXT REFERENCES service_types (code),  -- NULL = every service
    from_date TEXT NOT NULL,
    to_date TEXT,                        -- inclusive; NULL = until reopened
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    reopened_at TEXT,
    reopened_by TEXT,
    reopen_reason TEXT NOT NULL DEFAULT '',
    CHECK (to_date IS NULL OR to_date >= from_date)
);
CREATE INDEX area_closures_area ON area_closures (area_code);
