//! Token issuance: authenticate the client, apply the grant's rules, sign.

pub mod bearer;
pub mod client_assertion;
mod client_credentials;
mod code_grant;
mod error;
pub mod federation;
mod introspection;
mod refresh_grant;
mod userinfo;

use std::net::IpAddr;
use std::sync::Arc;

use crate::audit::{AuditEvent, EventKind, Outcome};
use crate::context::Context;
use crate::crypto::SecretHash;
use crate::crypto::jwt::{self, JwtType};
use crate::metrics::AuthMethodLabel;
use crate::protocol::claims::{AccessTokenClaims, TokenResponse};
use crate::protocol::client_auth::{AuthMethod, ClientCredentials};
use crate::protocol::token_request::TokenRequest;
use crate::protocol::{GrantType, OAuthError, SigningAlg};
use crate::store::clients::ClientRecord;

pub use client_credentials::Decision;

/// Whom an access token speaks for: a service (client credentials) or a person.
struct Subject<'a> {
    sub: &'a str,
    roles: &'a [String],
    permissions: &'a [String],
    tenant: &'a str,
}

impl<'a> Subject<'a> {
    /// A person: the user's row id, roles, permissions and tenant.
    fn user(user: &'a crate::store::users::UserRecord) -> Self {
        Self {
            sub: &user.id,
            roles: &user.roles,
            permissions: &user.permissions,
            tenant: &user.tenant,
        }
    }
}

/// An access token's identity and lifetime, chosen before it is signed so that a user's grant
/// can record it (and revoke it with the grant).
struct TokenId {
    jti: String,
    iat: i64,
    exp: i64,
}

impl TokenId {
    fn new(now: i64, ttl: i64) -> Result<Self, OAuthError> {
        Ok(Self {
            jti: crate::crypto::random::uuid_v4()?
                .hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer())
                .to_owned(),
            iat: now,
            exp: now + ttl,
        })
    }

    /// The token response (RFC 6749 §5.1) for the access token this identifies; the one place
    /// that builds it.
    fn response(&self, access_token: String, scope: String) -> TokenResponse {
        TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.exp - self.iat,
            scope,
            id_token: None,
            refresh_token: None,
        }
    }

    fn issued_to(&self, client: &ClientRecord) -> crate::store::grants::IssuedAccess {
        crate::store::grants::IssuedAccess {
            jti: self.jti.clone(),
            client_id: client.client_id.as_str().to_owned(),
            expires_at: self.exp,
        }
    }
}

/// The token service: what `/token`, `/introspect`, `/revoke` and `/userinfo` decide.
pub struct Issuer {
    pub ctx: Arc<Context>,
    pub default_ttl: i64,
    /// Caps every lifetime: retired keys are kept published exactly this long (plus skew).
    pub max_ttl: i64,
    pub assertions: client_assertion::AssertionPolicy,
    /// Key sets that clients and trusted issuers publish (`jwks_uri`).
    pub fetcher: Arc<crate::jwks_fetch::JwksFetcher>,
}

impl Issuer {
    /// `address` is the caller's, for the audit trail.
    pub async fn token(
        &self,
        creds: ClientCredentials,
        request: TokenRequest,
        address: IpAddr,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.authenticate(&creds).await?;
        let grant = request.grant_type();
        let issued = self.grant(&client, request, address).await;
        if issued.is_ok() {
            self.ctx.metrics.token_issued(grant);
            // Service tokens are counted per client and written in batches, off the hot path;
            // user grants record their own event, with the user as actor.
            if grant == GrantType::ClientCredentials {
                self.ctx.audit.record_token_issued(
                    Some(client.tenant.as_str()),
                    client.client_id.as_str(),
                    grant,
                );
            }
        }
        issued
    }

    /// An event about a user's tokens, for the audit trail.
    fn user_event(
        &self,
        kind: EventKind,
        outcome: Outcome,
        client: &ClientRecord,
        address: IpAddr,
    ) -> AuditEvent {
        AuditEvent::new(kind, outcome)
            .tenant(client.tenant.as_str())
            .client(client.client_id.as_str())
            .ip(address)
    }

