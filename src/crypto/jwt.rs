//! JWS compact serialisation (RFC 7515 §7.1) with keys parsed once and held in memory.
//!
//! jsonwebtoken's `encode` re-parses the private key on every call; on the hot path that cost
//! is avoidable, so signing happens here. Verification of our own tokens happens here too: the
//! `alg` of the header must be the algorithm of the key its `kid` names (RFC 8725 §3.1), and
//! `Ed25519` (RFC 9864) is read as `EdDSA`, which jsonwebtoken's header type cannot express.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value};

use super::signing_key::Verifier;
use super::{CryptoError, SigningKey};
use crate::protocol::SigningAlg;

/// Every published key's verifier, by `kid`.
pub type Verifiers = HashMap<String, Verifier>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtType {
    /// RFC 9068 §2.1: `typ: at+jwt`.
    AccessToken,
    /// OIDC Core §2: a plain `JWT`, so no validator mistakes one for an access token.
    IdToken,
}

impl JwtType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "at+jwt",
            Self::IdToken => "JWT",
        }
    }
}

pub fn sign<T: Serialize>(
    key: &SigningKey,
    typ: JwtType,
    claims: &T,
) -> Result<String, CryptoError> {
    let payload = serde_json::to_vec(claims)
        .map_err(|e| CryptoError(format!("cannot serialise claims: {e}")))?;
    let header = key.header(typ);
    let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 400);
    token.push_str(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    key.sign_into(&mut token)?;
    Ok(token)
}

/// OIDC Core §3.1.3.6: base64url of the left half of the hash of the access token's ASCII,
/// with the hash of the ID token's `alg`: SHA-256 for RS256, PS256 and ES256, and SHA-512 for
/// EdDSA on Ed25519 (the hash inside Ed25519, as other providers and relying parties read it).
pub fn at_hash(access_token: &str, alg: SigningAlg) -> String {
    use aws_lc_rs::digest::{SHA256, SHA512, digest};
    let digest = match alg {
        SigningAlg::EdDSA => digest(&SHA512, access_token.as_bytes()),
        SigningAlg::RS256 | SigningAlg::PS256 | SigningAlg::ES256 => {
            digest(&SHA256, access_token.as_bytes())
        }
    };
    let bytes = digest.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

/// Why one of our tokens was not accepted; callers answer "inactive" rather than the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected(pub &'static str);

/// Tokens longer than this are not ours; refuse them before any parsing.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Checks a compact JWS of type `typ` against the published keys and returns its claims:
/// three parts, a JSON header naming a known `kid` and exactly that key's algorithm (so
/// `none`, HMAC with a public key as secret, or another curve never get as far as a signature
/// check), no `crit`, a valid signature, and a JSON object as payload.
fn verified_claims(
    token: &str,
    keys: &Verifiers,
    typ: JwtType,
) -> Result<Map<String, Value>, Rejected> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Rejected("too long"));
    }
    let malformed = Rejected("malformed");
    let (input, signature) = token.rsplit_once('.').ok_or(malformed)?;
    let (header, payload) = input.split_once('.').ok_or(malformed)?;
    let header: Map<String, Value> = decode_json(header).ok_or(malformed)?;
    if header.get("typ").and_then(Value::as_str) != Some(typ.as_str()) {
        return Err(Rejected("not a token of this type"));
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(SigningAlg::from_header)
        .ok_or(Rejected("unsupported alg"))?;
    if header.contains_key("crit") {
        return Err(Rejected("critical header parameters are not understood"));
    }
    let key = header
        .get("kid")
        .and_then(Value::as_str)
        .and_then(|kid| keys.get(kid))
        .ok_or(Rejected("unknown key"))?;
    if key.alg() != alg {
        return Err(Rejected("alg differs from the key's"));
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| malformed)?;
    if !key.verify(input.as_bytes(), &signature) {
        return Err(Rejected("bad signature"));
    }
    decode_json(payload).ok_or(malformed)
}

