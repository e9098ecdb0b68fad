//! The refresh token grant, with rotation and reuse detection (RFC 6749 §6, RFC 9700 §4.14).

use std::net::IpAddr;

use super::code_grant::{SignedIn, invalid_grant};
use super::{Issuer, Subject, TokenId};
use crate::audit::{EventKind, Outcome};
use crate::crypto::{SecretHash, random};
use crate::protocol::claims::TokenResponse;
use crate::protocol::{ErrorCode, GrantType, OAuthError, ScopeSet};
use crate::store::clients::ClientRecord;
use crate::store::grants::{NewRefresh, Redemption, RefreshGrant};

impl Issuer {
    /// RFC 6749 §6 with rotation: the presented token is spent and a successor issued in one
    /// transaction; presenting a spent token revokes the whole family (RFC 9700 §4.14.2).
    pub(super) async fn refresh(
        &self,
        client: &ClientRecord,
        token: &str,
        asked: Option<ScopeSet>,
        address: IpAddr,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.grant_types.contains(&GrantType::RefreshToken) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "this client is not allowed to use the refresh_token grant",
            ));
        }
        let now = self.ctx.clock.now();
        let random_successor = random::token()?;
        let salt = random::salt()?;
        let id = TokenId::new(now, self.access_ttl(client))?;
        let spent = SecretHash::of(token);
        // Checked inside the rotation: a refused request leaves the presented token usable.
        let acceptable =
            |g: &RefreshGrant| g.client_row == client.id && narrowed(g, asked.as_ref()).is_ok();
        // Derived, so a retry inside the grace window is given the same successor again.
        let mut successor = random_successor;
        let rotation = self
            .ctx
            .store
            .rotate_refresh(
                spent.as_bytes(),
                &id.issued_to(client),
                |g| {
                    if let Some(grant_salt) = &g.successor_salt {
                        successor = random::derived_token(grant_salt, token);
                    }
                    acceptable(g).then(|| NewRefresh {
                        hash: SecretHash::of(&successor).as_bytes().to_vec(),
                        grant: g.clone(),
                        idle_expires_at: now + self.ctx.sessions.refresh_idle_ttl,
                        salt,
                    })
                },
                self.ctx.sessions.refresh_reuse_grace,
                now,
            )
            .await?;
        let grant = match rotation {
            Redemption::Fresh(grant) => grant,
            Redemption::Declined(grant) if grant.client_row != client.id => {
                return Err(invalid_grant(
                    "the refresh token was issued to another client",
                ));
            }
            Redemption::Declined(grant) => {
                return Err(narrowed(&grant, asked.as_ref())
                    .err()
                    .unwrap_or_else(OAuthError::server_error));
            }
            Redemption::Replayed { family } => {
                let what = "refresh token reused; its sign-in is revoked";
                self.reuse_detected(client, address, &family, what);
                return Err(invalid_grant(
                    "this refresh token was already used; its sign-in is revoked",
                ));
            }
            Redemption::Invalid => {
                return Err(invalid_grant(
                    "the refresh token is unknown, expired or revoked",
                ));
            }
        };
        let scope = narrowed(&grant, asked.as_ref())?;
        let user = self
            .ctx
            .store
            .find_user_by_row(&grant.user_row)
            .await?
            .filter(|u| u.disabled_at.is_none())
            .ok_or_else(|| invalid_grant("the user can no longer sign in"))?;
        let scope = scope.to_string();
        let access_token =
            self.access_token(client, &Subject::user(&user), &grant.audience, &scope, &id)?;
        // OIDC Core §12.2: a fresh ID token for an OpenID sign-in, so a relying party that keeps
        // the latest one still holds a valid hint for logout; same sub and auth_time, no nonce.
        let signed_in = SignedIn {
            auth_time: grant.auth_time,
            nonce: None,
            sid: grant.sid.as_deref(),
        };
        let id_token = self.id_token(client, &user, signed_in, &access_token, &scope, &id)?;
        self.ctx.audit.record(
            self.user_event(EventKind::TokenIssued, Outcome::Success, client, address)
                .actor(&user.id)
                .detail("grant refresh_token"),
        );
        Ok(TokenResponse {
            id_token,
            refresh_token: Some(successor),
            ..id.response(access_token, scope)
        })
    }
}

/// The scope of a refreshed token: the original grant, or a part of it (RFC 6749 §6).
fn narrowed(grant: &RefreshGrant, asked: Option<&ScopeSet>) -> Result<String, OAuthError> {
    let granted = ScopeSet::parse(&grant.scope)
        .map_err(|_| invalid_grant("the refresh token is unusable"))?;
    let Some(asked) = asked else {
        return Ok(granted.to_string());
    };
    match asked.excess_over(&granted).next() {
        Some(extra) => Err(OAuthError::invalid_scope(format!(
            "scope {:?} was not part of the original grant",
            extra.as_str()
        ))),
        None => Ok(asked.to_string()),
    }
}
