//! How the layers below become OAuth errors: each failure is logged once, here, with its cause.

use crate::crypto::CryptoError;
use crate::error_chain::report;
use crate::protocol::OAuthError;
use crate::store;

impl From<store::Error> for OAuthError {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::Unavailable { .. } => {
                tracing::warn!(error = %report(&e), "store unavailable while issuing");
                OAuthError::unavailable()
            }
            e => {
                tracing::error!(error = %report(&e), "store failed while issuing");
                OAuthError::server_error()
            }
        }
    }
}

impl From<CryptoError> for OAuthError {
    fn from(e: CryptoError) -> Self {
        tracing::error!(error = %e, "token signing failed");
        OAuthError::server_error()
    }
}
