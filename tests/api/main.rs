//! Black-box tests: the real server on a random port with a fresh database, spoken to over HTTP.
// Tests may time themselves and make dated fixtures with the wall clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

mod helpers;
mod validator;

mod abuse;
mod audit;
mod authorize_responses;
mod bootstrap;
mod browser;
mod browser_clients;
mod cli;
mod client_credentials;
mod consent;
mod cross_tenant;
mod faults;
mod files;
mod grant_revocation;
mod grants;
mod hardening;
mod health;
mod interop;
mod introspection;
mod jwks_discovery;
mod key_errors;
mod logout;
mod multinode;
mod observability;
mod purge;
mod rotation;
mod signin;
mod tenancy;
mod token_auth;
mod token_errors;
mod token_grant;
mod users;
