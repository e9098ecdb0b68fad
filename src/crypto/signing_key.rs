//! RSA signing keys: generation, PKCS#8 import/export, and their public JWK.

use std::fmt;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::jwt::JwtType;
use super::{CryptoError, random};

/// RSA modulus sizes Castellan generates; smaller keys are refused on import too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyBits {
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl KeyBits {
    pub fn parse(bits: u32) -> Option<Self> {
        match bits {
            2048 => Some(Self::Rsa2048),
            3072 => Some(Self::Rsa3072),
            4096 => Some(Self::Rsa4096),
            _ => None,
        }
    }

    fn size(self) -> KeySize {
        match self {
            Self::Rsa2048 => KeySize::Rsa2048,
            Self::Rsa3072 => KeySize::Rsa3072,
            Self::Rsa4096 => KeySize::Rsa4096,
        }
    }
}

/// The public half as published in the JWKS (RFC 7517 §4, RFC 7518 §6.3.1).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PublicJwk {
    pub kty: &'static str,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub alg: &'static str,
    pub n: String,
    pub e: String,
}

/// A private signing key held in memory, with its JOSE headers pre-encoded.
pub struct SigningKey {
    pair: KeyPair,
    jwk: PublicJwk,
    access_header: String,
    id_header: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.jwk.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn generate(bits: KeyBits) -> Result<Self, CryptoError> {
        let pair = KeyPair::generate(bits.size())
            .map_err(|_| CryptoError("RSA key generation failed".into()))?;
        Self::from_pair(pair)
    }

    /// Imports a PKCS#8 (or PKCS#1) DER RSA private key, refusing anything under 2048 bits.
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        let pair = KeyPair::from_pkcs8(der).or_else(|_| KeyPair::from_der(der)).map_err(|_| {
            let why = if contains(der, RSA_ENCRYPTION_OID) {
                "an RSA key that is smaller than 2048 bits or malformed (2048 to 8192 bits are accepted)"
            } else {
                "not an RSA private key in PKCS#8 or PKCS#1 DER"
            };
            CryptoError(format!("not a usable RSA private key: {why}"))
        })?;
        Self::from_pair(pair)
    }

    /// Imports a PEM `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1).
    pub fn from_pem(text: &[u8]) -> Result<Self, CryptoError> {
        let pem = pem::parse(text).map_err(|e| {
            CryptoError(format!(
                "not a PEM file ({e}): expected a private key in PEM form, a block that starts \
                 with -----BEGIN PRIVATE KEY----- (PKCS#8) or -----BEGIN RSA PRIVATE KEY----- (PKCS#1)"
            ))
        })?;
        match pem.tag() {
            "PRIVATE KEY" | "RSA PRIVATE KEY" => Self::from_der(pem.contents()),
            "ENCRYPTED PRIVATE KEY" => Err(CryptoError(
                "encrypted PEM keys are not supported: decrypt it first (openssl pkcs8 -topk8 -nocrypt)".into(),
            )),
            other => Err(CryptoError(format!(
                "PEM block {other:?} is not an RSA private key (expected PRIVATE KEY or RSA PRIVATE KEY)"
            ))),
        }
    }

    fn from_pair(pair: KeyPair) -> Result<Self, CryptoError> {
        let bits = pair.public_modulus_len() * 8;
        if bits < 2048 {
            return Err(CryptoError(format!(
                "RSA key of {bits} bits refused: at least 2048 bits are required"
            )));
        }
        let public = pair.public_key();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        let kid = thumbprint(&n, &e);
        let access_header = encode_header(&kid, JwtType::AccessToken);
        let id_header = encode_header(&kid, JwtType::IdToken);
        let jwk = PublicJwk {
            kty: "RSA",
            kid,
            use_: "sig",
            alg: "RS256",
            n,
            e,
        };
        Ok(Self {
            pair,
            jwk,
            access_header,
            id_header,
        })
    }

    pub fn to_pkcs8(&self) -> Result<Vec<u8>, CryptoError> {
        self.pair
            .as_der()
            .map(|der| der.as_ref().to_vec())
            .map_err(|_| CryptoError("cannot serialise the RSA key".into()))
    }

    pub fn kid(&self) -> &str {
        &self.jwk.kid
    }

    pub fn bits(&self) -> usize {
        self.pair.public_modulus_len() * 8
    }

    pub fn public_jwk(&self) -> &PublicJwk {
        &self.jwk
    }

    /// The public key for verifying what this key signed.
    pub fn decoding_key(&self) -> Result<jsonwebtoken::DecodingKey, CryptoError> {
        jsonwebtoken::DecodingKey::from_rsa_components(&self.jwk.n, &self.jwk.e)
            .map_err(|e| CryptoError(format!("cannot build the verification key: {e}")))
    }

    /// The base64url JOSE header for a token of this type.
    pub(super) fn header(&self, typ: JwtType) -> &str {
        match typ {
            JwtType::AccessToken => &self.access_header,
            JwtType::IdToken => &self.id_header,
        }
    }

    /// RS256 (RSASSA-PKCS1-v1_5 with SHA-256) over `message`.
    pub(super) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let rng = random::Rng::get();
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, rng, message, &mut signature)
            .map_err(|_| CryptoError("RSA signing failed".into()))?;
        Ok(signature)
    }
}

/// DER of the OID 1.2.840.113549.1.1.1 (rsaEncryption), to tell a refused RSA key from another type.
const RSA_ENCRYPTION_OID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// RFC 7638 JWK thumbprint: a `kid` that is a pure function of the public key.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()))
}

fn encode_header(kid: &str, typ: JwtType) -> String {
    let json = serde_json::json!({ "alg": "RS256", "typ": typ.as_str(), "kid": kid });
    URL_SAFE_NO_PAD.encode(json.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_round_trip_keeps_the_kid() {
        let key = SigningKey::generate(KeyBits::Rsa2048).unwrap();
        let again = SigningKey::from_der(&key.to_pkcs8().unwrap()).unwrap();
        assert_eq!(key.kid(), again.kid());
        assert_eq!(key.bits(), 2048);
        assert_eq!(key.public_jwk().e, "AQAB");
    }

    #[test]
    fn pem_import_refuses_wrong_types() {
        let key = SigningKey::generate(KeyBits::Rsa2048).unwrap();
        let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", key.to_pkcs8().unwrap()));
        assert_eq!(
            SigningKey::from_pem(pem.as_bytes()).unwrap().kid(),
            key.kid()
        );
        let cert = pem::encode(&pem::Pem::new("CERTIFICATE", vec![1, 2, 3]));
        assert!(
            SigningKey::from_pem(cert.as_bytes())
                .unwrap_err()
                .0
                .contains("not an RSA private key")
        );
        assert!(
            SigningKey::from_pem(b"garbage")
                .unwrap_err()
                .0
                .contains("not a PEM file")
        );
        let ed = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
        let ed_der =
            aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&ed).unwrap();
        let ec_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", ed_der.as_ref().to_vec()));
        assert!(
            SigningKey::from_pem(ec_pem.as_bytes())
                .unwrap_err()
                .0
                .contains("not a usable RSA private key")
        );
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let err = SigningKey::from_der(b"not a key").unwrap_err();
        assert!(err.0.contains("not a usable RSA private key"));
    }
}
