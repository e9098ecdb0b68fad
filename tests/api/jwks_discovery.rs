//! The JWKS (RFC 7517) and both discovery documents (RFC 8414, OIDC Discovery 1.0), followed
//! the way a client library would follow them.

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oauth::{header, key_for, validation};
use crate::support::{Backend, CC, TestApp, token_of};

const ORDERS: &str = "https://orders.example.com";
const DISCOVERY: [&str; 2] = [
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
];

on_both_backends!(
    jwks_publishes_only_public_rsa_members,
    jwks_cache_control_defaults_to_ten_minutes,
    jwks_cache_control_follows_configuration,
    jwks_etag_supports_conditional_requests,
    discovery_documents_describe_this_server,
    a_token_obtained_by_following_discovery_validates,
    configured_issuer_is_advertised_and_signed,
);

async fn jwks_publishes_only_public_rsa_members(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.jwks_response(None).await;
    assert_eq!(response.status(), 200);
    let content_type = header(&response, "content-type").unwrap();
    assert!(
        content_type.starts_with("application/json")
            || content_type.starts_with("application/jwk-set+json"),
        "{content_type}"
    );
    let jwks: Value = response.json().await.unwrap();
    let document = jwks.as_object().unwrap();
    assert_eq!(document.keys().collect::<Vec<_>>(), ["keys"]);
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(
        keys.len(),
        1,
        "a fresh server publishes its one key: {jwks}"
    );
    for key in keys {
        let mut members: Vec<&str> = key
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        members.sort_unstable();
        assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"], "{key}");
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(key.get(private).is_none(), "{private} published: {key}");
        }
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "RS256");
        assert!(!key["kid"].as_str().unwrap().is_empty());
        // base64url without padding; a 2048-bit modulus is 342 characters.
        let n = key["n"].as_str().unwrap();
        assert!(n.len() >= 342, "modulus too short: {} chars", n.len());
        assert!(
            n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(key["e"], "AQAB");
    }
}

async fn jwks_cache_control_defaults_to_ten_minutes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.jwks_response(None).await;
    let cache_control = header(&response, "cache-control").unwrap();
    assert!(max_age(&cache_control) == Some(600), "{cache_control}");
    assert!(!cache_control.contains("no-store"), "{cache_control}");
}

async fn jwks_cache_control_follows_configuration(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| c.jwks_max_age = 42)
        .spawn()
        .await;
    let response = app.jwks_response(None).await;
    let cache_control = header(&response, "cache-control").unwrap();
    assert_eq!(max_age(&cache_control), Some(42), "{cache_control}");
    let etag = header(&response, "etag").unwrap();
    let not_modified = app.jwks_response(Some(&etag)).await;
    assert_eq!(not_modified.status(), 304);
    let cache_control = header(&not_modified, "cache-control").unwrap();
    assert_eq!(max_age(&cache_control), Some(42), "{cache_control}");
}

fn max_age(cache_control: &str) -> Option<u64> {
    cache_control
        .split(',')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("max-age="))
        .map(|v| v.parse().unwrap())
}

async fn jwks_etag_supports_conditional_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.jwks_response(None).await;
    let etag = header(&first, "etag").expect("an ETag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "{etag}"
    );
    let body = first.text().await.unwrap();

    // Stable across requests while the keys do not change.
    let again = app.jwks_response(None).await;
    assert_eq!(header(&again, "etag").as_deref(), Some(etag.as_str()));
    assert_eq!(again.text().await.unwrap(), body);

    for if_none_match in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"zzz\", {etag}"),
    ] {
        let response = app.jwks_response(Some(&if_none_match)).await;
        assert_eq!(response.status(), 304, "If-None-Match: {if_none_match}");
        assert_eq!(header(&response, "etag").as_deref(), Some(etag.as_str()));
        assert!(header(&response, "cache-control").is_some());
        assert!(response.bytes().await.unwrap().is_empty());
    }

    for other in ["\"not-the-etag\"", "W/\"x\"", "garbage"] {
        let response = app.jwks_response(Some(other)).await;
        assert_eq!(response.status(), 200, "If-None-Match: {other}");
        assert_eq!(header(&response, "etag").as_deref(), Some(etag.as_str()));
        assert_eq!(response.text().await.unwrap(), body);
    }
}

async fn discovery_documents_describe_this_server(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut documents = Vec::new();
    for path in DISCOVERY {
        let response = app.discovery(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let content_type = header(&response, "content-type").unwrap();
        assert!(content_type.starts_with("application/json"), "{path}");
        let doc: Value = response.json().await.unwrap();
        assert_eq!(doc["issuer"], app.issuer.as_str(), "{path}");
        assert_eq!(doc["token_endpoint"], app.url("/token"), "{path}");
        assert_eq!(doc["jwks_uri"], app.url("/jwks.json"), "{path}");
        assert_eq!(
            doc["grant_types_supported"],
            json!(["client_credentials", "authorization_code", "refresh_token"])
        );
        assert_eq!(
            doc["authorization_endpoint"],
            format!("{}/authorize", app.issuer)
        );
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        let methods = doc["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap();
        assert!(methods.contains(&json!("client_secret_basic")), "{doc}");
        assert!(methods.contains(&json!("client_secret_post")), "{doc}");
        documents.push(doc);
    }
    assert_eq!(documents[0], documents[1]);

    // The advertised endpoints answer.
    let jwks_uri = documents[0]["jwks_uri"].as_str().unwrap();
    let response = app.http.get(jwks_uri).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let jwks: Value = response.json().await.unwrap();
    assert!(!jwks["keys"].as_array().unwrap().is_empty());
}

async fn a_token_obtained_by_following_discovery_validates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.client_for(ORDERS, &["orders:read"]).await;
    for path in DISCOVERY {
        let doc: Value = app.discovery(path).await.json().await.unwrap();
        let token_endpoint = doc["token_endpoint"].as_str().unwrap();
        let response = app
            .http
            .post(token_endpoint)
            .header("authorization", client.basic())
            .form(&[CC])
            .send()
            .await
            .unwrap();
        let body = token_of(response).await;
        let token = body["access_token"].as_str().unwrap();
        let claims = validate_via(&app, &doc, token, ORDERS).await;
        assert_eq!(claims["iss"], doc["issuer"]);
        assert_eq!(claims["client_id"], client.id.as_str());
    }
}

/// Validates with the key from the document's `jwks_uri` and its `issuer`, nothing else.
async fn validate_via(app: &TestApp, doc: &Value, token: &str, audience: &str) -> Value {
    let jwks: Value = app
        .http
        .get(doc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let key =
        key_for(&jwks, &kid).unwrap_or_else(|| panic!("kid {kid} not at the advertised jwks_uri"));
    let validation = validation(doc["issuer"].as_str().unwrap(), audience);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

async fn configured_issuer_is_advertised_and_signed(backend: Backend) {
    let issuer = "https://id.example.com";
    let app = TestApp::builder(backend)
        .config(|c| c.issuer = Some(issuer.into()))
        .spawn()
        .await;
    assert_eq!(app.issuer, issuer);
    for path in DISCOVERY {
        let doc: Value = app.discovery(path).await.json().await.unwrap();
        assert_eq!(doc["issuer"], issuer);
        assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
        assert_eq!(doc["jwks_uri"], format!("{issuer}/jwks.json"));
    }

    let client = app.client_for(ORDERS, &["orders:read"]).await;
    let token = app.access_token(&client).await;
    let claims = app.verify_access_token(&token, ORDERS).await;
    assert_eq!(claims["iss"], issuer);
}
