//! Introspection (RFC 7662) and revocation (RFC 7009) requests and responses.

use serde_json::{Map, Value};

use super::OAuthError;
use super::form::FormParams;

/// The `token` parameter both endpoints take; `token_type_hint` is only a hint and is ignored
/// (RFC 7009 §2.1): Castellan tells its tokens apart by looking at them.
#[derive(Debug)]
pub struct TokenParam(pub String);

impl TryFrom<&FormParams> for TokenParam {
    type Error = OAuthError;

    fn try_from(form: &FormParams) -> Result<Self, OAuthError> {
        form.get("token")
            .map(|t| Self(t.to_owned()))
            .ok_or_else(|| OAuthError::invalid_request("missing token"))
    }
}

/// `{"active": false}` says nothing more, whatever the reason (RFC 7662 §2.2).
pub fn inactive() -> Value {
    serde_json::json!({ "active": false })
}

/// An active token's claims, with `active` and `token_type` added.
pub fn active(mut claims: Map<String, Value>) -> Value {
    claims.insert("active".into(), Value::Bool(true));
    claims.insert("token_type".into(), Value::String("Bearer".into()));
    Value::Object(claims)
}
