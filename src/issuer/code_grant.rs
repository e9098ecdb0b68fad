//! The authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.5, OIDC Core §3.1.3).

use std::net::IpAddr;

use super::{Issuer, Subject, TokenId};
use crate::audit::{EventKind, Outcome};
use crate::crypto::jwt::{self, JwtType};
use crate::crypto::{SecretHash, pkce, random};
use crate::protocol::claims::{IdTokenClaims, TokenResponse};
use crate::protocol::pkce::{CodeChallenge, CodeVerifier};
use crate::protocol::{ErrorCode, GrantType, OAuthError, SigningAlg};
use crate::store::clients::ClientRecord;
use crate::store::grants::{CodeGrant, NewRefresh, Redemption, RefreshGrant};
use crate::store::users::UserRecord;

pub(super) fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

impl Issuer {
    /// Reads first (the code's user), then spends the code and stores its refresh token in one
    /// transaction, then signs in memory: a store failure at any step leaves the code usable for
    /// the client's retry, instead of spent with nothing issued (a retry would then be a replay).
    pub(super) async fn exchange_code(
        &self,
        client: &ClientRecord,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        address: IpAddr,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.grant_types.contains(&GrantType::AuthorizationCode) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "this client is not allowed to use the authorization_code grant",
            ));
        }
        let verifier = verifier
            .map(|v| CodeVerifier::parse(v).map_err(|e| invalid_grant(&e.0)))
            .transpose()?;
        if verifier.is_none() && client.pkce_required {
            return Err(invalid_grant("code_verifier is required (PKCE)"));
        }
        let now = self.ctx.clock.now();
        let hash = SecretHash::of(code);
        // A code already used has no live user: the redemption below then detects the replay.
        let user = match self.ctx.store.code_user(hash.as_bytes(), now).await? {
            Some(row) => self.ctx.store.find_user_by_row(&row).await?,
            None => None,
        };
        let refresh_token = random::token()?;
        let salt = random::salt()?;
        let id = TokenId::new(now, self.access_ttl(client))?;
        let mut checked = Err(invalid_grant("the code is unknown or expired"));
        let redemption = self
            .ctx
            .store
            .redeem_code(hash.as_bytes(), now, &id.issued_to(client), |grant| {
                checked = check(client, grant, redirect_uri, verifier.as_ref());
                let usable = checked.is_ok()
                    && user
                        .as_ref()
                        .is_some_and(|u| u.id == grant.user_row && u.disabled_at.is_none());
                (usable && self.offline(client, &grant.scope))
                    .then(|| self.refresh_record(client, grant, &refresh_token, salt, now))
            })
            .await?;
        let grant = match redemption {
            Redemption::Fresh(grant) => grant,
            Redemption::Replayed { family } => {
                let what = "authorization code replayed; its grant is revoked";
                self.reuse_detected(client, address, &family, what);
                return Err(invalid_grant(
                    "this code was already used; every token it produced is revoked",
                ));
            }
            Redemption::Invalid | Redemption::Declined(_) => {
                return Err(invalid_grant("the code is unknown or expired"));
            }
        };
        checked?;
        let user = user
            .filter(|u| u.id == grant.user_row && u.disabled_at.is_none())
            .ok_or_else(|| invalid_grant("the user can no longer sign in"))?;
        let refresh_token = self.offline(client, &grant.scope).then_some(refresh_token);
        let tokens = self.user_tokens(client, &user, &grant, &id, refresh_token)?;
        self.ctx.audit.record(
            self.user_event(EventKind::TokenIssued, Outcome::Success, client, address)
                .actor(&user.id)
                .detail("grant authorization_code"),
        );
        Ok(tokens)
    }

    /// A replayed code or reused refresh token: a stolen value, or a client bug; either way the
    /// operator hears of it.
    pub(super) fn reuse_detected(
        &self,
        client: &ClientRecord,
        address: IpAddr,
        family: &str,
        what: &str,
    ) {
        tracing::warn!(client_id = %client.client_id, %family, "{what}");
        self.ctx.audit.record(
            self.user_event(
                EventKind::RefreshReuseDetected,
                Outcome::Denied,
                client,
                address,
            )
            .detail(what),
        );
    }

    /// A refresh token comes with `offline_access`, for clients allowed the refresh grant.
    pub(super) fn offline(&self, client: &ClientRecord, scope: &str) -> bool {
        scope.split(' ').any(|s| s == "offline_access")
            && client.grant_types.contains(&GrantType::RefreshToken)
    }

    /// Access token and ID token (scope `openid`), with the refresh token already stored.
    fn user_tokens(
        &self,
        client: &ClientRecord,
        user: &UserRecord,
        grant: &CodeGrant,
        id: &TokenId,
        refresh_token: Option<String>,
    ) -> Result<TokenResponse, OAuthError> {
        let access_token = self.access_token(
            client,
            &Subject::user(user),
            &grant.audience,
            &grant.scope,
            id,
        )?;
        let signed_in = SignedIn {
            auth_time: grant.auth_time,
            nonce: grant.nonce.as_deref(),
            sid: grant.sid.as_deref(),
        };
        let id_token = self.id_token(client, user, signed_in, &access_token, &grant.scope, id)?;
        Ok(TokenResponse {
            id_token,
            refresh_token,
            ..id.response(access_token, grant.scope.clone())
        })
    }

    /// An ID token for `user` when `scope` holds `openid`, issued with the access token `id`
    /// names. `signed_in` is the sign-in it speaks of: its `auth_time` and `sid`, and the
    /// `nonce` of the code exchange (none on refresh: OIDC Core §12.2).
    pub(super) fn id_token(
        &self,
        client: &ClientRecord,
        user: &UserRecord,
        signed_in: SignedIn<'_>,
        access_token: &str,
        scope: &str,
        id: &TokenId,
    ) -> Result<Option<String>, OAuthError> {
        let scopes: Vec<&str> = scope.split(' ').collect();
        if !scopes.contains(&"openid") {
            return Ok(None);
        }
        let alg = client.id_token_signing_alg.unwrap_or(SigningAlg::RS256);
        let key = self.ctx.keys.signer(alg);
        let at_hash = jwt::at_hash(access_token, key.alg());
        let profile = scopes.contains(&"profile");
        let claims = IdTokenClaims {
            iss: &self.ctx.issuer_url,
            sub: &user.id,
            aud: client.client_id.as_str(),
            exp: id.exp,
            iat: id.iat,
            auth_time: signed_in.auth_time,
            nonce: signed_in.nonce,
            at_hash: &at_hash,
            azp: client.client_id.as_str(),
            name: user.name.as_deref().filter(|_| profile),
            preferred_username: Some(user.username.as_str()).filter(|_| profile),
            given_name: user.given_name.as_deref().filter(|_| profile),
            family_name: user.family_name.as_deref().filter(|_| profile),
            updated_at: Some(user.updated_at).filter(|_| profile),
            email: email(user, &scopes),
            email_verified: email(user, &scopes).map(|_| user.email_verified),
            roles: &user.roles,
            tenant_id: &user.tenant,
            sid: signed_in.sid,
        };
        Ok(Some(jwt::sign(&key, JwtType::IdToken, &claims)?))
    }

    /// The stored form of the first refresh token of a sign-in.
    fn refresh_record(
        &self,
        client: &ClientRecord,
        grant: &CodeGrant,
        token: &str,
        salt: Vec<u8>,
        now: i64,
    ) -> NewRefresh {
        NewRefresh {
            hash: SecretHash::of(token).as_bytes().to_vec(),
            grant: RefreshGrant {
                family: grant.family.clone(),
                client_row: client.id.clone(),
                user_row: grant.user_row.clone(),
                scope: grant.scope.clone(),
                audience: grant.audience.clone(),
                auth_time: grant.auth_time,
                expires_at: now + self.ctx.sessions.refresh_absolute_ttl,
                successor_salt: None,
                sid: grant.sid.clone(),
            },
            idle_expires_at: now + self.ctx.sessions.refresh_idle_ttl,
            salt,
        }
    }
}

