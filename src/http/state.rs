//! What every handler shares.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::context::Context;
use crate::http::rate_limit::Limiters;
use crate::issuer::Issuer;
use crate::keys::KeyRing;
use crate::signin::SignIn;
use crate::store::Store;

/// Discovery documents, serialised once at start.
#[derive(Debug)]
pub struct Discovery {
    pub json: bytes::Bytes,
}

/// Cloned for every request, so it is one `Arc`; fields are reached through `Deref`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub ctx: Arc<Context>,
    pub issuer: Arc<Issuer>,
    pub keys: Arc<KeyRing>,
    pub store: Store,
    pub discovery: Arc<Discovery>,
    pub signin: Arc<SignIn>,
    /// Cookies are `Secure` when the issuer is https.
    pub secure_cookies: bool,
    /// `public, max-age=…`, built once.
    pub jwks_cache_control: axum::http::HeaderValue,
    pub limiters: Arc<Limiters>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
}

impl FromRef<AppState> for Arc<Issuer> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.issuer)
    }
}

impl FromRef<AppState> for Store {
    fn from_ref(state: &AppState) -> Self {
        state.store.clone()
    }
}
