//! Black-box tests: the real server on a random port with a fresh database, spoken to over HTTP.
//! `support` is the kit they share; every other module is one topic's tests.
// Tests may time themselves and make dated fixtures with the wall clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

mod support;

mod audit;
mod authorize_responses;
mod bootstrap;
mod browser;
mod browser_clients;
mod cli;
mod cli_changes;
mod cli_errors;
mod client_credentials;
mod consent;
mod cross_tenant;
mod federation;
mod files;
mod grant_revocation;
mod grants;
mod grants_refresh;
mod hardening;
mod health;
mod installation;
mod interop;
mod introspection;
mod jwks_discovery;
mod jwks_uri;
mod key_errors;
mod lockout;
mod logout;
mod logs;
mod multinode;
mod observability;
mod outage;
mod pages;
mod pkce_optional;
mod private_key_jwt;
mod purge;
mod rate_limits;
mod refresh;
mod rotation;
mod server_audit;
mod sessions;
mod shutdown;
mod signin;
mod signing_algs;
mod standard_claims;
mod tenancy;
mod token_auth;
mod token_errors;
mod token_grant;
mod token_hostile;
mod userinfo;
mod users;
mod web_client;
