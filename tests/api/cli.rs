//! The real `castellan` binary managing the database of a running server: what it writes, the
//! server honours within seconds; what it refuses, it refuses clearly.

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::cli::{BILLING, INVENTORY};
use crate::support::oauth::refused;
use crate::support::{Backend, CC, TestApp, TestClient, eventually, expect_oauth_error};

on_both_backends!(
    cli_provisions_a_client_the_server_honours,
    cli_lists_and_shows_clients_without_secrets,
    cli_rotate_disable_enable_delete_reach_the_server,
    cli_keys_list_matches_the_jwks,
);

/// `client create ... --json`; returns the parsed output and the credentials.
async fn create_client(app: &TestApp) -> (Value, TestClient) {
    let created = app
        .cli_create_client(
            "acme",
            "svc",
            &[
                "--grant",
                "client_credentials",
                "--api",
                BILLING,
                "--scope",
                "billing:read",
                "--api",
                INVENTORY,
                "--scope",
                "x",
                "--role",
                "admin",
                "--token-ttl",
                "120",
                "--json",
            ],
        )
        .await
        .json();
    let client = TestClient::from_created(&created);
    (created, client)
}

async fn billing_token(app: &TestApp, client: &TestClient) -> reqwest::Response {
    app.token_basic(client, &[CC, ("resource", BILLING)]).await
}

async fn cli_provisions_a_client_the_server_honours(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.provision().await;
    let (created, client) = create_client(&app).await;
    assert!(!client.id.is_empty() && client.secret.len() >= 32);
    assert_eq!(created["tenant"], "acme");
    assert_eq!(created["name"], "svc");
    assert_eq!(created["grant_types"], json!(["client_credentials"]));
    assert_eq!(created["roles"], json!(["admin"]));
    assert_eq!(created["permissions"], json!(["a.b", "c.d"]));
    assert_eq!(created["token_ttl"], 120);
    // Each --scope belongs to the --api before it.
    let mut apis = created["apis"].as_array().unwrap().clone();
    apis.sort_by_key(|a| a["api"].as_str().unwrap().to_owned());
    assert_eq!(
        apis,
        [
            json!({ "api": BILLING, "scopes": ["billing:read"] }),
            json!({ "api": INVENTORY, "scopes": ["x"] }),
        ]
    );

    let response = eventually("the server issues a token to the new client", async || {
        let response = billing_token(&app, &client).await;
        (response.status() == 200).then_some(response)
    })
    .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 120);
    assert_eq!(body["scope"], "billing:read");
    let claims = app
        .verify_access_token(body["access_token"].as_str().unwrap(), BILLING)
        .await;
    assert_eq!(claims["tenant_id"], "acme");
    assert_eq!(claims["roles"], json!(["admin"]));
    assert_eq!(claims["permissions"], json!(["a.b", "c.d"]));
    assert_eq!(claims["scope"], "billing:read");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );

    let response = app
        .token_basic(&client, &[CC, ("resource", INVENTORY)])
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "x", "{body}");
    app.verify_access_token(body["access_token"].as_str().unwrap(), INVENTORY)
        .await;
    // billing:write exists but was not granted; y exists on inventory but was not granted.
    for (resource, scope) in [
        (BILLING, "billing:write"),
        (INVENTORY, "y"),
        (INVENTORY, "billing:read"),
    ] {
        let response = app
            .token_basic(&client, &[CC, ("resource", resource), ("scope", scope)])
            .await;
        expect_oauth_error(response, 400, "invalid_scope").await;
    }
}

