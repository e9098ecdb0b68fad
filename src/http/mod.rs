//! The only module that knows axum: one file per endpoint, errors mapped in `error.rs`.

pub mod admin;
pub mod bearer;
pub mod client_addr;
pub mod discovery;
pub mod error;
pub mod extract;
pub mod headers;
pub mod health;
pub mod introspect;
pub mod jwks;
pub mod metrics;
pub mod observe;
pub mod rate_limit;
pub mod server;
pub mod signin;
pub mod state;
pub mod token;
pub mod userinfo;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tower_http::timeout::TimeoutLayer;

use crate::http::state::AppState;

/// Largest request body accepted anywhere.
pub const MAX_BODY: usize = 64 * 1024;

/// Every endpoint; `/metrics` too unless `with_metrics` is false (it is then served apart, on
/// `metrics_listen`, by [`metrics_router`]).
pub fn router(state: AppState, request_timeout: Duration, with_metrics: bool) -> Router {
    let endpoints = Router::new()
        .merge(token::router())
        .merge(introspect::router())
        .merge(signin::router())
        .merge(userinfo::router())
        .merge(discovery::router())
        .merge(jwks::router())
        .merge(health::router())
        .merge(admin::router());
    let endpoints = if with_metrics {
        endpoints.merge(metrics::router())
    } else {
        endpoints
    };
    endpoints
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Each middleware gets only what it needs: its state is cloned for every request.
        .layer(axum::middleware::from_fn_with_state(
            rate_limit::Guard {
                limiters: Arc::clone(&state.limiters),
                trusted_proxies: Arc::clone(&state.trusted_proxies),
            },
            rate_limit::enforce,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.secure_cookies,
            headers::secure,
        ))
        .layer(axum::middleware::from_fn_with_state(
            observe::Observer {
                metrics: Arc::clone(&state.ctx.metrics),
                trusted_proxies: Arc::clone(&state.trusted_proxies),
            },
            observe::observe,
        ))
        .with_state(state)
}

/// `/metrics` alone, for the listener on `metrics_listen`.
pub fn metrics_router(state: AppState) -> Router {
    metrics::router()
        .fallback(error::not_found)
        .with_state(state)
}
