-- Admin console sign-in sessions, shared by every instance on this database. Only a hash of
-- the session token is stored: a copy of the table signs nobody in.
CREATE TABLE console_sessions (
    token_hash    TEXT PRIMARY KEY,
    actor         TEXT NOT NULL,
    created_at    DOUBLE PRECISION NOT NULL,
    last_seen_at  DOUBLE PRECISION NOT NULL,
    expires_at    DOUBLE PRECISION NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions(expires_at);
