//! `POST /login`: the login form's submission.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::authorize::show;
use super::cookies::{cookie, csrf_checked_form, names};
use crate::http::client_addr::ClientAddr;
use crate::http::error::PageError;
use crate::http::state::AppState;
use crate::protocol::form::FormParams;
use crate::signin::Attempt;

pub(super) async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let expected = cookie(&headers, names(&state).csrf);
    let form = match csrf_checked_form(&body, expected.as_deref()) {
        Ok(form) => form,
        Err(why) => return PageError::bad_request(why).into_response(),
    };
    let request = form.get("request").unwrap_or_default().to_owned();
    let Ok(params) = FormParams::parse(request.as_bytes()) else {
        return PageError::bad_request("The sign-in request is malformed.").into_response();
    };
    if form.get("action") == Some("cancel") {
        let step = state.signin.cancel(&params).await;
        return show(&state, step, &request, &headers, None);
    }
    let current = cookie(&headers, names(&state).session);
    let attempt = Attempt {
        username: form.get("username").unwrap_or_default(),
        password: form.get("password").unwrap_or_default(),
        address,
        replacing: current.as_deref(),
        request: &request,
    };
    let (session, step) = state.signin.login(&params, attempt).await;
    show(&state, step, &request, &headers, session)
}
