//! Browser sign-in: what the authorization endpoint, the login form and the consent form decide,
//! apart from HTTP. Handlers turn a [`Step`] into a page or a redirect. One flow per file.

mod authorize;
mod cancel;
mod consent;
mod error;
pub mod lockout;
mod login;
mod logout;
pub mod scopes;

pub use error::Error;
pub use login::Attempt;
pub use logout::Logout;

use std::sync::Arc;

use crate::context::Context;
use crate::crypto::SecretHash;
use crate::crypto::password::Hasher;
use crate::error_chain::report;
use crate::protocol::GrantType;
use crate::protocol::authorize::{
    Addressee, AuthorizeError, AuthorizeErrorCode, AuthorizeRequest, AuthorizeResponse,
    ResponseMode,
};
use crate::protocol::form::FormParams;
use crate::store::clients::ClientRecord;
use crate::store::sessions::Session;
use crate::store::users::UserRecord;
use error::Stop;

/// Authorization codes live 60 seconds (DESIGN.md).
pub const CODE_TTL: i64 = 60;

/// How long after a sign-in its consent page still counts as part of it, under `prompt=login`
/// or `max_age`.
const FRESH_SIGNIN_TTL: i64 = 600;
/// The least time a consent page gets after its sign-in, however small `max_age` is.
const FRESH_SIGNIN_MIN: i64 = 60;

/// What to show or where to send the browser next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The client or redirect URI could not be verified: show the problem, never redirect.
    ErrorPage(String),
    /// The store is down before the client could be verified: try again shortly (503).
    Unavailable,
    /// Back to the client with a code or an error (RFC 6749 §4.1.2), as it asked.
    Respond(AuthorizeResponse),
    Login {
        client_name: String,
        username: String,
        error: Option<String>,
        /// Set when sign-in is locked: answered with 429 and `Retry-After`.
        retry_after: Option<i64>,
    },
    Consent {
        client_name: String,
        username: String,
        scopes: Vec<String>,
    },
}

/// A request whose client and redirect URI are verified.
struct Verified {
    client: Arc<ClientRecord>,
    redirect_uri: String,
    /// Whether the request named its redirect URI (then the token request must too).
    redirect_uri_given: bool,
    mode: ResponseMode,
    request: AuthorizeRequest,
    audience: String,
}

pub struct SignIn {
    pub ctx: Arc<Context>,
    pub hasher: Hasher,
    lockout: lockout::Lockout,
    /// Checked when the username is unknown, so that case takes as long as a wrong password;
    /// made on the first such sign-in, not at start (argon2id takes 19 MiB and real time).
    dummy_hash: tokio::sync::OnceCell<String>,
}

impl SignIn {
    pub fn new(ctx: Arc<Context>, hasher: Hasher, lockout: lockout::Lockout) -> Self {
        Self {
            ctx,
            hasher,
            lockout,
            dummy_hash: tokio::sync::OnceCell::new(),
        }
    }

    /// The step a flow ended with; a failure below is logged here, once, and goes back to the
    /// client (which is verified by then).
    fn finish(&self, v: &Verified, flow: Result<Step, Stop>) -> Step {
        match flow {
            Ok(step) | Err(Stop::Show(step)) => step,
            Err(Stop::Failed(Error::Store(e))) => {
                tracing::warn!(error = %report(&e), "store unavailable during sign-in");
                self.error_redirect(
                    v,
                    AuthorizeErrorCode::TemporarilyUnavailable,
                    "try again shortly",
                )
            }
            Err(Stop::Failed(Error::Crypto(e))) => {
                tracing::error!(error = %e, "sign-in failed");
                self.error_redirect(v, AuthorizeErrorCode::ServerError, "internal error")
            }
        }
    }

