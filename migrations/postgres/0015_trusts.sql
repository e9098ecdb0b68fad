-- Federated workload identity: external issuers a tenant trusts (a Kubernetes cluster, a SPIFFE
-- trust domain, a CI system), and the clients that accept one external subject of them.
CREATE TABLE trusts (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    -- 'jwks' (the static set below), 'jwks_uri' or 'discovery'.
    key_source    TEXT NOT NULL,
    jwks          TEXT,
    jwks_uri      TEXT,
    -- NULL: Castellan's own issuer identifier.
    audience      TEXT,
    max_lifetime  BIGINT NOT NULL,
    reusable_jti  BIGINT NOT NULL DEFAULT 0,
    spiffe        BIGINT NOT NULL DEFAULT 0,
    -- A JSON object: claims every token of this trust must carry with these values.
    claims        TEXT NOT NULL DEFAULT '{}',
    created_at    BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE client_trust_links (
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    trust_id   TEXT NOT NULL REFERENCES trusts (id) ON DELETE CASCADE,
    subject    TEXT NOT NULL,
    -- Further claim conditions of this link (a CI token's repository and branch, say).
    claims     TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (client_id, trust_id)
);

CREATE INDEX client_trust_links_trust ON client_trust_links (trust_id);
