-- Files and batch jobs (OpenAI's Files and Batch APIs, run by the gateway itself).
-- Files live in the database, so every worker and instance reads the same bytes; a batch's
-- progress is kept line by line, so a restarted or killed gateway resumes where it stopped.
CREATE TABLE files (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL,
    purpose     TEXT NOT NULL,              -- batch (uploads) | batch_output (results)
    filename    TEXT NOT NULL,
    bytes       BIGINT NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL,
    expires_at  DOUBLE PRECISION,
    content     BYTEA NOT NULL
);
CREATE INDEX files_org ON files(org_id, id);

CREATE TABLE batches (
    id                 TEXT PRIMARY KEY,    -- sorts by creation time
    org_id             TEXT NOT NULL,
    key_id             TEXT,                -- the key every line runs as (NULL: see principal)
    principal          TEXT,                -- JSON: the creator when it was not an API key
    endpoint           TEXT NOT NULL,
    input_file_id      TEXT NOT NULL,
    completion_window  TEXT NOT NULL,
    status             TEXT NOT NULL,
    metadata           TEXT,
    errors             TEXT,                -- JSON list of {code, line, message, param}
    output_file_id     TEXT,
    error_file_id      TEXT,
    total              INTEGER NOT NULL DEFAULT 0,
    completed          INTEGER NOT NULL DEFAULT 0,   -- final counts (live ones are counted)
    failed             INTEGER NOT NULL DEFAULT 0,
    usage              TEXT,
    model              TEXT,
    lease_until        DOUBLE PRECISION,                -- validating/finalizing: taken by one worker
    created_at         DOUBLE PRECISION NOT NULL,
    expires_at         DOUBLE PRECISION NOT NULL,
    in_progress_at     DOUBLE PRECISION,
    finalizing_at      DOUBLE PRECISION,
    completed_at       DOUBLE PRECISION,
    failed_at          DOUBLE PRECISION,
    expired_at         DOUBLE PRECISION,
    cancelling_at      DOUBLE PRECISION,
    cancelled_at       DOUBLE PRECISION
);
CREATE INDEX batches_org ON batches(org_id, id);
CREATE INDEX batches_status ON batches(status, id);

-- A batch's lines while it runs; deleted when its result files are written.
CREATE TABLE batch_lines (
    batch_id          TEXT NOT NULL,
    line_no           INTEGER NOT NULL,     -- 1-based, as in the input file
    custom_id         TEXT NOT NULL,
    body              TEXT NOT NULL,        -- the request body (JSON)
    state             TEXT NOT NULL DEFAULT 'pending',  -- pending | running | done
    lease_until       DOUBLE PRECISION,                 -- running: the claim's end; pending: not before
    claim             TEXT,                 -- the worker holding it
    attempts          INTEGER NOT NULL DEFAULT 0,
    ok                INTEGER,              -- done: 1 output file, 0 error file
    request_id        TEXT,
    result            TEXT,                 -- done: {"response": ..., "error": ...} (JSON)
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens     INTEGER NOT NULL DEFAULT 0,
    finished_at       DOUBLE PRECISION,
    PRIMARY KEY (batch_id, line_no)
);
CREATE INDEX batch_lines_todo ON batch_lines(batch_id, state, line_no);
-- Lines in flight only (a handful): lease renewal by worker, and leases run out.
CREATE INDEX batch_lines_claims ON batch_lines(claim) WHERE state = 'running';
CREATE INDEX batch_lines_leases ON batch_lines(lease_until) WHERE state = 'running';

-- Usage of a batch's lines carries the batch's id (NULL: an interactive request).
ALTER TABLE usage_records ADD COLUMN batch_id TEXT;
