-- A private_key_jwt client may publish its keys itself: Castellan fetches them from this URL
-- (https, guarded against private addresses) instead of holding them.
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
