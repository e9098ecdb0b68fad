-- The audit trail: security events, newest by `at`. The integer id only orders events of the same
-- second. Never a password, secret or token in any column; `detail` is short fixed text.
-- `tenant` is the slug, not a reference, so the trail outlives what it describes.
-- `count` > 1 is a batch of identical token issuances, recorded once per flush.

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          BIGINT NOT NULL,
    event       TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    tenant      TEXT,
    actor       TEXT,
    client_id   TEXT,
    ip          TEXT,
    detail      TEXT,
    count       BIGINT NOT NULL DEFAULT 1
);

CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_tenant_at ON audit_events (tenant, at);
