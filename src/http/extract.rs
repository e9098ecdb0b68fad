//! Extractors that turn raw requests into protocol values, rejecting with OAuth errors.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::MAX_BODY;
use super::error::oauth_error;
use crate::protocol::OAuthError;
use crate::protocol::client_auth::{AuthorizationHeader, ClientCredentials};
use crate::protocol::form::FormParams;

/// A form-encoded body (RFC 6749 §3.2), plus the raw `Authorization` header if present.
pub struct OAuthForm {
    pub params: FormParams,
    pub authorization: Option<Vec<u8>>,
}

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = Response;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            let why = if content_type.is_empty() {
                "missing Content-Type: send application/x-www-form-urlencoded".to_owned()
            } else {
                "unsupported Content-Type: send application/x-www-form-urlencoded".to_owned()
            };
            return Err(OAuthError::invalid_request(why).into_response());
        }
        let bytes = read_capped(body).await?;
        let params = FormParams::parse(&bytes).map_err(IntoResponse::into_response)?;
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec());
        Ok(Self {
            params,
            authorization,
        })
    }
}

impl OAuthForm {
    /// The client's credentials, from the `Authorization` header or the body (RFC 6749 §2.3.1).
    pub fn client_credentials(&self) -> Result<ClientCredentials, OAuthError> {
        let header = match &self.authorization {
            Some(value) => AuthorizationHeader::Present(value),
            None => AuthorizationHeader::Absent,
        };
        ClientCredentials::extract(header, &self.params)
    }
}

async fn read_capped(body: Body) -> Result<axum::body::Bytes, Response> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            oauth_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &OAuthError::invalid_request(format!(
                    "request body larger than {} KiB",
                    MAX_BODY / 1024
                )),
            )
        } else {
            OAuthError::invalid_request("could not read the request body").into_response()
        }
    })
}
