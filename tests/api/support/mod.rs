//! The test kit every test module uses: a [`TestApp`] builder with typed configuration, a
//! [`TestDb`] for tests without a server, personas (a [`Browser`] and a relying party, [`Rp`]),
//! the management commands and the real binary, a resource server's validator, store records,
//! and a proxy for database outages. The names most tests need are re-exported here.

pub mod app;
pub mod assertion;
pub mod binary;
pub mod browser;
pub mod chaos;
pub mod cli;
pub mod db;
pub mod grants;
/// Shared with the benchmarks, which cannot import the tests.
#[path = "../../../benches/support/html.rs"]
pub mod html;
pub mod oauth;
pub mod rp;
pub mod validator;
pub mod wait;

pub use app::TestApp;
pub use browser::{Browser, hidden, param, redirect_params};
pub use db::{Backend, PASSWORD, TestDb};
pub use html::urlencode;
pub use oauth::{CC, TestClient, expect_oauth_error, text, token_of};
pub use rp::{BYE, CHALLENGE, REDIRECT, Rp, VERIFIER};
pub use wait::{PATIENCE, eventually};
