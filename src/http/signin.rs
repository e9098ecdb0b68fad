//! `/authorize` (GET and POST), the login form and the consent form: pages, cookies, redirects.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use cookie::{Cookie, SameSite};

use super::client_addr::ClientAddr;
use super::error::method_not_allowed;
use crate::crypto::random;
use crate::protocol::authorize::{AuthorizeResponse, ResponseMode};
use crate::protocol::form::FormParams;
use crate::signin::{Attempt, Logout, Step};
use crate::state::AppState;
use crate::views::{ConsentPage, ErrorPage, FormPostPage, LoginPage, LogoutPage, SignedOutPage};

/// Cookie names. Over https they carry the `__Host-` prefix, so the browser refuses them unless
/// they are Secure, for the whole host, and set by this host (not a sibling subdomain).
struct CookieNames {
    session: &'static str,
    csrf: &'static str,
}

const PLAIN: CookieNames = CookieNames {
    session: "castellan_session",
    csrf: "castellan_csrf",
};
const HOST_BOUND: CookieNames = CookieNames {
    session: "__Host-castellan_session",
    csrf: "__Host-castellan_csrf",
};

fn names(state: &AppState) -> &'static CookieNames {
    if state.secure_cookies {
        &HOST_BOUND
    } else {
        &PLAIN
    }
}

/// The only script Castellan serves, on the form-post page; the page's policy allows exactly it.
const FORM_POST_SCRIPT_HASH: &str = "'sha256-8lDeP0UDwCO6/RhblgeH/ctdBzjVpJxrXizsnIk3cEQ='";

/// The CSRF token of forms that act within a session (consent, logout): derived from the
/// session, so a token from another session (or from before a sign-in) is refused.
fn session_csrf(session: &str) -> String {
    random::derived_token(b"castellan session csrf", session)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/authorize",
            get(authorize_get)
                .post(authorize_post)
                .fallback(method_not_allowed),
        )
        .route("/login", post(login).fallback(method_not_allowed))
        .route("/consent", post(consent).fallback(method_not_allowed))
        .route(
            "/logout",
            get(logout_get)
                .post(logout_post)
                .fallback(method_not_allowed),
        )
        .route("/static/castellan.css", get(stylesheet))
}

async fn authorize_get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    authorize(&state, query.unwrap_or_default(), &headers).await
}

async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match String::from_utf8(body.to_vec()) {
        Ok(body) => authorize(&state, body, &headers).await,
        Err(_) => error_page(
            StatusCode::BAD_REQUEST,
            "The sign-in request is not valid UTF-8.",
        ),
    }
}

async fn authorize(state: &AppState, request: String, headers: &HeaderMap) -> Response {
    let params = match FormParams::parse(request.as_bytes()) {
        Ok(params) => params,
        Err(e) => {
            let message = format!("The sign-in request is malformed: {}.", e.description);
            return error_page(StatusCode::BAD_REQUEST, &message);
        }
    };
    let step = state
        .signin
        .authorize(&params, cookie(headers, names(state).session).as_deref())
        .await;
    render(state, step, &request, headers, None)
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let expected = cookie(&headers, names(&state).csrf);
    let form = match csrf_checked_form(&body, expected.as_deref()) {
        Ok(form) => form,
        Err(why) => return error_page(StatusCode::BAD_REQUEST, why),
    };
    let request = form.get("request").unwrap_or_default().to_owned();
    let Ok(params) = FormParams::parse(request.as_bytes()) else {
        return error_page(StatusCode::BAD_REQUEST, "The sign-in request is malformed.");
    };
    let current = cookie(&headers, names(&state).session);
    let attempt = Attempt {
        username: form.get("username").unwrap_or_default(),
        password: form.get("password").unwrap_or_default(),
        address,
        replacing: current.as_deref(),
        request: &request,
    };
    let (session, step) = state.signin.login(&params, attempt).await;
    render(&state, step, &request, &headers, session)
}

