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

    fn invalid(description: impl Into<String>) -> Self {
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
    pub code_challenge: CodeChallenge,
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
        let challenge = params.get("code_challenge").ok_or_else(|| {
            AuthorizeError::invalid("code_challenge is required (PKCE with S256)")
        })?;
        let code_challenge = CodeChallenge::parse(challenge, params.get("code_challenge_method"))
            .map_err(|e| AuthorizeError::invalid(e.0))?;
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
mod tests {
    use super::*;

    const GOOD: &str = "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb\
        &scope=openid+profile&state=xyz&nonce=n-0S6&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
        &code_challenge_method=S256";

    fn parse(query: &str) -> Result<AuthorizeRequest, AuthorizeError> {
        AuthorizeRequest::parse(&FormParams::parse(query.as_bytes()).unwrap())
    }

    #[test]
    fn a_complete_request_parses() {
        let params = FormParams::parse(GOOD.as_bytes()).unwrap();
        let who = Addressee::parse(&params).unwrap();
        assert_eq!(who.client_id.as_str(), "web");
        assert_eq!(
            who.redirect_uri.as_deref(),
            Some("https://app.example.com/cb")
        );
        let req = parse(GOOD).unwrap();
        assert_eq!(req.scope.to_string(), "openid profile");
        assert_eq!(req.state.as_deref(), Some("xyz"));
        assert_eq!(req.nonce.as_deref(), Some("n-0S6"));
        assert_eq!(req.prompt, Prompt::default());
    }

    #[test]
    fn each_mistake_has_its_rfc_error() {
        use AuthorizeErrorCode as E;
        let cases = [
            (
                GOOD.replace("response_type=code", "response_type=token"),
                E::UnsupportedResponseType,
            ),
            (GOOD.replace("response_type=code&", ""), E::InvalidRequest),
            (
                GOOD.replace("&code_challenge_method=S256", ""),
                E::InvalidRequest,
            ),
            (
                GOOD.replace("code_challenge_method=S256", "code_challenge_method=plain"),
                E::InvalidRequest,
            ),
            (GOOD.replace("&code_challenge=", "&x="), E::InvalidRequest),
            (format!("{GOOD}&request=eyJ"), E::RequestNotSupported),
            (
                format!("{GOOD}&request_uri=https%3A%2F%2Fx"),
                E::RequestUriNotSupported,
            ),
            (format!("{GOOD}&prompt=none+login"), E::InvalidRequest),
            (format!("{GOOD}&prompt=select_account"), E::InvalidRequest),
            (format!("{GOOD}&max_age=-1"), E::InvalidRequest),
            (format!("{GOOD}&max_age=soon"), E::InvalidRequest),
            (format!("{GOOD}&response_mode=fragment"), E::InvalidRequest),
            (format!("{GOOD}&response_mode=jwt"), E::InvalidRequest),
            (
                GOOD.replace("scope=openid+profile", "scope=open%22id"),
                E::InvalidScope,
            ),
            (
                GOOD.replace(
                    "state=xyz",
                    &format!("state={}", "s".repeat(MAX_OPAQUE_LEN + 1)),
                ),
                E::InvalidRequest,
            ),
        ];
        for (query, code) in cases {
            assert_eq!(parse(&query).unwrap_err().code, code, "{query:.120}");
        }
    }

    #[test]
    fn response_modes_are_query_and_form_post() {
        assert_eq!(parse(GOOD).unwrap().response_mode, ResponseMode::Query);
        let asked =
            |mode: &str| parse(&format!("{GOOD}&response_mode={mode}")).map(|r| r.response_mode);
        assert_eq!(asked("query"), Ok(ResponseMode::Query));
        assert_eq!(asked("form_post"), Ok(ResponseMode::FormPost));
    }

    #[test]
    fn responses_append_to_an_existing_query() {
        let response = AuthorizeResponse {
            redirect_uri: "https://app.example.com/cb?x=1".into(),
            mode: ResponseMode::Query,
            params: vec![("code", "a b&c".into()), ("state", "é".into())],
        };
        assert_eq!(
            response.location(),
            "https://app.example.com/cb?x=1&code=a%20b%26c&state=%C3%A9"
        );
        let debug = format!("{response:?}");
        assert!(
            !debug.contains("a b&c") && debug.contains("[redacted]"),
            "{debug}"
        );
    }

    #[test]
    fn prompt_and_max_age_are_read() {
        let req = parse(&format!("{GOOD}&prompt=login+consent&max_age=0")).unwrap();
        assert!(req.prompt.login && req.prompt.consent && !req.prompt.none);
        assert_eq!(req.max_age, Some(0));
    }

    #[test]
    fn the_addressee_errors_are_for_the_page() {
        assert!(Addressee::parse(&FormParams::parse(b"response_type=code").unwrap()).is_err());
        assert!(Addressee::parse(&FormParams::parse(b"client_id=%07").unwrap()).is_err());
    }
}
