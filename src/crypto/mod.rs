//! The only users of aws-lc-rs and jsonwebtoken: randomness, hashes, secrets, key encryption,
//! JWT signing and the verification of JWTs from outside (client assertions).

pub mod client_assertion;
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
