//! `private_key_jwt` (RFC 7523, rfc7523bis): clients that prove themselves with a key. Assertions
//! are built by the test with aws-lc-rs and jsonwebtoken, the way a client library would.

use serde_json::{Value, json};

use castellan::app::App;
use castellan::clock::Clock;

use crate::on_both_backends;
use crate::support::assertion::{ClientKeyPair, JWT_BEARER, random_jti, time_now};
use crate::support::cli::BILLING;
use crate::support::{Backend, CC, TestApp, eventually, expect_oauth_error, text};

on_both_backends!(
    assertions_signed_by_a_registered_key_get_tokens,
    every_bad_assertion_is_refused_as_invalid_client,
    a_client_rotates_its_key_with_overlap,
    a_replayed_assertion_is_accepted_once_across_two_nodes,
);

struct KeyClient {
    id: String,
}

/// A client-credentials client for BILLING authenticating with `keys`.
async fn key_client(app: &TestApp, name: &str, keys: &[&ClientKeyPair]) -> KeyClient {
    let file = app.dir.path().join(format!("{name}.jwks"));
    std::fs::write(&file, ClientKeyPair::jwks(keys)).unwrap();
    let created = app
        .cli_create_client(
            "default",
            name,
            &[
                "--grant",
                "client_credentials",
                "--api",
                BILLING,
                "--scope",
                "billing:read",
                "--auth",
                "private_key_jwt",
                "--jwks-file",
                file.to_str().unwrap(),
                "--json",
            ],
        )
        .await
        .json();
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(created["token_endpoint_auth_method"], "private_key_jwt");
    KeyClient {
        id: text(&created, "client_id"),
    }
}

async fn setup(app: &TestApp) {
    app.cli_create_api(BILLING, &["--scope", "billing:read"])
        .await
        .ok();
}

