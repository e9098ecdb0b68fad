//! `GET`/`POST /userinfo` (OIDC Core §5.3) with bearer-token errors per RFC 6750 §3.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::bearer;
use super::error::method_not_allowed;
use crate::http::state::AppState;
use crate::issuer::Issuer;
use crate::issuer::bearer::BearerError;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/userinfo",
        get(userinfo).post(userinfo).fallback(method_not_allowed),
    )
}

async fn userinfo(State(issuer): State<Arc<Issuer>>, headers: HeaderMap) -> Response {
    let Some(token) = bearer::token(&headers) else {
        return BearerError::Missing.into_response();
    };
    match issuer.userinfo(token).await {
        Ok(claims) => {
            let mut response = Json(claims).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => e.into_response(),
    }
}
