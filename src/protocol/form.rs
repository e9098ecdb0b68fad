//! `application/x-www-form-urlencoded` parsing that refuses what RFC 6749 forbids.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use percent_encoding::percent_decode;

use super::OAuthError;
use super::values::{Redacted, truncated};

/// Request parameters, each present at most once (RFC 6749 §3.1).
#[derive(Default)]
pub struct FormParams(HashMap<String, String>);

/// Parameters whose values are secrets or grant something: `Debug` never shows them.
const SECRET_PARAMS: &[&str] = &[
    "assertion",
    "client_assertion",
    "client_secret",
    "code",
    "code_verifier",
    "csrf",
    "id_token_hint",
    "password",
    "refresh_token",
    "subject_token",
    "token",
];

impl fmt::Debug for FormParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in self.0.iter().collect::<BTreeMap<_, _>>() {
            if SECRET_PARAMS.contains(&name.as_str()) {
                map.entry(name, &Redacted);
            } else {
                map.entry(name, value);
            }
        }
        map.finish()
    }
}

impl FormParams {
    /// More parameters than any OAuth request needs; a cap keeps hostile bodies cheap.
    pub const MAX_PARAMS: usize = 64;
    /// Longer than any legitimate value: the longest are tokens (`token`, `id_token_hint`), a
    /// few KiB with many roles; bearer tokens beyond 8 KiB break most proxies anyway.
    pub const MAX_VALUE: usize = 8192;
    pub const MAX_NAME: usize = 64;
    /// The login and consent forms carry the whole authorization request in one field.
    pub const MAX_ENVELOPE: usize = 16 * 1024;

    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        Self::parse_limited(body, None)
    }

    /// Like [`parse`](Self::parse), but `request` may hold a whole authorization request.
    pub fn parse_envelope(body: &[u8]) -> Result<Self, OAuthError> {
        Self::parse_limited(body, Some("request"))
    }

    fn parse_limited(body: &[u8], envelope: Option<&str>) -> Result<Self, OAuthError> {
        let mut params = HashMap::new();
        for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let name = decode(name)?;
            let value = decode(value)?;
            let limit = match envelope {
                Some(field) if field == name => Self::MAX_ENVELOPE,
                _ => Self::MAX_VALUE,
            };
            if name.len() > Self::MAX_NAME {
                return Err(OAuthError::invalid_request(format!(
                    "a parameter name is longer than {} bytes",
                    Self::MAX_NAME
                )));
            }
            if value.len() > limit {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {name:?} is longer than {limit} bytes"
                )));
            }
            if params.len() >= Self::MAX_PARAMS {
                return Err(OAuthError::invalid_request(format!(
                    "too many parameters (at most {})",
                    Self::MAX_PARAMS
                )));
            }
            if params.contains_key(&name) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {:?} is repeated; each parameter may appear once",
                    truncated(&name, 64)
                )));
            }
            params.insert(name, value);
        }
        Ok(Self(params))
    }

    /// A parameter's value; an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

fn decode(raw: &[u8]) -> Result<String, OAuthError> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&plus_as_space)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| OAuthError::invalid_request("the form body is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_secret_parameters() {
        let form = FormParams::parse(
            b"grant_type=authorization_code&code=c0de-SECRET&code_verifier=v-SECRET&client_secret=cs-SECRET\
              &refresh_token=rt-SECRET&password=pw-SECRET&token=t-SECRET&client_id=web",
        )
        .unwrap();
        let printed = format!("{form:?}");
        assert!(!printed.contains("SECRET"), "{printed}");
        assert!(printed.contains("\"client_id\": \"web\""), "{printed}");
        assert!(printed.contains("\"code\": [redacted]"), "{printed}");
    }

    #[test]
    fn decodes_plus_and_percent() {
        let p = FormParams::parse(b"a=x+y%21&b=").unwrap();
        assert_eq!(p.get("a"), Some("x y!"));
        assert_eq!(p.get("b"), None);
    }

    #[test]
    fn refuses_overlong_names_and_values() {
        let long = "x".repeat(FormParams::MAX_VALUE + 1);
        let err = FormParams::parse(format!("state={long}").as_bytes()).unwrap_err();
        assert!(
            err.description.contains("\"state\" is longer than 8192"),
            "{err}"
        );
        let ok = "x".repeat(FormParams::MAX_VALUE);
        assert!(FormParams::parse(format!("state={ok}").as_bytes()).is_ok());
        let name = "n".repeat(FormParams::MAX_NAME + 1);
        assert!(FormParams::parse(format!("{name}=1").as_bytes()).is_err());
        // Only the envelope field of the login and consent forms may be longer.
        assert!(FormParams::parse_envelope(format!("request={long}").as_bytes()).is_ok());
        assert!(FormParams::parse_envelope(format!("csrf={long}").as_bytes()).is_err());
    }

    #[test]
    fn refuses_repeats_even_when_empty() {
        let err = FormParams::parse(b"scope=a&scope=").unwrap_err();
        assert!(err.description.contains("repeated"));
    }

    #[test]
    fn refuses_invalid_utf8() {
        assert!(FormParams::parse(b"a=%ff").is_err());
        assert!(FormParams::parse(b"a=\xff").is_err());
    }

    #[test]
    fn caps_the_number_of_parameters() {
        let body: Vec<String> = (0..=FormParams::MAX_PARAMS)
            .map(|i| format!("p{i}=1"))
            .collect();
        assert!(FormParams::parse(body.join("&").as_bytes()).is_err());
    }
}
