//! The login form: lockout first, then the password, then a new session.

use std::net::IpAddr;

use super::error::Stop;
use super::{SignIn, Step, Verified, lockout};
use crate::audit::{AuditEvent, EventKind, Outcome};
use crate::crypto::password;
use crate::crypto::{SecretHash, random};
use crate::error_chain::report;
use crate::protocol::form::FormParams;
use crate::store::sessions::{NewSession, Session};
use crate::store::users::UserRecord;

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

const WRONG_CREDENTIALS: &str = "The username or password is not right.";

/// What the password check found.
enum Checked {
    Accepted {
        user: Box<UserRecord>,
        hash: String,
    },
    /// Wrong password, unknown or disabled user; `known` is the user's row id if there is one.
    Refused {
        known: Option<String>,
    },
}

impl SignIn {
    async fn dummy_hash(&self) -> Result<&str, crate::crypto::CryptoError> {
        let hash = self
            .dummy_hash
            .get_or_try_init(|| async { self.hasher.hash(random::token()?).await })
            .await?;
        Ok(hash)
    }

    /// `POST /login`: on success, the new session's token and the next step.
    pub async fn login(&self, params: &FormParams, attempt: Attempt<'_>) -> (Option<String>, Step) {
        let verified = match self.verify(params).await {
            Ok(v) => v,
            Err(step) => return (None, step),
        };
        match self.sign_in(&verified, &attempt).await {
            Ok((token, step)) => (Some(token), step),
            Err(stop) => (None, self.finish(&verified, Err(stop))),
        }
    }

    async fn sign_in(
        &self,
        verified: &Verified,
        attempt: &Attempt<'_>,
    ) -> Result<(String, Step), Stop> {
        let now = self.ctx.clock.now();
        let account = lockout::account_key(verified.client.tenant.as_str(), attempt.username);
        let locks_until = self.locked_out(verified, attempt, &account, now).await?;
        let (user, hash) = match self.check_password(verified, attempt).await? {
            Checked::Accepted { user, hash } => (*user, hash),
            Checked::Refused { known } => {
                let step = self.refuse(verified, attempt, known, locks_until, now);
                return Err(Stop::Show(step));
            }
        };
        if let Err(e) = self
            .lockout
            .succeeded(&self.ctx.store, &account, attempt.address)
            .await
        {
            tracing::warn!(error = %report(&e), "cannot clear failed sign-ins");
        }
        if password::needs_rehash(&hash)
            && let Ok(new_hash) = self.hasher.hash(attempt.password.to_owned()).await
        {
            let _ = self
                .ctx
                .store
                .set_user_password(&verified.client.tenant, &user.username, &new_hash, now)
                .await;
        }
        let (token, session) = self.start_session(verified, attempt, &user, now).await?;
        // The session exists now: whatever happens next, the browser keeps its cookie.
        let step = self.finish(verified, self.signed_in(verified, &user, &session).await);
        Ok((token, step))
    }

    /// The login form again, with a message (and a wait when sign-in is locked).
    fn login_again(
        v: &Verified,
        attempt: &Attempt<'_>,
        error: &str,
        retry_after: Option<i64>,
    ) -> Step {
        Step::Login {
            client_name: v.client.shown_name().to_owned(),
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
    ) -> Result<Option<i64>, Stop> {
        let gate = self
            .lockout
            .gate(&self.ctx.store, account, attempt.address, now)
            .await?;
        match gate {
            lockout::Gate::Open { locks_until } => Ok(locks_until),
            lockout::Gate::Closed { retry_after } => {
                self.ctx.metrics.signin_failures.inc();
                self.ctx.audit.record(
                    Self::attempt_event(v, attempt, EventKind::SigninFailure, Outcome::Denied)
                        .detail("locked out"),
                );
                let message = format!(
                    "Too many failed sign-ins. Wait {} and try again.",
                    wait_for(retry_after)
                );
                Err(Stop::Show(Self::login_again(
                    v,
                    attempt,
                    &message,
                    Some(retry_after),
                )))
            }
        }
    }

    /// Verifies the password; an unknown user is checked against a dummy hash, so both cases
    /// take the same time.
    async fn check_password(&self, v: &Verified, attempt: &Attempt<'_>) -> Result<Checked, Stop> {
        let found = self
            .ctx
            .store
            .user_credentials(&v.client.tenant, attempt.username)
            .await?;
        let hash = match &found {
            Some((_, hash)) => hash.clone(),
            None => match self.dummy_hash().await {
                Ok(dummy) => dummy.to_owned(),
                Err(_) => {
                    let again = Self::login_again(v, attempt, WRONG_CREDENTIALS, None);
                    return Err(Stop::Show(again));
                }
            },
        };
        let matches = self
            .hasher
            .verify(attempt.password.to_owned(), hash.clone())
            .await
            .unwrap_or(false);
        Ok(match found {
            Some((user, _)) if matches && user.disabled_at.is_none() => Checked::Accepted {
                user: Box::new(user),
                hash,
            },
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
        self.ctx.metrics.signin_failures.inc();
        let event = Self::attempt_event(v, attempt, EventKind::SigninFailure, Outcome::Failure);
        self.ctx.audit.record(match known {
            Some(id) => event.actor(id),
            None => event.detail("unknown user"),
        });
        if let Some(until) = locks_until {
            self.ctx.metrics.lockouts.inc();
            self.ctx.audit.record(
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
    ) -> Result<(String, Session), Stop> {
        let store = &self.ctx.store;
        let (token, sid) = (random::token()?, random::short_id()?);
        let request_hash = SecretHash::of(attempt.request);
        let session = Session {
            user_row: user.id.clone(),
            auth_time: now,
            expires_at: now + self.ctx.sessions.session_ttl,
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
        store.create_session(&new, now, session.expires_at).await?;
        // A new sign-in in this browser replaces its old session (which may be another user's).
        if let Some(old) = attempt.replacing
            && let Err(e) = store.end_session(SecretHash::of(old).as_bytes(), now).await
        {
            tracing::warn!(error = %report(&e), "cannot end the replaced session");
        }
        self.ctx.audit.record(
            Self::attempt_event(v, attempt, EventKind::SigninSuccess, Outcome::Success)
                .actor(&user.id),
        );
        Ok((token, session))
    }
}

/// A lock's remaining time in words: seconds under a minute (a 2 s lock is not "1 minute").
fn wait_for(seconds: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if seconds < 60 {
        plural(seconds.max(1), "second")
    } else {
        plural((seconds + 59) / 60, "minute")
    }
}

#[cfg(test)]
mod wait_tests {
    #[test]
    fn short_locks_are_told_in_seconds() {
        assert_eq!(super::wait_for(0), "1 second");
        assert_eq!(super::wait_for(2), "2 seconds");
        assert_eq!(super::wait_for(59), "59 seconds");
        assert_eq!(super::wait_for(60), "1 minute");
        assert_eq!(super::wait_for(61), "2 minutes");
    }
}
