-- Signing algorithms beside RS256: every key has one, and the one-active and one-next rules
-- hold per algorithm. Keys from before this migration are RS256.
ALTER TABLE signing_keys ADD COLUMN alg TEXT NOT NULL DEFAULT 'RS256'
    CHECK (alg IN ('RS256', 'PS256', 'ES256', 'EdDSA'));

DROP INDEX signing_keys_one_active;
DROP INDEX signing_keys_one_next;
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE state = 'active';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (alg) WHERE state = 'next';

-- The algorithm an API's access tokens are signed with, and a client's ID tokens; NULL is RS256.
ALTER TABLE apis ADD COLUMN access_token_signing_alg TEXT
    CHECK (access_token_signing_alg IN ('RS256', 'PS256', 'ES256', 'EdDSA'));
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT
    CHECK (id_token_signed_response_alg IN ('RS256', 'PS256', 'ES256', 'EdDSA'));
