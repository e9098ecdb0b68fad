-- Revoked access tokens (RFC 7009), by jti, kept until the token would have expired anyway.
CREATE TABLE revoked_tokens (
    jti         TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    revoked_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);
