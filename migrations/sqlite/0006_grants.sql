-- Browser sign-in state. Every opaque value handed out (session ids, codes, refresh tokens) is
-- stored only as its SHA-256, so a copy of the database mints nothing.

CREATE TABLE sessions (
    id_hash     BLOB PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time   BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    ended_at    BIGINT
);

CREATE TABLE consents (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    granted_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id, scope)
);

-- A grant family ties a code to every token issued from it, so a replay can revoke them all.
CREATE TABLE authorization_codes (
    code_hash       BLOB PRIMARY KEY,
    family          TEXT NOT NULL,
    client_id       TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri    TEXT NOT NULL,
    scope           TEXT NOT NULL,
    audience        TEXT NOT NULL,
    nonce           TEXT,
    code_challenge  TEXT NOT NULL,
    auth_time       BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT
);

CREATE TABLE refresh_tokens (
    token_hash       BLOB PRIMARY KEY,
    family           TEXT NOT NULL,
    client_id        TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope            TEXT NOT NULL,
    audience         TEXT NOT NULL,
    auth_time        BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    idle_expires_at  BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    used_at          BIGINT,
    revoked_at       BIGINT
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family);

-- Families revoked after a replay; checked when a token of the family is presented.
CREATE TABLE revoked_families (
    family      TEXT PRIMARY KEY,
    revoked_at  BIGINT NOT NULL,
    reason      TEXT NOT NULL
);
