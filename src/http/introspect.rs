//! `POST /introspect` (RFC 7662) and `POST /revoke` (RFC 7009), both with client authentication.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::client_addr::ClientAddr;
use super::error::method_not_allowed;
use super::extract::OAuthForm;
use crate::http::state::AppState;
use crate::issuer::Issuer;
use crate::protocol::OAuthError;
use crate::protocol::introspection::TokenParam;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/introspect", post(introspect).fallback(method_not_allowed))
        .route("/revoke", post(revoke).fallback(method_not_allowed))
}

async fn introspect(
    State(issuer): State<Arc<Issuer>>,
    form: OAuthForm,
) -> Result<Response, OAuthError> {
    let TokenParam(token) = TokenParam::try_from(&form.params)?;
    let body = issuer
        .introspect(form.client_credentials()?, &token)
        .await?;
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

async fn revoke(
    State(issuer): State<Arc<Issuer>>,
    ClientAddr(address): ClientAddr,
    form: OAuthForm,
) -> Result<Response, OAuthError> {
    let TokenParam(token) = TokenParam::try_from(&form.params)?;
    issuer
        .revoke(form.client_credentials()?, &token, address)
        .await?;
    Ok(StatusCode::OK.into_response())
}
