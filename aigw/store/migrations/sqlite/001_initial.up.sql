-- Organisations, users, API keys, usage records and the admin audit log.
-- Times are UNIX seconds (REAL); lists and maps are JSON text.
CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    budget      TEXT,
    created_at  REAL NOT NULL
);

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    email       TEXT,
    role        TEXT NOT NULL DEFAULT 'member',
    created_at  REAL NOT NULL
);
CREATE INDEX users_org ON users(org_id);

CREATE TABLE api_keys (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs(id),
    user_id          TEXT REFERENCES users(id),
    name             TEXT NOT NULL DEFAULT '',
    prefix           TEXT NOT NULL,
    key_hash         TEXT NOT NULL UNIQUE,
    scopes           TEXT NOT NULL DEFAULT '[]',
    models           TEXT,
    limits           TEXT NOT NULL DEFAULT '{}',
    budget           TEXT,
    priority         INTEGER NOT NULL DEFAULT 0,
    may_set_priority INTEGER NOT NULL DEFAULT 0,
    cache_enabled    INTEGER NOT NULL DEFAULT 1,
    expires_at       REAL,
    created_at       REAL NOT NULL,
    last_used_at     REAL,
    revoked_at       REAL,
    replaced_by      TEXT
);
CREATE INDEX api_keys_org ON api_keys(org_id);
CREATE INDEX api_keys_prefix ON api_keys(prefix);

CREATE TABLE usage_records (
    id                TEXT PRIMARY KEY,
    request_id        TEXT NOT NULL,
    ts                REAL NOT NULL,
    org_id            TEXT NOT NULL,
    user_id           TEXT,
    key_id            TEXT,
    endpoint          TEXT NOT NULL DEFAULT 'chat',
    model             TEXT NOT NULL,
    provider          TEXT,
    deployment        TEXT,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens     INTEGER NOT NULL DEFAULT 0,
    cost_usd          REAL NOT NULL DEFAULT 0,
    saved_usd         REAL NOT NULL DEFAULT 0,
    latency_ms        REAL NOT NULL DEFAULT 0,
    cache             TEXT,
    status            INTEGER NOT NULL
);
CREATE INDEX usage_org_ts ON usage_records(org_id, ts);
CREATE INDEX usage_key_ts ON usage_records(key_id, ts);
CREATE INDEX usage_request ON usage_records(request_id);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    ts      REAL NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT,
    detail  TEXT
);
