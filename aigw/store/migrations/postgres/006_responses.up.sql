-- The Responses API's conversation state (POST /v1/responses with store: true): each
-- response with this turn's input items, kept per organisation until expires_at, so
-- previous_response_id works with every provider and survives a failover.
CREATE TABLE responses (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    previous_id  TEXT,
    created_at   DOUBLE PRECISION NOT NULL,
    expires_at   DOUBLE PRECISION NOT NULL,
    input        TEXT NOT NULL,   -- JSON: this turn's input items
    response     TEXT NOT NULL    -- JSON: the response object as the client got it
);
CREATE INDEX responses_expires ON responses(expires_at);
