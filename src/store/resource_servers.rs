//! Resource servers: the clients that may introspect an API's tokens, within their own tenant.

use sqlx::{Any, Transaction};

use super::apis::{api_serving, serves_tenant_2};
use super::clients::{ClientRecord, load_by_row, no_such_client};
use super::{Error, Result, Store, bump_generation};
use crate::protocol::{ApiIdentifier, ClientId, TenantSlug};

impl Store {
    /// Makes the client resource server of the `add` APIs, and no longer of the `remove` ones.
    pub async fn update_resource_servers(
        &self,
        client_id: &ClientId,
        add: &[ApiIdentifier],
        remove: &[ApiIdentifier],
        now: i64,
    ) -> Result<ClientRecord> {
        let mut tx = self.begin_write().await?;
        let row: Option<(String, String, String, i64)> = sqlx::query_as(
            "SELECT c.id, c.tenant_id, t.slug, c.is_public FROM clients c \
             JOIN tenants t ON t.id = c.tenant_id WHERE c.client_id = $1",
        )
        .bind(client_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, tenant_row, slug, is_public)) = row else {
            return Err(no_such_client(client_id));
        };
        if is_public != 0 && !add.is_empty() {
            return Err(Error::Invalid(
                "a public client has no secret, so it cannot introspect as a resource server"
                    .into(),
            ));
        }
        let tenant = TenantSlug::parse(&slug)
            .map_err(|_| Error::internal(format!("client {client_id} has an invalid tenant")))?;
        for api in add {
            register_resource_server(&mut tx, &id, &tenant_row, &tenant, api).await?;
        }
        for api in remove {
            let api_row: Option<(String,)> =
                sqlx::query_as("SELECT id FROM apis WHERE identifier = $1")
                    .bind(api.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            let (api_row,) =
                api_row.ok_or_else(|| Error::NotFound(format!("API {api} does not exist")))?;
            sqlx::query("DELETE FROM api_resource_servers WHERE client_id = $1 AND api_id = $2")
                .bind(&id)
                .bind(&api_row)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE clients SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        bump_generation(&mut tx).await?;
        let record = load_by_row(&mut tx, &id).await?;
        tx.commit().await?;
        record.ok_or_else(|| Error::internal("client vanished while being updated"))
    }
}

/// Only for an API that serves the client's tenant, so registering cannot cross a boundary.
pub(crate) async fn register_resource_server(
    tx: &mut Transaction<'_, Any>,
    client_row: &str,
    tenant_row: &str,
    tenant: &TenantSlug,
    api: &ApiIdentifier,
) -> Result<()> {
    let api_row = api_serving(tx, tenant_row, tenant, api).await?;
    sqlx::query(
        "INSERT INTO api_resource_servers (api_id, client_id) VALUES ($1, $2) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&api_row)
    .bind(client_row)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The client's registrations: API identifier, and 1 if the API still serves the tenant.
pub(crate) async fn resource_server_rows(
    tx: &mut Transaction<'_, Any>,
    client_row: &str,
    tenant_row: &str,
) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(concat!(
        "SELECT a.identifier, CAST(CASE WHEN ",
        serves_tenant_2!(),
        " THEN 1 ELSE 0 END AS BIGINT) FROM api_resource_servers r \
         JOIN apis a ON a.id = r.api_id WHERE r.client_id = $1 ORDER BY a.identifier"
    ))
    .bind(client_row)
    .bind(tenant_row)
    .fetch_all(&mut **tx)
    .await?)
}
