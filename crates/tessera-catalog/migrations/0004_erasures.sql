-- Tessera catalog schema, version 4: erasures of data subjects, and the erasure register.
--
-- Portable SQL for SQLite and PostgreSQL, encoded as in 0001 (times as fixed-width
-- RFC 3339 UTC text, JSON as compact text).
--
-- A subject is never stored in clear: `key_hash` is the hex HMAC-SHA256 of the subject's
-- kind and key under a key derived from the mesh secret (the caller computes it). The
-- register is what every build applies to its inputs, so a rebuild from old sources cannot
-- bring an erased subject back; a register entry is never deleted.
--
-- An erasure records its plan (the ports, in lineage order) when it starts, and its
-- progress after each port, so a process killed in the middle is rolled forward by the
-- next `tessera erase`; `report` is the final account.

CREATE TABLE erasures (
    id           TEXT NOT NULL PRIMARY KEY,   -- a UUID v7
    subject_kind TEXT NOT NULL,               -- tesseraSubjectKey kind, e.g. customer
    key_hash     TEXT NOT NULL,               -- hex HMAC of kind + key; never the key itself
    status       TEXT NOT NULL,               -- running, completed, failed
    principal    TEXT NOT NULL,
    reason       TEXT,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    host         TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    plan         TEXT NOT NULL,               -- JSON: the ports to erase from, in order
    progress     TEXT NOT NULL,               -- JSON: what was done per port so far
    report       TEXT                         -- JSON: the final report
);
CREATE INDEX erasures_by_subject ON erasures (subject_kind, key_hash, started_at);

CREATE TABLE erasure_register (
    subject_kind TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    erasure_id   TEXT NOT NULL,               -- the first erasure of this subject
    recorded_at  TEXT NOT NULL,
    PRIMARY KEY (subject_kind, key_hash)
);
