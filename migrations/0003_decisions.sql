-- 0003: needs-assessment decisions (biståndsbeslut) and what assignments need
-- to follow them. Owner: the decisions/assignments module.

-- A decision keeps its id over all its versions; assignments point here.
CREATE TABLE decisions (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id),
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id)
);
CREATE INDEX decisions_client ON decisions (client_id);

-- A change is a new version from a date. The version it replaces keeps its
-- content and gets valid_to = the day before ('replaced'), or, when the change
-- applies from the replaced version's own first day, is marked 'superseded'
-- (it never applied). Ending a decision sets valid_to on the current version.
CREATE TABLE decision_versions (
    id TEXT PRIMARY KEY,
    decision_id TEXT NOT NULL REFERENCES decisions (id),
    version BIGINT NOT NULL CHECK (version >= 1),
    valid_from TEXT NOT NULL,
    valid_to TEXT,                       -- inclusive; NULL = until further notice
    state TEXT NOT NULL CHECK (state IN ('current', 'replaced', 'superseded')),
    decided_by TEXT NOT NULL REFERENCES users (id),
    decided_at TEXT NOT NULL,
    note TEXT NOT NULL,
    replaced_by TEXT,
    ended_at TEXT,
    ended_by TEXT REFERENCES users (id),
    end_reason TEXT,
    UNIQUE (decision_id, version),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
-- Two simultaneous changes cannot both become the current version.
CREATE UNIQUE INDEX decision_versions_one_current ON decision_versions (decision_id) WHERE state = 'current';

-- Granted services of a version: minutes per month for hour-based services,
-- otherwise units (portions, visits, months) per month.
CREATE TABLE decision_services (
    version_id TEXT NOT NULL REFERENCES decision_versions (id),
    service_type TEXT NOT NULL REFERENCES service_types (code),
    monthly_amount BIGINT NOT NULL CHECK (monthly_amount > 0),
    double_staffing BIGINT NOT NULL CHECK (double_staffing IN (0, 1)),
    PRIMARY KEY (version_id, service_type)
);

-- The provider per service group over time, as last handed over by the choice
-- module; decisions × these periods = assignments.
CREATE TABLE client_provider_periods (
    client_id TEXT NOT NULL REFERENCES clients (id),
    service_group TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    provider_id TEXT NOT NULL REFERENCES providers (id),
    choice_id TEXT,
    PRIMARY KEY (client_id, service_group, valid_from),
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);

-- An assignment row is one segment with fixed provider, service, decision and
-- amount; a change of amount ends it and starts the next. 'cancelled' rows
-- were withdrawn before they applied and must be ignored by every reader.
ALTER TABLE assignments ADD COLUMN decision_id TEXT REFERENCES decisions (id);
ALTER TABLE assignments ADD COLUMN choice_id TEXT;
ALTER TABLE assignments ADD COLUMN double_staffing BIGINT NOT NULL DEFAULT 0 CHECK (double_staffing IN (0, 1));
ALTER TABLE assignments ADD COLUMN status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'acknowledged', 'cancelled'));
ALTER TABLE assignments ADD COLUMN notice TEXT NOT NULL DEFAULT 'new' CHECK (notice IN ('new', 'changed', 'ended', 'cancelled'));
ALTER TABLE assignments ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
ALTER TABLE assignments ADD COLUMN acknowledged_at TEXT;
ALTER TABLE assignments ADD COLUMN acknowledged_by TEXT REFERENCES users (id);
ALTER TABLE assignments ADD COLUMN end_reason TEXT;
ALTER TABLE assignments ADD COLUMN previous_id TEXT;
ALTER TABLE assignments ADD COLUMN updated_at TEXT;
CREATE INDEX assignments_decision ON assignments (decision_id);
CREATE INDEX assignments_inbox ON assignments (provider_id, status, updated_at);
