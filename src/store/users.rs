//! Users: people who sign in, one tenant each, with roles from that tenant.

use sqlx::{Any, Transaction};

use super::error::ResultExt;
use super::roles::{Holder, grant_role, roles_and_permissions};
use super::tenants::tenant_id;
use super::{Error, Result, Store, bump_generation, commit_change, new_id, set_field};
use crate::protocol::TenantSlug;

/// A user without the password hash, which only the sign-in path reads.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserRecord {
    pub id: String,
    pub tenant: String,
    pub username: String,
    pub email: Option<String>,
    /// Whether the operator vouches that the address is the user's (OIDC `email_verified`).
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub roles: Vec<String>,
    /// Union of the roles' permissions, sorted.
    pub permissions: Vec<String>,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
    /// When the profile last changed (OIDC `updated_at`).
    pub updated_at: i64,
}

#[derive(Debug)]
pub struct NewUser {
    pub tenant: TenantSlug,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub roles: Vec<String>,
}

/// A change to a user's profile; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct ProfileUpdate {
    pub email: Option<Option<String>>,
    pub email_verified: Option<bool>,
    pub name: Option<Option<String>>,
    pub given_name: Option<Option<String>>,
    pub family_name: Option<Option<String>>,
}

/// Names shown to relying parties: at most 200 characters, no control characters.
fn validate_profile_name(what: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() || value.chars().count() > 200 || value.chars().any(char::is_control)
    {
        return Err(Error::Invalid(format!(
            "{what} must be 1 to 200 characters without control characters"
        )));
    }
    Ok(())
}

/// Usernames: 1 to 128 characters, no whitespace or control characters (unicode is fine).
pub fn validate_username(username: &str) -> Result<()> {
    let ok = !username.is_empty()
        && username.chars().count() <= 128
        && !username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(()).ok_or_else(|| {
        Error::Invalid(
            "username must be 1 to 128 characters without spaces or control characters".into(),
        )
    })
}