    async fn grant(
        &self,
        client: &ClientRecord,
        request: TokenRequest,
        address: IpAddr,
    ) -> Result<TokenResponse, OAuthError> {
        match request {
            TokenRequest::ClientCredentials { scope, target } => {
                if !client.grant_types.contains(&GrantType::ClientCredentials) {
                    return Err(OAuthError::new(
                        crate::protocol::ErrorCode::UnauthorizedClient,
                        "this client is not allowed to use the client_credentials grant",
                    ));
                }
                let decision = client_credentials::decide(client, scope, target.as_ref())?;
                let subject = Subject {
                    sub: client.client_id.as_str(),
                    roles: &client.roles,
                    permissions: &client.permissions,
                    tenant: client.tenant.as_str(),
                };
                let scope = decision.scope.to_string();
                let ttl = self.access_ttl(client);
                let id = TokenId::new(self.ctx.clock.now(), ttl)?;
                let access_token =
                    self.access_token(client, &subject, &decision.audience, &scope, &id)?;
                Ok(id.response(access_token, scope))
            }
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                self.exchange_code(
                    client,
                    &code,
                    redirect_uri.as_deref(),
                    code_verifier.as_deref(),
                    address,
                )
                .await
            }
            TokenRequest::RefreshToken {
                refresh_token,
                scope,
            } => self.refresh(client, &refresh_token, scope, address).await,
        }
    }

    /// Constant-time secret check; an unknown client costs the same hash as a known one.
    /// A public client must present no secret; a confidential one must present its own.
    async fn authenticate(
        &self,
        creds: &ClientCredentials,
    ) -> Result<Arc<ClientRecord>, OAuthError> {
        if creds.method == AuthMethod::PrivateKeyJwt {
            return self.authenticate_assertion(creds).await;
        }
        let method = match creds.method {
            AuthMethod::None => AuthMethodLabel::none,
            _ => AuthMethodLabel::client_secret,
        };
        let result = self.authenticate_secret(creds).await;
        self.ctx
            .metrics
            .client_authenticated(method, result.is_ok());
        result
    }

    async fn authenticate_secret(
        &self,
        creds: &ClientCredentials,
    ) -> Result<Arc<ClientRecord>, OAuthError> {
        let refuse = || OAuthError::invalid_client("unknown client or wrong secret");
        let client = self.ctx.clients.get(&creds.client_id).await?;
        let presented = creds.secret.as_ref().map(|s| s.secret());
        let Some(client) = client else {
            let _ = SecretHash::of("").matches(presented.unwrap_or(""));
            return Err(refuse());
        };
        if client.private_key_jwt {
            return Err(OAuthError::invalid_client(
                "this client authenticates with private_key_jwt (client_assertion), not a secret",
            ));
        }
        let authenticated = match (&client.secret_hash, presented) {
            (Some(hash), Some(secret)) => hash.matches(secret),
            (None, None) => client.public,
            (Some(_), None) => {
                return Err(OAuthError::invalid_client(
                    "client authentication required: HTTP Basic (client_secret_basic) or client_secret in the body (client_secret_post)",
                ));
            }
            (None, Some(_)) => false,
        };
        if !authenticated {
            return Err(refuse());
        }
        if client.disabled_at.is_some() {
            return Err(OAuthError::invalid_client("this client is disabled"));
        }
        Ok(client)
    }

    /// Introspection and revocation answer confidential clients only.
    async fn authenticate_confidential(
        &self,
        creds: &ClientCredentials,
    ) -> Result<Arc<ClientRecord>, OAuthError> {
        let client = self.authenticate(creds).await?;
        if client.public {
            return Err(OAuthError::invalid_client(
                "this endpoint needs a confidential client's credentials",
            ));
        }
        Ok(client)
    }

    /// The client's access-token lifetime, capped by `max_token_ttl`.
    fn access_ttl(&self, client: &ClientRecord) -> i64 {
        client
            .token_ttl
            .unwrap_or(self.default_ttl)
            .min(self.max_ttl)
    }

    /// Signs an RFC 9068 access token for `subject`, issued to `client`.
    fn access_token(
        &self,
        client: &ClientRecord,
        subject: &Subject<'_>,
        audience: &str,
        scope: &str,
        id: &TokenId,
    ) -> Result<String, OAuthError> {
        // Codes and refresh tokens carry the audience they were granted for; the API may have
        // stopped serving the client's tenant since.
        if !client.apis.contains_key(audience) && audience != self.ctx.userinfo_url() {
            return Err(OAuthError::new(
                crate::protocol::ErrorCode::InvalidGrant,
                "this client may no longer get tokens for that API",
            ));
        }
        let claims = AccessTokenClaims {
            iss: &self.ctx.issuer_url,
            sub: subject.sub,
            aud: audience,
            exp: id.exp,
            iat: id.iat,
            nbf: id.iat,
            jti: &id.jti,
            client_id: client.client_id.as_str(),
            scope,
            roles: subject.roles,
            tenant_id: subject.tenant,
            permissions: subject.permissions,
        };
        let alg = client.api_signing_algs.get(audience).copied();
        let key = self.ctx.keys.signer(alg.unwrap_or(SigningAlg::RS256));
        Ok(jwt::sign(&key, JwtType::AccessToken, &claims)?)
    }
}