    /// Client, redirect URI, then the rest of the request.
    async fn verify(&self, params: &FormParams) -> Result<Verified, Step> {
        let who = Addressee::parse(params).map_err(Step::ErrorPage)?;
        let client = match self.ctx.clients.get(&who.client_id).await {
            Ok(Some(c)) if c.disabled_at.is_none() => c,
            Ok(_) => {
                return Err(Step::ErrorPage(
                    "The application asking you to sign in is not known here.".into(),
                ));
            }
            Err(e) => {
                tracing::warn!(error = %report(&e), "cannot look up a client for sign-in");
                return Err(Step::Unavailable);
            }
        };
        // OIDC Core §3.1.2.1: an OpenID request names its redirect URI, even with one registered.
        let openid = params
            .get("scope")
            .is_some_and(|s| s.split(' ').any(|s| s == "openid"));
        if openid && who.redirect_uri.is_none() {
            return Err(Step::ErrorPage(
                "The application did not say where to send you back (redirect_uri is missing)."
                    .into(),
            ));
        }
        let redirect_uri = match (&who.redirect_uri, client.redirect_uris.as_slice()) {
            (Some(asked), registered)
                if registered.iter().any(|r| r.matches(asked, client.public)) =>
            {
                asked.clone()
            }
            (None, [only]) => only.to_string(),
            _ => {
                return Err(Step::ErrorPage(
                    "The application sent you to an address it has not registered, so you were not sent back.".into(),
                ));
            }
        };
        let state = AuthorizeRequest::state_of(params);
        let mode = ResponseMode::of(params);
        let redirect = |e: AuthorizeError| {
            let mode = mode.clone().unwrap_or_default();
            Step::Respond(self.error_response(&redirect_uri, mode, &e, state.as_deref()))
        };
        let mode = mode.clone().map_err(redirect)?;
        if !client.grant_types.contains(&GrantType::AuthorizationCode) {
            return Err(redirect(AuthorizeError {
                code: AuthorizeErrorCode::UnauthorizedClient,
                description: "this client may not use the authorization code flow".into(),
            }));
        }
        let request = AuthorizeRequest::parse(params).map_err(redirect)?;
        if request.code_challenge.is_none() && client.pkce_required {
            return Err(redirect(AuthorizeError::invalid(
                "code_challenge is required (PKCE with S256)",
            )));
        }
        let audience = scopes::audience(
            &client,
            &request.scope,
            request.resource.as_ref(),
            &self.ctx.userinfo_url(),
        )
        .map_err(redirect)?;
        Ok(Verified {
            client,
            redirect_uri,
            redirect_uri_given: who.redirect_uri.is_some(),
            mode,
            request,
            audience,
        })
    }

    /// The session's user, unless none, of another tenant, or too old for `prompt=login`/`max_age`.
    async fn session_user(
        &self,
        session: Option<&str>,
        v: &Verified,
        now: i64,
    ) -> Result<Option<(UserRecord, Session)>, Error> {
        self.session_for(session, v, now, None).await
    }

    /// As [`Self::session_user`]; a session signed in for `request` within the last minutes
    /// counts as fresh whatever `prompt=login` or `max_age` say (it is the sign-in they asked for).
    async fn session_for(
        &self,
        session: Option<&str>,
        v: &Verified,
        now: i64,
        request: Option<&str>,
    ) -> Result<Option<(UserRecord, Session)>, Error> {
        let Some(token) = session else {
            return Ok(None);
        };
        let store = &self.ctx.store;
        let found = store
            .find_session(SecretHash::of(token).as_bytes(), now)
            .await?;
        let Some(session) = found else {
            return Ok(None);
        };
        // A short `max_age` shortens the time the consent page may stay open, down to a minute.
        let window = v.request.max_age.map_or(FRESH_SIGNIN_TTL, |max| {
            max.clamp(FRESH_SIGNIN_MIN, FRESH_SIGNIN_TTL)
        });
        let signed_in_for_this = request.is_some_and(|r| {
            session.login_request_hash.as_deref() == Some(SecretHash::of(r).as_bytes())
                && now - session.auth_time <= window
        });
        let stale = v.request.prompt.login
            || v.request
                .max_age
                .is_some_and(|max| now - session.auth_time > max);
        if stale && !signed_in_for_this {
            return Ok(None);
        }
        let user = store.find_user_by_row(&session.user_row).await?;
        Ok(user
            .filter(|u| u.tenant == v.client.tenant.as_str() && u.disabled_at.is_none())
            .map(|u| (u, session)))
    }

    fn error_redirect(&self, v: &Verified, code: AuthorizeErrorCode, description: &str) -> Step {
        let error = AuthorizeError {
            code,
            description: description.into(),
        };
        Step::Respond(self.error_response(
            &v.redirect_uri,
            v.mode,
            &error,
            v.request.state.as_deref(),
        ))
    }

    /// RFC 6749 §4.1.2.1 with RFC 9207's `iss`.
    fn error_response(
        &self,
        redirect_uri: &str,
        mode: ResponseMode,
        error: &AuthorizeError,
        state: Option<&str>,
    ) -> AuthorizeResponse {
        let mut params = vec![
            ("error", error.code.as_str().to_owned()),
            ("error_description", error.description.clone()),
        ];
        params.extend(state.map(|s| ("state", s.to_owned())));
        params.push(("iss", self.ctx.issuer_url.clone()));
        AuthorizeResponse {
            redirect_uri: redirect_uri.to_owned(),
            mode,
            params,
        }
    }
}
