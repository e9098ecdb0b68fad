//! Black-box tests: the real server on a random port with a fresh database, spoken to over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;
mod validator;

mod bootstrap;
mod browser_clients;
mod cli;
mod client_credentials;
mod grants;
mod health;
mod interop;
mod introspection;
mod jwks_discovery;
mod key_errors;
mod multinode;
mod rotation;
mod signin;
mod token_auth;
mod token_errors;
mod token_grant;
mod users;
