//! What every service shares: who the issuer is, and the store, clock, keys, clients, audit
//! trail and metrics they all use. Built once at start, held behind an `Arc`.

use std::sync::Arc;

use crate::audit::Audit;
use crate::clock::Clock;
use crate::config::SessionPolicy;
use crate::directory::ClientDirectory;
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::store::Store;

pub struct Context {
    /// The issuer identifier (`iss`), an https or http URL without a trailing query.
    pub issuer_url: String,
    pub clients: ClientDirectory,
    pub keys: Arc<KeyRing>,
    pub clock: Clock,
    /// Revocations, sessions and grants live in the store, shared by every node.
    pub store: Store,
    /// Lifetimes of sessions, consents and refresh tokens.
    pub sessions: SessionPolicy,
    pub audit: Audit,
    pub metrics: Arc<Metrics>,
}

impl Context {
    /// The UserInfo endpoint, also the audience of tokens that name no API.
    pub fn userinfo_url(&self) -> String {
        format!("{}/userinfo", self.issuer_url.trim_end_matches('/'))
    }
}
