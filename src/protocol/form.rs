//! `application/x-www-form-urlencoded` parsing that refuses what RFC 6749 forbids.

use std::collections::HashMap;

use percent_encoding::percent_decode;

use super::OAuthError;
use super::values::truncated;

/// Request parameters, each present at most once (RFC 6749 §3.1).
#[derive(Debug, Default)]
pub struct FormParams(HashMap<String, String>);

impl FormParams {
    /// More parameters than any OAuth request needs; a cap keeps hostile bodies cheap.
    pub const MAX_PARAMS: usize = 64;

    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut params = HashMap::new();
        for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let name = decode(name)?;
            let value = decode(value)?;
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
    fn decodes_plus_and_percent() {
        let p = FormParams::parse(b"a=x+y%21&b=").unwrap();
        assert_eq!(p.get("a"), Some("x y!"));
        assert_eq!(p.get("b"), None);
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
