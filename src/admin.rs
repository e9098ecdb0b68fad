//! Management operations shared by the CLI and the server's start-up: clients, secrets, bootstrap.

use crate::clock::Clock;
use crate::crypto::{GeneratedSecret, random};
use crate::protocol::{ApiIdentifier, ClientId, GrantType, Scope, TenantSlug};
use crate::store::apis::Tenancy;
use crate::store::clients::{ClientRecord, NewClient};
use crate::store::{self, Store};

pub const ADMIN_API: &str = "urn:castellan:admin";
pub const ADMIN_SCOPE: &str = "castellan:admin";
pub const DEFAULT_TENANT: &str = "default";

/// Registers a client with a fresh id and (unless public) secret; the secret exists only in
/// the return value.
pub async fn create_client(
    store: &Store,
    clock: &Clock,
    new: &NewClient,
) -> store::Result<(ClientRecord, Option<GeneratedSecret>)> {
    let client_id = ClientId::parse(&random::short_id().map_err(internal)?)
        .map_err(store::Error::internal_from)?;
    // A public client gets no secret at all: it proves itself with PKCE; a private_key_jwt
    // client proves itself with its key.
    let secret = match new.public || new.keys.is_some() || new.jwks_uri.is_some() {
        true => None,
        false => Some(GeneratedSecret::generate().map_err(internal)?),
    };
    let hash = secret.as_ref().map(GeneratedSecret::hash);
    let record = store
        .create_client(&client_id, new, hash.as_ref(), clock.now())
        .await?;
    Ok((record, secret))
}

/// Replaces the secret; the old one stops working as soon as servers see the change.
pub async fn rotate_secret(
    store: &Store,
    clock: &Clock,
    client_id: &ClientId,
) -> store::Result<GeneratedSecret> {
    let secret = GeneratedSecret::generate().map_err(internal)?;
    store
        .set_client_secret(client_id, &secret.hash(), clock.now())
        .await?;
    Ok(secret)
}

/// On an empty database: the `default` tenant, the admin API and a bootstrap admin client.
///
/// Returns the admin client's credentials only to the one node that created them.
pub async fn bootstrap(
    store: &Store,
    clock: &Clock,
) -> store::Result<Option<(ClientRecord, GeneratedSecret)>> {
    if !store.list_tenants().await?.is_empty() {
        return Ok(None);
    }
    let now = clock.now();
    let tenant = parse(TenantSlug::parse(DEFAULT_TENANT))?;
    match store.create_tenant(&tenant, "Default", now).await {
        Ok(_) => {}
        // Another node is bootstrapping the same database.
        Err(store::Error::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e),
    }
    let api = parse(ApiIdentifier::parse(ADMIN_API))?;
    let scope = parse(Scope::parse(ADMIN_SCOPE))?;
    // It reads every tenant's audit trail: only the operator's own tenant may be granted it.
    let owned = Tenancy::Only {
        owner: Some(tenant.clone()),
        shared_with: vec![],
    };
    store
        .create_api_in(
            &api,
            "Castellan administration",
            std::slice::from_ref(&scope),
            &owned,
            now,
        )
        .await?;
    let new = NewClient {
        tenant,
        name: "bootstrap admin".into(),
        display_name: None,
        grant_types: vec![GrantType::ClientCredentials],
        apis: vec![(api, vec![scope])],
        resource_server_for: vec![],
        roles: vec![],
        token_ttl: None,
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        public: false,
        skip_consent: false,
        pkce_required: true,
        keys: None,
        jwks_uri: None,
        id_token_signing_alg: None,
    };
    let (record, secret) = create_client(store, clock, &new).await?;
    let secret = secret.ok_or_else(|| store::Error::internal("the admin client has no secret"))?;
    Ok(Some((record, secret)))
}

fn parse<T>(r: Result<T, crate::protocol::values::InvalidValue>) -> store::Result<T> {
    r.map_err(store::Error::internal_from)
}

fn internal(e: crate::crypto::CryptoError) -> store::Error {
    store::Error::internal_from(e)
}
