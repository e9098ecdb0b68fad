//! The consent form: the user's decision, remembered per client, API and scope.

use super::authorize::consent_items;
use super::error::Stop;
use super::{SignIn, Step, Verified};
use crate::audit::{AuditEvent, EventKind, Outcome};
use crate::protocol::authorize::AuthorizeErrorCode;
use crate::protocol::form::FormParams;

impl SignIn {
    /// `POST /consent`: the user's answer, for the signed-in session. `request` is the
    /// authorization request as the form carried it: a sign-in made for this very request
    /// satisfies its `prompt=login` or `max_age`.
    pub async fn consent(
        &self,
        params: &FormParams,
        request: &str,
        session: Option<&str>,
        allow: bool,
    ) -> Step {
        let verified = match self.verify(params).await {
            Ok(v) => v,
            Err(step) => return step,
        };
        let flow = self.decide(&verified, request, session, allow).await;
        self.finish(&verified, flow)
    }

    async fn decide(
        &self,
        verified: &Verified,
        request: &str,
        session: Option<&str>,
        allow: bool,
    ) -> Result<Step, Stop> {
        let now = self.ctx.clock.now();
        let found = self
            .session_for(session, verified, now, Some(request))
            .await;
        let Ok(Some((user, session))) = found else {
            return Ok(Step::Login {
                client_name: verified.client.shown_name().to_owned(),
                username: String::new(),
                error: None,
                retry_after: None,
            });
        };
        let event = |kind| {
            AuditEvent::new(
                kind,
                if allow {
                    Outcome::Success
                } else {
                    Outcome::Denied
                },
            )
            .tenant(&user.tenant)
            .actor(&user.id)
            .client(verified.client.client_id.as_str())
        };
        if !allow {
            self.ctx.audit.record(event(EventKind::ConsentDenied));
            return Ok(self.error_redirect(
                verified,
                AuthorizeErrorCode::AccessDenied,
                "the user denied the request",
            ));
        }
        self.ctx
            .store
            .record_consent(
                &user.id,
                &verified.client.id,
                &verified.audience,
                &consent_items(verified),
                now,
            )
            .await?;
        self.ctx
            .audit
            .record(event(EventKind::ConsentGranted).detail(format!(
                "audience {} scope {}",
                verified.audience, verified.request.scope
            )));
        self.issue_code(verified, &user, &session).await
    }
}
