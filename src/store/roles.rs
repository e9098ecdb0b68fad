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

/// Who holds roles: users sign in with them, clients act with them; both tables work alike.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Holder {
    User,
    Client,
}

/// Gives the holder at `holder_row` the tenant's `role` (a role of another tenant is not found).
pub(crate) async fn grant_role(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    holder: Holder,
    holder_row: &str,
    tenant_row: &str,
    tenant: &TenantSlug,
    role: &str,
) -> Result<()> {
    let role_row = role_id(tx, tenant_row, tenant, role).await?;
    let sql = match holder {
        Holder::User => {
            "INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        }
        Holder::Client => {
            "INSERT INTO client_roles (client_id, role_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        }
    };
    sqlx::query(sql)
        .bind(holder_row)
        .bind(&role_row)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The holder's role names and the union of their permissions, each sorted and without repeats.
pub(crate) async fn roles_and_permissions(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    holder: Holder,
    holder_row: &str,
) -> Result<(Vec<String>, Vec<String>)> {
    let sql = match holder {
        Holder::User => {
            "SELECT r.name, p.permission FROM user_roles h JOIN roles r ON r.id = h.role_id \
             LEFT JOIN role_permissions p ON p.role_id = r.id WHERE h.user_id = $1"
        }
        Holder::Client => {
            "SELECT r.name, p.permission FROM client_roles h JOIN roles r ON r.id = h.role_id \
             LEFT JOIN role_permissions p ON p.role_id = r.id WHERE h.client_id = $1"
        }
    };
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(sql)
        .bind(holder_row)
        .fetch_all(&mut **tx)
        .await?;
    let mut roles: Vec<String> = rows.iter().map(|(r, _)| r.clone()).collect();
    roles.sort();
    roles.dedup();
    let mut permissions: Vec<String> = rows.into_iter().filter_map(|(_, p)| p).collect();
    permissions.sort();
    permissions.dedup();
    Ok((roles, permissions))
}
