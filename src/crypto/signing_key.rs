//! Signing keys of every algorithm Castellan signs with (RSA for RS256 and PS256, P-256 for
//! ES256, Ed25519 for EdDSA): generation, PKCS#8 import/export, their public JWK and verifier.

use std::fmt;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
    RSA_PSS_2048_8192_SHA256, RSA_PSS_SHA256, VerificationAlgorithm,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::jwt::JwtType;
use super::{CryptoError, random};
use crate::protocol::SigningAlg;
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

/// The public half as published in the JWKS (RFC 7517 §4; RFC 7518 §6.2.1 and §6.3.1; RFC 8037 §2).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PublicJwk {
    pub kty: &'static str,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub alg: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

enum Pair {
    Rsa(KeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private signing key held in memory, with its JOSE headers pre-encoded.
pub struct SigningKey {
    alg: SigningAlg,
    pair: Pair,
    jwk: PublicJwk,
    access_header: String,
    id_header: String,
}

/// A published key's public half, parsed once, for checking what it signed.
pub struct Verifier {
    alg: SigningAlg,
    key: ParsedPublicKey,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// The algorithm of the key: a token whose header names another is refused.
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    pub(super) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.jwk.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// What a private key's DER says it is, to accept it or say why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Rsa,
    P256,
    Ed25519,
    Refused(&'static str),
    Unknown,
}

impl SigningKey {
    /// A new key for `alg`; `bits` is the RSA modulus size (RS256 and PS256 only).
    pub fn generate(alg: SigningAlg, bits: KeyBits) -> Result<Self, CryptoError> {
        let failed = |_| CryptoError(format!("{alg} key generation failed"));
        let pair = match alg {
            SigningAlg::RS256 | SigningAlg::PS256 => {
                Pair::Rsa(KeyPair::generate(bits.size()).map_err(failed)?)
            }
            SigningAlg::ES256 => {
                Pair::Ec(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(failed)?)
            }
            SigningAlg::EdDSA => Pair::Ed(Ed25519KeyPair::generate().map_err(failed)?),
        };
        Self::from_pair(alg, pair)
    }

    /// A stored PKCS#8 DER key (PKCS#1 too for RSA) as a key for `alg`.
    pub fn from_der(der: &[u8], alg: SigningAlg) -> Result<Self, CryptoError> {
        let key_type = KeyType::of(der);
        let pair = match alg {
            SigningAlg::RS256 | SigningAlg::PS256 => Pair::Rsa(
                KeyPair::from_pkcs8(der).or_else(|_| KeyPair::from_der(der)).map_err(|_| {
                    let why = if key_type == KeyType::Rsa {
                        "an RSA key that is smaller than 2048 bits or malformed (2048 to 8192 bits are accepted)".to_owned()
                    } else {
                        format!("not an RSA private key in PKCS#8 or PKCS#1 DER{}", key_type.hint())
                    };
                    CryptoError(format!("not a usable RSA private key: {why}"))
                })?,
            ),
            SigningAlg::ES256 => Pair::Ec(
                EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(
                    |_| {
                        CryptoError(format!(
                            "not a usable ES256 key: not an EC P-256 private key in PKCS#8 or SEC 1 DER{}",
                            key_type.hint()
                        ))
                    },
                )?,
            ),
            SigningAlg::EdDSA => Pair::Ed(Ed25519KeyPair::from_pkcs8(der).map_err(|_| {
                CryptoError(format!(
                    "not a usable EdDSA key: not an Ed25519 private key in PKCS#8 DER{}",
                    key_type.hint()
                ))
            })?),
        };
        Self::from_pair(alg, pair)
    }

    /// An operator's key file: a PEM `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1) or
    /// `EC PRIVATE KEY` (SEC 1). The key's type decides its algorithm: P-256 is ES256, Ed25519
    /// is EdDSA, and RSA is `rsa_alg` (RS256 or PS256).
    pub fn from_pem(text: &[u8], rsa_alg: SigningAlg) -> Result<Self, CryptoError> {
        let pem = pem::parse(text).map_err(|e| {
            CryptoError(format!(
                "not a PEM file ({e}): expected a private key in PEM form, a block that starts \
                 with -----BEGIN PRIVATE KEY----- (PKCS#8), -----BEGIN RSA PRIVATE KEY----- \
                 (PKCS#1) or -----BEGIN EC PRIVATE KEY----- (SEC 1)"
            ))
        })?;
        match pem.tag() {
            "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {}
            "ENCRYPTED PRIVATE KEY" => {
                return Err(CryptoError(
                    "encrypted PEM keys are not supported: decrypt it first (openssl pkcs8 -topk8 -nocrypt)".into(),
                ));
            }
            other => {
                return Err(CryptoError(format!(
                    "PEM block {other:?} is not a private key (expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
                )));
            }
        }
        let der = pem.contents();
        let alg = match (pem.tag(), KeyType::of(der)) {
            ("RSA PRIVATE KEY", _) | (_, KeyType::Rsa) => rsa_alg,
            (_, KeyType::P256) => SigningAlg::ES256,
            (_, KeyType::Ed25519) => SigningAlg::EdDSA,
            (_, KeyType::Refused(why)) => {
                return Err(CryptoError(format!("key refused: {why}")));
            }
            (_, KeyType::Unknown) => {
                return Err(CryptoError(
                    "not a private key Castellan signs with: expected RSA (2048 to 8192 bits), EC P-256 or Ed25519 in PKCS#8".into(),
                ));
            }
        };
        Self::from_der(der, alg)
    }

    fn from_pair(alg: SigningAlg, pair: Pair) -> Result<Self, CryptoError> {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let (canonical, mut jwk) = match &pair {
            Pair::Rsa(rsa) => {
                let bits = rsa.public_modulus_len() * 8;
                if bits < 2048 {
                    return Err(CryptoError(format!(
                        "RSA key of {bits} bits refused: at least 2048 bits are required"
                    )));
                }
                let public = rsa.public_key();
                let n = b64(public.modulus().big_endian_without_leading_zero());
                let e = b64(public.exponent().big_endian_without_leading_zero());
                let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
                (canonical, jwk("RSA", None, Some(n), Some(e), None, None))
            }
            Pair::Ec(ec) => {
                // SEC 1 uncompressed point: 0x04 || x || y, 32 bytes each on P-256.
                let point = ec.public_key().as_ref();
                let (Some(x), Some(y)) = (point.get(1..33), point.get(33..65)) else {
                    return Err(CryptoError("malformed P-256 public key".into()));
                };
                let (x, y) = (b64(x), b64(y));
                let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
                (
                    canonical,
                    jwk("EC", Some("P-256"), None, None, Some(x), Some(y)),
                )
            }
            Pair::Ed(ed) => {
                let x = b64(ed.public_key().as_ref());
                let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
                (
                    canonical,
                    jwk("OKP", Some("Ed25519"), None, None, Some(x), None),
                )
            }
        };
        // RFC 7638 JWK thumbprint: a `kid` that is a pure function of the public key.
        jwk.kid = b64(digest(&SHA256, canonical.as_bytes()).as_ref());
        jwk.alg = alg.as_str();
        let access_header = encode_header(alg, &jwk.kid, JwtType::AccessToken);
        let id_header = encode_header(alg, &jwk.kid, JwtType::IdToken);
        Ok(Self {
            alg,
            pair,
            jwk,
            access_header,
            id_header,
        })
    }

    pub fn to_pkcs8(&self) -> Result<Vec<u8>, CryptoError> {
        let der = match &self.pair {
            Pair::Rsa(rsa) => rsa.as_der().map(|d| d.as_ref().to_vec()),
            Pair::Ec(ec) => ec.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
            Pair::Ed(ed) => ed.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
        };
        der.map_err(|_| CryptoError(format!("cannot serialise the {} key", self.alg)))
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    pub fn kid(&self) -> &str {
        &self.jwk.kid
    }

    /// The RSA modulus size, or the curve's size (256 for P-256 and Ed25519).
    pub fn bits(&self) -> usize {
        match &self.pair {
            Pair::Rsa(rsa) => rsa.public_modulus_len() * 8,
            Pair::Ec(_) | Pair::Ed(_) => 256,
        }
    }

    pub fn public_jwk(&self) -> &PublicJwk {
        &self.jwk
    }

    /// The public key for verifying what this key signed.
    pub fn verifier(&self) -> Result<Verifier, CryptoError> {
        let (algorithm, public): (&'static dyn VerificationAlgorithm, &[u8]) = match &self.pair {
            Pair::Rsa(rsa) if self.alg == SigningAlg::PS256 => {
                (&RSA_PSS_2048_8192_SHA256, rsa.public_key().as_ref())
            }
            Pair::Rsa(rsa) => (&RSA_PKCS1_2048_8192_SHA256, rsa.public_key().as_ref()),
            Pair::Ec(ec) => (&ECDSA_P256_SHA256_FIXED, ec.public_key().as_ref()),
            Pair::Ed(ed) => (&ED25519, ed.public_key().as_ref()),
        };
        let key = ParsedPublicKey::new(algorithm, public)
            .map_err(|e| CryptoError(format!("cannot build the verification key: {e}")))?;
        Ok(Verifier { alg: self.alg, key })
    }

    /// The base64url JOSE header for a token of this type.
    pub(super) fn header(&self, typ: JwtType) -> &str {
        match typ {
            JwtType::AccessToken => &self.access_header,
            JwtType::IdToken => &self.id_header,
        }
    }

    /// Signs `token` (the signing input, header '.' payload) and appends '.' and the signature.
    pub(super) fn sign_into(&self, token: &mut String) -> Result<(), CryptoError> {
        let failed = |_| CryptoError(format!("{} signing failed", self.alg));
        let rng = random::Rng::get();
        match &self.pair {
            Pair::Rsa(rsa) => {
                let encoding = match self.alg {
                    SigningAlg::PS256 => &RSA_PSS_SHA256,
                    _ => &RSA_PKCS1_SHA256,
                };
                // Up to 8192 bits, on the stack: no allocation per token.
                let mut buffer = [0u8; 1024];
                let signature = buffer
                    .get_mut(..rsa.public_modulus_len())
                    .ok_or_else(|| CryptoError("RSA key too large".into()))?;
                rsa.sign(encoding, rng, token.as_bytes(), signature)
                    .map_err(failed)?;
                append(token, signature);
            }
            Pair::Ec(ec) => {
                let signature = ec.sign(rng, token.as_bytes()).map_err(failed)?;
                append(token, signature.as_ref());
            }
            Pair::Ed(ed) => {
                let signature = ed.sign(token.as_bytes());
                append(token, signature.as_ref());
            }
        }
        Ok(())
    }
}

fn append(token: &mut String, signature: &[u8]) {
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, token);
}

fn jwk(
    kty: &'static str,
    crv: Option<&'static str>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
) -> PublicJwk {
    PublicJwk {
        kty,
        kid: String::new(),
        use_: "sig",
        alg: "",
        crv,
        n,
        e,
        x,
        y,
    }
}

/// DER of the algorithm and curve OIDs a PKCS#8 (or SEC 1) key names near its start.
const RSA_ENCRYPTION: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];
const EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const CURVES_REFUSED: &[(&[u8], &str)] = &[
    (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22], "P-384"),
    (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23], "P-521"),
    (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a], "secp256k1"),
];
const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
const ED448_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x71];
const X25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x6e];
const X448_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x6f];

