//! `FormParams::parse` on arbitrary bytes (a hostile request body or query string): it never
//! panics, and parameters a client encodes come back exactly; repeats are refused, and the
//! count and lengths capped.
#![no_main]

use std::collections::HashSet;

use arbitrary::{Arbitrary, Unstructured};
use castellan::protocol::form::FormParams;
use libfuzzer_sys::fuzz_target;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

fuzz_target!(|data: &[u8]| {
    let parsed = [FormParams::parse(data), FormParams::parse_envelope(data)];
    for params in parsed.iter().flatten() {
        for name in ["client_id", "grant_type", "scope", "state", "request", ""] {
            let value = params.get(name);
            assert!(value.is_none_or(|v| !v.is_empty()));
            assert!(value.is_none_or(|v| v.len() <= FormParams::MAX_ENVELOPE));
        }
    }
    if let Ok(params) = FormParams::parse(data) {
        assert!(
            params
                .get("request")
                .is_none_or(|v| v.len() <= FormParams::MAX_VALUE)
        );
    }

    // The same bytes read as the parameters a well-behaved client would encode.
    let Ok(pairs) = Vec::<(String, String, bool)>::arbitrary_take_rest(Unstructured::new(data))
    else {
        return;
    };
    let body: Vec<String> = pairs
        .iter()
        .map(|(name, value, plus)| format!("{}={}", encode(name, *plus), encode(value, *plus)))
        .collect();
    let parsed = FormParams::parse(body.join("&").as_bytes());
    let distinct: HashSet<&str> = pairs.iter().map(|(n, _, _)| n.as_str()).collect();
    let overlong = pairs
        .iter()
        .any(|(n, v, _)| n.len() > FormParams::MAX_NAME || v.len() > FormParams::MAX_VALUE);
    if distinct.len() < pairs.len() || pairs.len() > FormParams::MAX_PARAMS || overlong {
        assert!(
            parsed.is_err(),
            "repeats, too many or overlong parameters accepted: {pairs:?}"
        );
        return;
    }
    let params = match parsed {
        Ok(params) => params,
        Err(e) => panic!("well-formed body refused ({}): {pairs:?}", e.description),
    };
    for (name, value, _) in &pairs {
        let expected = Some(value.as_str()).filter(|v| !v.is_empty());
        assert_eq!(params.get(name), expected, "parameter {name:?}");
    }
});

/// `application/x-www-form-urlencoded`, with a space as `+` or as `%20`.
fn encode(s: &str, plus: bool) -> String {
    let encoded = utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    if plus {
        encoded.replace("%20", "+")
    } else {
        encoded
    }
}
