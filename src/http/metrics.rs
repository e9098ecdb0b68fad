//! `GET /metrics`: the Prometheus exposition. Like `/healthz`, it is meant for the operator's
//! network; put it behind the proxy's access rules if the server faces the internet.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::http::state::AppState;
use crate::metrics::Snapshot;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>) -> Response {
    let (pool_size, pool_idle) = state.store.pool_use();
    let snapshot = Snapshot {
        active_key_age: state.ctx.clock.now() - state.keys.current().active_since,
        pool_size,
        pool_idle,
        audit_dropped: state.ctx.audit.dropped(),
    };
    let mut response = state.ctx.metrics.render(&snapshot).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}
