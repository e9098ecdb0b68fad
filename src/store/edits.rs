//! Renaming, re-scoping and deleting tenants, roles and APIs. A delete (or a scope withdrawn)
//! is refused while anything still refers to it: nothing vanishes from under a client or user.

use super::references::{
    api_unreferenced, role_unreferenced, scope_unreferenced, tenant_unreferenced,
};
use super::roles::{role_id, validate_name};
use super::tenants::tenant_id;
use super::{Error, Result, Store, commit_change};
use crate::protocol::{ApiIdentifier, Scope, TenantSlug};

impl Store {
    pub async fn rename_tenant(&self, slug: &TenantSlug, name: &str) -> Result<()> {
        check_display_name("tenant", name)?;
        let mut tx = self.begin_write().await?;
        let row = tenant_id(&mut tx, slug).await?;
        sqlx::query("UPDATE tenants SET name = $1 WHERE id = $2")
            .bind(name)
            .bind(&row)
            .execute(&mut *tx)
            .await?;
        commit_change(tx).await
    }

    pub async fn delete_tenant(&self, slug: &TenantSlug) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let row = tenant_id(&mut tx, slug).await?;
        tenant_unreferenced(&mut tx, slug.as_str(), &row).await?;
        sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(&row)
            .execute(&mut *tx)
            .await?;
        commit_change(tx).await
    }

    /// Replaces the role's permissions; holders' tokens carry the new set from now on.
    pub async fn set_role_permissions(
        &self,
        tenant: &TenantSlug,
        name: &str,
        permissions: &[String],
    ) -> Result<Vec<String>> {
        for p in permissions {
            validate_name("permission", p)?;
        }
        let mut tx = self.begin_write().await?;
        let row = role_row(&mut tx, tenant, name).await?;
        sqlx::query("DELETE FROM role_permissions WHERE role_id = $1")
            .bind(&row)
            .execute(&mut *tx)
            .await?;
        let mut permissions = permissions.to_vec();
        permissions.sort();
        permissions.dedup();
        for p in &permissions {
            sqlx::query("INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2)")
                .bind(&row)
                .bind(p)
                .execute(&mut *tx)
                .await?;
        }
        commit_change(tx).await?;
        Ok(permissions)
    }

    pub async fn rename_role(&self, tenant: &TenantSlug, name: &str, to: &str) -> Result<()> {
        validate_name("role", to)?;
        let mut tx = self.begin_write().await?;
        let row = role_row(&mut tx, tenant, name).await?;
        sqlx::query("UPDATE roles SET name = $1 WHERE id = $2")
            .bind(to)
            .bind(&row)
            .execute(&mut *tx)
            .await
            .map_err(|e| match Error::from(e) {
                Error::Conflict(_) => {
                    Error::Conflict(format!("role {to:?} already exists in tenant {tenant}"))
                }
                other => other,
            })?;
        commit_change(tx).await
    }

    pub async fn delete_role(&self, tenant: &TenantSlug, name: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let row = role_row(&mut tx, tenant, name).await?;
        role_unreferenced(&mut tx, name, &row).await?;
        sqlx::query("DELETE FROM roles WHERE id = $1")
            .bind(&row)
            .execute(&mut *tx)
            .await?;
        commit_change(tx).await
    }

    /// Renames an API and adds or withdraws scopes; a scope still granted to a client stays.
    pub async fn update_api(
        &self,
        identifier: &ApiIdentifier,
        name: Option<&str>,
        add_scopes: &[Scope],
        remove_scopes: &[Scope],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let row = api_row(&mut tx, identifier).await?;
        if let Some(name) = name {
            check_display_name("API", name)?;
            sqlx::query("UPDATE apis SET name = $1 WHERE id = $2")
                .bind(name)
                .bind(&row)
                .execute(&mut *tx)
                .await?;
        }
        for scope in remove_scopes {
            scope_unreferenced(&mut tx, &row, scope.as_str()).await?;
            let done = sqlx::query("DELETE FROM api_scopes WHERE api_id = $1 AND scope = $2")
                .bind(&row)
                .bind(scope.as_str())
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(Error::NotFound(format!(
                    "API {identifier} does not define scope {:?}",
                    scope.as_str()
                )));
            }
        }
        for scope in add_scopes {
            sqlx::query(
                "INSERT INTO api_scopes (api_id, scope) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(&row)
            .bind(scope.as_str())
            .execute(&mut *tx)
            .await?;
        }
        commit_change(tx).await
    }

    pub async fn delete_api(&self, identifier: &ApiIdentifier) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let row = api_row(&mut tx, identifier).await?;
        api_unreferenced(&mut tx, identifier.as_str(), &row).await?;
        sqlx::query("DELETE FROM apis WHERE id = $1")
            .bind(&row)
            .execute(&mut *tx)
            .await?;
        commit_change(tx).await
    }
}

/// Names people read (of clients, tenants, APIs): 1 to 200 characters.
pub(super) fn check_display_name(what: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > 200 {
        return Err(Error::Invalid(format!(
            "{what} name must be 1 to 200 characters"
        )));
    }
    Ok(())
}

async fn role_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &TenantSlug,
    name: &str,
) -> Result<String> {
    let tenant_row = tenant_id(tx, tenant).await?;
    role_id(tx, &tenant_row, tenant, name).await
}

async fn api_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    identifier: &ApiIdentifier,
) -> Result<String> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM apis WHERE identifier = $1")
        .bind(identifier.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|(id,)| id)
        .ok_or_else(|| Error::NotFound(format!("API {identifier} does not exist")))
}
