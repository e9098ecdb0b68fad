//! RP-Initiated Logout 1.0: end the session at once only for a hint that names it, else ask.

use serde_json::Value;

use super::SignIn;
use crate::crypto::SecretHash;
use crate::protocol::ClientId;
use crate::protocol::authorize::with_query;
use crate::protocol::form::FormParams;
use crate::store::sessions::Session;

/// What a logout request leads to.
#[derive(Debug, PartialEq, Eq)]
pub enum Logout {
    /// Signed out (or there was nothing to end): go to this post-logout URI, or say so.
    Done(Option<String>),
    /// The request does not prove it comes from the session's own relying party (no valid
    /// `id_token_hint` for this session and user): the user must confirm (§2), so that no page
    /// can sign them out and bounce them on with a `state` of its choosing.
    Confirm { client_name: Option<String> },
}

impl SignIn {
    /// `GET`/`POST /logout`. `confirmed` is the user's own answer on the confirmation page,
    /// whose CSRF token the HTTP layer has checked. A session that cannot be ended is an error:
    /// the browser must keep its cookie to retry.
    pub async fn logout(
        &self,
        params: &FormParams,
        session: Option<&str>,
        confirmed: bool,
    ) -> Result<Logout, crate::store::Error> {
        let now = self.ctx.clock.now();
        let store = &self.ctx.store;
        let live = match session {
            Some(token) => store
                .find_session(SecretHash::of(token).as_bytes(), now)
                .await?
                .map(|s| (token, s)),
            None => None,
        };
        let Some((token, live)) = live else {
            return Ok(Logout::Done(self.post_logout_target(params).await));
        };
        if !confirmed && !self.hint_names(params, &live) {
            return Ok(Logout::Confirm {
                client_name: self.asking_client(params).await.map(|c| c.name.clone()),
            });
        }
        store
            .end_session(SecretHash::of(token).as_bytes(), now)
            .await?;
        Ok(Logout::Done(self.post_logout_target(params).await))
    }

    /// Does `id_token_hint` hold an ID token of ours for this very session and user?
    fn hint_names(&self, params: &FormParams, session: &Session) -> bool {
        let Some(claims) = self.hint(params) else {
            return false;
        };
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        text("sub") == Some(session.user_row.as_str())
            && session.sid.is_some()
            && text("sid") == session.sid.as_deref()
    }

    fn hint(&self, params: &FormParams) -> Option<serde_json::Map<String, Value>> {
        let keys = self.ctx.keys.current();
        crate::crypto::jwt::id_token_hint(
            params.get("id_token_hint")?,
            &keys.verifiers,
            &self.ctx.issuer_url,
        )
    }

    /// The enabled client named by `client_id` or the hint's audience (both, if given, agree).
    async fn asking_client(
        &self,
        params: &FormParams,
    ) -> Option<std::sync::Arc<crate::store::clients::ClientRecord>> {
        let hinted = self
            .hint(params)
            .and_then(|c| c.get("aud").and_then(Value::as_str).map(str::to_owned));
        let client_id = match (params.get("client_id"), hinted.as_deref()) {
            (Some(id), Some(hint)) if id != hint => return None,
            (Some(id), _) => id.to_owned(),
            (None, Some(hint)) => hint.to_owned(),
            (None, None) => return None,
        };
        let client_id = ClientId::parse(&client_id).ok()?;
        self.ctx
            .clients
            .get(&client_id)
            .await
            .ok()?
            .filter(|c| c.disabled_at.is_none())
    }

    /// Only a post-logout URI registered by that client, with `state` passed on.
    async fn post_logout_target(&self, params: &FormParams) -> Option<String> {
        let target = params.get("post_logout_redirect_uri")?;
        let client = self.asking_client(params).await?;
        if !client
            .post_logout_redirect_uris
            .iter()
            .any(|u| u.as_str() == target)
        {
            return None;
        }
        Some(match params.get("state") {
            Some(state) => with_query(target, &[("state", state)]),
            None => target.to_owned(),
        })
    }
}
