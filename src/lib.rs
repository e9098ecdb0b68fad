//! Castellan: an OAuth 2.0 / OpenID Connect identity provider and token issuer.
//!
//! The modules below are listed top-down, as the layers depend on each other: the edges (HTTP,
//! CLI) call the services, the services call the store, crypto and protocol, and `protocol`
//! depends on nothing.

// Wiring: the binary's commands and the server they start.

/// Building and running the server: configuration in, listener and jobs out.
pub mod app;
/// Scheduled work: key rotation, cache refresh, purges, audit retention.
pub mod jobs;
/// Logging set-up.
pub mod telemetry;

// Edges: the only modules that speak HTTP or parse command lines.

/// The management command line.
pub mod cli;
/// HTTP endpoints (the only users of axum), their state, pages and error responses.
pub mod http;

// Services: what Castellan decides.

/// Management operations shared by the CLI and start-up (clients, secrets, bootstrap).
pub mod admin;
/// The audit trail: security events stored in batches off the request path.
pub mod audit;
/// What every service shares: the issuer URL, store, clock, keys, clients, audit, metrics.
pub mod context;
/// Clients read through a cache that follows the store's changes.
pub mod directory;
/// Token issuance: client authentication, grant rules, introspection, revocation, bearer checks.
pub mod issuer;
/// The in-memory signing-key ring, its JWKS and its rotation.
pub mod keys;
/// Prometheus counters and gauges.
pub mod metrics;
/// Browser sign-in decisions: authorization, login, consent, logout.
pub mod signin;

// Foundations: storage, cryptography and the protocol's rules.

/// The network a client address counts under for rate limits and lockout.
pub mod address;
/// The one place that reads the time.
pub mod clock;
/// Typed configuration from TOML and `CASTELLAN_*` variables: plain data every layer reads.
pub mod config;
/// Keys, secrets, randomness and JWT signing (the only users of aws-lc-rs).
pub mod crypto;
/// One-line reports of an error and its causes, for logs and the command line.
pub mod error_chain;
/// Remote JWKS (`jwks_uri`) fetched under an SSRF guard, bounded in time and size, and cached.
pub mod jwks_fetch;
/// Files and folders only their owner may read (secrets at rest, the SQLite database).
pub mod private_file;
/// OAuth/OIDC protocol types and rules, free of I/O.
pub mod protocol;
/// Persistence over SQLite and PostgreSQL (the only module with SQL).
pub mod store;
