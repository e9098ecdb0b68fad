//! `GET`/`POST /logout` (RP-Initiated Logout): the confirmation page and the end of a session.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};

use super::authorize::redirect;
use super::cookies::{cookie, csrf_checked_form, names, session_csrf};
use crate::http::error::PageError;
use crate::http::state::AppState;
use crate::http::views::{LogoutPage, SignedOutPage, render};
use crate::protocol::form::FormParams;
use crate::signin::Logout;

pub(super) async fn logout_get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    logout(&state, query.unwrap_or_default(), &headers, false).await
}

/// A relying party's POST (its parameters in the body), or the user's answer on the
/// confirmation page (the original request in `request`, with a CSRF token bound to the session).
///
/// A relying party's POST is sent on as a GET of the same parameters: a cross-site POST carries
/// no SameSite=Lax session cookie, so answering it here would find no session, end nothing on
/// the server, and still clear the browser's cookie, signing the user out unasked.
pub(super) async fn logout_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(form) = FormParams::parse_envelope(&body) else {
        return PageError::bad_request("The logout request is malformed.").into_response();
    };
    if form.get("logout_confirmed").is_none() {
        return match std::str::from_utf8(&body) {
            Ok(query) if FormParams::parse(&body).is_ok() => redirect(&format!("/logout?{query}")),
            _ => PageError::bad_request("The logout request is malformed.").into_response(),
        };
    }
    let session = cookie(&headers, names(&state).session);
    if let Err(why) = csrf_checked_form(&body, session.as_deref().map(session_csrf).as_deref()) {
        return PageError::bad_request(why).into_response();
    }
    let request = form.get("request").unwrap_or_default().to_owned();
    logout(&state, request, &headers, true).await
}

/// Ends the session and clears its cookie, then goes to a registered post-logout URI or says
/// so; asks first when the request does not name this session.
async fn logout(
    state: &AppState,
    request: String,
    headers: &HeaderMap,
    confirmed: bool,
) -> Response {
    let Ok(params) = FormParams::parse(request.as_bytes()) else {
        return PageError::bad_request("The logout request is malformed.").into_response();
    };
    let session = cookie(headers, names(state).session);
    let outcome = match state
        .signin
        .logout(&params, session.as_deref(), confirmed)
        .await
    {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::warn!(error = %e, "cannot end a session");
            return PageError::unavailable("Signing out").into_response();
        }
    };
    let next = match outcome {
        Logout::Done(next) => next,
        Logout::Confirm { client_name } => {
            let csrf = session.as_deref().map(session_csrf).unwrap_or_default();
            return render(&LogoutPage {
                client_name: client_name.as_deref(),
                request: &request,
                csrf: &csrf,
            });
        }
    };
    let mut response = match next {
        Some(location) => redirect(&location),
        None => render(&SignedOutPage),
    };
    // Only a browser that sent its session cookie has one to clear.
    if session.is_none() {
        return response;
    }
    let expired = Cookie::build((names(state).session, ""))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.secure_cookies)
        .path("/")
        .max_age(cookie::time::Duration::ZERO)
        .build();
    if let Ok(value) = HeaderValue::from_str(&expired.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
