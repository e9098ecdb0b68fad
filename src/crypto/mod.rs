//! The only users of aws-lc-rs: randomness, hashes, secrets, key encryption and JWT signing.

pub mod jwt;
pub mod master_key;
pub mod password;
pub mod pkce;
pub mod random;
pub mod secret;
pub mod signing_key;

pub use master_key::MasterKey;
pub use secret::{GeneratedSecret, SecretHash};
pub use signing_key::SigningKey;

/// A cryptographic operation failed; the text is safe to show an operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CryptoError(pub String);
