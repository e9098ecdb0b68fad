-- Clients that authenticate with a key instead of a secret (RFC 7523 private_key_jwt): their
-- public keys, several at once so that a key can be rotated with overlap.
ALTER TABLE clients ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'client_secret';

CREATE TABLE client_keys (
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    kid         TEXT NOT NULL,
    jwk         TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (client_id, kid)
);

-- The jti of every client assertion accepted, until it has expired: each is accepted once,
-- on every node (one insert that conflicts on a replay).
-- `assertion` is the assertion's issuer and jti, joined by a newline.
CREATE TABLE client_assertion_jtis (
    assertion   TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);

CREATE INDEX client_assertion_jtis_expiry ON client_assertion_jtis (expires_at);
