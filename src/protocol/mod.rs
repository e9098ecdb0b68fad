//! OAuth 2.0 / OIDC rules as pure types and functions: no HTTP, no storage, no I/O.

pub mod authorize;
pub mod claims;
pub mod client_assertion;
pub mod client_auth;
pub mod error;
pub mod form;
pub mod introspection;
pub mod metadata;
pub mod pkce;
pub mod redirect_uri;
pub mod scope;
pub mod signing_alg;
pub mod token_request;
pub mod values;

pub use error::{ErrorCode, OAuthError};
pub use redirect_uri::RedirectUri;
pub use scope::{Scope, ScopeSet};
pub use signing_alg::SigningAlg;
pub use values::{ApiIdentifier, ClientId, GrantType, TenantSlug};
