//! Registering clients that sign people in: exact redirect URIs, public clients, first-party clients.

use crate::on_both_backends;
use crate::support::{Backend, CC, TestApp, TestClient};

on_both_backends!(
    browser_clients_are_registered_with_their_redirect_uris,
    bad_browser_client_registrations_are_refused,
);

async fn browser_clients_are_registered_with_their_redirect_uris(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let web = app
        .cli_create_client(
            "default",
            "web",
            &[
                "--grant",
                "authorization_code",
                "--grant",
                "refresh_token",
                "--redirect-uri",
                "https://app.example.com/cb",
                "--redirect-uri",
                "https://app.example.com/cb2",
                "--post-logout-redirect-uri",
                "https://app.example.com/bye",
                "--skip-consent",
                "--json",
            ],
        )
        .await
        .json();
    assert_eq!(
        web["client_secret"].as_str().unwrap().len(),
        43,
        "confidential clients get a secret"
    );
    assert_eq!(
        web["redirect_uris"],
        serde_json::json!(["https://app.example.com/cb", "https://app.example.com/cb2"])
    );
    assert_eq!(
        web["post_logout_redirect_uris"],
        serde_json::json!(["https://app.example.com/bye"])
    );
    assert_eq!(
        web["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(web["skip_consent"], true);
    assert_eq!(web["public"], false);

    let native = app
        .cli_create_client(
            "default",
            "cli app",
            &[
                "--grant",
                "authorization_code",
                "--redirect-uri",
                "http://127.0.0.1/callback",
                "--redirect-uri",
                "com.example.app:/oauth",
                "--public",
                "--json",
            ],
        )
        .await
        .json();
    assert!(
        native.get("client_secret").is_none(),
        "a public client has no secret: {native}"
    );
    assert_eq!(native["public"], true);

    let id = native["client_id"].as_str().unwrap();
    let shown = app.cli(&["client", "show", id]).await;
    let text = shown.ok();
    assert!(
        text.contains("http://127.0.0.1/callback") && text.contains("public"),
        "{text}"
    );

    // A public client cannot obtain tokens at the token endpoint with a made-up secret.
    let guess = TestClient {
        id: id.to_owned(),
        secret: "guess".into(),
    };
    let response = app.token_post(&guess, &[CC]).await;
    assert_eq!(response.status(), 401);
}

async fn bad_browser_client_registrations_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let base = ["client", "create", "--tenant", "default", "--name", "x"];
    let cases: &[(&[&str], &str)] = &[
        (
            &["--grant", "authorization_code"],
            "needs at least one --redirect-uri",
        ),
        (
            &[
                "--grant",
                "authorization_code",
                "--redirect-uri",
                "https://a.example.com/cb#f",
            ],
            "fragment",
        ),
        (
            &[
                "--grant",
                "authorization_code",
                "--redirect-uri",
                "http://a.example.com/cb",
            ],
            "only loopback",
        ),
        (
            &["--grant", "authorization_code", "--redirect-uri", "/cb"],
            "absolute URI",
        ),
        (
            &[
                "--grant",
                "client_credentials",
                "--redirect-uri",
                "https://a.example.com/cb",
            ],
            "only for clients",
        ),
        (
            &["--grant", "refresh_token"],
            "comes with authorization_code",
        ),
        (
            &["--grant", "client_credentials", "--public"],
            "cannot use client_credentials",
        ),
        (&["--grant", "implicit"], "unsupported grant type"),
    ];
    for (extra, expected) in cases {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        let out = app.cli(&args).await;
        assert!(!out.success, "{args:?} succeeded: {out:?}");
        assert!(
            out.stderr.contains(expected),
            "{args:?}: expected {expected:?} in {out:?}"
        );
    }
    let listed = app.cli(&["client", "list", "--json"]).await.json();
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "only the bootstrap admin exists: {listed}"
    );
}
