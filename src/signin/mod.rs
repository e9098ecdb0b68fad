//! Browser sign-in: what the authorization endpoint, the login form and the consent form decide,
//! apart from HTTP. Handlers turn a [`Step`] into a page or a redirect.

pub mod lockout;
mod logout;
pub mod scopes;

pub use logout::Logout;

use std::net::IpAddr;
use std::sync::Arc;

use crate::audit::{AuditEvent, EventKind, Outcome};

use crate::crypto::password::{self, Hasher};
use crate::crypto::{SecretHash, random};
use crate::issuer::Issuer;
use crate::protocol::GrantType;
use crate::protocol::authorize::{
    Addressee, AuthorizeError, AuthorizeErrorCode, AuthorizeRequest, AuthorizeResponse,
    ResponseMode,
};
use crate::protocol::form::FormParams;
use crate::store::clients::ClientRecord;
use crate::store::grants::CodeGrant;
use crate::store::sessions::{NewSession, Session};
use crate::store::users::UserRecord;

/// Authorization codes live 60 seconds (DESIGN.md).
pub const CODE_TTL: i64 = 60;

/// How long after a sign-in its consent page still counts as part of it, under `prompt=login`
/// or `max_age`.
const FRESH_SIGNIN_TTL: i64 = 600;

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

/// One submission of the login form.
pub struct Attempt<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub address: IpAddr,
    /// The browser's current session, which a new sign-in replaces.
    pub replacing: Option<&'a str>,
    /// The authorization request as carried by the form, which this sign-in is made for.
    pub request: &'a str,
}

pub struct SignIn {
    pub issuer: Arc<Issuer>,
    pub hasher: Hasher,
    lockout: lockout::Lockout,
    /// Checked when the username is unknown, so that case takes as long as a wrong password;
    /// made on the first such sign-in, not at start (argon2id takes 19 MiB and real time).
    dummy_hash: tokio::sync::OnceCell<String>,
}

const WRONG_CREDENTIALS: &str = "The username or password is not right.";

/// What the password check found.
enum Checked {
    Accepted {
        user: UserRecord,
        hash: String,
    },
    /// Wrong password, unknown or disabled user; `known` is the user's row id if there is one.
    Refused {
        known: Option<String>,
    },
}

impl SignIn {
    pub fn new(issuer: Arc<Issuer>, hasher: Hasher, lockout: lockout::Lockout) -> Self {
        Self {
            issuer,
            hasher,
            lockout,
            dummy_hash: tokio::sync::OnceCell::new(),
        }
    }

    async fn dummy_hash(&self) -> Result<&str, crate::crypto::CryptoError> {
        let hash = self
            .dummy_hash
            .get_or_try_init(|| async { self.hasher.hash(random::token()?).await })
            .await?;
        Ok(hash)
    }

    /// `GET`/`POST /authorize`, with the browser's session cookie if any.
    pub async fn authorize(&self, params: &FormParams, session: Option<&str>) -> Step {
        let verified = match self.verify(params).await {
            Ok(v) => v,
            Err(step) => return step,
        };
        let now = self.issuer.clock.now();
        let user = match self.session_user(session, &verified, now).await {
            Ok(user) => user,
            Err(step) => return step,
        };
        match user {
            Some((user, session)) => self.signed_in(&verified, &user, &session).await,
            None if verified.request.prompt.none => self.error_redirect(
                &verified,
                AuthorizeErrorCode::LoginRequired,
                "the user is not signed in",
            ),
            None => Step::Login {
                client_name: verified.client.name.clone(),
                username: verified.request.login_hint.clone().unwrap_or_default(),
                error: None,
                retry_after: None,
            },
        }
    }

    /// `POST /login`: on success, the new session's token and the next step.
    pub async fn login(&self, params: &FormParams, attempt: Attempt<'_>) -> (Option<String>, Step) {
        let verified = match self.verify(params).await {
            Ok(v) => v,
            Err(step) => return (None, step),
        };
        let now = self.issuer.clock.now();
        let account = lockout::account_key(verified.client.tenant.as_str(), attempt.username);
        let locks_until = match self.locked_out(&verified, &attempt, &account, now).await {
            Ok(locks_until) => locks_until,
            Err(step) => return (None, step),
        };
        let (user, hash) = match self.check_password(&verified, &attempt).await {
            Ok(Checked::Accepted { user, hash }) => (user, hash),
            Ok(Checked::Refused { known }) => {
                let step = self.refuse(&verified, &attempt, known, locks_until, now);
                return (None, step);
            }
            Err(step) => return (None, step),
        };
        if let Err(e) = self
            .lockout
            .succeeded(&self.issuer.store, &account, attempt.address)
            .await
        {
            tracing::warn!(error = %e, "cannot clear failed sign-ins");
        }
        if password::needs_rehash(&hash)
            && let Ok(new_hash) = self.hasher.hash(attempt.password.to_owned()).await
        {
            let _ = self
                .issuer
                .store
                .set_user_password(&verified.client.tenant, &user.username, &new_hash, now)
                .await;
        }
        match self.start_session(&verified, &attempt, &user, now).await {
            Ok((token, session)) => (
                Some(token),
                self.signed_in(&verified, &user, &session).await,
            ),
            Err(step) => (None, step),
        }
    }

