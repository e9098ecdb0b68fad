//! `GET`/`POST /userinfo` (OIDC Core §5.3) with bearer-token errors per RFC 6750 §3.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::error::method_not_allowed;
use crate::issuer::Issuer;
use crate::issuer::userinfo::BearerError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/userinfo",
        get(userinfo).post(userinfo).fallback(method_not_allowed),
    )
}

async fn userinfo(State(issuer): State<Arc<Issuer>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(token) = token else {
        // RFC 6750 §3.1: a request without credentials gets a bare challenge.
        return challenge(
            StatusCode::UNAUTHORIZED,
            "Bearer realm=\"castellan\"".to_owned(),
        );
    };
    match issuer.userinfo(token).await {
        Ok(claims) => {
            let mut response = Json(claims).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(BearerError::InvalidToken(why)) => challenge(
            StatusCode::UNAUTHORIZED,
            format!(
                "Bearer realm=\"castellan\", error=\"invalid_token\", error_description=\"{why}\""
            ),
        ),
        Err(BearerError::InsufficientScope(why)) => challenge(
            StatusCode::FORBIDDEN,
            format!(
                "Bearer realm=\"castellan\", error=\"insufficient_scope\", scope=\"openid\", error_description=\"{why}\""
            ),
        ),
        Err(BearerError::Unavailable) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

fn challenge(status: StatusCode, value: String) -> Response {
    let mut response = status.into_response();
    if let Ok(value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
