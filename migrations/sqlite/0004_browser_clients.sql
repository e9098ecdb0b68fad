-- Clients that sign people in: exact redirect URIs, public (secretless, PKCE-only) clients,
-- and first-party clients that skip the consent page. Flags are INTEGER 0/1 (see STYLE.md).
ALTER TABLE clients ADD COLUMN is_public BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN skip_consent BIGINT NOT NULL DEFAULT 0;

CREATE TABLE client_redirect_uris (
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('login', 'logout')),
    uri        TEXT NOT NULL,
    PRIMARY KEY (client_id, kind, uri)
);
