//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), parsed in two stages.
//!
//! Until the client and its redirect URI are verified, an error is shown to the person on an
//! error page; after that, errors go back to the client (RFC 6749 §4.1.2.1). The two stages
//! keep that order in the types: [`Addressee`] first, then [`AuthorizeRequest`].

use std::fmt;

use super::form::FormParams;
use super::pkce::CodeChallenge;
use super::values::truncated;
use super::{ApiIdentifier, ClientId, ScopeSet};

/// Errors the authorization endpoint redirects to the client; a family apart from the token
/// endpoint's (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6, RFC 9101 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizeErrorCode {
    InvalidRequest,
    UnauthorizedClient,
    AccessDenied,
    UnsupportedResponseType,
    InvalidScope,
    ServerError,
    TemporarilyUnavailable,
    LoginRequired,
    ConsentRequired,
    RequestNotSupported,
    RequestUriNotSupported,
}

impl AuthorizeErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeError {
    pub code: AuthorizeErrorCode,
    pub description: String,
}

impl AuthorizeError {
    fn new(code: AuthorizeErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    pub fn invalid(description: impl Into<String>) -> Self {
        Self::new(AuthorizeErrorCode::InvalidRequest, description)
    }
}

impl fmt::Display for AuthorizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

/// How the authorization response reaches the client (OAuth 2.0 Multiple Response Type Encoding
/// Practices §2.1, OAuth 2.0 Form Post Response Mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResponseMode {
    /// Parameters in the redirect URI's query (the default for `code`).
    #[default]
    Query,
    /// An auto-submitting HTML form that POSTs the parameters to the redirect URI.
    FormPost,
}

impl ResponseMode {
    pub const SUPPORTED: &[&str] = &["query", "form_post"];

    /// Read before anything else, so that every later error is answered the way the client asked.
    pub fn of(params: &FormParams) -> Result<Self, AuthorizeError> {
        match params.get("response_mode") {
            None | Some("query") => Ok(Self::Query),
            Some("form_post") => Ok(Self::FormPost),
            Some(other) => Err(AuthorizeError::invalid(format!(
                "response_mode {:?} is not supported; use query or form_post",
                truncated(other, 32)
            ))),
        }
    }
}

/// An answer for the client's verified redirect URI: a code or an error, with `state` and `iss`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizeResponse {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub params: Vec<(&'static str, String)>,
}

/// The code is a credential: `Debug` (and so any log line) never shows it.
impl fmt::Debug for AuthorizeResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    if *k == "code" {
                        "[redacted]"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("AuthorizeResponse")
            .field("redirect_uri", &self.redirect_uri)
            .field("mode", &self.mode)
            .field("params", &params)
            .finish()
    }
}

impl AuthorizeResponse {
    /// The redirect URI with the parameters appended to its query.
    pub fn location(&self) -> String {
        let pairs: Vec<(&str, &str)> = self.params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        with_query(&self.redirect_uri, &pairs)
    }
}

/// Everything but RFC 3986's unreserved characters is percent-encoded in query values.
const UNRESERVED_KEPT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Appends form-encoded pairs to a URI that may already have a query.
pub fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let encoded: String = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, UNRESERVED_KEPT)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let joiner = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{joiner}{encoded}")
}

/// Longest `state`, `nonce` or hint accepted; clients need far less.
pub const MAX_OPAQUE_LEN: usize = 1024;

/// Stage one: who asks, and where the answer would go (still unverified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressee {
    pub client_id: ClientId,
    pub redirect_uri: Option<String>,
}

impl Addressee {
    /// The error is for the error page: nothing is redirected before the client is verified.
    pub fn parse(params: &FormParams) -> Result<Self, String> {
        let client_id = params
            .get("client_id")
            .ok_or("The request names no client (client_id is missing).")?;
        let client_id = ClientId::parse(client_id)
            .map_err(|_| "The request names no valid client.".to_owned())?;
        let redirect_uri = params.get("redirect_uri").map(str::to_owned);
        if redirect_uri.as_ref().is_some_and(|u| u.len() > 2048) {
            return Err("The redirect URI is too long.".into());
        }
        Ok(Self {
            client_id,
            redirect_uri,
        })
    }
}

