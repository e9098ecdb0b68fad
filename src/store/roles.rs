//! Roles: named sets of permissions inside a tenant, carried in tokens as `roles`/`permissions`.

use super::error::ResultExt;
use super::tenants::tenant_id;
use super::{Error, Result, Store, commit_change, new_id};
use crate::protocol::TenantSlug;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Role {
    pub id: String,
    pub tenant: String,
    pub name: String,
    pub permissions: Vec<String>,
}

/// Role names and permissions are short printable words (no spaces, so they read well in claims).
pub fn validate_name(kind: &str, name: &str) -> Result<()> {
    let ok =
        !name.is_empty() && name.len() <= 128 && name.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{kind} {name:?} must be 1 to 128 printable ASCII characters without spaces"
        )))
    }
}

impl Store {
    pub async fn create_role(
        &self,
        tenant: &TenantSlug,
        name: &str,
        permissions: &[String],
        now: i64,
    ) -> Result<Role> {
        validate_name("role", name)?;
        for p in permissions {
            validate_name("permission", p)?;
        }
        let mut tx = self.begin_write().await?;
        let tenant_row = tenant_id(&mut tx, tenant).await?;
        let id = new_id(now)?;
        sqlx::query("INSERT INTO roles (id, tenant_id, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&id)
            .bind(&tenant_row)
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(Error::from)
            .on_conflict(|| format!("role {name:?} already exists in tenant {tenant}"))?;
        let mut permissions = permissions.to_vec();
        permissions.sort();
        permissions.dedup();
        for p in &permissions {
            sqlx::query("INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2)")
                .bind(&id)
                .bind(p)
                .execute(&mut *tx)
                .await?;
        }
        commit_change(tx).await?;
        Ok(Role {
            id,
            tenant: tenant.to_string(),
            name: name.to_owned(),
            permissions,
        })
    }

    pub async fn list_roles(&self, tenant: Option<&TenantSlug>) -> Result<Vec<Role>> {
        let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT r.id, t.slug, r.name, p.permission FROM roles r \
             JOIN tenants t ON t.id = r.tenant_id \
             LEFT JOIN role_permissions p ON p.role_id = r.id \
             WHERE $1 = '' OR t.slug = $1 \
             ORDER BY t.slug, r.name, p.permission",
        )
        .bind(tenant.map(TenantSlug::as_str).unwrap_or(""))
        .fetch_all(self.pool())
        .await?;
        let mut roles: Vec<Role> = Vec::new();
        for (id, tenant, name, permission) in rows {
            if roles.last().is_none_or(|r| r.id != id) {
                roles.push(Role {
                    id,
                    tenant,
                    name,
                    permissions: Vec::new(),
                });
            }
            if let (Some(role), Some(p)) = (roles.last_mut(), permission) {
                role.permissions.push(p);
            }
        }
        Ok(roles)
    }
}

/// The row id of `role` in the tenant, or a NotFound that names both.
pub(crate) async fn role_id(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_row: &str,
    tenant: &TenantSlug,
    role: &str,
) -> Result<String> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT id FROM roles WHERE tenant_id = $1 AND name = $2")
            .bind(tenant_row)
            .bind(role)
            .fetch_optional(&mut **tx)
            .await?;
    row.map(|(id,)| id)
        .ok_or_else(|| Error::NotFound(format!("role {role:?} does not exist in tenant {tenant}")))
}