fn decode_json(part: &str) -> Option<Map<String, Value>> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// Verifies an access token Castellan issued: `typ: at+jwt`, signed by a published key (`keys`
/// by `kid`) with that key's algorithm, our issuer, a subject and a `jti`, and within its
/// lifetime at `now` (the server's clock, not the machine's).
pub fn verify_access_token(
    token: &str,
    keys: &Verifiers,
    issuer: &str,
    now: i64,
) -> Result<Map<String, Value>, Rejected> {
    let claims = verified_claims(token, keys, JwtType::AccessToken).map_err(|e| match e {
        Rejected("not a token of this type") => Rejected("not an access token"),
        other => other,
    })?;
    let is_string = |name: &str| claims.get(name).is_some_and(Value::is_string);
    if claims.get("iss").and_then(Value::as_str) != Some(issuer)
        || !is_string("jti")
        || !is_string("sub")
    {
        return Err(Rejected("bad signature or claims"));
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(Rejected("no exp"))?;
    let nbf = match claims.get("nbf") {
        None => i64::MIN,
        Some(nbf) => nbf.as_i64().ok_or(Rejected("bad nbf"))?,
    };
    if now >= exp || now < nbf {
        return Err(Rejected("outside its lifetime"));
    }
    Ok(claims)
}

/// The claims of an ID token we issued, for `id_token_hint` at logout: signature and issuer
/// are checked, expiry is not (OIDC RP-Initiated Logout §2 allows expired hints).
pub fn id_token_hint(token: &str, keys: &Verifiers, issuer: &str) -> Option<Map<String, Value>> {
    let claims = verified_claims(token, keys, JwtType::IdToken).ok()?;
    if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
        return None;
    }
    claims.get("aud").and_then(Value::as_str)?;
    Some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::signing_key::KeyBits;

    fn rsa() -> SigningKey {
        SigningKey::generate(SigningAlg::RS256, KeyBits::Rsa2048).unwrap()
    }

    fn verifiers(keys: &[&SigningKey]) -> Verifiers {
        keys.iter()
            .map(|k| (k.kid().to_owned(), k.verifier().unwrap()))
            .collect()
    }

    #[test]
    fn access_and_id_tokens_differ_in_typ_and_verify_accordingly() {
        let key = rsa();
        let keys = verifiers(&[&key]);
        let claims = serde_json::json!({ "iss": "https://id", "sub": "s", "jti": "j", "exp": 200, "nbf": 100 });
        let access = sign(&key, JwtType::AccessToken, &claims).unwrap();
        let id = sign(&key, JwtType::IdToken, &claims).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&id).unwrap().typ.as_deref(),
            Some("JWT")
        );
        assert!(verify_access_token(&access, &keys, "https://id", 150).is_ok());
        assert_eq!(
            verify_access_token(&id, &keys, "https://id", 150).unwrap_err(),
            Rejected("not an access token")
        );
        assert!(verify_access_token(&access, &keys, "https://other", 150).is_err());
        assert!(
            verify_access_token(&access, &keys, "https://id", 200).is_err(),
            "exp is exclusive"
        );
        assert!(
            verify_access_token(&access, &keys, "https://id", 99).is_err(),
            "not before nbf"
        );
    }

    /// The worked example of OIDC Core §A.3 (at_hash of its access token).
    #[test]
    fn at_hash_matches_the_oidc_example() {
        assert_eq!(
            at_hash(
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y",
                SigningAlg::RS256
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    /// Found by `fuzz/` (target `token`): jsonwebtoken's `set_required_spec_claims` knows only
    /// exp, nbf, aud, iss and sub and skips any other name, so `jti` is not required at all; and
    /// it takes an `iss` array holding our issuer among others as our issuer. Only tokens signed
    /// with our key get this far, so it is a broken promise rather than a forgery.
    #[test]
    fn jti_is_required_and_iss_is_one_string() {
        let key = rsa();
        let keys = verifiers(&[&key]);
        let cases = [
            (
                "no jti",
                serde_json::json!({ "iss": "https://id", "sub": "s", "exp": 200 }),
            ),
            (
                "an iss list",
                serde_json::json!({ "iss": ["https://other", "https://id"], "sub": "s", "jti": "j", "exp": 200 }),
            ),
        ];
        let accepted: Vec<&str> = cases
            .iter()
            .filter(|(_, claims)| {
                let token = sign(&key, JwtType::AccessToken, claims).unwrap();
                verify_access_token(&token, &keys, "https://id", 150).is_ok()
            })
            .map(|(what, _)| *what)
            .collect();
        assert!(accepted.is_empty(), "accepted: {accepted:?}");
    }

    /// A token with our header fields as given, signed by `key` over what we assemble.
    fn forged(header: Value, claims: &Value, key: Option<&SigningKey>) -> String {
        let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims.to_string(), &mut token);
        match key {
            Some(key) => key.sign_into(&mut token).unwrap(),
            None => token.push('.'),
        }
        token
    }

    #[test]
    fn each_algorithm_verifies_under_its_own_key_and_alg_only() {
        let keys: Vec<SigningKey> = SigningAlg::ALL
            .into_iter()
            .map(|alg| SigningKey::generate(alg, KeyBits::Rsa2048).unwrap())
            .collect();
        let published = verifiers(&keys.iter().collect::<Vec<_>>());
        let claims = serde_json::json!({ "iss": "https://id", "sub": "s", "jti": "j", "exp": 200 });
        for key in &keys {
            let token = sign(key, JwtType::AccessToken, &claims).unwrap();
            assert!(
                verify_access_token(&token, &published, "https://id", 150).is_ok(),
                "{key:?}"
            );
        }
        let [rs, ps, es, ed] = [&keys[0], &keys[1], &keys[2], &keys[3]];
        let header =
            |alg: &str, kid: &str| serde_json::json!({ "alg": alg, "typ": "at+jwt", "kid": kid });
        let verify = |token: &str| verify_access_token(token, &published, "https://id", 150);

        // RFC 9864's fully specified name for Ed25519 is accepted for an EdDSA key.
        assert!(verify(&forged(header("Ed25519", ed.kid()), &claims, Some(ed))).is_ok());
        let refused = [
            (
                "RS256 header on the ES256 key, RSA-signed",
                forged(header("RS256", es.kid()), &claims, Some(rs)),
            ),
            (
                "PS256 header on the RS256 key",
                forged(header("PS256", rs.kid()), &claims, Some(ps)),
            ),
            (
                "EdDSA header on the ES256 key",
                forged(header("EdDSA", es.kid()), &claims, Some(ed)),
            ),
            ("alg none", forged(header("none", es.kid()), &claims, None)),
            (
                "no alg",
                forged(
                    serde_json::json!({ "typ": "at+jwt", "kid": rs.kid() }),
                    &claims,
                    Some(rs),
                ),
            ),
            (
                "crit",
                forged(
                    serde_json::json!({ "alg": "ES256", "typ": "at+jwt", "kid": es.kid(), "crit": ["exp"] }),
                    &claims,
                    Some(es),
                ),
            ),
            (
                "ES256 by another P-256 key",
                forged(
                    header("ES256", es.kid()),
                    &claims,
                    Some(&SigningKey::generate(SigningAlg::ES256, KeyBits::Rsa2048).unwrap()),
                ),
            ),
        ];
        for (what, token) in &refused {
            assert!(verify(token).is_err(), "accepted: {what}");
        }

        // HS256 keyed with the RSA public key, as an attacker who read the JWKS would sign it.
        let hs = |secret: &[u8]| {
            let mut token = URL_SAFE_NO_PAD.encode(header("HS256", rs.kid()).to_string());
            token.push('.');
            URL_SAFE_NO_PAD.encode_string(claims.to_string(), &mut token);
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
            let tag = aws_lc_rs::hmac::sign(&key, token.as_bytes());
            token.push('.');
            URL_SAFE_NO_PAD.encode_string(tag.as_ref(), &mut token);
            token
        };
        let jwk = serde_json::to_string(rs.public_jwk()).unwrap();
        let n = rs.public_jwk().n.clone().unwrap();
        for secret in [jwk.as_bytes(), n.as_bytes()] {
            assert_eq!(
                verify(&hs(secret)).unwrap_err(),
                Rejected("unsupported alg")
            );
        }
    }
}
