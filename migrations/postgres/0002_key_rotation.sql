-- Rotation schedule: when a `next` key may start signing, and when a `retired` key leaves the JWKS.
ALTER TABLE signing_keys ADD COLUMN activate_after BIGINT;
ALTER TABLE signing_keys ADD COLUMN remove_after BIGINT;

-- At most one key waits to become active, so two nodes cannot both publish a successor.
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (state) WHERE state = 'next';
