-- Tessera catalog schema, version 1.
--
-- One file for SQLite and PostgreSQL alike, so only portable SQL: TEXT, BIGINT, BOOLEAN,
-- DOUBLE PRECISION; no AUTOINCREMENT/SERIAL, no JSON or timestamp types.
--   times: TEXT, RFC 3339 in UTC with nine fractional digits
--          ('2025-05-01T09:30:00.123456789Z'), so text order is time order and a
--          DateTime<Utc> round-trips exactly;
--   JSON:  TEXT (compact serde_json);
--   enums: TEXT, the lowercase names (RunKind::as_str, RunStatus::as_str).
-- Column names avoid words either database reserves (`rows` -> row_count,
-- `column` -> column_name).

-- The data products of the mesh, as last synchronised.
CREATE TABLE products (
    domain          TEXT NOT NULL,
    product         TEXT NOT NULL,
    status          TEXT NOT NULL,
    description     TEXT,
    descriptor_yaml TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (domain, product)
);

-- Output ports: where each one is stored, under which contract.
-- No foreign key to products: the two are synchronised from the mesh in either order.
CREATE TABLE ports (
    domain           TEXT NOT NULL,
    product          TEXT NOT NULL,
    port             TEXT NOT NULL,
    contract_id      TEXT NOT NULL,
    contract_version TEXT NOT NULL,
    table_uri        TEXT NOT NULL,
    write_mode       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (domain, product, port)
);

-- Every contract document ever seen: one row per (id, version, content), never updated.
CREATE TABLE contracts (
    contract_id   TEXT NOT NULL,
    version       TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    document_yaml TEXT NOT NULL,
    recorded_at   TEXT NOT NULL,
    PRIMARY KEY (contract_id, version, content_hash)
);
CREATE INDEX contracts_by_time ON contracts (contract_id, recorded_at);

-- Build, test and publish runs. `checks_recorded` counts the run's checks and hands out
-- their sequence numbers (see record_checks).
CREATE TABLE runs (
    id              TEXT NOT NULL PRIMARY KEY,
    kind            TEXT NOT NULL,
    domain          TEXT NOT NULL,
    product         TEXT NOT NULL,
    status          TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    duration_ms     BIGINT,
    row_count       BIGINT,
    error           TEXT,
    content_hash    TEXT,
    host            TEXT NOT NULL,
    pid             BIGINT NOT NULL,
    summary         TEXT NOT NULL,
    checks_recorded BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_product ON runs (domain, product, started_at);
CREATE INDEX runs_by_time ON runs (started_at);

-- The contract checks of a run, in the order they were recorded (seq = 0, 1, 2, ...).
CREATE TABLE checks (
    run_id      TEXT NOT NULL REFERENCES runs (id),
    seq         BIGINT NOT NULL,
    port        TEXT NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    column_name TEXT,
    severity    TEXT NOT NULL,
    passed      BOOLEAN NOT NULL,
    measured    DOUBLE PRECISION,
    expected    TEXT NOT NULL,
    failed_rows BIGINT,
    samples     TEXT NOT NULL,
    message     TEXT,
    PRIMARY KEY (run_id, seq)
);

-- The Delta versions of each port, and the run that committed each.
-- No foreign key to runs: versions are also recovered from Delta logs whose run this
-- catalog never saw (the engine reconciles the catalog with the logs on start).
CREATE TABLE versions (
    domain           TEXT NOT NULL,
    product          TEXT NOT NULL,
    port             TEXT NOT NULL,
    version          BIGINT NOT NULL,
    run_id           TEXT NOT NULL,
    row_count        BIGINT NOT NULL,
    content_hash     TEXT NOT NULL,
    contract_version TEXT NOT NULL,
    committed_at     TEXT NOT NULL,
    PRIMARY KEY (domain, product, port, version)
);