    /// The login form again, with a message (and a wait when sign-in is locked).
    fn login_again(
        v: &Verified,
        attempt: &Attempt<'_>,
        error: &str,
        retry_after: Option<i64>,
    ) -> Step {
        Step::Login {
            client_name: v.client.name.clone(),
            username: attempt.username.to_owned(),
            error: Some(error.to_owned()),
            retry_after,
        }
    }

    /// An audit event about this attempt; the username as typed is never recorded (it may be a
    /// mistyped password).
    fn attempt_event(
        v: &Verified,
        attempt: &Attempt<'_>,
        kind: EventKind,
        outcome: Outcome,
    ) -> AuditEvent {
        AuditEvent::new(kind, outcome)
            .tenant(v.client.tenant.as_str())
            .client(v.client.client_id.as_str())
            .ip(attempt.address)
    }

    /// Counts the attempt, or the refusal to show when this account is locked for this
    /// address; decided before any password is hashed. `Ok` holds the lock that counting this
    /// attempt set, if any.
    async fn locked_out(
        &self,
        v: &Verified,
        attempt: &Attempt<'_>,
        account: &SecretHash,
        now: i64,
    ) -> Result<Option<i64>, Step> {
        let gate = self
            .lockout
            .gate(&self.issuer.store, account, attempt.address, now)
            .await;
        match gate {
            Ok(lockout::Gate::Open { locks_until }) => Ok(locks_until),
            Ok(lockout::Gate::Closed { retry_after }) => {
                self.issuer.metrics.signin_failures.inc();
                self.issuer.audit.record(
                    Self::attempt_event(v, attempt, EventKind::SigninFailure, Outcome::Denied)
                        .detail("locked out"),
                );
                let minutes = (retry_after + 59) / 60;
                let message = format!(
                    "Too many failed sign-ins. Wait {minutes} minute{} and try again.",
                    if minutes == 1 { "" } else { "s" }
                );
                Err(Self::login_again(v, attempt, &message, Some(retry_after)))
            }
            Err(e) => Err(unavailable(v, self, e)),
        }
    }

    /// Verifies the password; an unknown user is checked against a dummy hash, so both cases
    /// take the same time.
    async fn check_password(&self, v: &Verified, attempt: &Attempt<'_>) -> Result<Checked, Step> {
        let found = self
            .issuer
            .store
            .user_credentials(&v.client.tenant, attempt.username)
            .await
            .map_err(|e| unavailable(v, self, e))?;
        let hash = match &found {
            Some((_, hash)) => hash.clone(),
            None => match self.dummy_hash().await {
                Ok(dummy) => dummy.to_owned(),
                Err(_) => return Err(Self::login_again(v, attempt, WRONG_CREDENTIALS, None)),
            },
        };
        let matches = self
            .hasher
            .verify(attempt.password.to_owned(), hash.clone())
            .await
            .unwrap_or(false);
        Ok(match found {
            Some((user, _)) if matches && user.disabled_at.is_none() => {
                Checked::Accepted { user, hash }
            }
            found => Checked::Refused {
                known: found.map(|(u, _)| u.id),
            },
        })
    }

    /// Records a failed attempt (already counted by the gate, which may have locked the account
    /// for this address) and shows the same message whether the user is unknown, disabled or
    /// mistyped the password.
    fn refuse(
        &self,
        v: &Verified,
        attempt: &Attempt<'_>,
        known: Option<String>,
        locks_until: Option<i64>,
        now: i64,
    ) -> Step {
        tracing::info!(tenant = %v.client.tenant, "sign-in refused");
        self.issuer.metrics.signin_failures.inc();
        let event = Self::attempt_event(v, attempt, EventKind::SigninFailure, Outcome::Failure);
        self.issuer.audit.record(match known {
            Some(id) => event.actor(id),
            None => event.detail("unknown user"),
        });
        if let Some(until) = locks_until {
            self.issuer.metrics.lockouts.inc();
            self.issuer.audit.record(
                Self::attempt_event(v, attempt, EventKind::SigninLockout, Outcome::Denied)
                    .detail(format!("locked for {} s", until - now)),
            );
        }
        Self::login_again(v, attempt, WRONG_CREDENTIALS, None)
    }

