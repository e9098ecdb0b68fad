-- Tenant boundaries of APIs. With `all_tenants` = 1 (every API before this migration) an API
-- serves every tenant and has no owner. Otherwise it serves only its owner `tenant_id` and the
-- tenants in api_tenants; an API with neither serves no one, so narrowing never widens access.
ALTER TABLE apis ADD COLUMN tenant_id TEXT REFERENCES tenants (id);
ALTER TABLE apis ADD COLUMN all_tenants BIGINT NOT NULL DEFAULT 1;

CREATE TABLE api_tenants (
    api_id     TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    PRIMARY KEY (api_id, tenant_id)
);

-- Confidential clients that may introspect the API's tokens, those of their own tenant only.
CREATE TABLE api_resource_servers (
    api_id     TEXT NOT NULL REFERENCES apis (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    PRIMARY KEY (api_id, client_id)
);

CREATE INDEX api_resource_servers_client ON api_resource_servers (client_id);

-- The admin API reads every tenant's audit trail: it belongs to the operator's `default` tenant.
UPDATE apis SET all_tenants = 0, tenant_id = (SELECT id FROM tenants WHERE slug = 'default')
WHERE identifier = 'urn:castellan:admin' AND EXISTS (SELECT 1 FROM tenants WHERE slug = 'default');
