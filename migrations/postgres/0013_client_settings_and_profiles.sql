-- Client names are unique per tenant, so an audit row or a list names one client. Earlier
-- duplicates keep their name with their client_id appended.
UPDATE clients SET name = name || ' (' || client_id || ')'
 WHERE EXISTS (SELECT 1 FROM clients other
                WHERE other.tenant_id = clients.tenant_id AND other.name = clients.name
                  AND other.id < clients.id);
CREATE UNIQUE INDEX clients_tenant_name ON clients (tenant_id, name);

-- PKCE is required unless an operator makes it optional for a confidential client.
ALTER TABLE clients ADD COLUMN pkce_required BIGINT NOT NULL DEFAULT 1;

-- OpenID Connect standard claims (profile and email scopes).
ALTER TABLE users ADD COLUMN given_name TEXT;
ALTER TABLE users ADD COLUMN family_name TEXT;
ALTER TABLE users ADD COLUMN email_verified BIGINT NOT NULL DEFAULT 0;