impl KeyType {
    fn of(der: &[u8]) -> Self {
        // The algorithm identifier of PKCS#8, and the curve of SEC 1, sit in the first bytes;
        // looking no further keeps key material from being read as an OID.
        let start = &der[..der.len().min(64)];
        let has = |oid: &[u8]| start.windows(oid.len()).any(|w| w == oid);
        if has(RSA_ENCRYPTION) {
            return Self::Rsa;
        }
        if has(ED25519_OID) {
            return Self::Ed25519;
        }
        if has(ED448_OID) {
            return Self::Refused("an Ed448 key: only Ed25519 keys are accepted (for EdDSA)");
        }
        if has(X25519_OID) || has(X448_OID) {
            return Self::Refused(
                "an X25519/X448 key is for key agreement, not signing: use an Ed25519 key (for EdDSA)",
            );
        }
        if has(P256) {
            return Self::P256;
        }
        for (oid, name) in CURVES_REFUSED {
            if has(oid) {
                return Self::Refused(match *name {
                    "P-384" => "an EC key on curve P-384: only P-256 keys are accepted (for ES256)",
                    "P-521" => "an EC key on curve P-521: only P-256 keys are accepted (for ES256)",
                    _ => "an EC key on curve secp256k1: only P-256 keys are accepted (for ES256)",
                });
            }
        }
        if has(EC_PUBLIC_KEY) {
            return Self::Refused(
                "an EC key on a curve other than P-256: only P-256 keys are accepted (for ES256)",
            );
        }
        Self::Unknown
    }

    /// What the key turned out to be, when it is not what was expected.
    fn hint(self) -> String {
        match self {
            Self::Rsa => " (it is an RSA key)".into(),
            Self::P256 => " (it is an EC P-256 key)".into(),
            Self::Ed25519 => " (it is an Ed25519 key)".into(),
            Self::Refused(why) => format!(" ({why})"),
            Self::Unknown => String::new(),
        }
    }
}

fn encode_header(alg: SigningAlg, kid: &str, typ: JwtType) -> String {
    let json = serde_json::json!({ "alg": alg.as_str(), "typ": typ.as_str(), "kid": kid });
    URL_SAFE_NO_PAD.encode(json.to_string())
}

#[cfg(test)]
mod tests;