async fn cli_lists_and_shows_clients_without_secrets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.provision().await;
    let (_, client) = create_client(&app).await;

    let list = app.cli(&["client", "list"]).await;
    let line = list
        .ok()
        .lines()
        .find(|l| l.contains(&client.id))
        .unwrap_or_else(|| panic!("{} not listed: {list:?}", client.id));
    assert!(
        line.contains("acme") && line.contains("svc") && line.contains("enabled"),
        "{line}"
    );
    assert!(
        list.ok().contains(&app.admin.id),
        "the bootstrap admin is listed too"
    );

    let listed = app
        .cli(&["client", "list", "--tenant", "acme", "--json"])
        .await
        .json();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["client_id"], client.id.as_str());

    let show = app.cli(&["client", "show", &client.id]).await;
    assert!(show.ok().contains(&client.id));
    assert!(
        show.ok().contains(BILLING) && show.ok().contains("120"),
        "{show:?}"
    );
    let shown = app
        .cli(&["client", "show", &client.id, "--json"])
        .await
        .json();
    assert_eq!(shown["client_id"], client.id.as_str());
    assert_eq!(shown["tenant"], "acme");
    assert_eq!(shown["roles"], json!(["admin"]));

    let all = [
        app.cli(&["client", "list"]).await.stdout,
        app.cli(&["client", "list", "--json"]).await.stdout,
        show.stdout.clone(),
        shown.to_string(),
    ];
    for output in all {
        assert!(!output.contains(&client.secret), "secret printed: {output}");
        assert!(
            !output.contains(&app.admin.secret),
            "admin secret printed: {output}"
        );
        // No secret field (the auth method's name, client_secret_basic, is no secret).
        assert!(!output.contains("\"client_secret\""), "{output}");
        assert!(!output.contains("client_secret:"), "{output}");
        assert!(!output.contains("secret_hash"), "{output}");
    }
}

async fn cli_rotate_disable_enable_delete_reach_the_server(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.provision().await;
    let (_, old) = create_client(&app).await;
    // The server has the client cached before any change.
    eventually("the new client gets a token", async || {
        (billing_token(&app, &old).await.status() == 200).then_some(())
    })
    .await;

    let rotated = app
        .cli(&["client", "rotate-secret", &old.id, "--json"])
        .await
        .json();
    assert_eq!(rotated["client_id"], old.id.as_str());
    let new = TestClient {
        id: old.id.clone(),
        secret: rotated["client_secret"].as_str().unwrap().to_owned(),
    };
    assert_ne!(new.secret, old.secret);
    let answer = eventually("the old secret is refused", async || {
        let r = billing_token(&app, &old).await;
        refused(r)
    })
    .await;
    expect_oauth_error(answer, 401, "invalid_client").await;
    eventually("the new secret works", async || {
        (billing_token(&app, &new).await.status() == 200).then_some(())
    })
    .await;

    let disabled = app.cli(&["client", "disable", &new.id]).await;
    assert!(disabled.ok().contains(&new.id));
    let answer = eventually("the disabled client is refused", async || {
        let r = billing_token(&app, &new).await;
        refused(r)
    })
    .await;
    expect_oauth_error(answer, 401, "invalid_client").await;
    let shown = app.cli(&["client", "show", &new.id, "--json"]).await.json();
    assert!(shown["disabled_at"].is_i64(), "{shown}");

    app.cli(&["client", "enable", &new.id]).await.ok();
    eventually("the re-enabled client gets tokens", async || {
        (billing_token(&app, &new).await.status() == 200).then_some(())
    })
    .await;

    app.cli(&["client", "delete", &new.id]).await.ok();
    let answer = eventually("the deleted client is refused", async || {
        let r = billing_token(&app, &new).await;
        refused(r)
    })
    .await;
    expect_oauth_error(answer, 401, "invalid_client").await;
    let gone = app.cli(&["client", "show", &new.id]).await;
    assert!(!gone.success);
    assert!(gone.stderr.contains(&new.id), "{gone:?}");
}

async fn cli_keys_list_matches_the_jwks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let keys = app.cli(&["keys", "list", "--json"]).await.json();
    let keys = keys.as_array().unwrap();
    let active: Vec<&Value> = keys.iter().filter(|k| k["state"] == "active").collect();
    assert_eq!(active.len(), 1, "{keys:?}");
    let kid = active[0]["kid"].as_str().unwrap();
    let published = app.jwks_kids().await;
    assert!(
        published.iter().any(|k| k == kid),
        "{kid} not in {published:?}"
    );
    assert!(active[0].get("private_key").is_none());
    assert!(active[0].get("sealed_private_key").is_none());

    let text = app.cli(&["keys", "list"]).await;
    let line = text.ok().lines().find(|l| l.contains(kid)).unwrap();
    assert!(line.contains("active"), "{line}");
}
