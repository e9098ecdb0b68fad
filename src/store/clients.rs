//! Clients: who may obtain tokens, for which APIs and scopes, carrying which roles.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{Any, Transaction};

use super::apis::api_serving;
use super::client_keys;
use super::error::ResultExt;
use super::resource_servers::register_resource_server;
use super::roles::{Holder, grant_role};
use super::tenants::tenant_id;
mod load;
mod update;

use super::{Error, Result, Store, bump_generation, commit_change, new_id, set_field};
use crate::crypto::SecretHash;
use crate::protocol::{
    ApiIdentifier, ClientId, GrantType, RedirectUri, Scope, ScopeSet, SigningAlg, TenantSlug,
};
pub(crate) use load::load_by_row;
use load::{By, load};
pub use update::ClientUpdate;

/// A client as the token endpoint needs it: everything resolved, ready to cache.
#[derive(Debug, Clone)]
pub struct ClientRecord {
    pub id: String,
    pub client_id: ClientId,
    pub tenant: TenantSlug,
    pub name: String,
    /// What the sign-in pages call the client; `None` shows `name`.
    pub display_name: Option<String>,
    pub secret_hash: Option<SecretHash>,
    pub grant_types: Vec<GrantType>,
    /// Per API, the scopes this client may ask for; only APIs that serve its tenant.
    pub apis: BTreeMap<String, ScopeSet>,
    /// The signing algorithm of those APIs that chose one other than RS256.
    pub api_signing_algs: BTreeMap<String, SigningAlg>,
    /// What its ID tokens are signed with (`id_token_signed_response_alg`); `None` is RS256.
    pub id_token_signing_alg: Option<SigningAlg>,
    /// APIs whose tokens of this client's tenant it may introspect; only APIs that serve it.
    pub resource_server_for: BTreeSet<String>,
    /// Grants and registrations for APIs that no longer serve its tenant: on record, inert.
    pub dormant_apis: Vec<String>,
    pub roles: Vec<String>,
    /// Union of the roles' permissions, sorted and deduplicated.
    pub permissions: Vec<String>,
    pub token_ttl: Option<i64>,
    pub disabled_at: Option<i64>,
    pub created_at: i64,
    /// Where authorization responses may go, matched exactly.
    pub redirect_uris: Vec<RedirectUri>,
    /// Where RP-initiated logout may send the browser afterwards.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// No secret: a browser or native app that must use PKCE.
    pub public: bool,
    /// A first-party client whose users are not asked for consent.
    pub skip_consent: bool,
    /// Authorization requests must carry a PKCE challenge; always so for a public client.
    pub pkce_required: bool,
    /// Authenticates with a signed assertion (RFC 7523 `private_key_jwt`), never a secret.
    pub private_key_jwt: bool,
    /// The public keys its assertions may be signed with.
    pub keys: Vec<ClientJwk>,
    /// Or where it publishes them (then `keys` is empty).
    pub jwks_uri: Option<String>,
    /// External subjects (of trusted workload-token issuers) that authenticate as this client.
    pub links: Vec<super::trusts::TrustLink>,
}

/// One of a client's public keys, as registered (a JWK without private members).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClientJwk {
    pub kid: String,
    /// The JWK as JSON text.
    pub jwk: String,
}

impl ClientRecord {
    /// The name shown to people on the sign-in pages.
    pub fn shown_name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }
}

/// A display name, if any: 1 to 200 characters; an empty one means none.
fn display_name(name: Option<&str>) -> Result<Option<&str>> {
    match name.map(str::trim) {
        None | Some("") => Ok(None),
        Some(name) if name.chars().count() <= 200 && !name.chars().any(char::is_control) => {
            Ok(Some(name))
        }
        Some(_) => Err(Error::Invalid(
            "a display name must be at most 200 characters, without control characters".into(),
        )),
    }
}

