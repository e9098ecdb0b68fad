//! APIs (resource servers): their identifier is the `aud` of tokens issued for them; their
//! tenants bound which clients may be granted them and whose tokens their resource servers see.

use sqlx::{Any, Transaction};

use super::error::ResultExt;
use super::tenants::tenant_id;
use super::{Error, Result, Store, commit_change, new_id};
use crate::protocol::{ApiIdentifier, Scope, SigningAlg, TenantSlug};

/// SQL: does the API aliased `a` serve the tenant whose row id is bound as `$2`?
macro_rules! serves_tenant_2 {
    () => {
        "(a.all_tenants = 1 OR a.tenant_id = $2 OR EXISTS \
         (SELECT 1 FROM api_tenants x WHERE x.api_id = a.id AND x.tenant_id = $2))"
    };
}
pub(crate) use serves_tenant_2;

/// Which tenants an API serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenancy {
    /// Every tenant, present and future: what an API created without tenant options does.
    All,
    /// Its owner, if any, and the tenants it is shared with; no one else.
    Only {
        owner: Option<TenantSlug>,
        shared_with: Vec<TenantSlug>,
    },
}

/// `api update`: a new owner, tenants to add or remove, or back to every tenant.
#[derive(Debug, Default)]
pub struct TenancyChange {
    pub owner: Option<TenantSlug>,
    pub share_with: Vec<TenantSlug>,
    /// Removes the tenant whether it owns the API or was shared with.
    pub unshare: Vec<TenantSlug>,
    pub all_tenants: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Api {
    pub id: String,
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// Serves every tenant; `tenant` and `shared_with` are then empty.
    pub all_tenants: bool,
    /// The owning tenant's slug.
    pub tenant: Option<String>,
    /// Further tenants it serves, by slug.
    pub shared_with: Vec<String>,
    /// Clients that may introspect its tokens, each within its own tenant.
    pub resource_servers: Vec<ResourceServer>,
    /// What its access tokens are signed with; `None` is RS256.
    pub access_token_signing_alg: Option<SigningAlg>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ResourceServer {
    pub client_id: String,
    pub tenant: String,
}

impl Api {
    pub fn serves(&self, tenant: &str) -> bool {
        self.all_tenants
            || self.tenant.as_deref() == Some(tenant)
            || self.shared_with.iter().any(|t| t == tenant)
    }
}

impl Store {
    /// An API shared by every tenant.
    pub async fn create_api(
        &self,
        identifier: &ApiIdentifier,
        name: &str,
        scopes: &[Scope],
        now: i64,
    ) -> Result<Api> {
        self.create_api_in(identifier, name, scopes, &Tenancy::All, now)
            .await
    }

    pub async fn create_api_in(
        &self,
        identifier: &ApiIdentifier,
        name: &str,
        scopes: &[Scope],
        tenancy: &Tenancy,
        now: i64,
    ) -> Result<Api> {
        self.create_api_signed(identifier, name, scopes, tenancy, None, now)
            .await
    }

    /// An API whose access tokens are signed with `signing_alg` (`None`: RS256).
    pub async fn create_api_signed(
        &self,
        identifier: &ApiIdentifier,
        name: &str,
        scopes: &[Scope],
        tenancy: &Tenancy,
        signing_alg: Option<SigningAlg>,
        now: i64,
    ) -> Result<Api> {
        let mut tx = self.begin_write().await?;
        let id = new_id(now)?;
        sqlx::query(
            "INSERT INTO apis (id, identifier, name, created_at, access_token_signing_alg) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(identifier.as_str())
        .bind(name)
        .bind(now)
        .bind(signing_alg.map(SigningAlg::as_str))
        .execute(&mut *tx)
        .await
        .map_err(Error::from)
        .on_conflict(|| format!("an API with identifier {identifier} already exists"))?;
        let mut names: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        names.sort();
        names.dedup();
        for scope in &names {
            sqlx::query("INSERT INTO api_scopes (api_id, scope) VALUES ($1, $2)")
                .bind(&id)
                .bind(scope)
                .execute(&mut *tx)
                .await?;
        }
        if let Tenancy::Only { owner, shared_with } = tenancy {
            let change = TenancyChange {
                owner: owner.clone(),
                share_with: shared_with.clone(),
                ..TenancyChange::default()
            };
            narrow(&mut tx, &id, &change).await?;
        }
        let api = load_apis(&mut tx, identifier.as_str()).await?.pop();
        commit_change(tx).await?;
        api.ok_or_else(|| Error::internal("API vanished while being created"))
    }

    /// Changes the tenants an API serves. Clients of a tenant it no longer serves keep their
    /// grants on record, but get no token for it and see none of its tokens, from now on.
    pub async fn update_api_tenancy(
        &self,
        identifier: &ApiIdentifier,
        change: &TenancyChange,
    ) -> Result<Api> {
        let mut tx = self.begin_write().await?;
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT id, all_tenants FROM apis WHERE identifier = $1")
                .bind(identifier.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let Some((id, all_tenants)) = row else {
            return Err(Error::NotFound(format!("API {identifier} does not exist")));
        };
        if change.all_tenants {
            sqlx::query("UPDATE apis SET all_tenants = 1, tenant_id = NULL WHERE id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM api_tenants WHERE api_id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
        } else {
            // "Every tenant but one" cannot be written down; leaving nobody would be a surprise.
            if all_tenants == 1 && change.owner.is_none() && change.share_with.is_empty() {
                return Err(Error::Invalid(format!(
                    "API {identifier} serves every tenant: name the tenants it should serve \
                     with --tenant or --share-with"
                )));
            }
            narrow(&mut tx, &id, change).await?;
        }
        let api = load_apis(&mut tx, identifier.as_str()).await?.pop();
        commit_change(tx).await?;
        api.ok_or_else(|| Error::internal("API vanished while being updated"))
    }

    /// Changes the algorithm of the API's access tokens (`None`: RS256); servers sign with it
    /// within seconds, and with RS256 until that algorithm's key is active.
    pub async fn set_api_signing_alg(
        &self,
        identifier: &ApiIdentifier,
        alg: Option<SigningAlg>,
    ) -> Result<Api> {
        let mut tx = self.begin_write().await?;
        let done =
            sqlx::query("UPDATE apis SET access_token_signing_alg = $1 WHERE identifier = $2")
                .bind(alg.map(SigningAlg::as_str))
                .bind(identifier.as_str())
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound(format!("API {identifier} does not exist")));
        }
        let api = load_apis(&mut tx, identifier.as_str()).await?.pop();
        commit_change(tx).await?;
        api.ok_or_else(|| Error::internal("API vanished while being updated"))
    }

    pub async fn list_apis(&self) -> Result<Vec<Api>> {
        let mut tx = self.pool().begin().await?;
        let apis = load_apis(&mut tx, "").await?;
        tx.commit().await?;
        Ok(apis)
    }
}

/// Applies a change that leaves the API serving only the tenants it names.
async fn narrow(
    tx: &mut Transaction<'_, Any>,
    api_row: &str,
    change: &TenancyChange,
) -> Result<()> {
    sqlx::query("UPDATE apis SET all_tenants = 0 WHERE id = $1")
        .bind(api_row)
        .execute(&mut **tx)
        .await?;
    if let Some(owner) = &change.owner {
        let owner_row = tenant_id(tx, owner).await?;
        sqlx::query("UPDATE apis SET tenant_id = $1 WHERE id = $2")
            .bind(&owner_row)
            .bind(api_row)
            .execute(&mut **tx)
            .await?;
    }
    for tenant in &change.share_with {
        let tenant_row = tenant_id(tx, tenant).await?;
        sqlx::query(
            "INSERT INTO api_tenants (api_id, tenant_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(api_row)
        .bind(&tenant_row)
        .execute(&mut **tx)
        .await?;
    }
    for tenant in &change.unshare {
        let tenant_row = tenant_id(tx, tenant).await?;
        sqlx::query("DELETE FROM api_tenants WHERE api_id = $1 AND tenant_id = $2")
            .bind(api_row)
            .bind(&tenant_row)
            .execute(&mut **tx)
            .await?;
        sqlx::query("UPDATE apis SET tenant_id = NULL WHERE id = $1 AND tenant_id = $2")
            .bind(api_row)
            .bind(&tenant_row)
            .execute(&mut **tx)
            .await?;
    }
    // The owner is not also listed as shared with.
    sqlx::query(
        "DELETE FROM api_tenants WHERE api_id = $1 \
         AND tenant_id = (SELECT tenant_id FROM apis WHERE id = $1)",
    )
    .bind(api_row)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The API's row id, if it exists and serves the tenant; otherwise an error that says which.
pub(crate) async fn api_serving(
    tx: &mut Transaction<'_, Any>,
    tenant_row: &str,
    tenant: &TenantSlug,
    api: &ApiIdentifier,
) -> Result<String> {
    let row: Option<(String, i64)> = sqlx::query_as(concat!(
        "SELECT a.id, CAST(CASE WHEN ",
        serves_tenant_2!(),
        " THEN 1 ELSE 0 END AS BIGINT) FROM apis a WHERE a.identifier = $1"
    ))
    .bind(api.as_str())
    .bind(tenant_row)
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        None => Err(Error::NotFound(format!(
            "API {api} does not exist (create it with `castellan api create`)"
        ))),
        Some((_, 0)) => Err(Error::Invalid(format!(
            "API {api} does not serve tenant {tenant} (see `castellan api list` and `api update`)"
        ))),
        Some((api_row, _)) => Ok(api_row),
    }
}

type ApiRow = (
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Every API, or the one whose identifier is `only` (unless empty), with its tenants.
async fn load_apis(tx: &mut Transaction<'_, Any>, only: &str) -> Result<Vec<Api>> {
    let rows: Vec<ApiRow> = sqlx::query_as(
        "SELECT a.id, a.identifier, a.name, a.all_tenants, t.slug, s.scope, a.access_token_signing_alg \
         FROM apis a \
         LEFT JOIN tenants t ON t.id = a.tenant_id LEFT JOIN api_scopes s ON s.api_id = a.id \
         WHERE $1 = '' OR a.identifier = $1 ORDER BY a.identifier, s.scope",
    )
    .bind(only)
    .fetch_all(&mut **tx)
    .await?;
    let shares: Vec<(String, String)> = sqlx::query_as(
        "SELECT x.api_id, t.slug FROM api_tenants x JOIN tenants t ON t.id = x.tenant_id \
         ORDER BY t.slug",
    )
    .fetch_all(&mut **tx)
    .await?;
    let servers: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT r.api_id, c.client_id, t.slug FROM api_resource_servers r \
         JOIN clients c ON c.id = r.client_id JOIN tenants t ON t.id = c.tenant_id \
         ORDER BY t.slug, c.client_id",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut apis: Vec<Api> = Vec::new();
    for (id, identifier, name, all_tenants, owner, scope, alg) in rows {
        if apis.last().is_none_or(|a| a.id != id) {
            apis.push(Api {
                shared_with: shares
                    .iter()
                    .filter(|(api, _)| *api == id)
                    .map(|(_, slug)| slug.clone())
                    .collect(),
                resource_servers: servers
                    .iter()
                    .filter(|(api, _, _)| *api == id)
                    .map(|(_, client_id, tenant)| ResourceServer {
                        client_id: client_id.clone(),
                        tenant: tenant.clone(),
                    })
                    .collect(),
                id,
                identifier,
                name,
                scopes: Vec::new(),
                all_tenants: all_tenants != 0,
                tenant: owner,
                access_token_signing_alg: alg.as_deref().and_then(SigningAlg::from_header),
            });
        }
        if let (Some(api), Some(s)) = (apis.last_mut(), scope) {
            api.scopes.push(s);
        }
    }
    Ok(apis)
}
