-- The foundation schema. Portable SQL that SQLite and PostgreSQL both run
-- unchanged: text ids, BIGINT integers (money in öre; 0/1 for booleans, which
-- the Any driver cannot map on SQLite), ISO-8601 text
-- dates (YYYY-MM-DD) and UTC timestamps (YYYY-MM-DDTHH:MM:SSZ).

-- One municipality per database.
CREATE TABLE municipality (
    id TEXT PRIMARY KEY CHECK (id = 'this'),
    country TEXT NOT NULL CHECK (country IN ('se', 'no')),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE zones (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE areas (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    zone TEXT NOT NULL REFERENCES zones (code)
);

-- A postcode belongs to exactly one area.
CREATE TABLE area_postcodes (
    postcode TEXT PRIMARY KEY,
    area_code TEXT NOT NULL REFERENCES areas (code)
);
CREATE INDEX area_postcodes_area ON area_postcodes (area_code);

CREATE TABLE service_types (
    code TEXT PRIMARY KEY,
    name_sv TEXT NOT NULL,
    name_en TEXT NOT NULL,
    service_group TEXT NOT NULL CHECK (service_group IN
        ('service', 'personal_care', 'health_care', 'escort', 'respite', 'meals', 'night_patrol', 'safety_alarm')),
    unit TEXT NOT NULL CHECK (unit IN ('hour', 'portion', 'visit', 'month')),
    basis TEXT NOT NULL CHECK (basis IN ('performed', 'granted', 'per_unit', 'per_month'))
);

CREATE TABLE choice_systems (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    legal_model TEXT NOT NULL CHECK (legal_model IN ('lov', 'lou_share')),
    default_rule TEXT NOT NULL CHECK (default_rule IN ('municipal', 'rotation', 'lou_share')),
    created_at TEXT NOT NULL
);

-- The published conditions (förfrågningsunderlag) of a choice system. A change
-- is a new version from a date; versions are never updated.
CREATE TABLE choice_system_versions (
    choice_system_id TEXT NOT NULL REFERENCES choice_systems (id),
    valid_from TEXT NOT NULL,
    notice_days BIGINT NOT NULL CHECK (notice_days >= 0),
    requirements TEXT NOT NULL,          -- JSON array of {code, text}
    tolerance_permille BIGINT NOT NULL CHECK (tolerance_permille >= 0),
    late_cancel_hours BIGINT NOT NULL CHECK (late_cancel_hours >= 0),
    late_cancel_factor_permille BIGINT NOT NULL CHECK (late_cancel_factor_permille >= 0),
    vat_compensation_basis_points BIGINT NOT NULL CHECK (vat_compensation_basis_points >= 0),
    capacity_change_day BIGINT NOT NULL CHECK (capacity_change_day BETWEEN 1 AND 28),
    published_at TEXT NOT NULL,
    published_by TEXT NOT NULL,
    PRIMARY KEY (choice_system_id, valid_from)
);

CREATE TABLE choice_system_services (
    choice_system_id TEXT NOT NULL REFERENCES choice_systems (id),
    service_type TEXT NOT NULL REFERENCES service_types (code),
    PRIMARY KEY (choice_system_id, service_type)
);
-- A service type is offered under at most one choice system.
CREATE UNIQUE INDEX choice_system_services_one_system ON choice_system_services (service_type);

CREATE TABLE choice_system_areas (
    choice_system_id TEXT NOT NULL REFERENCES choice_systems (id),
    area_code TEXT NOT NULL REFERENCES areas (code),
    PRIMARY KEY (choice_system_id, area_code)
);

-- Rates: one row per version, never updated. A rate is valid from its date
-- until the next version for the same service type, zone and time class.
CREATE TABLE rates (
    service_type TEXT NOT NULL REFERENCES service_types (code),
    zone TEXT NOT NULL REFERENCES zones (code),
    time_class TEXT NOT NULL CHECK (time_class IN ('day', 'evening', 'night', 'weekend', 'unit', 'month')),
    valid_from TEXT NOT NULL,
    amount_ore BIGINT NOT NULL CHECK (amount_ore >= 0),
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (service_type, zone, time_class, valid_from)
);

CREATE TABLE providers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    org_nr TEXT NOT NULL UNIQUE,
    ownership TEXT NOT NULL CHECK (ownership IN ('municipal', 'private', 'nonprofit')),
    owner_name TEXT NOT NULL,
    description TEXT NOT NULL,
    languages TEXT NOT NULL,             -- comma-separated ISO 639-1 codes
    specialities TEXT NOT NULL,          -- comma-separated codes
    phone TEXT NOT NULL,
    email TEXT NOT NULL,
    website TEXT NOT NULL,
    vat_compensation BIGINT NOT NULL CHECK (vat_compensation IN (0, 1)),
    created_at TEXT NOT NULL
);

CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    postcode TEXT NOT NULL,
    area_code TEXT NOT NULL REFERENCES areas (code),
    preferred_language TEXT NOT NULL,
    protected_identity BIGINT NOT NULL CHECK (protected_identity IN (0, 1)),
    representative TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX clients_area ON clients (area_code);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'case_officer', 'provider', 'citizen')),
    provider_id TEXT REFERENCES providers (id),
    client_id TEXT REFERENCES clients (id),
    created_at TEXT NOT NULL,
    CHECK ((role = 'provider') = (provider_id IS NOT NULL)),
    CHECK ((role = 'citizen') = (client_id IS NOT NULL))
);

-- Only a hash of the token is stored, so a copy of the database signs no one in.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('web', 'api')),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Append-only (the server adds triggers that refuse UPDATE and DELETE).
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,                 -- UUIDv7: sorts by time
    at TEXT NOT NULL,
    actor_user_id TEXT,
    actor_username TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    action TEXT NOT NULL,
    client_id TEXT,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_client ON audit_log (client_id, id);
CREATE INDEX audit_log_actor ON audit_log (actor_user_id, id);

-- Assignments tie a client to a provider for a service; here so that access
-- rules ("a provider sees only its own clients") have one source of truth.
CREATE TABLE assignments (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id),
    provider_id TEXT NOT NULL REFERENCES providers (id),
    service_type TEXT NOT NULL REFERENCES service_types (code),
    start_date TEXT NOT NULL,
    end_date TEXT,                       -- inclusive; NULL = open-ended
    -- Granted amount per month that this assignment carries: minutes for
    -- time-based services, portions/units for per-unit ones. Capacity
    -- ceilings and the LOU share rule sum it.
    monthly_amount BIGINT NOT NULL DEFAULT 0 CHECK (monthly_amount >= 0),
    created_at TEXT NOT NULL,
    CHECK (end_date IS NULL OR end_date >= start_date)
);
CREATE INDEX assignments_provider ON assignments (provider_id, client_id);
CREATE INDEX assignments_client ON assignments (client_id);
