//! Bearer-token requests (RFC 6750): reading the token; refusals are answered in `error.rs`.

use axum::http::{HeaderMap, header};

/// The token of an `Authorization: Bearer` header.
pub fn token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}
