-- Budgets shared by every worker and instance on this database: what each key/org has spent
-- per period (seeded from usage_records, then kept by settlement) and the open reservations
-- (holds) of requests in flight. A hold expires by itself, so a crash never leaks budget.
CREATE TABLE budget_ledger (
    lkey          TEXT PRIMARY KEY,            -- "<column>:<subject>:<period start>"
    spent_usd     REAL NOT NULL DEFAULT 0,
    spent_tokens  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE budget_holds (
    id          TEXT NOT NULL,
    lkey        TEXT NOT NULL,
    usd         REAL NOT NULL,
    tokens      INTEGER NOT NULL,
    expires_at  REAL NOT NULL,
    PRIMARY KEY (id, lkey)
);
CREATE INDEX budget_holds_lkey ON budget_holds(lkey, expires_at);
