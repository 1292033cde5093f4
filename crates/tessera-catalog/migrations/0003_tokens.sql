-- Tessera catalog schema, version 3: API tokens.
--
-- Portable SQL for SQLite and PostgreSQL, encoded as in 0001 (times as fixed-width
-- RFC 3339 UTC text, JSON as compact text).
--
-- A token is a secret the caller shows once and never stores; the catalog keeps only its
-- hex SHA-256 (hash), which is how a presented token is looked up. The id is public: it
-- names the token in lists and is what revocation takes. A token is never deleted:
-- revoking it sets revoked_at, so the list keeps who held what, and when.

CREATE TABLE tokens (
    id           TEXT NOT NULL PRIMARY KEY,   -- "tok_" + 12 lowercase hex, shown in lists, used to revoke
    hash         TEXT NOT NULL UNIQUE,        -- hex SHA-256 of the secret token; the token itself is never stored
    principal    TEXT NOT NULL,
    purposes     TEXT NOT NULL,               -- JSON array of purpose names; [] = any purpose the principal may use
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT,
    note         TEXT
);
-- One principal's tokens, newest first.
CREATE INDEX tokens_by_principal ON tokens (principal, created_at);
