//! The authorization request as the HTTP layer reads it: `FormParams::parse` of the raw query
//! string (or POST body), then `Addressee`, `state_of` and `AuthorizeRequest::parse`. Never a
//! panic; whatever is accepted obeys the rules the parser promises.
#![no_main]

use castellan::protocol::ScopeSet;
use castellan::protocol::authorize::{Addressee, AuthorizeRequest, MAX_OPAQUE_LEN};
use castellan::protocol::form::FormParams;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(params) = FormParams::parse(data) else {
        return;
    };
    if let Ok(who) = Addressee::parse(&params) {
        assert_eq!(Some(who.client_id.as_str()), params.get("client_id"));
        assert!(who.redirect_uri.as_ref().is_none_or(|u| u.len() <= 2048));
    }
    let state = AuthorizeRequest::state_of(&params);
    assert!(state.as_ref().is_none_or(|s| s.len() <= MAX_OPAQUE_LEN));
    let Ok(request) = AuthorizeRequest::parse(&params) else {
        return;
    };
    assert_eq!(params.get("response_type"), Some("code"));
    assert!(params.get("request").is_none() && params.get("request_uri").is_none());
    assert_eq!(request.state, state);
    for opaque in [&request.state, &request.nonce, &request.login_hint] {
        assert!(opaque.as_ref().is_none_or(|v| v.len() <= MAX_OPAQUE_LEN));
    }
    let prompt = request.prompt;
    assert!(!(prompt.none && (prompt.login || prompt.consent)));
    assert!(request.max_age.is_none_or(|n| n >= 0));
    assert_eq!(
        ScopeSet::parse(&request.scope.to_string()).ok(),
        Some(request.scope.clone())
    );
    assert!(!request.code_challenge.as_str().is_empty());
});
