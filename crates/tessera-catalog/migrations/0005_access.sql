-- Tessera catalog schema, version 5: access requests, and the grants they become.
--
-- Portable SQL for SQLite and PostgreSQL, encoded as in 0001 (times as fixed-width
-- RFC 3339 UTC text).
--
-- A consumer (principal) asks for one port (`domain.port`) for one purpose, with a
-- justification; the request is `requested` until an owner decides it: `approved`
-- (optionally until expires_at: then it is a grant), or `denied` (with a reason); the
-- requester may withdraw a request nobody has decided yet (`withdrawn`). A decision is
-- final: a row leaves `requested` once; the only later change is an approved grant
-- taken back (`revoked`, with revoked_by/revoked_at, the approval kept). Rows are never
-- deleted, so the table is the history of who asked for what and who said yes or no.
--
-- A grant is an `approved` row whose expires_at is NULL or later than now; the engine
-- reads a principal's grants for each governed session and statement.

CREATE TABLE access_requests (
    id            TEXT NOT NULL PRIMARY KEY,   -- a UUID v7
    principal     TEXT NOT NULL,               -- who asks (and who is granted)
    port          TEXT NOT NULL,               -- domain.port
    purpose       TEXT NOT NULL,
    justification TEXT NOT NULL,
    status        TEXT NOT NULL,               -- requested, approved, denied, withdrawn, revoked
    created_at    TEXT NOT NULL,
    decided_by    TEXT,                        -- the principal who approved, denied or withdrew it
    decided_at    TEXT,
    reason        TEXT,                        -- why (required to deny, optional otherwise)
    expires_at    TEXT,                        -- an approval's end; NULL = until revoked
    revoked_by    TEXT,
    revoked_at    TEXT
);
-- One principal's requests and grants (read per governed session).
CREATE INDEX access_requests_by_principal ON access_requests (principal, status, created_at);
-- Requests for a port (what its owners see).
CREATE INDEX access_requests_by_port ON access_requests (port, status, created_at);
-- At most one open request per principal, port and purpose.
CREATE UNIQUE INDEX access_requests_one_open
    ON access_requests (principal, port, purpose) WHERE status = 'requested';
