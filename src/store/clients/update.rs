//! Changing a registered client: each field given replaces the one stored, in one transaction,
//! and the result must pass the same rules as a new registration.

use super::load::{By, load};
use super::{
    ClientRecord, NewClient, check_name, commit_loaded, grant_api, name_taken, no_such_client,
};
use crate::protocol::{ApiIdentifier, ClientId, GrantType, RedirectUri, Scope};
use crate::store::error::ResultExt;
use crate::store::roles::{Holder, grant_role};
use crate::store::{Error, Result, Store};

/// What `client update` changes; `None` (or empty) leaves a field as it is.
#[derive(Debug, Default)]
pub struct ClientUpdate {
    pub name: Option<String>,
    pub grant_types: Option<Vec<GrantType>>,
    /// Each API given gets exactly these scopes (granted if it was not).
    pub set_apis: Vec<(ApiIdentifier, Vec<Scope>)>,
    pub remove_apis: Vec<ApiIdentifier>,
    pub roles: Option<Vec<String>>,
    pub redirect_uris: Option<Vec<RedirectUri>>,
    pub post_logout_redirect_uris: Option<Vec<RedirectUri>>,
    pub skip_consent: Option<bool>,
    /// `Some(None)` returns to the server's default lifetime.
    pub token_ttl: Option<Option<i64>>,
    pub pkce_required: Option<bool>,
}

impl ClientUpdate {
    /// The registration the client would have afterwards, for the rules `NewClient` enforces.
    fn applied_to(&self, c: &ClientRecord) -> Result<NewClient> {
        let resource_server_for = c
            .resource_server_for
            .iter()
            .map(|a| ApiIdentifier::parse(a).map_err(Error::internal_from))
            .collect::<Result<_>>()?;
        Ok(NewClient {
            tenant: c.tenant.clone(),
            name: self.name.clone().unwrap_or_else(|| c.name.clone()),
            display_name: c.display_name.clone(),
            grant_types: self
                .grant_types
                .clone()
                .unwrap_or_else(|| c.grant_types.clone()),
            apis: Vec::new(),
            resource_server_for,
            roles: self.roles.clone().unwrap_or_else(|| c.roles.clone()),
            token_ttl: self.token_ttl.unwrap_or(c.token_ttl),
            redirect_uris: self
                .redirect_uris
                .clone()
                .unwrap_or_else(|| c.redirect_uris.clone()),
            post_logout_redirect_uris: self
                .post_logout_redirect_uris
                .clone()
                .unwrap_or_else(|| c.post_logout_redirect_uris.clone()),
            public: c.public,
            skip_consent: self.skip_consent.unwrap_or(c.skip_consent),
            pkce_required: self.pkce_required.unwrap_or(c.pkce_required),
            keys: (c.private_key_jwt && c.jwks_uri.is_none()).then(|| c.keys.clone()),
            jwks_uri: c.jwks_uri.clone(),
            id_token_signing_alg: c.id_token_signing_alg,
        })
    }
}

impl Store {
    pub async fn update_client_settings(
        &self,
        client_id: &ClientId,
        change: &ClientUpdate,
        now: i64,
    ) -> Result<ClientRecord> {
        let mut tx = self.begin_write().await?;
        let current = load(&mut tx, By::ClientId, client_id.as_str())
            .await?
            .ok_or_else(|| no_such_client(client_id))?;
        let next = change.applied_to(&current)?;
        check_name(&next.name)?;
        next.validate()?;
        let row = current.id.as_str();
        sqlx::query(
            "UPDATE clients SET name = $1, token_ttl = $2, skip_consent = $3, pkce_required = $4, \
             updated_at = $5 WHERE id = $6",
        )
        .bind(&next.name)
        .bind(next.token_ttl)
        .bind(i64::from(next.skip_consent))
        .bind(i64::from(next.pkce_required))
        .bind(now)
        .bind(row)
        .execute(&mut *tx)
        .await
        .map_err(Error::from)
        .on_conflict(|| name_taken(&next.tenant, &next.name))?;
        if let Some(grants) = &change.grant_types {
            sqlx::query("DELETE FROM client_grant_types WHERE client_id = $1")
                .bind(row)
                .execute(&mut *tx)
                .await?;
            for grant in grants {
                sqlx::query("INSERT INTO client_grant_types (client_id, grant_type) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(row)
                    .bind(grant.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let uris = [
            ("login", &change.redirect_uris),
            ("logout", &change.post_logout_redirect_uris),
        ];
        for (kind, list) in uris {
            let Some(list) = list else { continue };
            sqlx::query("DELETE FROM client_redirect_uris WHERE client_id = $1 AND kind = $2")
                .bind(row)
                .bind(kind)
                .execute(&mut *tx)
                .await?;
            for uri in list {
                sqlx::query("INSERT INTO client_redirect_uris (client_id, kind, uri) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(row)
                    .bind(kind)
                    .bind(uri.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let tenant_row = crate::store::tenants::tenant_id(&mut tx, &current.tenant).await?;
        for api in change
            .remove_apis
            .iter()
            .chain(change.set_apis.iter().map(|(api, _)| api))
        {
            let removed = sqlx::query(
                "DELETE FROM client_apis WHERE client_id = $1 AND api_id IN \
                 (SELECT id FROM apis WHERE identifier = $2)",
            )
            .bind(row)
            .bind(api.as_str())
            .execute(&mut *tx)
            .await?;
            if removed.rows_affected() == 0 && change.remove_apis.contains(api) {
                return Err(Error::NotFound(format!(
                    "client {client_id} is not granted API {api}"
                )));
            }
        }
        for (api, scopes) in &change.set_apis {
            grant_api(&mut tx, row, &tenant_row, &current.tenant, api, scopes).await?;
        }
        if let Some(roles) = &change.roles {
            sqlx::query("DELETE FROM client_roles WHERE client_id = $1")
                .bind(row)
                .execute(&mut *tx)
                .await?;
            for role in roles {
                grant_role(
                    &mut tx,
                    Holder::Client,
                    row,
                    &tenant_row,
                    &current.tenant,
                    role,
                )
                .await?;
            }
        }
        commit_loaded(tx, row, client_id).await
    }
}
