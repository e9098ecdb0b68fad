//! Bearer-token requests (RFC 6750): reading the token and answering refusals with a challenge.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::issuer::bearer::BearerError;

/// The token of an `Authorization: Bearer` header.
pub fn token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// RFC 6750 §3.1: a request without credentials gets a bare challenge.
pub fn missing() -> Response {
    challenge(
        StatusCode::UNAUTHORIZED,
        "Bearer realm=\"castellan\"".into(),
    )
}

pub fn refused(error: BearerError) -> Response {
    match error {
        BearerError::InvalidToken(why) => challenge(
            StatusCode::UNAUTHORIZED,
            format!(
                "Bearer realm=\"castellan\", error=\"invalid_token\", error_description=\"{why}\""
            ),
        ),
        BearerError::InsufficientScope(scope) => challenge(
            StatusCode::FORBIDDEN,
            format!(
                "Bearer realm=\"castellan\", error=\"insufficient_scope\", scope=\"{scope}\", error_description=\"the access token lacks the {scope} scope\""
            ),
        ),
        BearerError::Unavailable => StatusCode::SERVICE_UNAVAILABLE.into_response(),
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
