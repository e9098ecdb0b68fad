//! `/authorize` (GET and POST), and how every sign-in step becomes a page or an answer.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::cookies::{cookie, names, session_csrf, set_cookie};
use crate::crypto::random;
use crate::http::error::PageError;
use crate::http::state::AppState;
use crate::http::views::{ConsentPage, FormPostPage, LoginPage, no_store, render};
use crate::protocol::authorize::{AuthorizeResponse, ResponseMode};
use crate::protocol::form::FormParams;
use crate::signin::Step;

/// The only script Castellan serves, on the form-post page; the page's policy allows exactly it.
const FORM_POST_SCRIPT_HASH: &str = "'sha256-8lDeP0UDwCO6/RhblgeH/ctdBzjVpJxrXizsnIk3cEQ='";

pub(super) async fn authorize_get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    authorize(&state, query.unwrap_or_default(), &headers).await
}

pub(super) async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match String::from_utf8(body.to_vec()) {
        Ok(body) => authorize(&state, body, &headers).await,
        Err(_) => PageError::bad_request("The sign-in request is not valid UTF-8.").into_response(),
    }
}

async fn authorize(state: &AppState, request: String, headers: &HeaderMap) -> Response {
    let params = match FormParams::parse(request.as_bytes()) {
        Ok(params) => params,
        Err(e) => {
            let message = format!("The sign-in request is malformed: {}.", e.description);
            return PageError::bad_request(&message).into_response();
        }
    };
    let step = state
        .signin
        .authorize(&params, cookie(headers, names(state).session).as_deref())
        .await;
    show(state, step, &request, headers, None)
}

pub(super) fn show(
    state: &AppState,
    step: Step,
    request: &str,
    headers: &HeaderMap,
    new_session: Option<String>,
) -> Response {
    let names = names(state);
    let csrf = cookie(headers, names.csrf).filter(|c| c.len() == 43);
    let fresh_csrf = csrf.is_none();
    let csrf = csrf.or_else(|| random::token().ok()).unwrap_or_default();
    let session = new_session
        .clone()
        .or_else(|| cookie(headers, names.session));
    let mut response = match step {
        Step::ErrorPage(message) => return PageError::bad_request(&message).into_response(),
        Step::Unavailable => return PageError::unavailable("Sign-in").into_response(),
        Step::Respond(answer) => respond(&answer),
        Step::Login {
            client_name,
            username,
            error,
            retry_after,
        } => {
            let mut response = render(&LoginPage {
                client_name: &client_name,
                request,
                csrf: &csrf,
                username: &username,
                error: error.as_deref(),
            });
            if let Some(seconds) = retry_after
                && response.status() == StatusCode::OK
            {
                *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            response
        }
        Step::Consent {
            client_name,
            username,
            scopes,
        } => render(&ConsentPage {
            client_name: &client_name,
            username: &username,
            scopes: &scopes,
            request,
            csrf: &session.as_deref().map(session_csrf).unwrap_or_default(),
        }),
    };
    let secure = state.secure_cookies;
    if let Some(token) = new_session {
        set_cookie(&mut response, names.session, token, secure);
    }
    if fresh_csrf && response.headers().contains_key(header::CONTENT_TYPE) {
        set_cookie(&mut response, names.csrf, csrf, secure);
    }
    response
}

/// The authorization response, the way the client asked for it.
fn respond(answer: &AuthorizeResponse) -> Response {
    match answer.mode {
        ResponseMode::Query => redirect(&answer.location()),
        ResponseMode::FormPost => form_post(answer),
    }
}

/// OAuth 2.0 Form Post Response Mode: a page that POSTs the response to the redirect URI. Its
/// policy allows one script (by hash) and form submission to the redirect URI's origin only.
fn form_post(answer: &AuthorizeResponse) -> Response {
    let mut response = render(&FormPostPage {
        action: &answer.redirect_uri,
        fields: &answer.params,
    });
    let form_action = form_action_source(&answer.redirect_uri)
        .map(|origin| format!(" form-action {origin};"))
        .unwrap_or_default();
    let policy = format!(
        "default-src 'none'; script-src {FORM_POST_SCRIPT_HASH}; style-src 'self';{form_action} \
         base-uri 'none'; frame-ancestors 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// The CSP source that allows exactly the redirect URI's origin (`scheme://host[:port]`, or
/// `scheme:` for a native app's private scheme); none if it holds anything a policy could misread.
fn form_action_source(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once(':')?;
    let source = match rest.strip_prefix("//") {
        Some(authority) => {
            let end = authority.find(['/', '?', '#']).unwrap_or(authority.len());
            format!("{scheme}://{}", &authority[..end])
        }
        None => format!("{scheme}:"),
    };
    // CSP host sources have no IPv6 literals and no user info: such a client's form goes out
    // without the directive (its action is the verified redirect URI all the same).
    let safe = |c: char| c.is_ascii_alphanumeric() || "+-.:/".contains(c);
    source.chars().all(safe).then_some(source)
}

pub(super) fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => no_store((StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response()),
        Err(_) => {
            PageError::bad_request("The application's address cannot be used.").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::form_action_source;

    #[test]
    fn form_action_allows_the_redirect_uris_origin_or_nothing() {
        let source = |uri| form_action_source(uri);
        assert_eq!(
            source("https://app.example.com:8443/cb?x=1").as_deref(),
            Some("https://app.example.com:8443")
        );
        assert_eq!(
            source("com.example.app:/cb").as_deref(),
            Some("com.example.app:")
        );
        assert_eq!(
            source("http://[::1]:9000/cb"),
            None,
            "no IPv6 literal in a policy"
        );
        assert_eq!(source("https://a.example; script-src *"), None);
        assert_eq!(source("https://user@app.example.com/cb"), None);
    }
}
