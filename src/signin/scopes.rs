//! Which scopes a browser client may ask for, for which API, and how to say them in plain words.

use crate::protocol::authorize::{AuthorizeError, AuthorizeErrorCode};
use crate::protocol::{ApiIdentifier, GrantType, Scope, ScopeSet};
use crate::store::clients::ClientRecord;

/// OpenID Connect's own scopes; every other scope belongs to an API.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The access token's audience: the API the API scopes belong to, or the userinfo endpoint.
pub fn audience(
    client: &ClientRecord,
    scope: &ScopeSet,
    resource: Option<&ApiIdentifier>,
    userinfo: &str,
) -> Result<String, AuthorizeError> {
    let invalid_scope = |d: String| AuthorizeError {
        code: AuthorizeErrorCode::InvalidScope,
        description: d,
    };
    if scope.iter().any(|s| s.as_str() == "offline_access")
        && !client.grant_types.contains(&GrantType::RefreshToken)
    {
        return Err(invalid_scope(
            "offline_access needs a client with the refresh_token grant".into(),
        ));
    }
    let api_scopes: Vec<&Scope> = scope
        .iter()
        .filter(|s| !OIDC_SCOPES.contains(&s.as_str()))
        .collect();
    let target = match resource {
        Some(r) => Some(r.as_str()),
        None if api_scopes.is_empty() => None,
        None => match client.apis.keys().collect::<Vec<_>>().as_slice() {
            [only] => Some(only.as_str()),
            _ => {
                return Err(invalid_scope(
                    "name the API with the resource parameter".into(),
                ));
            }
        },
    };
    let Some(target) = target else {
        return Ok(userinfo.to_owned());
    };
    let granted = client
        .apis
        .get(target)
        .ok_or_else(|| invalid_scope(format!("this client may not request tokens for {target}")))?;
    if let Some(s) = api_scopes.iter().find(|s| !granted.contains(s)) {
        return Err(invalid_scope(format!(
            "scope {:?} is not granted to this client",
            s.as_str()
        )));
    }
    Ok(target.to_owned())
}

/// What the consent page says about the token itself: for whom it is, and what it carries
/// besides scopes (the user's roles, permissions and tenant).
pub fn describe_audience(api: Option<&str>, tenant: &str) -> String {
    match api {
        Some(api) => format!("Call {api} as you, with your roles and permissions in “{tenant}”"),
        None => format!("See your roles in “{tenant}”"),
    }
}

/// What the consent page says for a scope.
pub fn describe(scope: &str, client_name: &str) -> String {
    match scope {
        "openid" => "Know who you are (sign you in)".into(),
        "profile" => "See your name and username".into(),
        "email" => "See your email address".into(),
        "offline_access" => format!("Keep access while you are away from {client_name}"),
        api => format!("Use “{api}” on your behalf"),
    }
}
