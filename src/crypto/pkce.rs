//! The PKCE check: does the verifier hash to the challenge? (RFC 7636 §4.6)

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::protocol::pkce::{CodeChallenge, CodeVerifier};

/// `BASE64URL(SHA256(verifier)) == challenge`, compared in constant time.
pub fn matches(challenge: &CodeChallenge, verifier: &CodeVerifier) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.secret().as_bytes()));
    verify_slices_are_equal(computed.as_bytes(), challenge.as_str().as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 7636 Appendix B.
    #[test]
    fn rfc_7636_appendix_b() {
        let challenge =
            CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S256"))
                .unwrap();
        let verifier = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert!(matches(&challenge, &verifier));
        let wrong = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj").unwrap();
        assert!(!matches(&challenge, &wrong));
    }
}
