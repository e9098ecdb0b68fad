//! A resource server's token validation: a JWKS cache that honours `max-age` and refetches on an
//! unknown `kid`, and full signature (the algorithm the key's JWK names) + claim checks with
//! `jsonwebtoken`.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::oauth::{jwk_key, validation_for};

pub struct Validator {
    http: reqwest::Client,
    jwks_uri: String,
    issuer: String,
    audience: String,
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    /// Clock time until which the cached JWKS may be used.
    fresh_until: i64,
    pub fetches: usize,
    /// Refetches forced by a `kid` missing from a cache that was still fresh.
    pub unknown_kid_refetches: usize,
    /// Most keys ever seen in one JWKS.
    pub max_keys: usize,
}

impl Validator {
    pub fn new(jwks_uri: &str, issuer: &str, audience: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            jwks_uri: jwks_uri.to_owned(),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            keys: HashMap::new(),
            fresh_until: i64::MIN,
            fetches: 0,
            unknown_kid_refetches: 0,
            max_keys: 0,
        }
    }

    async fn refresh(&mut self, now: i64) {
        let response = self.http.get(&self.jwks_uri).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let cache_control = response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .to_owned();
        let max_age: i64 = cache_control
            .split(',')
            .find_map(|d| d.trim().strip_prefix("max-age="))
            .expect("JWKS carries max-age")
            .parse()
            .unwrap();
        let jwks: Value = response.json().await.unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        self.max_keys = self.max_keys.max(keys.len());
        self.keys = keys
            .iter()
            .filter_map(|k| k["kid"].as_str())
            .map(|kid| (kid.to_owned(), jwk_key(&jwks, kid).unwrap()))
            .collect();
        self.fresh_until = now + max_age;
        self.fetches += 1;
    }

    /// Validates at clock time `now`; `Err` says why the token was refused.
    pub async fn validate(&mut self, token: &str, now: i64) -> Result<Value, String> {
        if now >= self.fresh_until {
            self.refresh(now).await;
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
        if header.typ.as_deref() != Some("at+jwt") {
            return Err(format!("unexpected header {header:?}"));
        }
        let kid = header.kid.ok_or("no kid")?;
        if !self.keys.contains_key(&kid) {
            self.unknown_kid_refetches += 1;
            self.refresh(now).await;
        }
        let (key, alg) = self
            .keys
            .get(&kid)
            .ok_or_else(|| format!("kid {kid} not in the JWKS"))?;
        if header.alg != *alg {
            return Err(format!(
                "header alg {:?} is not its key's {alg:?}",
                header.alg
            ));
        }
        let mut validation = validation_for(*alg, &self.issuer, &self.audience);
        // Expiry is judged against the test's clock below, not the machine's.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Value>(token, key, &validation)
            .map_err(|e| e.to_string())?
            .claims;
        let exp = claims["exp"].as_i64().ok_or("no exp")?;
        let nbf = claims["nbf"].as_i64().ok_or("no nbf")?;
        if now >= exp || now < nbf {
            return Err(format!(
                "outside its lifetime at {now}: nbf {nbf}, exp {exp}"
            ));
        }
        Ok(claims)
    }
}
