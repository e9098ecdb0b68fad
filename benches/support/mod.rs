//! What the benchmarks share: the server under test, a lean HTTP/1.1 client, the load drivers
//! (closed and open loop, sign-ins, per-core baselines), readings from `/proc`, settings from
//! the environment, and the numbers' formatting. `html.rs` is shared with the tests too.
//!
//! Each benchmark is its own crate that includes this folder with `mod support;` and uses only
//! part of it, so code that one of them leaves unused is not an error.
#![allow(dead_code)]

pub mod client;
pub mod closed_loop;
pub mod cores;
pub mod env;
pub mod html;
pub mod load;
pub mod procfs;
pub mod report;
pub mod server;
pub mod signin;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = BoxError> = std::result::Result<T, E>;
