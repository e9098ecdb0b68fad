//! Where errors become HTTP responses: OAuth JSON for OAuth endpoints, plain JSON elsewhere.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::views::{ErrorPage, render};
use crate::issuer::bearer::BearerError;
use crate::protocol::{ErrorCode, OAuthError};

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

fn status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        oauth_error(status(self.code), &self)
    }
}

/// An RFC 6749 §5.2 error with an explicit status (413 for an oversized body, say).
pub fn oauth_error(status: StatusCode, err: &OAuthError) -> Response {
    let body = Body {
        error: err.code.as_str(),
        error_description: &err.description,
    };
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    // RFC 9110 §15.5.2: every 401 carries a challenge.
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"castellan\", charset=\"UTF-8\""),
        );
    }
    response
}

/// A non-OAuth error: `{"error": ..., "error_description": ...}` with the given status.
pub fn plain_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = Body {
        error,
        error_description: description,
    };
    (status, Json(body)).into_response()
}

pub async fn not_found() -> Response {
    plain_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

pub async fn method_not_allowed() -> Response {
    plain_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}

/// RFC 6750 §3: refusals of a bearer token carry a `WWW-Authenticate` challenge.
impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        match self {
            BearerError::Missing => challenge(
                StatusCode::UNAUTHORIZED,
                "Bearer realm=\"castellan\"".into(),
            ),
            BearerError::InvalidRequest(why) => challenge(
                StatusCode::BAD_REQUEST,
                format!(
                    "Bearer realm=\"castellan\", error=\"invalid_request\", error_description=\"{why}\""
                ),
            ),
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

/// A problem shown to the person at the browser, on an error page: nothing is redirected.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 503: the store is down; the browser may simply try again (`Retry-After`).
    pub fn unavailable(what: &str) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!("{what} is unavailable right now. Try again in a few seconds."),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let request_id = super::observe::current_request_id();
        let mut response = render(&ErrorPage {
            message: &self.message,
            request_id: request_id.as_deref(),
        });
        if response.status() == StatusCode::OK {
            *response.status_mut() = self.status;
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
