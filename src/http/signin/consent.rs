//! `POST /consent`: the user's decision, with a CSRF token bound to the session.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::authorize::show;
use super::cookies::{clear_cookie, cookie, csrf_checked_form, names, session_csrf};
use crate::http::error::PageError;
use crate::http::state::AppState;
use crate::protocol::form::FormParams;

pub(super) async fn consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let session = cookie(&headers, names(&state).session);
    let form = match csrf_checked_form(&body, session.as_deref().map(session_csrf).as_deref()) {
        Ok(form) => form,
        Err(why) => return PageError::bad_request(why).into_response(),
    };
    let request = form.get("request").unwrap_or_default().to_owned();
    let Ok(params) = FormParams::parse(request.as_bytes()) else {
        return PageError::bad_request("The sign-in request is malformed.").into_response();
    };
    if form.get("decision") == Some("switch") {
        let step = state.signin.switch_user(&params, session.as_deref()).await;
        let mut response = show(&state, step, &request, &headers, None);
        clear_cookie(&mut response, names(&state).session, state.secure_cookies);
        return response;
    }
    let allow = form.get("decision") == Some("allow");
    let step = state
        .signin
        .consent(&params, &request, session.as_deref(), allow)
        .await;
    show(&state, step, &request, &headers, None)
}
