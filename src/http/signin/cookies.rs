//! The sign-in cookies and CSRF tokens: names, reading, setting, checking.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use cookie::{Cookie, SameSite};

use crate::crypto::random;
use crate::http::state::AppState;
use crate::protocol::form::FormParams;

/// Cookie names. Over https they carry the `__Host-` prefix, so the browser refuses them unless
/// they are Secure, for the whole host, and set by this host (not a sibling subdomain).
pub(super) struct CookieNames {
    pub(super) session: &'static str,
    pub(super) csrf: &'static str,
}

const PLAIN: CookieNames = CookieNames {
    session: "castellan_session",
    csrf: "castellan_csrf",
};

const HOST_BOUND: CookieNames = CookieNames {
    session: "__Host-castellan_session",
    csrf: "__Host-castellan_csrf",
};

pub(super) fn names(state: &AppState) -> &'static CookieNames {
    if state.secure_cookies {
        &HOST_BOUND
    } else {
        &PLAIN
    }
}

/// The CSRF token of forms that act within a session (consent, logout): derived from the
/// session, so a token from another session (or from before a sign-in) is refused.
pub(super) fn session_csrf(session: &str) -> String {
    random::derived_token(b"castellan session csrf", session)
}

/// The form, if its `csrf` field equals `expected` (compared in constant time): the login
/// form's double-submit cookie, or the token bound to the session for forms acting within one.
/// The cookies are SameSite and HttpOnly, so another site can forge neither.
pub(super) fn csrf_checked_form(
    body: &[u8],
    expected: Option<&str>,
) -> Result<FormParams, &'static str> {
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

pub(super) fn set_cookie(response: &mut Response, name: &'static str, value: String, secure: bool) {
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

/// Tells the browser to forget the cookie `name`.
pub(super) fn clear_cookie(response: &mut Response, name: &'static str, secure: bool) {
    let cookie = Cookie::build((name, ""))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(time::Duration::ZERO)
        .build();
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}
