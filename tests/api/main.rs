//! Black-box tests: the real server on a random port with a fresh database, spoken to over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod client_credentials;
