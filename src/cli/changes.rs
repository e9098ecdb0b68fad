//! The audit event each changing command leaves behind (reads leave none). The CLI is a short
//! process, so it writes the event itself rather than through the server's recorder.

use super::Command;
use super::client::{ClientCommand as C, KeysCommand};
use super::keys::KeysCommand as K;
use super::user::UserCommand as U;
use crate::audit::{AuditEvent, CLI_ACTOR, EventKind, Outcome};

pub fn event(command: &Command) -> Option<AuditEvent> {
    let (kind, tenant, client, detail): (EventKind, Option<&str>, Option<&str>, String) =
        match command {
            Command::Client(C::Create { tenant, name, .. }) => (
                EventKind::ClientCreated,
                Some(tenant),
                None,
                format!("client {name:?} created"),
            ),
            Command::Client(C::RotateSecret { id, .. }) => (
                EventKind::ClientChanged,
                None,
                Some(id),
                "secret rotated".into(),
            ),
            Command::Client(C::Update {
                id,
                id_token_signing_alg,
                ..
            }) => {
                let mut changed = vec!["settings changed".to_owned()];
                if let Some(alg) = id_token_signing_alg {
                    changed.push(format!("ID tokens signed {alg}"));
                }
                (EventKind::ClientChanged, None, Some(id), changed.join("; "))
            }
            Command::Client(C::Keys(KeysCommand::Add { id, .. })) => (
                EventKind::ClientChanged,
                None,
                Some(id),
                "keys added".into(),
            ),
            Command::Client(C::Keys(KeysCommand::Remove { id, kid, .. })) => (
                EventKind::ClientChanged,
                None,
                Some(id),
                format!("key {kid:?} removed"),
            ),
            Command::Client(C::Link {
                id, trust, subject, ..
            }) => (
                EventKind::ClientChanged,
                None,
                Some(id),
                format!("linked to trust {trust:?} as {subject:?}"),
            ),
            Command::Client(C::Unlink { id, trust }) => (
                EventKind::ClientChanged,
                None,
                Some(id),
                format!("unlinked from trust {trust:?}"),
            ),
            Command::Client(C::Disable { id }) => {
                (EventKind::ClientChanged, None, Some(id), "disabled".into())
            }
            Command::Client(C::Enable { id }) => {
                (EventKind::ClientChanged, None, Some(id), "enabled".into())
            }
            Command::Client(C::Delete { id }) => {
                (EventKind::ClientDeleted, None, Some(id), "deleted".into())
            }
            Command::User(U::Create {
                tenant, username, ..
            }) => (
                EventKind::UserCreated,
                Some(tenant),
                None,
                format!("user {username:?} created"),
            ),
            Command::User(U::SetPassword {
                tenant, username, ..
            }) => (
                EventKind::UserChanged,
                Some(tenant),
                None,
                format!("password of {username:?} set"),
            ),
            Command::User(U::Disable { tenant, username }) => (
                EventKind::UserChanged,
                Some(tenant),
                None,
                format!("{username:?} disabled"),
            ),
            Command::User(U::Enable { tenant, username }) => (
                EventKind::UserChanged,
                Some(tenant),
                None,
                format!("{username:?} enabled"),
            ),
            Command::User(U::Delete { tenant, username }) => (
                EventKind::UserDeleted,
                Some(tenant),
                None,
                format!("{username:?} deleted"),
            ),
            Command::User(U::AddRole {
                tenant,
                username,
                role,
            }) => (
                EventKind::UserChanged,
                Some(tenant),
                None,
                format!("role {role:?} added to {username:?}"),
            ),
            Command::User(U::RemoveRole {
                tenant,
                username,
                role,
            }) => (
                EventKind::UserChanged,
                Some(tenant),
                None,
                format!("role {role:?} removed from {username:?}"),
            ),
            Command::Keys(K::Rotate { now, alg }) => {
                let what = if *now {
                    "rotated now"
                } else {
                    "successor published"
                };
                let detail = match alg {
                    Some(alg) => format!("{what} ({alg})"),
                    None => what.into(),
                };
                (EventKind::KeyRotated, None, None, detail)
            }
            Command::Keys(K::Revoke { kid }) => {
                (EventKind::KeyRevoked, None, None, format!("kid {kid}"))
            }
            Command::Keys(K::Import { .. }) => (
                EventKind::KeyImported,
                None,
                None,
                "imported as next key".into(),
            ),
            _ => return None,
        };
    let mut event = AuditEvent::new(kind, Outcome::Success)
        .actor(CLI_ACTOR)
        .detail(detail);
    if let Some(tenant) = tenant {
        event = event.tenant(tenant);
    }
    if let Some(client) = client {
        event = event.client(client);
    }
    Some(event)
}