/// What an operator asks for when registering a client.
#[derive(Debug)]
pub struct NewClient {
    pub tenant: TenantSlug,
    pub name: String,
    /// What the sign-in pages call the client, if not `name`.
    pub display_name: Option<String>,
    pub grant_types: Vec<GrantType>,
    pub apis: Vec<(ApiIdentifier, Vec<Scope>)>,
    /// APIs this client introspects tokens for, as their resource server.
    pub resource_server_for: Vec<ApiIdentifier>,
    pub roles: Vec<String>,
    pub token_ttl: Option<i64>,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub public: bool,
    pub skip_consent: bool,
    pub pkce_required: bool,
    /// `Some`: a `private_key_jwt` client with these keys (and no secret).
    pub keys: Option<Vec<ClientJwk>>,
    /// A `private_key_jwt` client whose keys are fetched from here instead (not with `keys`).
    pub jwks_uri: Option<String>,
    pub id_token_signing_alg: Option<SigningAlg>,
}

impl NewClient {
    /// The registration rules that tie grants, redirect URIs and public clients together.
    pub fn validate(&self) -> Result<()> {
        let has = |g| self.grant_types.contains(&g);
        if self.grant_types.is_empty() && self.resource_server_for.is_empty() {
            return Err(Error::Invalid(
                "a client needs at least one --grant (or --resource-server-for)".into(),
            ));
        }
        if self.public && !self.resource_server_for.is_empty() {
            return Err(Error::Invalid(
                "a resource server introspects with a secret, so it cannot be --public".into(),
            ));
        }
        if has(GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            return Err(Error::Invalid(
                "the authorization_code grant needs at least one --redirect-uri".into(),
            ));
        }
        let has_uris = !self.redirect_uris.is_empty() || !self.post_logout_redirect_uris.is_empty();
        if has_uris && !has(GrantType::AuthorizationCode) {
            return Err(Error::Invalid(
                "redirect URIs are only for clients with the authorization_code grant".into(),
            ));
        }
        if has(GrantType::RefreshToken) && !has(GrantType::AuthorizationCode) {
            return Err(Error::Invalid(
                "the refresh_token grant comes with authorization_code".into(),
            ));
        }
        if self.public && !self.pkce_required {
            return Err(Error::Invalid(
                "a public client always uses PKCE: --pkce optional is only for confidential clients".into(),
            ));
        }
        if !self.pkce_required && !has(GrantType::AuthorizationCode) {
            return Err(Error::Invalid(
                "--pkce concerns the authorization_code grant, which the client does not have"
                    .into(),
            ));
        }
        if self.jwks_uri.is_some() {
            if self.keys.is_some() {
                return Err(Error::Invalid(
                    "give the client's keys one way: --jwks-file or --jwks-uri, not both".into(),
                ));
            }
            if self.public {
                return Err(Error::Invalid(
                    "a public client has no credentials: it cannot use private_key_jwt".into(),
                ));
            }
        }
        if let Some(keys) = &self.keys {
            if self.public {
                return Err(Error::Invalid(
                    "a public client has no credentials: it cannot use private_key_jwt".into(),
                ));
            }
            if keys.is_empty() {
                return Err(Error::Invalid(
                    "a private_key_jwt client needs at least one key (--jwks-file)".into(),
                ));
            }
        }
        if self.public && has(GrantType::ClientCredentials) {
            return Err(Error::Invalid(
                "a public client has no secret, so it cannot use client_credentials".into(),
            ));
        }
        Ok(())
    }
}

