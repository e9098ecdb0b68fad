//! The authorization endpoint: a signed-in user goes on to consent or a code.

use super::error::Stop;
use super::{CODE_TTL, SignIn, Step, Verified, scopes};
use crate::crypto::{SecretHash, random};
use crate::protocol::authorize::{AuthorizeErrorCode, AuthorizeResponse};
use crate::protocol::form::FormParams;
use crate::store::grants::CodeGrant;
use crate::store::sessions::Session;
use crate::store::users::UserRecord;

impl SignIn {
    /// `GET`/`POST /authorize`, with the browser's session cookie if any.
    pub async fn authorize(&self, params: &FormParams, session: Option<&str>) -> Step {
        let verified = match self.verify(params).await {
            Ok(v) => v,
            Err(step) => return step,
        };
        let flow = self.authorize_verified(&verified, session).await;
        self.finish(&verified, flow)
    }

    async fn authorize_verified(&self, v: &Verified, session: Option<&str>) -> Result<Step, Stop> {
        let now = self.ctx.clock.now();
        Ok(match self.session_user(session, v, now).await? {
            Some((user, session)) => self.signed_in(v, &user, &session).await?,
            None if v.request.prompt.none => self.error_redirect(
                v,
                AuthorizeErrorCode::LoginRequired,
                "the user is not signed in",
            ),
            None => Step::Login {
                client_name: v.client.shown_name().to_owned(),
                username: v.request.login_hint.clone().unwrap_or_default(),
                error: None,
                retry_after: None,
            },
        })
    }

    /// Consent if needed, else a code. Consent covers the audience and every scope: an empty
    /// scope set still hands the client a token that speaks for the user.
    pub(super) async fn signed_in(
        &self,
        v: &Verified,
        user: &UserRecord,
        session: &Session,
    ) -> Result<Step, Stop> {
        let needs_consent = if v.client.skip_consent {
            false
        } else if v.request.prompt.consent {
            true
        } else {
            let granted = self
                .ctx
                .store
                .consented_scopes(
                    &user.id,
                    &v.client.id,
                    &v.audience,
                    self.ctx.clock.now() - self.ctx.sessions.consent_ttl,
                )
                .await?;
            consent_items(v)
                .iter()
                .any(|item| !granted.iter().any(|g| g == item))
        };
        if !needs_consent {
            return self.issue_code(v, user, session).await;
        }
        if v.request.prompt.none {
            return Ok(self.error_redirect(
                v,
                AuthorizeErrorCode::ConsentRequired,
                "the user has not consented",
            ));
        }
        let userinfo = self.ctx.userinfo_url();
        Ok(Step::Consent {
            client_name: v.client.shown_name().to_owned(),
            username: user.username.clone(),
            // Signing in (`openid`) first, then the rest in the set's order, then what the
            // token carries and for whom.
            scopes: v
                .request
                .scope
                .iter()
                .filter(|s| s.as_str() == "openid")
                .chain(v.request.scope.iter().filter(|s| s.as_str() != "openid"))
                .map(|s| scopes::describe(s.as_str(), v.client.shown_name()))
                .chain([scopes::describe_audience(
                    (v.audience != userinfo).then_some(v.audience.as_str()),
                    &user.tenant,
                )])
                .collect(),
        })
    }

    pub(super) async fn issue_code(
        &self,
        v: &Verified,
        user: &UserRecord,
        session: &Session,
    ) -> Result<Step, Stop> {
        let (code, family) = (random::token()?, random::uuid_v4()?);
        let grant = CodeGrant {
            family: family.to_string(),
            client_row: v.client.id.clone(),
            user_row: user.id.clone(),
            redirect_uri: v.redirect_uri.clone(),
            scope: v.request.scope.to_string(),
            audience: v.audience.clone(),
            nonce: v.request.nonce.clone(),
            code_challenge: v
                .request
                .code_challenge
                .as_ref()
                .map_or_else(String::new, |c| c.as_str().to_owned()),
            auth_time: session.auth_time,
            sid: session.sid.clone(),
            redirect_uri_given: v.redirect_uri_given,
        };
        let now = self.ctx.clock.now();
        self.ctx
            .store
            .insert_code(
                SecretHash::of(&code).as_bytes(),
                &grant,
                now,
                now + CODE_TTL,
            )
            .await?;
        let mut params = vec![("code", code)];
        params.extend(v.request.state.clone().map(|s| ("state", s)));
        params.push(("iss", self.ctx.issuer_url.clone()));
        Ok(Step::Respond(AuthorizeResponse {
            redirect_uri: v.redirect_uri.clone(),
            mode: v.mode,
            params,
        }))
    }
}

/// What a consent is recorded for: the audience itself (the empty item), then each scope.
pub(super) fn consent_items(v: &Verified) -> Vec<&str> {
    std::iter::once("")
        .chain(v.request.scope.iter().map(|s| s.as_str()))
        .collect()
}
