//! `POST /token` (RFC 6749 §3.2).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::client_addr::ClientAddr;
use super::error::method_not_allowed;
use super::extract::OAuthForm;
use crate::http::state::AppState;
use crate::issuer::Issuer;
use crate::protocol::OAuthError;
use crate::protocol::token_request::TokenRequest;

pub fn router() -> Router<AppState> {
    Router::new().route("/token", post(token).fallback(method_not_allowed))
}

async fn token(
    State(issuer): State<Arc<Issuer>>,
    ClientAddr(address): ClientAddr,
    form: OAuthForm,
) -> Result<Response, OAuthError> {
    let request = TokenRequest::try_from(&form.params)?;
    let creds = form.client_credentials()?;
    let response = issuer.token(creds, request, address).await?;
    let mut response = Json(response).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}
