//! Reading a client whole, in one snapshot: its row, grants, redirect URIs, roles and the APIs
//! it serves as a resource server, checked as they are decoded.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{Any, Transaction};

use super::ClientRecord;
use crate::crypto::SecretHash;
use crate::protocol::{ClientId, GrantType, RedirectUri, Scope, ScopeSet, SigningAlg, TenantSlug};
use crate::store::apis::serves_tenant_2;
use crate::store::resource_servers::resource_server_rows;
use crate::store::roles::{Holder, roles_and_permissions};
use crate::store::{Error, Result};

#[derive(sqlx::FromRow)]
pub(super) struct ClientRow {
    id: String,
    client_id: String,
    tenant_id: String,
    slug: String,
    name: String,
    display_name: Option<String>,
    secret_hash: Option<Vec<u8>>,
    token_ttl: Option<i64>,
    disabled_at: Option<i64>,
    created_at: i64,
    is_public: i64,
    skip_consent: i64,
    pkce_required: i64,
    auth_method: String,
    jwks_uri: Option<String>,
    id_token_signed_response_alg: Option<String>,
}

/// How `load` finds the client.
#[derive(Clone, Copy)]
pub(super) enum By {
    RowId,
    ClientId,
}

impl By {
    fn sql(self) -> &'static str {
        match self {
            Self::RowId => {
                "SELECT c.id, c.client_id, c.tenant_id, t.slug, c.name, c.display_name, c.secret_hash, c.token_ttl, c.disabled_at, \
                 c.created_at, c.is_public, c.skip_consent, c.pkce_required, c.auth_method, c.id_token_signed_response_alg, c.jwks_uri FROM clients c JOIN tenants t ON t.id = c.tenant_id WHERE c.id = $1"
            }
            Self::ClientId => {
                "SELECT c.id, c.client_id, c.tenant_id, t.slug, c.name, c.display_name, c.secret_hash, c.token_ttl, c.disabled_at, \
                 c.created_at, c.is_public, c.skip_consent, c.pkce_required, c.auth_method, c.id_token_signed_response_alg, c.jwks_uri FROM clients c JOIN tenants t ON t.id = c.tenant_id \
                 WHERE c.client_id = $1"
            }
        }
    }
}

/// The client with this row id, as `find_client` gives it.
pub(crate) async fn load_by_row(
    tx: &mut Transaction<'_, Any>,
    id: &str,
) -> Result<Option<ClientRecord>> {
    load(tx, By::RowId, id).await
}

/// Loads one client, in one consistent snapshot.
pub(super) async fn load(
    tx: &mut Transaction<'_, Any>,
    by: By,
    value: &str,
) -> Result<Option<ClientRecord>> {
    let Some(row): Option<ClientRow> = sqlx::query_as(by.sql())
        .bind(value)
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(None);
    };
    let grants: Vec<(String,)> =
        sqlx::query_as("SELECT grant_type FROM client_grant_types WHERE client_id = $1")
            .bind(&row.id)
            .fetch_all(&mut **tx)
            .await?;
    // Grants for an API that stopped serving the tenant are read, and set aside below.
    let api_rows: Vec<(String, Option<String>, i64, Option<String>)> = sqlx::query_as(concat!(
        "SELECT a.identifier, s.scope, CAST(CASE WHEN ",
        serves_tenant_2!(),
        " THEN 1 ELSE 0 END AS BIGINT), a.access_token_signing_alg FROM client_apis ca JOIN apis a ON a.id = ca.api_id \
         LEFT JOIN client_api_scopes s ON s.client_id = ca.client_id AND s.api_id = ca.api_id \
         WHERE ca.client_id = $1"
    ))
    .bind(&row.id)
    .bind(&row.tenant_id)
    .fetch_all(&mut **tx)
    .await?;
    let server_rows = resource_server_rows(tx, &row.id, &row.tenant_id).await?;
    let (roles, permissions) = roles_and_permissions(tx, Holder::Client, &row.id).await?;

    let uri_rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT kind, uri FROM client_redirect_uris WHERE client_id = $1 ORDER BY kind, uri",
    )
    .bind(&row.id)
    .fetch_all(&mut **tx)
    .await?;

    let key_rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT kid, jwk FROM client_keys WHERE client_id = $1 ORDER BY created_at, kid",
    )
    .bind(&row.id)
    .fetch_all(&mut **tx)
    .await?;

    let links = crate::store::trusts::links_of(tx, &row.id).await?;

    let corrupt =
        |what: &str| Error::internal(format!("client {} has an invalid {what}", row.client_id));
    let (mut redirect_uris, mut post_logout_redirect_uris) = (Vec::new(), Vec::new());
    for (kind, uri) in uri_rows {
        let uri = RedirectUri::parse(&uri).map_err(|_| corrupt("redirect URI"))?;
        match kind.as_str() {
            "login" => redirect_uris.push(uri),
            _ => post_logout_redirect_uris.push(uri),
        }
    }
    let grant_types = grants
        .iter()
        .filter_map(|(g,)| GrantType::parse(g).ok())
        .collect();
    let mut apis: BTreeMap<String, ScopeSet> = BTreeMap::new();
    let mut api_signing_algs = BTreeMap::new();
    let mut resource_server_for = BTreeSet::new();
    let mut dormant_apis = Vec::new();
    for (identifier, served) in &server_rows {
        match served {
            0 => dormant_apis.push(identifier.clone()),
            _ => {
                resource_server_for.insert(identifier.clone());
            }
        }
    }
    for (identifier, scope, served, alg) in api_rows {
        if served == 0 {
            dormant_apis.push(identifier);
            continue;
        }
        if let Some(alg) = alg {
            let alg = SigningAlg::from_header(&alg).ok_or_else(|| corrupt("API signing alg"))?;
            api_signing_algs.insert(identifier.clone(), alg);
        }
        let entry = apis.entry(identifier).or_default();
        if let Some(scope) = scope {
            entry.insert(Scope::parse(&scope).map_err(|_| corrupt("scope"))?);
        }
    }
    dormant_apis.sort();
    dormant_apis.dedup();
    let secret_hash = match row.secret_hash {
        Some(bytes) => Some(SecretHash::from_bytes(&bytes).ok_or_else(|| corrupt("secret hash"))?),
        None => None,
    };
    Ok(Some(ClientRecord {
        client_id: ClientId::parse(&row.client_id).map_err(|_| corrupt("client_id"))?,
        tenant: TenantSlug::parse(&row.slug).map_err(|_| corrupt("tenant"))?,
        id: row.id,
        name: row.name,
        display_name: row.display_name,
        secret_hash,
        grant_types,
        apis,
        api_signing_algs,
        id_token_signing_alg: match row.id_token_signed_response_alg.as_deref() {
            Some(alg) => Some(SigningAlg::from_header(alg).ok_or_else(|| corrupt("ID token alg"))?),
            None => None,
        },
        resource_server_for,
        dormant_apis,
        roles,
        permissions,
        token_ttl: row.token_ttl,
        disabled_at: row.disabled_at,
        created_at: row.created_at,
        redirect_uris,
        post_logout_redirect_uris,
        public: row.is_public != 0,
        skip_consent: row.skip_consent != 0,
        // A public client has nothing else to prove the code is its own.
        pkce_required: row.pkce_required != 0 || row.is_public != 0,
        private_key_jwt: row.auth_method == super::PRIVATE_KEY_JWT,
        keys: key_rows
            .into_iter()
            .map(|(kid, jwk)| super::ClientJwk { kid, jwk })
            .collect(),
        links,
        jwks_uri: row.jwks_uri,
    }))
}
