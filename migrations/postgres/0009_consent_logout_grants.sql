-- Consent covers the API a token is for, not only scope names: one row per (user, client,
-- audience, scope), where the empty scope is the consent to the audience itself (the token then
-- carries the user's roles, permissions and tenant). Consents recorded before this had no
-- audience and are dropped: users are asked once more.
DROP TABLE consents;

CREATE TABLE consents (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    audience    TEXT NOT NULL,
    scope       TEXT NOT NULL,
    granted_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id, audience, scope)
);

-- `sid` is the session's public name in ID tokens (RP-Initiated Logout checks a hint against it);
-- `login_request_hash` is the SHA-256 of the authorization request a sign-in was made for, so
-- the consent step of that very request accepts it under prompt=login or max_age.
ALTER TABLE sessions ADD COLUMN sid TEXT;
ALTER TABLE sessions ADD COLUMN login_request_hash BYTEA;

-- The session that approved a code (for the ID token's sid), and whether the authorization
-- request named its redirect_uri (then the token request must repeat it, RFC 6749 §4.1.3).
ALTER TABLE authorization_codes ADD COLUMN sid TEXT;
ALTER TABLE authorization_codes ADD COLUMN redirect_uri_given BIGINT NOT NULL DEFAULT 1;

-- A refresh token's successor is derived from the token and this salt, so a retry inside the
-- grace window is answered with the same successor rather than a new one.
-- The session a refresh token's sign-in came from, for the `sid` of ID tokens issued on refresh.
ALTER TABLE refresh_tokens ADD COLUMN sid TEXT;
ALTER TABLE refresh_tokens ADD COLUMN successor_salt BYTEA;

-- Access tokens issued to a user's grant, so revoking the grant (a replayed code, a reused or
-- revoked refresh token) revokes them too.
CREATE TABLE grant_access_tokens (
    jti         TEXT PRIMARY KEY,
    family      TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE INDEX grant_access_tokens_family ON grant_access_tokens (family);
CREATE INDEX grant_access_tokens_expiry ON grant_access_tokens (expires_at);

-- The scheduled purge finds dead rows by these.
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);
CREATE INDEX refresh_tokens_idle_expiry ON refresh_tokens (idle_expires_at);
CREATE INDEX sessions_expiry ON sessions (expires_at);
