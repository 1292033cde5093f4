-- Tessera catalog schema, version 2: the audit log.
--
-- Portable SQL for SQLite and PostgreSQL, encoded as in 0001 (times as fixed-width
-- RFC 3339 UTC text, JSON as compact text, enums as their lowercase names).
--
-- The log is append-only and hash-chained: each record carries the hash of the one
-- before (prev_hash; 64 '0's for record 1) and its own hash, an HMAC-SHA256 under a key
-- the database never sees (see src/audit.rs). Editing a record breaks its hash, deleting
-- one breaks the sequence, and audit_head (written in the same transaction as every
-- append) says where the log must end, so deleting the newest records shows too.

CREATE TABLE audit (
    seq       BIGINT NOT NULL PRIMARY KEY,  -- 1, 2, 3, ... with no gaps
    at        TEXT NOT NULL,
    principal TEXT NOT NULL,
    purpose   TEXT,
    interface TEXT NOT NULL,                -- cli, http, pg, flight, sharing
    action    TEXT NOT NULL,                -- query, publish, erase, approve_access, ...
    statement TEXT,
    resources TEXT NOT NULL,                -- JSON, e.g. [{"table":"crm.customers",...}]
    row_count BIGINT,
    outcome   TEXT NOT NULL,                -- ok, denied, error
    error     TEXT,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
-- Filters read newest first (by seq), so each index ends in seq.
CREATE INDEX audit_by_principal ON audit (principal, seq);
CREATE INDEX audit_by_purpose ON audit (purpose, seq);
CREATE INDEX audit_by_action ON audit (action, seq);
CREATE INDEX audit_by_outcome ON audit (outcome, seq);
CREATE INDEX audit_by_time ON audit (at, seq);

-- The tables each record names (the "table" values of its resources), so that a filter
-- by table is an exact, indexed match on both databases without JSON functions (which
-- differ between them). Derived from `resources` on append; verify_audit checks that it
-- still agrees with the records.
CREATE TABLE audit_resources (
    resource TEXT NOT NULL,
    seq      BIGINT NOT NULL REFERENCES audit (seq),
    PRIMARY KEY (resource, seq)
);
CREATE INDEX audit_resources_by_seq ON audit_resources (seq);

-- Where the log ends: the newest record's seq and hash (0 and 64 '0's while it is empty).
-- Exactly one row (id = 1), locked and updated by every append.
CREATE TABLE audit_head (
    id   BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
