//! `/.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::error::method_not_allowed;
use crate::http::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(metadata).fallback(method_not_allowed),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata).fallback(method_not_allowed),
        )
}

async fn metadata(State(state): State<AppState>) -> Response {
    let mut response = state.discovery.json.clone().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
