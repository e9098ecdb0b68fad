//! The rules of the client credentials grant: which audience, which scopes.

use crate::protocol::token_request::Target;
use crate::protocol::values::truncated;
use crate::protocol::{OAuthError, ScopeSet};
use crate::store::clients::ClientRecord;

/// What the token will say.
#[derive(Debug, PartialEq, Eq)]
pub struct Decision {
    pub audience: String,
    pub scope: ScopeSet,
}

/// Picks the API (the asked one, or the only one granted) and checks the scopes against its grant.
///
/// No `scope` means every scope granted for that API (RFC 6749 §3.3 lets the server choose).
pub fn decide(
    client: &ClientRecord,
    scope: Option<ScopeSet>,
    target: Option<&Target>,
) -> Result<Decision, OAuthError> {
    let (audience, granted) = match target {
        Some(target) => client.apis.get_key_value(target.as_str()).ok_or_else(|| {
            OAuthError::invalid_target(format!(
                "this client may not request tokens for {:?}",
                truncated(target.as_str(), 128)
            ))
        })?,
        None => {
            let mut apis = client.apis.iter();
            match (apis.next(), apis.next()) {
                (Some(only), None) => only,
                (None, _) => {
                    return Err(OAuthError::invalid_target(
                        "this client is not granted access to any API",
                    ));
                }
                (Some(_), Some(_)) => {
                    return Err(OAuthError::invalid_target(
                        "this client may call several APIs: name one with the resource (or audience) parameter",
                    ));
                }
            }
        }
    };
    let scope = match scope {
        None => granted.clone(),
        Some(asked) => {
            // A few names are enough to fix the request; the list is echoed, so it is bounded.
            let excess: Vec<&str> = asked
                .excess_over(granted)
                .map(|s| s.as_str())
                .take(5)
                .collect();
            if !excess.is_empty() {
                return Err(OAuthError::invalid_scope(format!(
                    "scope not granted to this client for {audience}: {}",
                    excess.join(" ")
                )));
            }
            asked
        }
    };
    Ok(Decision {
        audience: audience.clone(),
        scope,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::protocol::{ApiIdentifier, ClientId, ErrorCode, TenantSlug};

    fn client(apis: &[(&str, &str)]) -> ClientRecord {
        ClientRecord {
            id: "row".into(),
            client_id: ClientId::parse("c").unwrap(),
            tenant: TenantSlug::parse("t").unwrap(),
            name: "n".into(),
            display_name: None,
            secret_hash: None,
            grant_types: vec![],
            apis: apis
                .iter()
                .map(|(a, s)| (a.to_string(), ScopeSet::parse(s).unwrap()))
                .collect::<BTreeMap<_, _>>(),
            api_signing_algs: Default::default(),
            id_token_signing_alg: None,
            resource_server_for: Default::default(),
            dormant_apis: vec![],
            roles: vec![],
            permissions: vec![],
            token_ttl: None,
            disabled_at: None,
            created_at: 0,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            public: false,
            skip_consent: false,
            pkce_required: true,
            private_key_jwt: false,
            keys: vec![],
            links: vec![],
            jwks_uri: None,
        }
    }

    fn resource(s: &str) -> Target {
        Target::Resource(ApiIdentifier::parse(s).unwrap())
    }

    #[test]
    fn the_only_api_is_the_default_and_all_its_scopes_too() {
        let d = decide(&client(&[("urn:a", "read write")]), None, None).unwrap();
        assert_eq!(d.audience, "urn:a");
        assert_eq!(d.scope.to_string(), "read write");
    }

    #[test]
    fn several_apis_need_a_resource() {
        let c = client(&[("urn:a", "read"), ("urn:b", "x")]);
        assert_eq!(
            decide(&c, None, None).unwrap_err().code,
            ErrorCode::InvalidTarget
        );
        let d = decide(&c, None, Some(&resource("urn:b"))).unwrap();
        assert_eq!(d.audience, "urn:b");
    }

    #[test]
    fn scopes_beyond_the_grant_are_invalid_scope() {
        let c = client(&[("urn:a", "read")]);
        let err = decide(&c, Some(ScopeSet::parse("read write").unwrap()), None).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidScope);
        assert!(err.description.contains("write"));
        let ok = decide(&c, Some(ScopeSet::parse("read").unwrap()), None).unwrap();
        assert_eq!(ok.scope.to_string(), "read");
    }

    #[test]
    fn scopes_of_another_api_do_not_leak() {
        let c = client(&[("urn:a", "read"), ("urn:b", "admin")]);
        let err = decide(
            &c,
            Some(ScopeSet::parse("admin").unwrap()),
            Some(&resource("urn:a")),
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidScope);
    }

    #[test]
    fn ungranted_api_is_invalid_target() {
        let c = client(&[("urn:a", "read")]);
        let err = decide(&c, None, Some(&Target::Audience("urn:zzz".into()))).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTarget);
    }
}
