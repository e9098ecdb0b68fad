//! The UserInfo endpoint's answer (OIDC Core §5.3): claims by the access token's scopes.

use serde_json::{Map, Value, json};

use super::Issuer;
use super::bearer::BearerError;

impl Issuer {
    pub async fn userinfo(&self, token: &str) -> Result<Value, BearerError> {
        let claims = self.bearer(token, None, "openid").await?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let scopes: Vec<&str> = text("scope").unwrap_or("").split(' ').collect();
        let sub = text("sub").ok_or(BearerError::InvalidToken("the access token has no sub"))?;
        let user = self
            .ctx
            .store
            .find_user_by_row(sub)
            .await?
            // A token never speaks for a user of another tenant than its own.
            .filter(|u| u.disabled_at.is_none() && Some(u.tenant.as_str()) == text("tenant_id"))
            .ok_or(BearerError::InvalidToken(
                "the access token does not speak for a user",
            ))?;
        let mut out = Map::new();
        out.insert("sub".into(), json!(user.id));
        if scopes.contains(&"profile") {
            out.insert("preferred_username".into(), json!(user.username));
            let names = [
                ("name", &user.name),
                ("given_name", &user.given_name),
                ("family_name", &user.family_name),
            ];
            for (claim, value) in names {
                if let Some(value) = value {
                    out.insert(claim.into(), json!(value));
                }
            }
            out.insert("updated_at".into(), json!(user.updated_at));
        }
        if let Some(email) = user.email.as_ref().filter(|_| scopes.contains(&"email")) {
            out.insert("email".into(), json!(email));
            out.insert("email_verified".into(), json!(user.email_verified));
        }
        // Omitted when empty, as in the tokens.
        if !user.roles.is_empty() {
            out.insert("roles".into(), json!(user.roles));
        }
        out.insert("tenant_id".into(), json!(user.tenant));
        Ok(Value::Object(out))
    }
}
