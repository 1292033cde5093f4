-- Tessera catalog schema, version 6: SLA monitoring history and webhook deliveries.
--
-- Portable SQL for SQLite and PostgreSQL, encoded as in 0001 (times as fixed-width
-- RFC 3339 UTC text, JSON as compact text).
--
-- Each evaluation of a port's SLAs (tessera serve, every monitoring.evaluate_every) adds
-- one row per SLA; the newest row of each (port, property, element) is the state the next
-- evaluation compares with to find breaches and recoveries. `probe_ok` is whether the
-- monitor could read the port then: availability is the share of good probes.

CREATE TABLE sla_evaluations (
    port         TEXT NOT NULL,               -- domain.port
    property     TEXT NOT NULL,               -- latency, frequency, availability, retention, timeOfAvailability, quality
    element      TEXT NOT NULL,               -- the contract's element, '' when none
    evaluated_at TEXT NOT NULL,
    state        TEXT NOT NULL,               -- green, amber, red, unknown
    measured     DOUBLE PRECISION,            -- seconds for times, percent for shares
    target       TEXT NOT NULL,               -- the promise as written: 8 h, 99.5%
    detail       TEXT NOT NULL,
    probe_ok     BOOLEAN NOT NULL,
    PRIMARY KEY (port, property, element, evaluated_at)
);
CREATE INDEX sla_evaluations_by_time ON sla_evaluations (evaluated_at);

-- One row per webhook delivery (all its attempts). The URL is stored without its query,
-- user or password.
CREATE TABLE webhook_deliveries (
    id           TEXT NOT NULL PRIMARY KEY,   -- a UUID v7; the Tessera-Delivery header
    url          TEXT NOT NULL,
    event        TEXT NOT NULL,               -- breach, recovery
    port         TEXT NOT NULL,
    property     TEXT NOT NULL,
    attempts     BIGINT NOT NULL,
    delivered    BOOLEAN NOT NULL,
    status       BIGINT,                      -- the last HTTP status, if any answer came
    error        TEXT,                        -- the last error, if not delivered
    created_at   TEXT NOT NULL,
    finished_at  TEXT NOT NULL,
    payload      TEXT NOT NULL                -- the JSON body sent
);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (created_at);
