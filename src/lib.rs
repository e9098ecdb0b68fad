//! Castellan: an OAuth 2.0 / OpenID Connect identity provider and token issuer.

/// The network a client address counts under for rate limits and lockout.
pub mod address;
/// Management operations shared by the CLI and start-up (clients, secrets, bootstrap).
pub mod admin;
/// Building and running the server.
pub mod app;
/// The audit trail's recorder: security events stored in batches off the request path.
pub mod audit;
/// The management command line.
pub mod cli;
/// The one place that reads the time.
pub mod clock;
/// Typed configuration from TOML and `CASTELLAN_*` variables.
pub mod config;
/// Keys, secrets, randomness and JWT signing (the only users of aws-lc-rs).
pub mod crypto;
/// Clients read through a cache that follows the store's changes.
pub mod directory;
/// HTTP endpoints (the only users of axum).
pub mod http;
/// Token issuance: client authentication and grant rules.
pub mod issuer;
/// Scheduled work: key rotation, cache refresh, purges, audit retention.
pub mod jobs;
/// The in-memory signing-key ring and its JWKS.
pub mod keys;
pub mod metrics;
/// Files and folders only their owner may read (secrets at rest, the SQLite database).
pub mod private_file;
/// OAuth/OIDC protocol types and rules, free of I/O.
pub mod protocol;
/// Browser sign-in decisions: authorization, login, consent.
pub mod signin;
/// Persistence over SQLite and PostgreSQL (the only module with SQL).
pub mod store;
/// Logging set-up.
pub mod telemetry;