/// `prompt` (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// Stage two: everything else, once the redirect URI is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub scope: ScopeSet,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// `None` only where the client is registered with PKCE optional.
    pub code_challenge: Option<CodeChallenge>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub id_token_hint: Option<String>,
    pub resource: Option<ApiIdentifier>,
    pub response_mode: ResponseMode,
}

impl AuthorizeRequest {
    /// `state` of a request, for echoing it in an error redirect even when parsing failed.
    pub fn state_of(params: &FormParams) -> Option<String> {
        params
            .get("state")
            .filter(|s| s.len() <= MAX_OPAQUE_LEN)
            .map(str::to_owned)
    }

    pub fn parse(params: &FormParams) -> Result<Self, AuthorizeError> {
        use AuthorizeErrorCode as E;
        if params.get("request").is_some() {
            return Err(AuthorizeError::new(
                E::RequestNotSupported,
                "request objects are not supported",
            ));
        }
        if params.get("request_uri").is_some() {
            return Err(AuthorizeError::new(
                E::RequestUriNotSupported,
                "request_uri is not supported",
            ));
        }
        match params.get("response_type") {
            None => return Err(AuthorizeError::invalid("response_type is missing")),
            Some("code") => {}
            Some(other) => {
                return Err(AuthorizeError::new(
                    E::UnsupportedResponseType,
                    format!(
                        "response_type {:?} is not supported; use code",
                        truncated(other, 64)
                    ),
                ));
            }
        }
        let scope = match params.get("scope") {
            Some(raw) => {
                ScopeSet::parse(raw).map_err(|e| AuthorizeError::new(E::InvalidScope, e.0))?
            }
            None => ScopeSet::default(),
        };
        // Whether this client may leave PKCE out is the sign-in's decision, which knows it.
        let code_challenge = match (
            params.get("code_challenge"),
            params.get("code_challenge_method"),
        ) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(AuthorizeError::invalid(
                    "code_challenge_method was sent without a code_challenge",
                ));
            }
            (Some(challenge), method) => Some(
                CodeChallenge::parse(challenge, method)
                    .map_err(|e| AuthorizeError::invalid(e.0))?,
            ),
        };
        let resource = params
            .get("resource")
            .map(|r| ApiIdentifier::parse(r).map_err(|e| AuthorizeError::invalid(e.0)))
            .transpose()?;
        Ok(Self {
            scope,
            state: opaque(params, "state")?,
            nonce: opaque(params, "nonce")?,
            code_challenge,
            prompt: prompt(params)?,
            max_age: max_age(params)?,
            login_hint: opaque(params, "login_hint")?,
            id_token_hint: params.get("id_token_hint").map(str::to_owned),
            resource,
            response_mode: ResponseMode::of(params)?,
        })
    }
}

fn opaque(params: &FormParams, name: &str) -> Result<Option<String>, AuthorizeError> {
    match params.get(name) {
        Some(v) if v.len() > MAX_OPAQUE_LEN => Err(AuthorizeError::invalid(format!(
            "{name} is longer than {MAX_OPAQUE_LEN} bytes"
        ))),
        other => Ok(other.map(str::to_owned)),
    }
}

fn prompt(params: &FormParams) -> Result<Prompt, AuthorizeError> {
    let mut prompt = Prompt::default();
    for value in params
        .get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|v| !v.is_empty())
    {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            other => {
                return Err(AuthorizeError::invalid(format!(
                    "prompt {:?} is not supported (none, login, consent)",
                    truncated(other, 32)
                )));
            }
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(AuthorizeError::invalid(
            "prompt=none cannot be combined with other values",
        ));
    }
    Ok(prompt)
}

fn max_age(params: &FormParams) -> Result<Option<i64>, AuthorizeError> {
    params
        .get("max_age")
        .map(|v| match v.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(n),
            _ => Err(AuthorizeError::invalid(
                "max_age must be a non-negative number of seconds",
            )),
        })
        .transpose()
}

#[cfg(test)]
mod tests;
