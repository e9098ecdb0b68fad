-- Tenants, roles, APIs, clients and signing keys. Times are UTC unix seconds; ids are uuid v7 text.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE roles (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE role_permissions (
    role_id     TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission  TEXT NOT NULL,
    PRIMARY KEY (role_id, permission)
);

CREATE TABLE apis (
    id          TEXT PRIMARY KEY,
    identifier  TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_scopes (
    api_id      TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    PRIMARY KEY (api_id, scope)
);

CREATE TABLE clients (
    id           TEXT PRIMARY KEY,
    client_id    TEXT NOT NULL UNIQUE,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    name         TEXT NOT NULL,
    secret_hash  BLOB,
    token_ttl    BIGINT,
    disabled_at  BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE client_grant_types (
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    grant_type  TEXT NOT NULL,
    PRIMARY KEY (client_id, grant_type)
);

CREATE TABLE client_apis (
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    api_id      TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    PRIMARY KEY (client_id, api_id)
);

CREATE TABLE client_api_scopes (
    client_id   TEXT NOT NULL,
    api_id      TEXT NOT NULL,
    scope       TEXT NOT NULL,
    PRIMARY KEY (client_id, api_id, scope),
    FOREIGN KEY (client_id, api_id) REFERENCES client_apis (client_id, api_id) ON DELETE CASCADE,
    FOREIGN KEY (api_id, scope) REFERENCES api_scopes (api_id, scope) ON DELETE CASCADE
);

CREATE TABLE client_roles (
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    role_id     TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (client_id, role_id)
);

-- Private keys are AES-256-GCM sealed under the key-encryption key, bound to their kid.
CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    state         TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
    bits          BIGINT NOT NULL,
    private_key   BLOB NOT NULL,
    created_at    BIGINT NOT NULL,
    activated_at  BIGINT,
    retired_at    BIGINT
);

CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state) WHERE state = 'active';

-- Bumped by every change that a running server caches, so every node notices within seconds.
CREATE TABLE generation (
    id     BIGINT PRIMARY KEY CHECK (id = 1),
    value  BIGINT NOT NULL
);

INSERT INTO generation (id, value) VALUES (1, 0);
