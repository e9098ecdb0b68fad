//! The only module that knows axum: one file per endpoint, errors mapped in `error.rs`.

pub mod discovery;
pub mod error;
pub mod extract;
pub mod health;
pub mod introspect;
pub mod jwks;
pub mod signin;
pub mod token;
pub mod userinfo;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tower_http::timeout::TimeoutLayer;

use crate::state::AppState;

/// Largest request body accepted anywhere.
pub const MAX_BODY: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(token::router())
        .merge(introspect::router())
        .merge(signin::router())
        .merge(userinfo::router())
        .merge(discovery::router())
        .merge(jwks::router())
        .merge(health::router())
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .with_state(state)
}