impl Store {
    pub async fn create_client(
        &self,
        client_id: &ClientId,
        new: &NewClient,
        secret: Option<&SecretHash>,
        now: i64,
    ) -> Result<ClientRecord> {
        check_name(&new.name)?;
        new.validate()?;
        let shown = display_name(new.display_name.as_deref())?;
        let mut tx = self.begin_write().await?;
        let tenant_row = tenant_id(&mut tx, &new.tenant).await?;
        let id = new_id(now)?;
        sqlx::query(
            "INSERT INTO clients (id, client_id, tenant_id, name, secret_hash, token_ttl, disabled_at, created_at, \
             updated_at, is_public, skip_consent, pkce_required, display_name, auth_method, \
             id_token_signed_response_alg, jwks_uri) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&id)
        .bind(client_id.as_str())
        .bind(&tenant_row)
        .bind(&new.name)
        .bind(secret.map(|h| h.as_bytes().to_vec()))
        .bind(new.token_ttl)
        .bind(now)
        .bind(i64::from(new.public))
        .bind(i64::from(new.skip_consent))
        .bind(i64::from(new.pkce_required))
        .bind(shown)
        .bind(if new.keys.is_some() || new.jwks_uri.is_some() {
            PRIVATE_KEY_JWT
        } else {
            "client_secret"
        })
        .bind(new.id_token_signing_alg.map(SigningAlg::as_str))
        .bind(new.jwks_uri.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(Error::from)
        .on_conflict(|| name_taken(&new.tenant, &new.name))?;
        let uris = [
            ("login", &new.redirect_uris),
            ("logout", &new.post_logout_redirect_uris),
        ];
        for (kind, list) in uris {
            for uri in list {
                sqlx::query("INSERT INTO client_redirect_uris (client_id, kind, uri) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(&id)
                    .bind(kind)
                    .bind(uri.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for key in new.keys.iter().flatten() {
            client_keys::insert_key(&mut tx, &id, key, now).await?;
        }
        for grant in &new.grant_types {
            sqlx::query("INSERT INTO client_grant_types (client_id, grant_type) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(&id)
                .bind(grant.as_str())
                .execute(&mut *tx)
                .await?;
        }
        for (api, scopes) in &new.apis {
            grant_api(&mut tx, &id, &tenant_row, &new.tenant, api, scopes).await?;
        }
        for api in &new.resource_server_for {
            register_resource_server(&mut tx, &id, &tenant_row, &new.tenant, api).await?;
        }
        for role in &new.roles {
            grant_role(&mut tx, Holder::Client, &id, &tenant_row, &new.tenant, role).await?;
        }
        bump_generation(&mut tx).await?;
        let record = load(&mut tx, By::RowId, &id).await?;
        tx.commit().await?;
        record.ok_or_else(|| Error::internal("client vanished while being created"))
    }

    /// The client by its public id, fully resolved; `None` if there is no such client.
    pub async fn find_client(&self, client_id: &ClientId) -> Result<Option<ClientRecord>> {
        let mut tx = self.pool().begin().await?;
        let record = load(&mut tx, By::ClientId, client_id.as_str()).await?;
        tx.commit().await?;
        Ok(record)
    }

    pub async fn list_clients(&self, tenant: Option<&TenantSlug>) -> Result<Vec<ClientRecord>> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT c.client_id FROM clients c JOIN tenants t ON t.id = c.tenant_id \
             WHERE $1 = '' OR t.slug = $1 ORDER BY t.slug, c.name, c.client_id",
        )
        .bind(tenant.map(TenantSlug::as_str).unwrap_or(""))
        .fetch_all(self.pool())
        .await?;
        let mut tx = self.pool().begin().await?;
        let mut out = Vec::with_capacity(ids.len());
        for (client_id,) in ids {
            out.extend(load(&mut tx, By::ClientId, &client_id).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    pub async fn set_client_secret(
        &self,
        client_id: &ClientId,
        secret: &SecretHash,
        now: i64,
    ) -> Result<()> {
        self.update_client(
            client_id,
            "UPDATE clients SET secret_hash = $1, updated_at = $2 WHERE client_id = $3",
            Some(secret.as_bytes().to_vec()),
            now,
        )
        .await
    }

    /// Sets what the sign-in pages call the client; `None` (or empty) shows its name again.
    pub async fn set_client_display_name(
        &self,
        client_id: &ClientId,
        name: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let shown = display_name(name)?.map(str::to_owned);
        self.update_client(
            client_id,
            "UPDATE clients SET display_name = $1, updated_at = $2 WHERE client_id = $3",
            shown,
            now,
        )
        .await
    }

    /// Sets the algorithm of the client's ID tokens (`None`: RS256).
    pub async fn set_client_id_token_alg(
        &self,
        client_id: &ClientId,
        alg: Option<SigningAlg>,
        now: i64,
    ) -> Result<()> {
        self.update_client(
            client_id,
            "UPDATE clients SET id_token_signed_response_alg = $1, updated_at = $2 WHERE client_id = $3",
            alg.map(|a| a.as_str().to_owned()),
            now,
        )
        .await
    }

    pub async fn disable_client(&self, client_id: &ClientId, now: i64) -> Result<()> {
        self.update_client(
            client_id,
            "UPDATE clients SET disabled_at = COALESCE(disabled_at, $1), updated_at = $2 WHERE client_id = $3",
            Some(now),
            now,
        )
        .await
    }

    pub async fn enable_client(&self, client_id: &ClientId, now: i64) -> Result<()> {
        self.update_client(
            client_id,
            "UPDATE clients SET disabled_at = $1, updated_at = $2 WHERE client_id = $3",
            None::<i64>,
            now,
        )
        .await
    }

    pub async fn delete_client(&self, client_id: &ClientId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(no_such_client(client_id));
        }
        commit_change(tx).await?;
        Ok(())
    }

    /// Runs a one-row update `sql` with binds `($1 = value, $2 = now, $3 = client_id)`.
    async fn update_client<V>(
        &self,
        client_id: &ClientId,
        sql: &'static str,
        value: V,
        now: i64,
    ) -> Result<()>
    where
        V: for<'q> sqlx::Encode<'q, Any> + sqlx::Type<Any> + Send,
    {
        let mut tx = self.begin_write().await?;
        if set_field(&mut tx, sql, value, now, client_id.as_str()).await? == 0 {
            return Err(no_such_client(client_id));
        }
        commit_change(tx).await?;
        Ok(())
    }
}

/// The `auth_method` of a client that signs assertions.
pub(crate) const PRIVATE_KEY_JWT: &str = "private_key_jwt";

/// Reads back the client a change wrote, then commits the change (telling every node).
pub(crate) async fn commit_loaded(
    mut tx: Transaction<'_, Any>,
    row: &str,
    client_id: &ClientId,
) -> Result<ClientRecord> {
    let record = load(&mut tx, By::RowId, row)
        .await?
        .ok_or_else(|| no_such_client(client_id))?;
    commit_change(tx).await?;
    Ok(record)
}

pub(crate) fn no_such_client(client_id: &ClientId) -> Error {
    Error::NotFound(format!("client {client_id} does not exist"))
}

fn check_name(name: &str) -> Result<()> {
    super::edits::check_display_name("client", name)
}

/// The client_id is random, so a conflict on insert or rename is the name.
fn name_taken(tenant: &TenantSlug, name: &str) -> String {
    format!(
        "tenant {tenant} already has a client named {name:?}; client names are unique per tenant"
    )
}

async fn grant_api(
    tx: &mut Transaction<'_, Any>,
    client_row: &str,
    tenant_row: &str,
    tenant: &TenantSlug,
    api: &ApiIdentifier,
    scopes: &[Scope],
) -> Result<()> {
    let api_row = api_serving(tx, tenant_row, tenant, api).await?;
    sqlx::query(
        "INSERT INTO client_apis (client_id, api_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(client_row)
    .bind(&api_row)
    .execute(&mut **tx)
    .await?;
    for scope in scopes {
        let defined: Option<(String,)> =
            sqlx::query_as("SELECT scope FROM api_scopes WHERE api_id = $1 AND scope = $2")
                .bind(&api_row)
                .bind(scope.as_str())
                .fetch_optional(&mut **tx)
                .await?;
        if defined.is_none() {
            return Err(Error::Invalid(format!(
                "API {api} does not define scope {scope:?}",
                scope = scope.as_str()
            )));
        }
        sqlx::query("INSERT INTO client_api_scopes (client_id, api_id, scope) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(client_row)
            .bind(&api_row)
            .bind(scope.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