async fn consent(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let session = cookie(&headers, names(&state).session);
    let form = match csrf_checked_form(&body, session.as_deref().map(session_csrf).as_deref()) {
        Ok(form) => form,
        Err(why) => return error_page(StatusCode::BAD_REQUEST, why),
    };
    let request = form.get("request").unwrap_or_default().to_owned();
    let Ok(params) = FormParams::parse(request.as_bytes()) else {
        return error_page(StatusCode::BAD_REQUEST, "The sign-in request is malformed.");
    };
    let allow = form.get("decision") == Some("allow");
    let step = state
        .signin
        .consent(&params, &request, session.as_deref(), allow)
        .await;
    render(&state, step, &request, &headers, None)
}

async fn logout_get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    logout(&state, query.unwrap_or_default(), &headers, false).await
}

/// A relying party's POST (its parameters in the body), or the user's answer on the
/// confirmation page (the original request in `request`, with a CSRF token bound to the session).
async fn logout_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(form) = FormParams::parse_envelope(&body) else {
        return error_page(StatusCode::BAD_REQUEST, "The logout request is malformed.");
    };
    if form.get("logout_confirmed").is_none() {
        return match String::from_utf8(body.to_vec()) {
            Ok(request) => logout(&state, request, &headers, false).await,
            Err(_) => error_page(StatusCode::BAD_REQUEST, "The logout request is malformed."),
        };
    }
    let session = cookie(&headers, names(&state).session);
    if let Err(why) = csrf_checked_form(&body, session.as_deref().map(session_csrf).as_deref()) {
        return error_page(StatusCode::BAD_REQUEST, why);
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
        return error_page(StatusCode::BAD_REQUEST, "The logout request is malformed.");
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
            return unavailable_page("Signing out");
        }
    };
    let next = match outcome {
        Logout::Done(next) => next,
        Logout::Confirm { client_name } => {
            let csrf = session.as_deref().map(session_csrf).unwrap_or_default();
            return page(&LogoutPage {
                client_name: client_name.as_deref(),
                request: &request,
                csrf: &csrf,
            });
        }
    };
    let mut response = match next {
        Some(location) => redirect(&location),
        None => page(&SignedOutPage),
    };
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

/// The form, if its `csrf` field equals `expected` (compared in constant time): the login
/// form's double-submit cookie, or the token bound to the session for forms acting within one.
/// The cookies are SameSite and HttpOnly, so another site can forge neither.
fn csrf_checked_form(body: &[u8], expected: Option<&str>) -> Result<FormParams, &'static str> {
    const STALE: &str = "This form has expired or did not come from this site. Go back to the application and start again.";
    let form = FormParams::parse_envelope(body).map_err(|_| "The form is malformed.")?;
    let (Some(sent), Some(expected)) = (form.get("csrf"), expected) else {
        return Err(STALE);
    };
    if aws_lc_rs::constant_time::verify_slices_are_equal(sent.as_bytes(), expected.as_bytes())
        .is_err()
    {
        return Err(STALE);
    }
    Ok(form)
}

fn render(
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
        Step::ErrorPage(message) => return error_page(StatusCode::BAD_REQUEST, &message),
        Step::Unavailable => return unavailable_page("Sign-in"),
        Step::Respond(answer) => respond(&answer),
        Step::Login {
            client_name,
            username,
            error,
            retry_after,
        } => {
            let mut response = page(&LoginPage {
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
        } => page(&ConsentPage {
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
    let mut response = page(&FormPostPage {
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
    let safe = |c: char| c.is_ascii_alphanumeric() || "+-.:[]_~%@".contains(c) || c == '/';
    source.chars().all(safe).then_some(source)
}

fn page(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => no_store(Html(html).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

pub(super) fn error_page(status: StatusCode, message: &str) -> Response {
    let mut response = page(&ErrorPage { message });
    if response.status() == StatusCode::OK {
        *response.status_mut() = status;
    }
    response
}

/// 503 with `Retry-After`: the store is down; the browser may simply try again.
fn unavailable_page(what: &str) -> Response {
    let message = format!("{what} is unavailable right now. Try again in a few seconds.");
    let mut response = error_page(StatusCode::SERVICE_UNAVAILABLE, &message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => no_store((StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response()),
        Err(_) => error_page(
            StatusCode::BAD_REQUEST,
            "The application's address cannot be used.",
        ),
    }
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn set_cookie(response: &mut Response, name: &'static str, value: String, secure: bool) {
    let cookie = Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .build();
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

async fn stylesheet() -> Response {
    let mut response = include_str!("../../static/castellan.css").into_response();
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