    /// Stores a new session for `user` and ends the one this browser had; returns its token.
    async fn start_session(
        &self,
        v: &Verified,
        attempt: &Attempt<'_>,
        user: &UserRecord,
        now: i64,
    ) -> Result<(String, Session), Step> {
        let store = &self.issuer.store;
        let (Ok(token), Ok(sid)) = (random::token(), random::short_id()) else {
            return Err(self.error_redirect(v, AuthorizeErrorCode::ServerError, "internal error"));
        };
        let request_hash = SecretHash::of(attempt.request);
        let session = Session {
            user_row: user.id.clone(),
            auth_time: now,
            expires_at: now + self.issuer.sessions.session_ttl,
            sid: Some(sid),
            login_request_hash: Some(request_hash.as_bytes().to_vec()),
        };
        let id_hash = SecretHash::of(&token);
        let new = NewSession {
            id_hash: id_hash.as_bytes(),
            sid: session.sid.as_deref().unwrap_or_default(),
            user_row: &user.id,
            login_request_hash: request_hash.as_bytes(),
        };
        store
            .create_session(&new, now, session.expires_at)
            .await
            .map_err(|e| unavailable(v, self, e))?;
        // A new sign-in in this browser replaces its old session (which may be another user's).
        if let Some(old) = attempt.replacing
            && let Err(e) = store.end_session(SecretHash::of(old).as_bytes(), now).await
        {
            tracing::warn!(error = %e, "cannot end the replaced session");
        }
        self.issuer.audit.record(
            Self::attempt_event(v, attempt, EventKind::SigninSuccess, Outcome::Success)
                .actor(&user.id),
        );
        Ok((token, session))
    }

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
        let now = self.issuer.clock.now();
        let found = self
            .session_for(session, &verified, now, Some(request))
            .await;
        let Ok(Some((user, session))) = found else {
            return Step::Login {
                client_name: verified.client.name.clone(),
                username: String::new(),
                error: None,
                retry_after: None,
            };
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
            self.issuer.audit.record(event(EventKind::ConsentDenied));
            return self.error_redirect(
                &verified,
                AuthorizeErrorCode::AccessDenied,
                "the user denied the request",
            );
        }
        let items = consent_items(&verified);
        if let Err(e) = self
            .issuer
            .store
            .record_consent(
                &user.id,
                &verified.client.id,
                &verified.audience,
                &items,
                now,
            )
            .await
        {
            return unavailable(&verified, self, e);
        }
        self.issuer
            .audit
            .record(event(EventKind::ConsentGranted).detail(format!(
                "audience {} scope {}",
                verified.audience, verified.request.scope
            )));
        self.issue_code(&verified, &user, &session).await
    }

    /// Client, redirect URI, then the rest of the request.
    async fn verify(&self, params: &FormParams) -> Result<Verified, Step> {
        let who = Addressee::parse(params).map_err(Step::ErrorPage)?;
        let client = match self.issuer.clients.get(&who.client_id).await {
            Ok(Some(c)) if c.disabled_at.is_none() => c,
            Ok(_) => {
                return Err(Step::ErrorPage(
                    "The application asking you to sign in is not known here.".into(),
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up a client for sign-in");
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
        let audience = scopes::audience(
            &client,
            &request.scope,
            request.resource.as_ref(),
            &self.userinfo_url(),
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
    ) -> Result<Option<(UserRecord, Session)>, Step> {
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
    ) -> Result<Option<(UserRecord, Session)>, Step> {
        let Some(token) = session else {
            return Ok(None);
        };
        let store = &self.issuer.store;
        let found = store
            .find_session(SecretHash::of(token).as_bytes(), now)
            .await
            .map_err(|e| unavailable(v, self, e))?;
        let Some(session) = found else {
            return Ok(None);
        };
        let signed_in_for_this = request.is_some_and(|r| {
            session.login_request_hash.as_deref() == Some(SecretHash::of(r).as_bytes())
                && now - session.auth_time <= FRESH_SIGNIN_TTL
        });
        let stale = v.request.prompt.login
            || v.request
                .max_age
                .is_some_and(|max| now - session.auth_time > max);
        if stale && !signed_in_for_this {
            return Ok(None);
        }
        let user = store
            .find_user_by_row(&session.user_row)
            .await
            .map_err(|e| unavailable(v, self, e))?;
        Ok(user
            .filter(|u| u.tenant == v.client.tenant.as_str() && u.disabled_at.is_none())
            .map(|u| (u, session)))
    }

    /// Consent if needed, else a code. Consent covers the audience and every scope: an empty
    /// scope set still hands the client a token that speaks for the user.
    async fn signed_in(&self, v: &Verified, user: &UserRecord, session: &Session) -> Step {
        let needs_consent = if v.client.skip_consent {
            false
        } else if v.request.prompt.consent {
            true
        } else {
            match self
                .issuer
                .store
                .consented_scopes(
                    &user.id,
                    &v.client.id,
                    &v.audience,
                    self.issuer.clock.now() - self.issuer.sessions.consent_ttl,
                )
                .await
            {
                Ok(granted) => consent_items(v)
                    .iter()
                    .any(|item| !granted.iter().any(|g| g == item)),
                Err(e) => return unavailable(v, self, e),
            }
        };
        if !needs_consent {
            return self.issue_code(v, user, session).await;
        }
        if v.request.prompt.none {
            return self.error_redirect(
                v,
                AuthorizeErrorCode::ConsentRequired,
                "the user has not consented",
            );
        }
        let userinfo = self.userinfo_url();
        Step::Consent {
            client_name: v.client.name.clone(),
            username: user.username.clone(),
            // Signing in (`openid`) first, then the rest in the set's order, then what the
            // token carries and for whom.
            scopes: v
                .request
                .scope
                .iter()
                .filter(|s| s.as_str() == "openid")
                .chain(v.request.scope.iter().filter(|s| s.as_str() != "openid"))
                .map(|s| scopes::describe(s.as_str(), &v.client.name))
                .chain([scopes::describe_audience(
                    (v.audience != userinfo).then_some(v.audience.as_str()),
                    &user.tenant,
                )])
                .collect(),
        }
    }

    fn userinfo_url(&self) -> String {
        format!("{}/userinfo", self.issuer.issuer.trim_end_matches('/'))
    }

    async fn issue_code(&self, v: &Verified, user: &UserRecord, session: &Session) -> Step {
        let (Ok(code), Ok(family)) = (random::token(), random::uuid_v4()) else {
            return self.error_redirect(v, AuthorizeErrorCode::ServerError, "internal error");
        };
        let grant = CodeGrant {
            family: family.to_string(),
            client_row: v.client.id.clone(),
            user_row: user.id.clone(),
            redirect_uri: v.redirect_uri.clone(),
            scope: v.request.scope.to_string(),
            audience: v.audience.clone(),
            nonce: v.request.nonce.clone(),
            code_challenge: v.request.code_challenge.as_str().to_owned(),
            auth_time: session.auth_time,
            sid: session.sid.clone(),
            redirect_uri_given: v.redirect_uri_given,
        };
        let now = self.issuer.clock.now();
        if let Err(e) = self
            .issuer
            .store
            .insert_code(
                SecretHash::of(&code).as_bytes(),
                &grant,
                now,
                now + CODE_TTL,
            )
            .await
        {
            return unavailable(v, self, e);
        }
        let mut params = vec![("code", code)];
        params.extend(v.request.state.clone().map(|s| ("state", s)));
        params.push(("iss", self.issuer.issuer.clone()));
        Step::Respond(AuthorizeResponse {
            redirect_uri: v.redirect_uri.clone(),
            mode: v.mode,
            params,
        })
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
        params.push(("iss", self.issuer.issuer.clone()));
        AuthorizeResponse {
            redirect_uri: redirect_uri.to_owned(),
            mode,
            params,
        }
    }
}

/// What a consent is recorded for: the audience itself (the empty item), then each scope.
fn consent_items(v: &Verified) -> Vec<&str> {
    std::iter::once("")
        .chain(v.request.scope.iter().map(|s| s.as_str()))
        .collect()
}

fn unavailable(v: &Verified, signin: &SignIn, e: crate::store::Error) -> Step {
    tracing::warn!(error = %e, "store unavailable during sign-in");
    signin.error_redirect(
        v,
        AuthorizeErrorCode::TemporarilyUnavailable,
        "try again shortly",
    )
}
