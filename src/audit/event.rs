//! Audit events: what happened, how it ended, and who was involved, cleaned for storage.

use std::fmt;

use super::MAX_FIELD_CHARS;
use crate::store::audit::AuditRow;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    SigninSuccess,
    SigninFailure,
    SigninLockout,
    ConsentGranted,
    ConsentDenied,
    TokenIssued,
    RefreshReuseDetected,
    TokenRevoked,
    ClientCreated,
    ClientChanged,
    ClientDeleted,
    UserCreated,
    UserChanged,
    UserDeleted,
    KeyRotated,
    KeyRevoked,
    KeyImported,
    /// A client proved itself with a key or a workload token (not a secret).
    ClientAuthenticated,
}

impl EventKind {
    pub const ALL: [Self; 18] = [
        Self::SigninSuccess,
        Self::SigninFailure,
        Self::SigninLockout,
        Self::ConsentGranted,
        Self::ConsentDenied,
        Self::TokenIssued,
        Self::RefreshReuseDetected,
        Self::TokenRevoked,
        Self::ClientCreated,
        Self::ClientChanged,
        Self::ClientDeleted,
        Self::UserCreated,
        Self::UserChanged,
        Self::UserDeleted,
        Self::KeyRotated,
        Self::KeyRevoked,
        Self::KeyImported,
        Self::ClientAuthenticated,
    ];

    /// The name stored in the `event` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SigninSuccess => "signin.success",
            Self::SigninFailure => "signin.failure",
            Self::SigninLockout => "signin.lockout",
            Self::ConsentGranted => "consent.granted",
            Self::ConsentDenied => "consent.denied",
            Self::TokenIssued => "token.issued",
            Self::RefreshReuseDetected => "refresh.reuse_detected",
            Self::TokenRevoked => "token.revoked",
            Self::ClientCreated => "client.created",
            Self::ClientChanged => "client.changed",
            Self::ClientDeleted => "client.deleted",
            Self::UserCreated => "user.created",
            Self::UserChanged => "user.changed",
            Self::UserDeleted => "user.deleted",
            Self::KeyRotated => "key.rotated",
            Self::KeyRevoked => "key.revoked",
            Self::KeyImported => "key.imported",
            Self::ClientAuthenticated => "client.authenticated",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    /// The name stored in the `outcome` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One security event, built with `new` and the optional fields that apply.
///
/// ```
/// use castellan::audit::{AuditEvent, EventKind, Outcome};
/// let event = AuditEvent::new(EventKind::SigninFailure, Outcome::Failure)
///     .tenant("default")
///     .ip("192.0.2.7")
///     .detail("bad password");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    kind: EventKind,
    outcome: Outcome,
    tenant: Option<String>,
    actor: Option<String>,
    client_id: Option<String>,
    ip: Option<String>,
    detail: Option<String>,
}

impl AuditEvent {
    pub fn new(kind: EventKind, outcome: Outcome) -> Self {
        Self {
            kind,
            outcome,
            tenant: None,
            actor: None,
            client_id: None,
            ip: None,
            detail: None,
        }
    }

    /// The tenant's slug.
    pub fn tenant(mut self, tenant: impl fmt::Display) -> Self {
        self.tenant = Some(clean(tenant));
        self
    }

    /// Who acted: a user id, a client id, or [`CLI_ACTOR`]. Never a submitted username that
    /// matched no user (people type their password into the username field).
    pub fn actor(mut self, actor: impl fmt::Display) -> Self {
        self.actor = Some(clean(actor));
        self
    }

    /// The OAuth client involved.
    pub fn client(mut self, client_id: impl fmt::Display) -> Self {
        self.client_id = Some(clean(client_id));
        self
    }

    /// The peer's address.
    pub fn ip(mut self, ip: impl fmt::Display) -> Self {
        self.ip = Some(clean(ip));
        self
    }

    /// Short fixed text (`"bad password"`, `"kid 0193…"`); never a secret, token or password.
    /// Cut to [`MAX_FIELD_CHARS`] characters.
    pub fn detail(mut self, detail: impl fmt::Display) -> Self {
        self.detail = Some(clean(detail));
        self
    }

    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// The row to store, stamped `at` (unix seconds); the CLI can insert it directly.
    pub fn into_row(self, at: i64) -> AuditRow {
        AuditRow {
            at,
            event: self.kind.as_str().to_owned(),
            outcome: self.outcome.as_str().to_owned(),
            tenant: self.tenant,
            actor: self.actor,
            client_id: self.client_id,
            ip: self.ip,
            detail: self.detail,
            count: 1,
        }
    }
}

/// At most [`MAX_FIELD_CHARS`] characters, none of them control characters.
pub(super) fn clean(value: impl fmt::Display) -> String {
    value
        .to_string()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FIELD_CHARS)
        .collect()
}
