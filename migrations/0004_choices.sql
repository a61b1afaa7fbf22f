-- 0004_choices: the choice itself. Owner: the choices module (src/choices/).
-- Who a client has chosen (or was given by default) per service group, with
-- the full history; the rotation pointer and LOU target shares the default
-- rules use; and the re-choice tasks case officers work through.

-- One row per choice or default assignment; never deleted. The rows of one
-- client and service group that are not cancelled form a timeline without
-- gaps or overlaps: each ends (valid_to, inclusive) the day before the next
-- starts. A row replaced before it took effect is cancelled instead.
CREATE TABLE choices (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id),
    service_group TEXT NOT NULL CHECK (service_group IN
        ('service', 'personal_care', 'health_care', 'escort', 'respite', 'meals', 'night_patrol', 'safety_alarm')),
    provider_id TEXT NOT NULL REFERENCES providers (id),
    choice_system_id TEXT REFERENCES choice_systems (id),
    kind TEXT NOT NULL CHECK (kind IN ('chosen', 'default')),
    reason TEXT NOT NULL CHECK (reason IN ('choice', 'switch', 'no_choice', 'hand_over', 'recorded')),
    default_rule TEXT CHECK (default_rule IS NULL OR default_rule IN ('municipal', 'rotation', 'lou_share')),
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    status TEXT NOT NULL CHECK (status IN ('active', 'cancelled')),
    replaces_id TEXT REFERENCES choices (id),
    chosen_by_user_id TEXT REFERENCES users (id),
    chosen_by_username TEXT NOT NULL,
    chosen_by_role TEXT NOT NULL,
    -- 1 when a case officer (or admin) registered it for the client.
    on_behalf BIGINT NOT NULL CHECK (on_behalf IN (0, 1)),
    created_at TEXT NOT NULL,
    cancelled_at TEXT,
    CHECK (valid_to IS NULL OR valid_to >= valid_from),
    CHECK ((kind = 'default') = (default_rule IS NOT NULL))
);
CREATE INDEX choices_client ON choices (client_id, service_group, valid_from);
CREATE INDEX choices_provider ON choices (provider_id, status);

-- The head of each timeline. The primary key makes "one current choice per
-- client and group" a database fact; every change is a conditional UPDATE on
-- `version` (or an INSERT that loses on conflict), so two simultaneous
-- choices cannot both win.
CREATE TABLE current_choice (
    client_id TEXT NOT NULL REFERENCES clients (id),
    service_group TEXT NOT NULL,
    choice_id TEXT NOT NULL REFERENCES choices (id),
    version BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (client_id, service_group)
);

-- The rotation rule's pointer: the provider that got the last default in
-- this system, group and area. Advanced with a conditional UPDATE on `turns`.
CREATE TABLE default_rotation (
    choice_system_id TEXT NOT NULL REFERENCES choice_systems (id),
    service_group TEXT NOT NULL,
    area_code TEXT NOT NULL REFERENCES areas (code),
    last_provider_id TEXT REFERENCES providers (id),
    turns BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (choice_system_id, service_group, area_code)
);

-- Target shares of granted hours under a procured fixed-share model (LOU,
-- Borlänge), in per mille. Versioned like rates: a row is valid from its date
-- until the provider's next row; 0 ends a provider's share.
CREATE TABLE share_targets (
    choice_system_id TEXT NOT NULL REFERENCES choice_systems (id),
    provider_id TEXT NOT NULL REFERENCES providers (id),
    valid_from TEXT NOT NULL,
    share_permille BIGINT NOT NULL CHECK (share_permille BETWEEN 0 AND 1000),
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (choice_system_id, provider_id, valid_from)
);

-- Re-choice tasks for case officers: a provider leaves (terminated, or it
-- withdraws from an area or a service) and its clients must choose again.
CREATE TABLE choice_tasks (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id),
    service_group TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('provider_terminated', 'area_withdrawn', 'service_withdrawn')),
    from_provider_id TEXT NOT NULL REFERENCES providers (id),
    -- The default the client gets on due_date unless they choose before.
    default_choice_id TEXT REFERENCES choices (id),
    due_date TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'done')),
    -- NULL: any case officer may take it.
    assigned_to_user_id TEXT REFERENCES users (id),
    created_at TEXT NOT NULL,
    done_at TEXT,
    done_by TEXT,
    outcome TEXT,
    UNIQUE (client_id, service_group, from_provider_id, due_date)
);
CREATE INDEX choice_tasks_status ON choice_tasks (status, due_date);
CREATE INDEX choice_tasks_client ON choice_tasks (client_id);
