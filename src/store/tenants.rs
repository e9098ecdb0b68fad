//! Tenants: the unit users, roles and clients belong to.

use sqlx::FromRow;

use super::error::ResultExt;
use super::{Error, Result, Store, commit_change, new_id};
use crate::protocol::TenantSlug;

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Tenant {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub created_at: i64,
}

impl Store {
    pub async fn create_tenant(&self, slug: &TenantSlug, name: &str, now: i64) -> Result<Tenant> {
        let tenant = Tenant {
            id: new_id(now)?,
            slug: slug.to_string(),
            name: name.to_owned(),
            created_at: now,
        };
        let mut tx = self.begin_write().await?;
        insert_tenant(&mut tx, &tenant).await?;
        commit_change(tx).await?;
        Ok(tenant)
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        Ok(
            sqlx::query_as("SELECT id, slug, name, created_at FROM tenants ORDER BY slug")
                .fetch_all(self.pool())
                .await?,
        )
    }
}

pub(crate) async fn insert_tenant(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    t: &Tenant,
) -> Result<()> {
    sqlx::query("INSERT INTO tenants (id, slug, name, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&t.id)
        .bind(&t.slug)
        .bind(&t.name)
        .bind(t.created_at)
        .execute(&mut **tx)
        .await
        .map_err(Error::from)
        .on_conflict(|| format!("tenant {:?} already exists", t.slug))?;
    Ok(())
}

/// The tenant's row id, or a NotFound that names the slug.
pub(crate) async fn tenant_id(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    slug: &TenantSlug,
) -> Result<String> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM tenants WHERE slug = $1")
        .bind(slug.as_str())
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|(id,)| id)
        .ok_or_else(|| Error::NotFound(format!("tenant {:?} does not exist", slug.as_str())))
}
