-- The successor each refresh token was exchanged for, so a retry within the grace window can
-- replace that successor instead of revoking the family.
ALTER TABLE refresh_tokens ADD COLUMN replaced_by BYTEA;

-- Failed sign-ins per (account, client address). The account is the SHA-256 of tenant and the
-- username as typed (people type passwords into the username field; those are not kept), and
-- unknown accounts are counted exactly like known ones, so locks reveal nothing.
CREATE TABLE login_failures (
    account_hash     BYTEA NOT NULL,
    address          TEXT NOT NULL,
    failures         BIGINT NOT NULL,
    last_failure_at  BIGINT NOT NULL,
    locked_until     BIGINT NOT NULL,
    PRIMARY KEY (account_hash, address)
);

CREATE INDEX login_failures_address ON login_failures (address, last_failure_at);
CREATE INDEX login_failures_recent ON login_failures (last_failure_at);
