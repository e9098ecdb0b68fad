//! `GET`/`POST /userinfo` (OIDC Core §5.3) with bearer-token errors per RFC 6750 §3.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
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
        get(userinfo_get)
            .post(userinfo_post)
            .fallback(method_not_allowed),
    )
}

async fn userinfo_get(State(issuer): State<Arc<Issuer>>, headers: HeaderMap) -> Response {
    match bearer::token(&headers) {
        Some(token) => answer(&issuer, token).await,
        None => BearerError::Missing.into_response(),
    }
}

/// RFC 6750 §2.2: a POST may carry the token as `access_token` in a form body instead of the
/// header (pyoidc does); exactly one of the two, or the request is invalid (§3.1).
async fn userinfo_post(
    State(issuer): State<Arc<Issuer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    let in_body = if form && !body.is_empty() {
        match crate::protocol::form::FormParams::parse(&body) {
            Ok(params) => params.get("access_token").map(str::to_owned),
            Err(_) => {
                return BearerError::InvalidRequest("the form body is malformed").into_response();
            }
        }
    } else {
        None
    };
    match (bearer::token(&headers), in_body.as_deref()) {
        (Some(_), Some(_)) => {
            BearerError::InvalidRequest("send the access token one way only").into_response()
        }
        (Some(token), None) | (None, Some(token)) => answer(&issuer, token).await,
        (None, None) => BearerError::Missing.into_response(),
    }
}

async fn answer(issuer: &Issuer, token: &str) -> Response {
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
