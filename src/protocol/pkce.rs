//! PKCE (RFC 7636): the challenge sent to `/authorize`, the verifier sent to `/token`.

use std::fmt;

use super::values::InvalidValue;

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn unreserved_43_to_128(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An S256 code challenge: base64url(SHA-256(verifier)). `plain` is refused (RFC 9700 §2.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// `method` is the raw `code_challenge_method`; absent means `plain`, which is refused.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, InvalidValue> {
        match method {
            Some("S256") => {}
            Some("plain") | None => {
                return Err(InvalidValue(
                    "code_challenge_method=S256 is required; plain is not accepted".into(),
                ));
            }
            Some(_) => return Err(InvalidValue("code_challenge_method must be S256".into())),
        }
        // An S256 challenge is exactly 32 bytes, base64url without padding.
        if challenge.len() != 43 || !unreserved_43_to_128(challenge) {
            return Err(InvalidValue(
                "code_challenge is not a base64url SHA-256 digest".into(),
            ));
        }
        Ok(Self(challenge.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The secret the client kept; deliberately not `Clone`, and never printed.
pub struct CodeVerifier(String);

impl CodeVerifier {
    pub fn parse(verifier: &str) -> Result<Self, InvalidValue> {
        if unreserved_43_to_128(verifier) {
            Ok(Self(verifier.to_owned()))
        } else {
            Err(InvalidValue(
                "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~".into(),
            ))
        }
    }

    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn only_s256_is_accepted() {
        assert!(CodeChallenge::parse(CHALLENGE, Some("S256")).is_ok());
        assert!(CodeChallenge::parse(CHALLENGE, Some("plain")).is_err());
        assert!(
            CodeChallenge::parse(CHALLENGE, None).is_err(),
            "absent means plain"
        );
        assert!(CodeChallenge::parse(CHALLENGE, Some("s256")).is_err());
        assert!(CodeChallenge::parse(&CHALLENGE[1..], Some("S256")).is_err());
        assert!(CodeChallenge::parse(&format!("{}+", &CHALLENGE[1..]), Some("S256")).is_err());
    }

    #[test]
    fn verifiers_follow_rfc_7636() {
        assert!(CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").is_ok());
        assert!(CodeVerifier::parse(&"a".repeat(42)).is_err());
        assert!(CodeVerifier::parse(&"a".repeat(129)).is_err());
        assert!(CodeVerifier::parse(&format!("{}/", "a".repeat(43))).is_err());
        let v = CodeVerifier::parse(&"a".repeat(43)).unwrap();
        assert_eq!(format!("{v:?}"), "CodeVerifier([redacted])");
    }
}
