//! Keys fetched from where a client or a trusted issuer publishes them (`jwks_uri`): cached,
//! refetched once on an unknown `kid`, and never from a private address unless allowed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::header;
use axum::routing::get;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::assertion::{ClientKeyPair, JWT_BEARER, time_now};
use crate::support::cli::BILLING;
use crate::support::{Backend, CC, TestApp, expect_oauth_error, text};

on_both_backends!(
    a_client_publishing_its_keys_rotates_them_without_castellan,
    a_trust_fetches_its_issuers_keys,
);

/// A JWKS endpoint of the test's own that counts its requests.
struct Published {
    /// The server's base URL, the issuer its discovery document names.
    base: String,
    url: String,
    jwks: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

async fn publish(keys: &[&ClientKeyPair]) -> Published {
    let jwks = Arc::new(Mutex::new(ClientKeyPair::jwks(keys)));
    let hits = Arc::new(AtomicUsize::new(0));
    let (served, counted) = (Arc::clone(&jwks), Arc::clone(&hits));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let url = format!("{base}/jwks");
    let discovery = json!({"issuer": base, "jwks_uri": url}).to_string();
    let app = axum::Router::new()
        .route(
            "/jwks",
            get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                let body = served.lock().unwrap().clone();
                async move { ([(header::CACHE_CONTROL, "max-age=3600")], body) }
            }),
        )
        .route(
            "/.well-known/openid-configuration",
            get(move || {
                let body = discovery.clone();
                async move { body }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Published {
        base,
        url,
        jwks,
        hits,
    }
}

const LOOPBACK: (&str, &str) = ("CASTELLAN_JWKS_FETCH_ALLOW_HTTP_LOOPBACK", "true");

async fn app(backend: Backend) -> TestApp {
    let app = TestApp::builder(backend)
        .config(|c| c.jwks_fetch_allow_http_loopback = true)
        .spawn()
        .await;
    app.cli_create_api(BILLING, &["--scope", "billing:read"])
        .await
        .ok();
    app
}

async fn token_with(app: &TestApp, client: Option<&str>, assertion: &str) -> reqwest::Response {
    let mut form = vec![
        CC,
        ("resource", BILLING),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    form.extend(client.map(|c| ("client_id", c)));
    app.http
        .post(app.url("/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn a_client_publishing_its_keys_rotates_them_without_castellan(backend: Backend) {
    let app = app(backend).await;
    let (old, new, never) = (
        ClientKeyPair::es256("2026-01"),
        ClientKeyPair::ed25519("2026-02"),
        ClientKeyPair::es256("unpublished"),
    );
    let published = publish(&[&old]).await;
    let args = [
        "client",
        "create",
        "--tenant",
        "default",
        "--name",
        "publisher",
        "--grant",
        "client_credentials",
        "--api",
        BILLING,
        "--scope",
        "billing:read",
        "--auth",
        "private_key_jwt",
        "--jwks-uri",
        &published.url,
        "--json",
    ];
    let created = app.cli_with_env(&args, &[LOOPBACK]).await.json();
    assert_eq!(created["jwks_uri"], published.url.as_str());
    let id = text(&created, "client_id");
    let claims = || ClientKeyPair::claims(&id, &app.issuer);

    assert_eq!(
        token_with(&app, None, &old.sign(&claims())).await.status(),
        200
    );
    assert_eq!(
        token_with(&app, None, &old.sign(&claims())).await.status(),
        200
    );
    assert_eq!(
        published.hits.load(Ordering::SeqCst),
        1,
        "served from the cache"
    );

    // The client publishes its next key; its first assertion with it makes one refetch.
    *published.jwks.lock().unwrap() = ClientKeyPair::jwks(&[&old, &new]);
    assert_eq!(
        token_with(&app, None, &new.sign(&claims())).await.status(),
        200
    );
    assert_eq!(published.hits.load(Ordering::SeqCst), 2);
    // An unknown kid right after is refused without fetching again (rate-limited).
    let refused = token_with(&app, None, &never.sign(&claims())).await;
    expect_oauth_error(refused, 401, "invalid_client").await;
    assert_eq!(published.hits.load(Ordering::SeqCst), 2);

    let file = app.dir.path().join("k.jwks");
    std::fs::write(&file, ClientKeyPair::jwks(&[&never])).unwrap();
    let out = app
        .cli(&[
            "client",
            "keys",
            "add",
            &id,
            "--jwks-file",
            file.to_str().unwrap(),
        ])
        .await;
    assert!(out.refusal().contains("rotate them there"), "{out:?}");

    // Addresses the guard refuses, at registration (the CLI allows no loopback http here).
    for (uri, expected) in [
        ("https://127.0.0.1/jwks", "loopback"),
        ("https://10.0.0.1/jwks", "private"),
        ("https://169.254.169.254/latest/jwks", "refused"),
        ("http://93.184.216.34/jwks", "https"),
        ("https://[2002:a9fe:a9fe::]/jwks", "transition address"),
    ] {
        let args = [
            "client",
            "create",
            "--tenant",
            "default",
            "--name",
            "guarded",
            "--grant",
            "client_credentials",
            "--auth",
            "private_key_jwt",
            "--jwks-uri",
            uri,
        ];
        let out = app.cli(&args).await;
        let message = out.refusal();
        assert!(
            message.to_lowercase().contains(expected),
            "{uri}: {message}"
        );
    }
    let clients = app.cli(&["client", "list", "--json"]).await.json();
    assert!(
        !clients
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "guarded"),
        "nothing registered"
    );
}

async fn a_trust_fetches_its_issuers_keys(backend: Backend) {
    let app = app(backend).await;
    let cluster = ClientKeyPair::rs256("cluster-1");
    let published = publish(&[&cluster]).await;
    let issuer = "https://kubernetes.default.svc";
    app.cli_with_env(
        &[
            "trust",
            "create",
            "--tenant",
            "default",
            "--name",
            "cluster",
            "--issuer",
            issuer,
            "--jwks-uri",
            &published.url,
            "--reusable-jti",
        ],
        &[LOOPBACK],
    )
    .await
    .ok();
    let client = app.cli_service("default", BILLING, "billing:read").await.id;
    let subject = "system:serviceaccount:payments:api";
    app.cli(&[
        "client",
        "link",
        &client,
        "--trust",
        "cluster",
        "--subject",
        subject,
    ])
    .await
    .ok();
    let now = time_now();
    let claims: Value = json!({"iss": issuer, "sub": subject, "aud": [app.issuer],
        "iat": now, "exp": now + 600});
    let response = token_with(&app, Some(&client), &cluster.sign(&claims)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(published.hits.load(Ordering::SeqCst), 1);
    // An issuer whose keys are found through its OpenID discovery document.
    let idp = ClientKeyPair::es256("idp-1");
    let discovered = publish(&[&idp]).await;
    app.cli_with_env(
        &[
            "trust",
            "create",
            "--tenant",
            "default",
            "--name",
            "idp",
            "--issuer",
            &discovered.base,
            "--discovery",
            "--reusable-jti",
        ],
        &[LOOPBACK],
    )
    .await
    .ok();
    let other = app.cli_service("default", BILLING, "billing:read").await.id;
    app.cli(&[
        "client",
        "link",
        &other,
        "--trust",
        "idp",
        "--subject",
        "job-7",
    ])
    .await
    .ok();
    let claims: Value = json!({"iss": discovered.base, "sub": "job-7", "aud": app.issuer,
        "iat": now, "exp": now + 600});
    let response = token_with(&app, Some(&other), &idp.sign(&claims)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(discovered.hits.load(Ordering::SeqCst), 1);
    // A discovery document must name the trust's issuer exactly (OIDC Discovery §4.3).
    let spoofed = format!("{}/", discovered.base);
    app.cli_with_env(
        &[
            "trust",
            "create",
            "--tenant",
            "default",
            "--name",
            "spoofed",
            "--issuer",
            &spoofed,
            "--discovery",
            "--reusable-jti",
        ],
        &[LOOPBACK],
    )
    .await
    .ok();
    app.cli(&["client", "unlink", &other, "--trust", "idp"])
        .await
        .ok();
    app.cli(&[
        "client",
        "link",
        &other,
        "--trust",
        "spoofed",
        "--subject",
        "job-7",
    ])
    .await
    .ok();
    let claims: Value = json!({"iss": spoofed, "sub": "job-7", "aud": app.issuer,
        "iat": now, "exp": now + 600});
    // Refused for the document, once the server has seen the new link.
    crate::support::eventually(
        "the spoofed issuer is refused for its document",
        async || {
            let refused = token_with(&app, Some(&other), &idp.sign(&claims)).await;
            let body: Value = refused.json().await.unwrap();
            let said = body["error_description"].as_str().unwrap_or("").to_owned();
            said.contains("cannot be fetched").then_some(())
        },
    )
    .await;
}
