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
        // Verified once: it decides whether to ask, and which client to return to.
        let hint = self.hint(params);
        let live = match session {
            Some(token) => store
                .find_session(SecretHash::of(token).as_bytes(), now)
                .await?
                .map(|s| (token, s)),
            None => None,
        };
        let Some((token, live)) = live else {
            return Ok(Logout::Done(
                self.post_logout_target(params, hint.as_ref()).await,
            ));
        };
        if !confirmed && !hint_names(hint.as_ref(), &live) {
            let client = self.asking_client(params, hint.as_ref()).await;
            return Ok(Logout::Confirm {
                client_name: client.map(|c| c.shown_name().to_owned()),
            });
        }
        store
            .end_session(SecretHash::of(token).as_bytes(), now)
            .await?;
        Ok(Logout::Done(
            self.post_logout_target(params, hint.as_ref()).await,
        ))
    }

    /// The claims of `id_token_hint`, if it is an ID token of ours.
    fn hint(&self, params: &FormParams) -> Option<Claims> {
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
        hint: Option<&Claims>,
    ) -> Option<std::sync::Arc<crate::store::clients::ClientRecord>> {
        let hinted = hint.and_then(|c| c.get("aud").and_then(Value::as_str));
        let client_id = match (params.get("client_id"), hinted) {
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
    async fn post_logout_target(
        &self,
        params: &FormParams,
        hint: Option<&Claims>,
    ) -> Option<String> {
        let target = params.get("post_logout_redirect_uri")?;
        let client = self.asking_client(params, hint).await?;
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

type Claims = serde_json::Map<String, Value>;

/// Does the hint hold an ID token of ours for this very session and user?
fn hint_names(hint: Option<&Claims>, session: &Session) -> bool {
    let Some(claims) = hint else {
        return false;
    };
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    text("sub") == Some(session.user_row.as_str())
        && session.sid.is_some()
        && text("sid") == session.sid.as_deref()
}