/// What an ID token says about the sign-in it comes from.
pub(super) struct SignedIn<'a> {
    pub(super) auth_time: i64,
    pub(super) nonce: Option<&'a str>,
    pub(super) sid: Option<&'a str>,
}

/// The code must be this client's, sent back to the same redirect URI, with the right verifier.
fn check(
    client: &ClientRecord,
    grant: &CodeGrant,
    redirect_uri: Option<&str>,
    verifier: Option<&CodeVerifier>,
) -> Result<(), OAuthError> {
    if grant.client_row != client.id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    // RFC 6749 §4.1.3: required when the authorization request named one, and always equal.
    match redirect_uri {
        None if grant.redirect_uri_given => {
            return Err(invalid_grant(
                "redirect_uri must be sent, as it was in the authorization request",
            ));
        }
        Some(sent) if sent != grant.redirect_uri => {
            return Err(invalid_grant(
                "redirect_uri must equal the one of the authorization request",
            ));
        }
        _ => {}
    }
    // A code issued with a challenge needs its verifier; one issued without takes none, so
    // that a verifier can never stand in for a challenge that was not made (no downgrade).
    match (grant.code_challenge.as_str(), verifier) {
        ("", None) if !client.pkce_required => Ok(()),
        ("", None) => Err(invalid_grant("code_verifier is required (PKCE)")),
        ("", Some(_)) => Err(invalid_grant(
            "code_verifier was sent, but the authorization request had no code_challenge",
        )),
        (_, None) => Err(invalid_grant(
            "code_verifier is required: the authorization request had a code_challenge",
        )),
        (challenge, Some(verifier)) => {
            let challenge = CodeChallenge::parse(challenge, Some("S256"))
                .map_err(|_| invalid_grant("the code is unusable"))?;
            if pkce::matches(&challenge, verifier) {
                Ok(())
            } else {
                Err(invalid_grant(
                    "code_verifier does not match the code_challenge",
                ))
            }
        }
    }
}

/// The address, when the `email` scope was granted and the user has one.
fn email<'a>(user: &'a UserRecord, scopes: &[&str]) -> Option<&'a str> {
    user.email.as_deref().filter(|_| scopes.contains(&"email"))
}
