//! Access-token verification (`crypto::jwt::verify_access_token`, and `id_token_hint`)
//! against one key made at start-up. Anything not signed by that key is rejected without a
//! panic; a token it signed is accepted only within its lifetime, for our issuer, and not once
//! a single character has changed.
#![no_main]

use std::collections::HashMap;
use std::sync::LazyLock;

use arbitrary::Arbitrary;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use castellan::crypto::SigningKey;
use castellan::crypto::jwt::{self, JwtType};
use castellan::crypto::signing_key::KeyBits;
use castellan::crypto::jwt::Verifiers;
use castellan::protocol::SigningAlg;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

const ISSUER: &str = "https://id.example.com";

struct Fixture {
    key: SigningKey,
    keys: Verifiers,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let key = SigningKey::generate(SigningAlg::RS256, KeyBits::Rsa2048).expect("key generation");
    let keys = HashMap::from([(
        key.kid().to_owned(),
        key.verifier().expect("verifier"),
    )]);
    Fixture { key, keys }
});

#[derive(Debug, Arbitrary)]
enum Input {
    /// Any string, as a bearer token arrives.
    Raw(String),
    /// Three parts we assemble: a header we choose, claims, any signature bytes.
    Forged {
        header: Header,
        claims: Claims,
        signature: Vec<u8>,
    },
    /// Claims our key signs, perhaps then altered.
    Signed {
        claims: Claims,
        id_token: bool,
        edits: Vec<(usize, u8)>,
    },
}

#[derive(Debug, Arbitrary)]
struct Header {
    alg: Field,
    typ: Field,
    kid: Field,
    extra: Vec<(String, Field)>,
}

#[derive(Debug, Arbitrary)]
struct Claims {
    iss: Field,
    sub: Field,
    jti: Field,
    exp: Field,
    nbf: Field,
    aud: Field,
    now: i64,
}

/// A claim or header value, with the ones that matter close at hand.
#[derive(Debug, Clone, Arbitrary)]
enum Field {
    Absent,
    Issuer,
    Kid,
    Rs256,
    AtJwt,
    Str(String),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    Null,
    List(Vec<Field>),
}

impl Field {
    fn value(&self) -> Option<Value> {
        Some(match self {
            Self::Absent => return None,
            Self::Issuer => json!(ISSUER),
            Self::Kid => json!(FIXTURE.key.kid()),
            Self::Rs256 => json!("RS256"),
            Self::AtJwt => json!("at+jwt"),
            Self::Str(s) => json!(s),
            Self::Int(n) => json!(n),
            Self::UInt(n) => json!(n),
            Self::Float(x) => json!(x),
            Self::Bool(b) => json!(b),
            Self::Null => Value::Null,
            Self::List(items) => Value::Array(items.iter().filter_map(Field::value).collect()),
        })
    }
}

fn object(fields: &[(&str, &Field)]) -> Map<String, Value> {
    fields
        .iter()
        .filter_map(|(name, f)| f.value().map(|v| ((*name).to_owned(), v)))
        .collect()
}

impl Claims {
    fn json(&self) -> Map<String, Value> {
        object(&[
            ("iss", &self.iss),
            ("sub", &self.sub),
            ("jti", &self.jti),
            ("exp", &self.exp),
            ("nbf", &self.nbf),
            ("aud", &self.aud),
        ])
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn refuses(token: &str, now: i64) {
    let f = &*FIXTURE;
    assert!(
        jwt::verify_access_token(token, &f.keys, ISSUER, now).is_err(),
        "accepted a token we did not sign: {token}"
    );
    assert!(
        jwt::id_token_hint(token, &f.keys, ISSUER).is_none(),
        "accepted an id_token_hint we did not sign: {token}"
    );
}

fuzz_target!(|input: Input| {
    let f = &*FIXTURE;
    match input {
        Input::Raw(token) => refuses(&token, 0),
        Input::Forged {
            header,
            claims,
            signature,
        } => {
            let mut h = object(&[
                ("alg", &header.alg),
                ("typ", &header.typ),
                ("kid", &header.kid),
            ]);
            for (name, field) in &header.extra {
                if let Some(v) = field.value() {
                    h.entry(name.clone()).or_insert(v);
                }
            }
            let token = format!(
                "{}.{}.{}",
                b64(Value::Object(h).to_string().as_bytes()),
                b64(Value::Object(claims.json()).to_string().as_bytes()),
                b64(&signature)
            );
            refuses(&token, claims.now);
        }
        Input::Signed {
            claims,
            id_token,
            edits,
        } => {
            let typ = if id_token {
                JwtType::IdToken
            } else {
                JwtType::AccessToken
            };
            let body = claims.json();
            let signed = jwt::sign(&f.key, typ, &body).expect("signing");
            let mut bytes = signed.clone().into_bytes();
            for (at, byte) in &edits {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] = 0x20 + byte % 0x5f;
                }
            }
            let token = String::from_utf8(bytes).expect("ASCII");
            if token != signed {
                return refuses(&token, claims.now);
            }
            let Ok(accepted) = jwt::verify_access_token(&token, &f.keys, ISSUER, claims.now) else {
                return;
            };
            assert!(!id_token, "an ID token was accepted as an access token");
            // Floats may come back a last digit apart (serde_json parses them fast, not exactly).
            assert!(accepted.keys().eq(body.keys()));
            for c in ["iss", "sub", "jti"] {
                assert_eq!(
                    accepted.get(c).and_then(Value::as_str),
                    body.get(c).and_then(Value::as_str)
                );
            }
            let now = claims.now;
            let exp = body.get("exp").and_then(Value::as_i64);
            assert!(
                exp.is_some_and(|exp| now < exp),
                "expired: {body:?} at {now}"
            );
            let nbf = body.get("nbf").and_then(Value::as_i64);
            assert!(
                nbf.is_none_or(|nbf| nbf <= now),
                "not yet valid: {body:?} at {now}"
            );
            assert_eq!(body.get("iss"), Some(&json!(ISSUER)), "another issuer");
            for claim in ["sub", "jti"] {
                assert!(
                    body.contains_key(claim),
                    "accepted without {claim}: {body:?}"
                );
            }
        }
    }
});
