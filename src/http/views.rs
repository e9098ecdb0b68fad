//! The pages Castellan shows, one askama template each (compiled in; see `templates/`).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// A page, never cached (it may carry a CSRF token or a code); a template that fails is a 500.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => no_store(Html(html).into_response()),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

pub fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub client_name: &'a str,
    /// The authorization request, carried through the form unchanged.
    pub request: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub client_name: &'a str,
    pub username: &'a str,
    pub scopes: &'a [String],
    pub request: &'a str,
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub message: &'a str,
    /// The request's `X-Request-Id`, for the person to quote to the operators.
    pub request_id: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage;

/// The OAuth 2.0 Form Post Response Mode page: the response as hidden fields, sent on by a
/// script whose hash is the page's only script permission (`http::signin`).
#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostPage<'a> {
    pub action: &'a str,
    pub fields: &'a [(&'static str, String)],
}

/// Asks before ending a session that a bare logout request names (RP-Initiated Logout §2).
#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    pub client_name: Option<&'a str>,
    /// The logout request, carried through the form unchanged.
    pub request: &'a str,
    pub csrf: &'a str,
}