/// A plausible address: one `@` with text on both sides, no spaces, at most 254 characters.
pub fn validate_email(email: &str) -> Result<()> {
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    ok.then_some(())
        .ok_or_else(|| Error::Invalid(format!("{email:?} is not an email address")))
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    slug: String,
    username: String,
    email: Option<String>,
    email_verified: i64,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    disabled_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl Store {
    pub async fn create_user(
        &self,
        new: &NewUser,
        password_hash: &str,
        now: i64,
    ) -> Result<UserRecord> {
        validate_username(&new.username)?;
        if let Some(email) = &new.email {
            validate_email(email)?;
        }
        for (what, value) in [
            ("name", &new.name),
            ("given name", &new.given_name),
            ("family name", &new.family_name),
        ] {
            if let Some(value) = value {
                validate_profile_name(what, value)?;
            }
        }
        let mut tx = self.begin_write().await?;
        let tenant_row = tenant_id(&mut tx, &new.tenant).await?;
        let id = new_id(now)?;
        sqlx::query(
            "INSERT INTO users (id, tenant_id, username, email, name, password_hash, disabled_at, created_at, updated_at, \
             email_verified, given_name, family_name) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(&tenant_row)
        .bind(&new.username)
        .bind(new.email.as_deref())
        .bind(new.name.as_deref())
        .bind(password_hash)
        .bind(now)
        .bind(i64::from(new.email_verified && new.email.is_some()))
        .bind(new.given_name.as_deref())
        .bind(new.family_name.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(Error::from)
        .on_conflict(|| format!("user {:?} already exists in tenant {}", new.username, new.tenant))?;
        for role in &new.roles {
            grant_role(&mut tx, Holder::User, &id, &tenant_row, &new.tenant, role).await?;
        }
        bump_generation(&mut tx).await?;
        let user = load(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn find_user(&self, tenant: &TenantSlug, username: &str) -> Result<UserRecord> {
        let mut tx = self.pool().begin().await?;
        let (id, _) = user_id(&mut tx, tenant, username).await?;
        let user = load(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// The user by row id (as sessions and grants refer to users).
    pub async fn find_user_by_row(&self, id: &str) -> Result<Option<UserRecord>> {
        let mut tx = self.pool().begin().await?;
        let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let user = match exists {
            Some(_) => Some(load(&mut tx, id).await?),
            None => None,
        };
        tx.commit().await?;
        Ok(user)
    }

    /// The user and their password hash, for the sign-in form only.
    pub async fn user_credentials(
        &self,
        tenant: &TenantSlug,
        username: &str,
    ) -> Result<Option<(UserRecord, String)>> {
        let mut tx = self.pool().begin().await?;
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT u.id, u.password_hash FROM users u JOIN tenants t ON t.id = u.tenant_id \
             WHERE t.slug = $1 AND u.username = $2",
        )
        .bind(tenant.as_str())
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?;
        let found = match row {
            Some((id, hash)) => Some((load(&mut tx, &id).await?, hash)),
            None => None,
        };
        tx.commit().await?;
        Ok(found)
    }

    pub async fn list_users(&self, tenant: Option<&TenantSlug>) -> Result<Vec<UserRecord>> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT u.id FROM users u JOIN tenants t ON t.id = u.tenant_id \
             WHERE $1 = '' OR t.slug = $1 ORDER BY t.slug, u.username",
        )
        .bind(tenant.map(TenantSlug::as_str).unwrap_or(""))
        .fetch_all(self.pool())
        .await?;
        let mut tx = self.pool().begin().await?;
        let mut users = Vec::with_capacity(ids.len());
        for (id,) in ids {
            users.push(load(&mut tx, &id).await?);
        }
        tx.commit().await?;
        Ok(users)
    }

    pub async fn set_user_password(
        &self,
        tenant: &TenantSlug,
        username: &str,
        hash: &str,
        now: i64,
    ) -> Result<()> {
        self.update_user(
            tenant,
            username,
            "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3",
            Some(hash.to_owned()),
            now,
        )
        .await
    }

    pub async fn disable_user(&self, tenant: &TenantSlug, username: &str, now: i64) -> Result<()> {
        self.update_user(
            tenant,
            username,
            "UPDATE users SET disabled_at = COALESCE(disabled_at, $1), updated_at = $2 WHERE id = $3",
            Some(now),
            now,
        )
        .await
    }

    pub async fn enable_user(&self, tenant: &TenantSlug, username: &str, now: i64) -> Result<()> {
        self.update_user(
            tenant,
            username,
            "UPDATE users SET disabled_at = $1, updated_at = $2 WHERE id = $3",
            None::<i64>,
            now,
        )
        .await
    }

    /// Changes profile claims. A new address is unverified unless the change says otherwise.
    pub async fn update_user_profile(
        &self,
        tenant: &TenantSlug,
        username: &str,
        change: &ProfileUpdate,
        now: i64,
    ) -> Result<UserRecord> {
        if let Some(Some(email)) = &change.email {
            validate_email(email)?;
        }
        for (what, value) in [
            ("name", &change.name),
            ("given name", &change.given_name),
            ("family name", &change.family_name),
        ] {
            if let Some(Some(value)) = value {
                validate_profile_name(what, value)?;
            }
        }
        let mut tx = self.begin_write().await?;
        let (id, _) = user_id(&mut tx, tenant, username).await?;
        let current = load(&mut tx, &id).await?;
        let email = change.email.clone().unwrap_or(current.email.clone());
        let verified = match (change.email_verified, &change.email) {
            (Some(v), _) => v,
            (None, Some(new)) if *new != current.email => false,
            (None, _) => current.email_verified,
        };
        if verified && email.is_none() {
            return Err(Error::Invalid(
                "a user without an email address has nothing to verify".into(),
            ));
        }
        sqlx::query(
            "UPDATE users SET email = $1, email_verified = $2, name = $3, given_name = $4, \
             family_name = $5, updated_at = $6 WHERE id = $7",
        )
        .bind(email)
        .bind(i64::from(verified))
        .bind(change.name.clone().unwrap_or(current.name))
        .bind(change.given_name.clone().unwrap_or(current.given_name))
        .bind(change.family_name.clone().unwrap_or(current.family_name))
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        let user = load(&mut tx, &id).await?;
        commit_change(tx).await?;
        Ok(user)
    }

    pub async fn delete_user(&self, tenant: &TenantSlug, username: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let (id, _) = user_id(&mut tx, tenant, username).await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        commit_change(tx).await?;
        Ok(())
    }

    pub async fn add_user_role(
        &self,
        tenant: &TenantSlug,
        username: &str,
        role: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let (id, tenant_row) = user_id(&mut tx, tenant, username).await?;
        grant_role(&mut tx, Holder::User, &id, &tenant_row, tenant, role).await?;
        commit_change(tx).await?;
        Ok(())
    }

    pub async fn remove_user_role(
        &self,
        tenant: &TenantSlug,
        username: &str,
        role: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let (id, tenant_row) = user_id(&mut tx, tenant, username).await?;
        let done = sqlx::query(
            "DELETE FROM user_roles WHERE user_id = $1 AND role_id IN (SELECT id FROM roles WHERE tenant_id = $2 AND name = $3)",
        )
        .bind(&id)
        .bind(&tenant_row)
        .bind(role)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound(format!(
                "user {username:?} does not have role {role:?}"
            )));
        }
        commit_change(tx).await?;
        Ok(())
    }

    /// Runs a one-row update `sql` with binds `($1 = value, $2 = now, $3 = user row id)`.
    async fn update_user<V>(
        &self,
        tenant: &TenantSlug,
        username: &str,
        sql: &'static str,
        value: V,
        now: i64,
    ) -> Result<()>
    where
        V: for<'q> sqlx::Encode<'q, Any> + sqlx::Type<Any> + Send,
    {
        let mut tx = self.begin_write().await?;
        let (id, _) = user_id(&mut tx, tenant, username).await?;
        set_field(&mut tx, sql, value, now, &id).await?;
        commit_change(tx).await?;
        Ok(())
    }
}

/// The user's row id and their tenant's row id.
async fn user_id(
    tx: &mut Transaction<'_, Any>,
    tenant: &TenantSlug,
    username: &str,
) -> Result<(String, String)> {
    let tenant_row = tenant_id(tx, tenant).await?;
    let row: Option<(String,)> =
        sqlx::query_as("SELECT id FROM users WHERE tenant_id = $1 AND username = $2")
            .bind(&tenant_row)
            .bind(username)
            .fetch_optional(&mut **tx)
            .await?;
    row.map(|(id,)| (id, tenant_row)).ok_or_else(|| {
        Error::NotFound(format!(
            "user {username:?} does not exist in tenant {tenant}"
        ))
    })
}

async fn load(tx: &mut Transaction<'_, Any>, id: &str) -> Result<UserRecord> {
    let row: UserRow = sqlx::query_as(
        "SELECT u.id, t.slug, u.username, u.email, u.email_verified, u.name, u.given_name, \
         u.family_name, u.disabled_at, u.created_at, u.updated_at \
         FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.id = $1",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    let (roles, permissions) = roles_and_permissions(tx, Holder::User, &row.id).await?;
    Ok(UserRecord {
        id: row.id,
        tenant: row.slug,
        username: row.username,
        email: row.email,
        email_verified: row.email_verified != 0,
        name: row.name,
        given_name: row.given_name,
        family_name: row.family_name,
        roles,
        permissions,
        disabled_at: row.disabled_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
