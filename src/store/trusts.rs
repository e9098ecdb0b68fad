//! Trusts: external issuers of workload tokens a tenant accepts, and the links that let one
//! client be authenticated by one external subject of a trust.

use std::collections::BTreeMap;

use sqlx::{Any, Transaction};

use super::clients::{ClientRecord, commit_loaded, no_such_client};
use super::error::ResultExt;
use super::tenants::tenant_id;
use super::{Error, Result, Store, commit_change, new_id};
use crate::protocol::{ClientId, TenantSlug};

/// Where a trust's verification keys come from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum TrustKeys {
    /// A JWKS document held by Castellan (a Kubernetes cluster's keys, uploaded).
    Jwks(String),
    JwksUri(String),
    /// The issuer's OpenID discovery document names its `jwks_uri`.
    Discovery,
}

/// A trust as the CLI shows it and the token endpoint uses it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Trust {
    pub tenant: String,
    pub name: String,
    pub issuer: String,
    pub keys: TrustKeys,
    /// `None`: tokens must be for Castellan's own issuer identifier.
    pub audience: Option<String>,
    pub max_lifetime: i64,
    /// Tokens may be presented many times (Kubernetes projected tokens, JWT-SVIDs).
    pub reusable_jti: bool,
    /// A SPIFFE trust domain: JWT-SVIDs, whose `iss` may be absent.
    pub spiffe: bool,
    /// Claims every token must carry with exactly these values.
    pub claims: BTreeMap<String, String>,
}

/// A client's acceptance of one external subject of a trust.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TrustLink {
    pub trust: Trust,
    pub subject: String,
    pub claims: BTreeMap<String, String>,
}

#[derive(sqlx::FromRow)]
struct TrustRow {
    slug: String,
    name: String,
    issuer: String,
    key_source: String,
    jwks: Option<String>,
    jwks_uri: Option<String>,
    audience: Option<String>,
    max_lifetime: i64,
    reusable_jti: i64,
    spiffe: i64,
    claims: String,
}

const TRUST_COLUMNS: &str = "t.slug, tr.name, tr.issuer, tr.key_source, tr.jwks, tr.jwks_uri, \
     tr.audience, tr.max_lifetime, tr.reusable_jti, tr.spiffe, tr.claims";

impl TrustRow {
    fn into_trust(self) -> Result<Trust> {
        let corrupt =
            |what: &str| Error::internal(format!("trust {} has an invalid {what}", self.name));
        let keys = match (
            self.key_source.as_str(),
            self.jwks.clone(),
            self.jwks_uri.clone(),
        ) {
            ("jwks", Some(jwks), _) => TrustKeys::Jwks(jwks),
            ("jwks_uri", _, Some(uri)) => TrustKeys::JwksUri(uri),
            ("discovery", _, _) => TrustKeys::Discovery,
            _ => return Err(corrupt("key source")),
        };
        let claims = serde_json::from_str(&self.claims).map_err(|_| corrupt("claim condition"))?;
        Ok(Trust {
            tenant: self.slug,
            name: self.name,
            issuer: self.issuer,
            keys,
            audience: self.audience,
            max_lifetime: self.max_lifetime,
            reusable_jti: self.reusable_jti != 0,
            spiffe: self.spiffe != 0,
            claims,
        })
    }
}

