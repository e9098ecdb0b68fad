//! Verifying RFC 7523 client assertions (`private_key_jwt`, workload tokens) with the public
//! keys registered for them.
//!
//! The algorithm always comes from the registered key, never from the assertion's header alone:
//! a header naming another algorithm than its key's is refused, and only asymmetric keys are
//! registered, so `none` and HS256 keyed with a public key cannot pass.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value;

use crate::protocol::values::InvalidValue;

pub use crate::protocol::client_assertion::{MAX_ASSERTION_LEN, SIGNING_ALGS};

/// No client or issuer needs more keys at once; the bound keeps each check cheap whoever
/// publishes the set.
pub const MAX_SET_KEYS: usize = 10;

/// A registered public key and the one algorithm it verifies.
#[derive(Clone)]
pub struct ClientKey {
    pub kid: String,
    pub alg: Algorithm,
    key: DecodingKey,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientKey({}, {:?})", self.kid, self.alg)
    }
}

impl ClientKey {
    /// One JWK: RSA (RS256, or PS256 when its `alg` says so; at least 2048 bits), EC P-256
    /// (ES256) or OKP Ed25519 (EdDSA); private members and symmetric keys are refused.
    pub fn parse(jwk: &Value) -> Result<Self, InvalidValue> {
        let bad = |why: &str| InvalidValue(why.to_owned());
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            if jwk.get(private).is_some() {
                return Err(bad(&format!(
                    "the JWK holds the private member {private:?}: register the public key only"
                )));
            }
        }
        if jwk.get("use").is_some_and(|u| u != "sig") {
            return Err(bad("the key is not for signatures (its use is not sig)"));
        }
        if jwk
            .get("key_ops")
            .and_then(Value::as_array)
            .is_some_and(|ops| !ops.iter().any(|o| o == "verify"))
        {
            return Err(bad("the key's key_ops do not include verify"));
        }
        let parsed: Jwk = serde_json::from_value(jwk.clone())
            .map_err(|e| bad(&format!("not a JWK Castellan can use: {e}")))?;
        let declared = parsed.common.key_algorithm;
        let alg = match (&parsed.algorithm, declared) {
            (AlgorithmParameters::RSA(rsa), alg) => {
                let bits = URL_SAFE_NO_PAD
                    .decode(&rsa.n)
                    .map(|n| n.iter().skip_while(|b| **b == 0).count() * 8)
                    .map_err(|_| bad("the RSA modulus is not base64url"))?;
                if bits < 2048 {
                    return Err(bad(&format!(
                        "an RSA key of {bits} bits is refused: at least 2048 bits are required"
                    )));
                }
                match alg {
                    None | Some(KeyAlgorithm::RS256) => Algorithm::RS256,
                    Some(KeyAlgorithm::PS256) => Algorithm::PS256,
                    Some(other) => {
                        return Err(bad(&format!(
                            "an RSA key's alg must be RS256 or PS256, not {other:?}"
                        )));
                    }
                }
            }
            (AlgorithmParameters::EllipticCurve(ec), alg) => {
                if ec.curve != EllipticCurve::P256 {
                    return Err(bad("an EC key must be on P-256 (ES256)"));
                }
                match alg {
                    None | Some(KeyAlgorithm::ES256) => Algorithm::ES256,
                    Some(other) => {
                        return Err(bad(&format!(
                            "a P-256 key's alg must be ES256, not {other:?}"
                        )));
                    }
                }
            }
            (AlgorithmParameters::OctetKeyPair(okp), alg) => {
                if okp.curve != EllipticCurve::Ed25519 {
                    return Err(bad("an OKP key must be Ed25519 (EdDSA)"));
                }
                match alg {
                    None | Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
                    Some(other) => {
                        return Err(bad(&format!(
                            "an Ed25519 key's alg must be EdDSA, not {other:?}"
                        )));
                    }
                }
            }
            (AlgorithmParameters::OctetKey(_), _) => {
                return Err(bad(
                    "symmetric keys are refused: private_key_jwt needs a public key",
                ));
            }
            _ => {
                return Err(bad(
                    "unsupported key type: use RSA, EC P-256 or OKP Ed25519",
                ));
            }
        };
        let kid = parsed
            .common
            .key_id
            .clone()
            .filter(|k| !k.is_empty() && k.len() <= 200)
            .ok_or_else(|| bad("every key needs a kid (1 to 200 characters)"))?;
        let key = DecodingKey::from_jwk(&parsed)
            .map_err(|e| bad(&format!("the key does not decode: {e}")))?;
        Ok(Self { kid, alg, key })
    }

    /// A JWKS document (`{"keys": [...]}`) or a single JWK, as a key file may hold either.
    pub fn parse_set(text: &str) -> Result<Vec<(Self, Value)>, InvalidValue> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| InvalidValue(format!("not JSON: {e}")))?;
        let jwks: Vec<Value> = match doc.get("keys") {
            Some(Value::Array(keys)) => keys.clone(),
            Some(_) => return Err(InvalidValue("\"keys\" must be an array of JWKs".into())),
            None => vec![doc],
        };
        if jwks.is_empty() {
            return Err(InvalidValue("the key set holds no key".into()));
        }
        if jwks.len() > MAX_SET_KEYS {
            return Err(InvalidValue(format!(
                "the key set holds {} keys; at most {MAX_SET_KEYS} are accepted",
                jwks.len()
            )));
        }
        let mut out: Vec<(Self, Value)> = Vec::with_capacity(jwks.len());
        for jwk in jwks {
            let key = Self::parse(&jwk)?;
            if out.iter().any(|(k, _)| k.kid == key.kid) {
                return Err(InvalidValue(format!(
                    "two keys share the kid {:?}",
                    key.kid
                )));
            }
            out.push((key, jwk));
        }
        Ok(out)
    }

    fn verifies(&self, message: &[u8], signature: &str) -> bool {
        jsonwebtoken::crypto::verify(signature, message, &self.key, self.alg).unwrap_or(false)
    }
}

