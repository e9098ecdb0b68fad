//! The ways out of a sign-in: cancelling it at the login page, or ("Not you?") leaving the
//! session at the consent page to sign in as someone else.

use super::error::Stop;
use super::{SignIn, Step};
use crate::crypto::SecretHash;
use crate::protocol::authorize::AuthorizeErrorCode;
use crate::protocol::form::FormParams;

impl SignIn {
    /// The login page's Cancel: back to the client with `access_denied` (RFC 6749 §4.1.2.1),
    /// as it asked for its answers, once the client and redirect URI are verified.
    pub async fn cancel(&self, params: &FormParams) -> Step {
        match self.verify(params).await {
            Ok(v) => {
                tracing::info!(tenant = %v.client.tenant, "sign-in cancelled");
                self.error_redirect(
                    &v,
                    AuthorizeErrorCode::AccessDenied,
                    "the user cancelled the sign-in",
                )
            }
            Err(step) => step,
        }
    }

    /// "Not you?": ends the browser's session and shows the login page for the same request.
    pub async fn switch_user(&self, params: &FormParams, session: Option<&str>) -> Step {
        let v = match self.verify(params).await {
            Ok(v) => v,
            Err(step) => return step,
        };
        if let Some(token) = session {
            let now = self.ctx.clock.now();
            let ended = self
                .ctx
                .store
                .end_session(SecretHash::of(token).as_bytes(), now)
                .await;
            if let Err(e) = ended {
                return self.finish(&v, Err(Stop::from(e)));
            }
        }
        Step::Login {
            client_name: v.client.shown_name().to_owned(),
            username: String::new(),
            error: None,
            retry_after: None,
        }
    }
}