impl Store {
    pub async fn create_trust(&self, trust: &Trust, now: i64) -> Result<Trust> {
        let tenant = TenantSlug::parse(&trust.tenant).map_err(|e| Error::Invalid(e.0))?;
        let mut tx = self.begin_write().await?;
        let tenant_row = tenant_id(&mut tx, &tenant).await?;
        let (source, jwks, uri) = match &trust.keys {
            TrustKeys::Jwks(jwks) => ("jwks", Some(jwks.as_str()), None),
            TrustKeys::JwksUri(uri) => ("jwks_uri", None, Some(uri.as_str())),
            TrustKeys::Discovery => ("discovery", None, None),
        };
        let claims = serde_json::to_string(&trust.claims).map_err(Error::internal_from)?;
        sqlx::query(
            "INSERT INTO trusts (id, tenant_id, name, issuer, key_source, jwks, jwks_uri, audience, \
             max_lifetime, reusable_jti, spiffe, claims, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(new_id(now)?)
        .bind(&tenant_row)
        .bind(&trust.name)
        .bind(&trust.issuer)
        .bind(source)
        .bind(jwks)
        .bind(uri)
        .bind(trust.audience.as_deref())
        .bind(trust.max_lifetime)
        .bind(i64::from(trust.reusable_jti))
        .bind(i64::from(trust.spiffe))
        .bind(claims)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(Error::from)
        .on_conflict(|| format!("tenant {tenant} already has a trust named {:?}", trust.name))?;
        commit_change(tx).await?;
        Ok(trust.clone())
    }

    pub async fn list_trusts(&self, tenant: Option<&TenantSlug>) -> Result<Vec<Trust>> {
        let rows: Vec<TrustRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TRUST_COLUMNS} FROM trusts tr JOIN tenants t ON t.id = tr.tenant_id \
             WHERE $1 = '' OR t.slug = $1 ORDER BY t.slug, tr.name"
        )))
        .bind(tenant.map(TenantSlug::as_str).unwrap_or(""))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(TrustRow::into_trust).collect()
    }

    /// Refused while a client is linked to it: its workloads would lose their way in silently.
    pub async fn delete_trust(&self, tenant: &TenantSlug, name: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let row = trust_row(&mut tx, tenant, name).await?;
        let (linked,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM client_trust_links WHERE trust_id = $1")
                .bind(&row)
                .fetch_one(&mut *tx)
                .await?;
        if linked > 0 {
            return Err(Error::Conflict(format!(
                "trust {name:?} is still linked to {linked} client(s); unlink them first (`castellan client unlink ID --trust {name}`)"
            )));
        }
        sqlx::query("DELETE FROM trusts WHERE id = $1")
            .bind(&row)
            .execute(&mut *tx)
            .await?;
        commit_change(tx).await
    }

    /// Links the client to the trust (of the client's own tenant) for one external subject.
    pub async fn link_client(
        &self,
        client_id: &ClientId,
        trust: &str,
        subject: &str,
        claims: &BTreeMap<String, String>,
    ) -> Result<ClientRecord> {
        if subject.is_empty() || subject.len() > 512 {
            return Err(Error::Invalid(
                "the subject must be 1 to 512 characters".into(),
            ));
        }
        let mut tx = self.begin_write().await?;
        let (client_row, tenant) = client_tenant(&mut tx, client_id).await?;
        let trust_row = trust_row(&mut tx, &tenant, trust).await?;
        let claims = serde_json::to_string(claims).map_err(Error::internal_from)?;
        sqlx::query(
            "INSERT INTO client_trust_links (client_id, trust_id, subject, claims) VALUES ($1, $2, $3, $4)",
        )
        .bind(&client_row)
        .bind(&trust_row)
        .bind(subject)
        .bind(claims)
        .execute(&mut *tx)
        .await
        .map_err(Error::from)
        .on_conflict(|| format!("client {client_id} is already linked to trust {trust:?}"))?;
        commit_loaded(tx, &client_row, client_id).await
    }

    pub async fn unlink_client(&self, client_id: &ClientId, trust: &str) -> Result<ClientRecord> {
        let mut tx = self.begin_write().await?;
        let (client_row, tenant) = client_tenant(&mut tx, client_id).await?;
        let trust_row = trust_row(&mut tx, &tenant, trust).await?;
        let done =
            sqlx::query("DELETE FROM client_trust_links WHERE client_id = $1 AND trust_id = $2")
                .bind(&client_row)
                .bind(&trust_row)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound(format!(
                "client {client_id} is not linked to trust {trust:?}"
            )));
        }
        commit_loaded(tx, &client_row, client_id).await
    }
}

/// A trust's columns (as [`TRUST_COLUMNS`] lists them, then its key source) and a link's.
type LinkRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
    i64,
    String,
    String,
    String,
    String,
);

/// The client's links with their trusts, for loading the client whole.
pub(crate) async fn links_of(
    tx: &mut Transaction<'_, Any>,
    client_row: &str,
) -> Result<Vec<TrustLink>> {
    let rows: Vec<LinkRow> = sqlx::query_as(
        "SELECT t.slug, tr.name, tr.issuer, tr.jwks, tr.jwks_uri, tr.audience, tr.max_lifetime, \
             tr.reusable_jti, tr.spiffe, tr.claims, tr.key_source, l.subject, l.claims \
             FROM client_trust_links l JOIN trusts tr ON tr.id = l.trust_id \
             JOIN tenants t ON t.id = tr.tenant_id WHERE l.client_id = $1 ORDER BY tr.name",
    )
    .bind(client_row)
    .fetch_all(&mut **tx)
    .await?;
    rows.into_iter()
        .map(
            |(
                slug,
                name,
                issuer,
                jwks,
                jwks_uri,
                audience,
                max_lifetime,
                reusable_jti,
                spiffe,
                claims,
                key_source,
                subject,
                link_claims,
            )| {
                let trust = TrustRow {
                    slug,
                    name,
                    issuer,
                    key_source,
                    jwks,
                    jwks_uri,
                    audience,
                    max_lifetime,
                    reusable_jti,
                    spiffe,
                    claims,
                }
                .into_trust()?;
                let claims = serde_json::from_str(&link_claims).map_err(|_| {
                    Error::internal(format!("a link to trust {} is corrupt", trust.name))
                })?;
                Ok(TrustLink {
                    trust,
                    subject,
                    claims,
                })
            },
        )
        .collect()
}

async fn trust_row(
    tx: &mut Transaction<'_, Any>,
    tenant: &TenantSlug,
    name: &str,
) -> Result<String> {
    let tenant_row = tenant_id(tx, tenant).await?;
    let row: Option<(String,)> =
        sqlx::query_as("SELECT id FROM trusts WHERE tenant_id = $1 AND name = $2")
            .bind(&tenant_row)
            .bind(name)
            .fetch_optional(&mut **tx)
            .await?;
    row.map(|(id,)| id)
        .ok_or_else(|| Error::NotFound(format!("tenant {tenant} has no trust named {name:?}")))
}

async fn client_tenant(
    tx: &mut Transaction<'_, Any>,
    client_id: &ClientId,
) -> Result<(String, TenantSlug)> {
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT c.id, t.slug, c.is_public FROM clients c JOIN tenants t ON t.id = c.tenant_id WHERE c.client_id = $1",
    )
    .bind(client_id.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let (row, slug, public) = row.ok_or_else(|| no_such_client(client_id))?;
    if public != 0 {
        return Err(Error::Invalid(format!(
            "client {client_id} is public: it has no credentials, and a trust link would give it one"
        )));
    }
    let slug = TenantSlug::parse(&slug).map_err(|e| Error::internal(e.0))?;
    Ok((row, slug))
}