async fn post(app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn token_with(app: &TestApp, assertion: &str) -> reqwest::Response {
    post(
        app,
        "/token",
        &[
            CC,
            ("resource", BILLING),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ],
    )
    .await
}

async fn assertions_signed_by_a_registered_key_get_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    setup(&app).await;
    let (ec, ed, rsa) = (
        ClientKeyPair::es256("ec-1"),
        ClientKeyPair::ed25519("ed-1"),
        ClientKeyPair::rs256("rsa-1"),
    );
    let client = key_client(&app, "keyed", &[&ec, &ed, &rsa]).await;
    for key in [&ec, &ed, &rsa] {
        let assertion = key.sign(&ClientKeyPair::claims(&client.id, &app.issuer));
        let response = token_with(&app, &assertion).await;
        assert_eq!(response.status(), 200, "{:?}", key.alg);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
    }
    // `Ed25519` as the header's alg (what some libraries write), an array audience of one,
    // no kid (the key is found by its algorithm), typ as rfc7523bis spells it, client_id in the body.
    let mut claims = ClientKeyPair::claims(&client.id, &app.issuer);
    claims["aud"] = json!([app.issuer]);
    let assertion = ed.sign_with_header(
        &json!({"alg": "Ed25519", "typ": "client-authentication+jwt"}),
        &claims,
    );
    let response = post(
        &app,
        "/token",
        &[
            CC,
            ("client_id", &client.id),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let token: Value = response.json().await.unwrap();

    // Introspection and revocation take the same authentication.
    let assertion = ec.sign(&ClientKeyPair::claims(&client.id, &app.issuer));
    let introspected: Value = post(
        &app,
        "/introspect",
        &[
            ("token", &text(&token, "access_token")),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(introspected["active"], true, "{introspected}");
    let assertion = ec.sign(&ClientKeyPair::claims(&client.id, &app.issuer));
    let revoked = post(
        &app,
        "/revoke",
        &[
            ("token", &text(&token, "access_token")),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(revoked.status(), 200);

    // Every key-based authentication is audited with its kid, and counted.
    let rows = app.audit_rows(&["client.authenticated"]).await;
    let details: Vec<&str> = rows
        .iter()
        .filter(|r| r["event"] == "client.authenticated" && r["client_id"] == client.id.as_str())
        .filter_map(|r| r["detail"].as_str())
        .collect();
    for kid in ["ec-1", "ed-1", "rsa-1"] {
        assert!(
            details
                .iter()
                .any(|d| d.contains("private_key_jwt") && d.contains(kid)),
            "{kid}: {details:?}"
        );
    }
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "castellan_client_authentications_total{method=\"private_key_jwt\",outcome=\"success\"}"
        ),
        "{metrics}"
    );

    let discovery = app.openid_configuration().await;
    for field in [
        "token_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ] {
        assert!(
            discovery[field]
                .as_array()
                .unwrap()
                .contains(&json!("private_key_jwt")),
            "{field}"
        );
    }
    assert_eq!(
        discovery["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256", "EdDSA"])
    );
}

/// The refusal each bad assertion must get: for its own reason, not another.
fn reason(case: &str) -> &'static str {
    match case {
        c if c.starts_with("aud") => "must be this server's issuer identifier",
        "expired" => "has expired",
        "lives too long" => "lives too long",
        "exp missing" => "no numeric exp",
        "jti missing" => "needs a jti",
        "iss is not the client" => "iss and sub must both be the client_id",
        "issued in the future" => "issued in the future",
        "unknown kid" => "has no key",
        "alg differs from the key's" => "signs ES256, not RS256",
        "foreign typ" => "is not a client authentication JWT",
        "alg none" | "HS256 with the public key" => "is not accepted",
        "crit extension" => "crit extensions are not supported",
        _ => "not a signed JWT",
    }
}

async fn every_bad_assertion_is_refused_as_invalid_client(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    setup(&app).await;
    let (ec, rsa) = (ClientKeyPair::es256("ec-1"), ClientKeyPair::rs256("rsa-1"));
    let client = key_client(&app, "keyed", &[&ec, &rsa]).await;
    let good = || ClientKeyPair::claims(&client.id, &app.issuer);
    let with = |name: &str, value: Value| {
        let mut claims = good();
        claims[name] = value;
        claims
    };
    let without = |name: &str| {
        let mut claims = good();
        claims.as_object_mut().unwrap().remove(name);
        claims
    };
    let now = time_now();
    let token_endpoint = format!("{}/token", app.issuer);
    let b64 = |v: &Value| {
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            v.to_string(),
        )
    };
    // HS256 keyed with the public modulus: the classic algorithm-confusion forgery.
    let hs256 = {
        let header = json!({"alg": "HS256", "kid": "rsa-1"});
        let message = format!("{}.{}", b64(&header), b64(&good()));
        let secret = rsa.jwk["n"].as_str().unwrap().as_bytes().to_vec();
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &jsonwebtoken::EncodingKey::from_secret(&secret),
            jsonwebtoken::Algorithm::HS256,
        )
        .unwrap();
        format!("{message}.{signature}")
    };
    let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&good()));
    let cases: Vec<(&str, String)> = vec![
        (
            "aud is the token endpoint",
            ec.sign(&with("aud", json!(token_endpoint))),
        ),
        (
            "aud has a second member",
            ec.sign(&with("aud", json!([app.issuer, "https://other.example"]))),
        ),
        (
            "aud is another issuer",
            ec.sign(&with("aud", json!("https://other.example"))),
        ),
        ("aud missing", ec.sign(&without("aud"))),
        ("expired", ec.sign(&with("exp", json!(now - 3600)))),
        ("lives too long", ec.sign(&with("exp", json!(now + 7200)))),
        ("exp missing", ec.sign(&without("exp"))),
        ("jti missing", ec.sign(&without("jti"))),
        (
            "iss is not the client",
            ec.sign(&with("iss", json!("someone-else"))),
        ),
        (
            "issued in the future",
            ec.sign(&with("iat", json!(now + 3600))),
        ),
        (
            "unknown kid",
            ec.sign_with_header(&json!({"alg": "ES256", "kid": "nope"}), &good()),
        ),
        (
            "alg differs from the key's",
            ec.sign_with_header(&json!({"alg": "RS256", "kid": "ec-1"}), &good()),
        ),
        (
            "foreign typ",
            ec.sign_with_header(
                &json!({"alg": "ES256", "kid": "ec-1", "typ": "at+jwt"}),
                &good(),
            ),
        ),
        ("alg none", none),
        ("HS256 with the public key", hs256),
        ("not a JWT", "abc.def".into()),
        (
            "crit extension",
            ec.sign_with_header(
                &json!({"alg": "ES256", "kid": "ec-1", "crit": ["exp"], "exp": 1}),
                &good(),
            ),
        ),
    ];
    for (what, assertion) in cases {
        let response = token_with(&app, &assertion).await;
        let (_, body) = expect_oauth_error(response, 401, "invalid_client").await;
        let description = body["error_description"].as_str().unwrap_or("");
        assert!(description.contains(reason(what)), "{what}: {body}");
    }

    // A good assertion works once; its replay is refused.
    let assertion = ec.sign(&good());
    assert_eq!(token_with(&app, &assertion).await.status(), 200);
    let (_, body) =
        expect_oauth_error(token_with(&app, &assertion).await, 401, "invalid_client").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used"),
        "{body}"
    );

    // Exactly one method per request; the pair goes together; the type is jwt-bearer.
    let assertion = ec.sign(&good());
    let both = app
        .http
        .post(app.url("/token"))
        .basic_auth(&client.id, Some("secret"))
        .form(&[
            CC,
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .unwrap();
    expect_oauth_error(both, 400, "invalid_request").await;
    let lone = post(&app, "/token", &[CC, ("client_assertion", &assertion)]).await;
    expect_oauth_error(lone, 400, "invalid_request").await;
    // A SPIFFE-typed assertion is a workload's, not a client's own.
    let spiffe = post(
        &app,
        "/token",
        &[
            CC,
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe",
            ),
            ("client_assertion", &ec.sign(&good())),
        ],
    )
    .await;
    expect_oauth_error(spiffe, 401, "invalid_client").await;
    let wrong_type = post(
        &app,
        "/token",
        &[
            CC,
            ("client_assertion_type", "urn:example:saml"),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    expect_oauth_error(wrong_type, 401, "invalid_client").await;
    // client_id in the body naming another client than the assertion's sub.
    let mismatch = post(
        &app,
        "/token",
        &[
            CC,
            ("client_id", &app.admin.id),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    expect_oauth_error(mismatch, 401, "invalid_client").await;

    // Only the registered method: no secret for a keyed client, no assertion for a secret one.
    let basic = app
        .http
        .post(app.url("/token"))
        .basic_auth(&client.id, Some("guess"))
        .form(&[CC])
        .send()
        .await
        .unwrap();
    expect_oauth_error(basic, 401, "invalid_client").await;
    let admin_assertion = ec.sign(&ClientKeyPair::claims(&app.admin.id, &app.issuer));
    expect_oauth_error(
        token_with(&app, &admin_assertion).await,
        401,
        "invalid_client",
    )
    .await;

    // A disabled client's assertions are refused.
    app.cli(&["client", "disable", &client.id]).await.ok();
    eventually("the disabled client is refused", async || {
        let response = token_with(&app, &ec.sign(&good())).await;
        (response.status() == 401).then_some(())
    })
    .await;
}

async fn a_client_rotates_its_key_with_overlap(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    setup(&app).await;
    let old = ClientKeyPair::es256("2026-01");
    let new = ClientKeyPair::ed25519("2026-02");
    let client = key_client(&app, "rotating", &[&old]).await;
    let claims = || ClientKeyPair::claims(&client.id, &app.issuer);
    assert_eq!(token_with(&app, &old.sign(&claims())).await.status(), 200);

    let file = app.dir.path().join("new.jwks");
    std::fs::write(&file, ClientKeyPair::jwks(&[&new])).unwrap();
    let added = app
        .cli(&[
            "client",
            "keys",
            "add",
            &client.id,
            "--jwks-file",
            file.to_str().unwrap(),
            "--json",
        ])
        .await
        .json();
    assert_eq!(added["keys"], json!(["2026-01", "2026-02"]));
    eventually("both keys work during the overlap", async || {
        let new_ok = token_with(&app, &new.sign(&claims())).await.status() == 200;
        (new_ok && token_with(&app, &old.sign(&claims())).await.status() == 200).then_some(())
    })
    .await;

    app.cli(&["client", "keys", "remove", &client.id, "2026-01"])
        .await
        .ok();
    eventually("the removed key stops working", async || {
        (token_with(&app, &old.sign(&claims())).await.status() == 401).then_some(())
    })
    .await;
    assert_eq!(token_with(&app, &new.sign(&claims())).await.status(), 200);
    let last = app
        .cli(&["client", "keys", "remove", &client.id, "2026-02"])
        .await;
    assert!(last.refusal().contains("last key"), "{last:?}");

    // Keys that could not verify safely are refused at registration.
    let bad_keys = [
        (
            json!({"kty": "oct", "kid": "s", "k": "c2VjcmV0"}),
            "private member",
        ),
        (
            json!({"kty": "EC", "crv": "P-384", "kid": "p384",
            "x": "AAAA", "y": "AAAA"}),
            "P-256",
        ),
        (
            json!({"kty": "RSA", "kid": "small", "n": "AQAB", "e": "AQAB"}),
            "at least 2048 bits",
        ),
        (
            json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}),
            "kid",
        ),
        (
            {
                let mut k = ClientKeyPair::es256("enc").jwk;
                k["use"] = json!("enc");
                k
            },
            "not for signatures",
        ),
    ];
    for (jwk, expected) in bad_keys {
        std::fs::write(&file, json!({"keys": [jwk]}).to_string()).unwrap();
        let out = app
            .cli(&[
                "client",
                "keys",
                "add",
                &client.id,
                "--jwks-file",
                file.to_str().unwrap(),
            ])
            .await;
        assert!(out.refusal().contains(expected), "{expected}: {out:?}");
    }
}

async fn a_replayed_assertion_is_accepted_once_across_two_nodes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    setup(&app).await;
    let key = ClientKeyPair::es256("k");
    let client = key_client(&app, "keyed", &[&key]).await;
    // A second node on the same database.
    let node = App::build_with_clock(&app.config, Clock::System)
        .await
        .unwrap();
    let second = format!("http://{}", node.local_addr());
    tokio::spawn(node.run_until_stopped(std::future::pending()));
    let mut claims = ClientKeyPair::claims(&client.id, &app.issuer);
    claims["jti"] = json!(random_jti());
    let assertion = key.sign(&claims);
    let send = |base: String| {
        let http = app.http.clone();
        let assertion = assertion.clone();
        async move {
            http.post(format!("{base}/token"))
                .form(&[
                    CC,
                    ("resource", BILLING),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", assertion.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let base = if i % 2 == 0 {
                app.base.clone()
            } else {
                second.clone()
            };
            tokio::spawn(send(base))
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 401, 401, 401, 401, 401, 401, 401],
        "{statuses:?}"
    );
}

/// Python authlib's `private_key_jwt_sign`, unmodified, signs the assertion: Castellan accepts
/// it when the client names the issuer as audience, and refuses authlib's default (the token
/// endpoint URL) as rfc7523bis asks.
#[tokio::test]
async fn an_assertion_signed_by_authlib_is_accepted() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    setup(&app).await;
    for key in [
        ClientKeyPair::es256("authlib-ec"),
        ClientKeyPair::rs256("authlib-rsa"),
    ] {
        let name = format!("authlib {}", key.kid);
        let client = key_client(&app, &name, &[&key]).await;
        let pem = app.dir.path().join(format!("{}.pem", key.kid));
        std::fs::write(&pem, &key.pem).unwrap();
        let alg = if key.kid == "authlib-ec" {
            "ES256"
        } else {
            "RS256"
        };
        let sign = |audience: &str| {
            let script = "import sys\n\
                from authlib.oauth2.rfc7523 import private_key_jwt_sign\n\
                key = open(sys.argv[1]).read()\n\
                token = private_key_jwt_sign(key, sys.argv[2], sys.argv[3], alg=sys.argv[4], header={'kid': sys.argv[5]})\n\
                print(token.decode() if isinstance(token, bytes) else token)\n";
            let out = std::process::Command::new("/usr/bin/python3")
                .args(["-c", script])
                .args([pem.to_str().unwrap(), &client.id, audience, alg, &key.kid])
                .output()
                .expect("python3 with authlib (scripts/test installs python3-authlib)");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        let accepted = token_with(&app, &sign(&app.issuer)).await;
        assert_eq!(accepted.status(), 200, "{alg}");
        let token_endpoint = format!("{}/token", app.issuer);
        let refused = token_with(&app, &sign(&token_endpoint)).await;
        expect_oauth_error(refused, 401, "invalid_client").await;
    }
}
