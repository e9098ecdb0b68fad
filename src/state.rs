//! What every handler shares.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::issuer::Issuer;
use crate::keys::KeyRing;
use crate::signin::SignIn;
use crate::store::Store;

/// Discovery documents, serialised once at start.
#[derive(Debug)]
pub struct Discovery {
    pub json: bytes::Bytes,
}

#[derive(Clone)]
pub struct AppState {
    pub issuer: Arc<Issuer>,
    pub keys: Arc<KeyRing>,
    pub store: Store,
    pub discovery: Arc<Discovery>,
    pub signin: Arc<SignIn>,
    /// Cookies are `Secure` when the issuer is https.
    pub secure_cookies: bool,
    /// `public, max-age=…`, built once.
    pub jwks_cache_control: axum::http::HeaderValue,
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
