//! The pages Castellan shows, one askama template each (compiled in; see `templates/`).

use askama::Template;

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
