//! Sign-in's error type: what failed below it. Pages and redirects are [`super::Step`]s.

use crate::crypto::CryptoError;
use crate::store;

/// A failure under a sign-in step: the store or the crypto. After the client is verified it
/// goes back to the client as `temporarily_unavailable` or `server_error`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Why a flow stops before its end: a page to show (a locked account, a wrong password), or a
/// failure. Lets the flows use `?` for both.
pub(super) enum Stop {
    Show(super::Step),
    Failed(Error),
}

impl From<store::Error> for Stop {
    fn from(e: store::Error) -> Self {
        Self::Failed(e.into())
    }
}

impl From<CryptoError> for Stop {
    fn from(e: CryptoError) -> Self {
        Self::Failed(e.into())
    }
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}