/// The header members that matter, read without trusting them.
#[derive(Debug, Deserialize)]
pub struct AssertionHeader {
    pub alg: String,
    pub kid: Option<String>,
    pub typ: Option<String>,
    /// Extensions the signer says must be understood (RFC 7515 §4.1.11): none are, so any
    /// `crit` is refused.
    pub crit: Option<Value>,
}

/// An assertion split and decoded, its signature not yet checked.
#[derive(Debug)]
pub struct UnverifiedAssertion<'a> {
    pub header: AssertionHeader,
    pub claims: Value,
    signed: &'a str,
    signature: &'a str,
}

/// Why an assertion is refused; every reason is `invalid_client` to the caller.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AssertionError(pub String);

fn refuse(why: impl Into<String>) -> AssertionError {
    AssertionError(why.into())
}

impl<'a> UnverifiedAssertion<'a> {
    pub fn parse(assertion: &'a str) -> Result<Self, AssertionError> {
        if assertion.len() > MAX_ASSERTION_LEN {
            return Err(refuse("the client assertion is too long"));
        }
        let mut parts = assertion.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(refuse(
                "the client assertion is not a signed JWT (three parts)",
            ));
        };
        let decode = |part: &str, what: &str| -> Result<Value, AssertionError> {
            let bytes = URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| refuse(format!("the assertion's {what} is not base64url")))?;
            serde_json::from_slice(&bytes)
                .map_err(|_| refuse(format!("the assertion's {what} is not a JSON object")))
        };
        let header: AssertionHeader = serde_json::from_value(decode(header, "header")?)
            .map_err(|_| refuse("the assertion's header has no alg"))?;
        if header.crit.is_some() {
            return Err(refuse("the assertion's crit extensions are not supported"));
        }
        let claims = decode(payload, "payload")?;
        if !claims.is_object() {
            return Err(refuse("the assertion's payload is not a JSON object"));
        }
        let signed = &assertion[..assertion.len() - signature.len() - 1];
        Ok(Self {
            header,
            claims,
            signed,
            signature,
        })
    }

    /// The `sub` it claims (the client it speaks for), before anything is verified.
    pub fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }

    /// Checks the signature with the key the header's `kid` names (or, without one, each key
    /// of the header's algorithm in turn: at most [`MAX_CLIENT_KEYS`] of them).
    ///
    /// [`MAX_CLIENT_KEYS`]: crate::store::client_keys::MAX_CLIENT_KEYS
    pub fn verify_signature<'k>(
        &self,
        keys: &'k [ClientKey],
    ) -> Result<&'k ClientKey, AssertionError> {
        let alg = match self.header.alg.as_str() {
            "Ed25519" => "EdDSA",
            other => other,
        };
        if !SIGNING_ALGS.contains(&alg) {
            return Err(refuse(format!(
                "the assertion's alg {:?} is not accepted: use RS256, PS256, ES256 or EdDSA",
                self.header.alg
            )));
        }
        let candidates: Vec<&ClientKey> = match &self.header.kid {
            Some(kid) => {
                let key = keys
                    .iter()
                    .find(|k| &k.kid == kid)
                    .ok_or_else(|| refuse(format!("the client has no key {kid:?}")))?;
                if alg_name(key.alg) != alg {
                    return Err(refuse(format!(
                        "key {kid:?} signs {}, not {alg}",
                        alg_name(key.alg)
                    )));
                }
                vec![key]
            }
            None => keys.iter().filter(|k| alg_name(k.alg) == alg).collect(),
        };
        candidates
            .into_iter()
            .find(|k| k.verifies(self.signed.as_bytes(), self.signature))
            .ok_or_else(|| refuse("the assertion's signature does not verify"))
    }
}

pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RS256 => "RS256",
        Algorithm::PS256 => "PS256",
        Algorithm::ES256 => "ES256",
        Algorithm::EdDSA => "EdDSA",
        _ => "unsupported",
    }
}
