//! Browser sign-in over HTTP: the authorization endpoint, the login, consent and logout forms,
//! their cookies, and the stylesheet their pages share.

mod authorize;
mod consent;
mod cookies;
mod login;
mod logout;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::http::error::method_not_allowed;
use crate::http::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/authorize",
            get(authorize::authorize_get)
                .post(authorize::authorize_post)
                .fallback(method_not_allowed),
        )
        .route("/login", post(login::login).fallback(method_not_allowed))
        .route(
            "/consent",
            post(consent::consent).fallback(method_not_allowed),
        )
        .route(
            "/logout",
            get(logout::logout_get)
                .post(logout::logout_post)
                .fallback(method_not_allowed),
        )
        .route("/static/castellan.css", get(stylesheet))
}

async fn stylesheet() -> Response {
    let mut response = include_str!("../../../static/castellan.css").into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
