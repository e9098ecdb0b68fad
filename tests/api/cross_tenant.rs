//! Nothing of one tenant reaches a client of another: introspection, revocation, userinfo and
//! sign-in sessions, with an API shared by every tenant in between.

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{
    Backend, PASSWORD, Rp, TestApp, TestClient, eventually, expect_oauth_error, param,
    redirect_params, text, token_of,
};

const ORDERS: &str = "https://orders.example.com";

on_both_backends!(
    introspection_answers_the_issuing_client_and_its_tenants_resource_server_only,
    revocation_from_another_tenant_does_nothing_and_says_nothing,
    a_session_never_signs_in_through_a_client_of_another_tenant,
    userinfo_and_refresh_tokens_stay_with_their_tenant,
);

/// Who takes part, around the shared Orders API.
struct Parties {
    /// Default tenant: the client the token is issued to.
    service: TestClient,
    /// Default tenant: may call Orders too, but is not its resource server.
    caller: TestClient,
    /// Default tenant: Orders' registered resource server.
    rs: TestClient,
    acme_service: TestClient,
    acme_rs: TestClient,
}

async fn parties(app: &TestApp) -> Parties {
    app.cli_tenants(&["acme"]).await;
    app.cli_create_api(ORDERS, &["--scope", "orders:read"])
        .await
        .ok();
    let rs_args = ["--resource-server-for", ORDERS];
    Parties {
        service: app.cli_service("default", ORDERS, "orders:read").await,
        caller: app.cli_service("default", ORDERS, "orders:read").await,
        rs: app.cli_client("default", "orders-rs", &rs_args).await,
        acme_service: app.cli_service("acme", ORDERS, "orders:read").await,
        acme_rs: app.cli_client("acme", "orders-rs", &rs_args).await,
    }
}

async fn call(app: &TestApp, path: &str, caller: &TestClient, token: &str) -> (u16, Value) {
    let response = app.post_as(caller, path, &[("token", token)]).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn active(app: &TestApp, caller: &TestClient, token: &str) -> bool {
    let (status, body) = call(app, "/introspect", caller, token).await;
    assert_eq!(status, 200, "{body}");
    if body["active"] == false {
        assert_eq!(
            body,
            json!({ "active": false }),
            "an inactive answer says nothing else"
        );
    }
    body["active"] == true
}

/// Orders as the API list with these arguments shows it.
async fn listed_orders(app: &TestApp, args: &[&str]) -> Value {
    let apis = app.cli(args).await.json();
    apis.as_array()
        .unwrap()
        .iter()
        .find(|a| a["identifier"] == ORDERS)
        .unwrap()
        .clone()
}

async fn introspection_answers_the_issuing_client_and_its_tenants_resource_server_only(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let p = parties(&app).await;
    let token = app.access_token(&p.service).await;
    let claims = app.verify_access_token(&token, ORDERS).await;
    assert_eq!(claims["tenant_id"], "default", "tenant_id is the slug");

    let (_, own) = call(&app, "/introspect", &p.service, &token).await;
    assert_eq!(
        (own["active"].clone(), own["client_id"].clone()),
        (json!(true), claims["client_id"].clone())
    );
    let (_, seen) = call(&app, "/introspect", &p.rs, &token).await;
    for name in ["sub", "aud", "scope", "tenant_id", "jti", "exp"] {
        assert_eq!(seen[name], claims[name], "{name}");
    }
    assert!(
        !active(&app, &p.caller, &token).await,
        "calling the API is not serving it"
    );
    assert!(
        !active(&app, &p.acme_rs, &token).await,
        "acme's resource server"
    );
    assert!(
        !active(&app, &p.acme_service, &token).await,
        "acme's caller"
    );

    let acme_token = app.access_token(&p.acme_service).await;
    assert!(active(&app, &p.acme_rs, &acme_token).await);
    assert!(active(&app, &p.acme_service, &acme_token).await);
    assert!(
        !active(&app, &p.rs, &acme_token).await,
        "default's resource server"
    );

    // A resource server is no caller: it has no grant.
    let response = app.client_credentials(&p.rs).await;
    expect_oauth_error(response, 400, "unauthorized_client").await;

    // The listing shows each resource server with its tenant; a tenant's view shows its own.
    let orders = listed_orders(&app, &["api", "list", "--json"]).await;
    assert_eq!(orders["all_tenants"], true);
    assert_eq!(
        orders["resource_servers"],
        json!([{ "client_id": p.acme_rs.id, "tenant": "acme" }, { "client_id": p.rs.id, "tenant": "default" }])
    );
    let acme = ["api", "list", "--tenant", "acme", "--json"];
    let orders = listed_orders(&app, &acme).await;
    assert_eq!(
        orders["resource_servers"],
        json!([{ "client_id": p.acme_rs.id, "tenant": "acme" }])
    );

    // `client update` makes an existing client the resource server, and takes it back.
    let shown = app
        .cli(&[
            "client",
            "update",
            &p.caller.id,
            "--resource-server-for",
            ORDERS,
            "--json",
        ])
        .await
        .json();
    assert_eq!(shown["resource_server_for"], json!([ORDERS]));
    eventually("the caller now sees the token", async || {
        active(&app, &p.caller, &token).await.then_some(())
    })
    .await;
    app.cli(&[
        "client",
        "update",
        &p.caller.id,
        "--not-resource-server-for",
        ORDERS,
    ])
    .await
    .ok();
    eventually("the caller no longer sees it", async || {
        (!active(&app, &p.caller, &token).await).then_some(())
    })
    .await;
}

async fn revocation_from_another_tenant_does_nothing_and_says_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let p = parties(&app).await;
    let token = app.access_token(&p.service).await;

    // RFC 7009 §2.1: refused, with the same answer whoever the token belongs to.
    let from_acme = call(&app, "/revoke", &p.acme_service, &token).await;
    assert_eq!(from_acme.0, 400);
    assert_eq!(from_acme.1["error"], "invalid_request");
    assert_eq!(call(&app, "/revoke", &p.caller, &token).await, from_acme);
    assert_eq!(call(&app, "/revoke", &p.acme_rs, &token).await, from_acme);
    assert!(active(&app, &p.rs, &token).await, "nothing was revoked");

    // A token its client revoked gets the very same answer: acme learns nothing of its state.
    let spent = app.access_token(&p.service).await;
    assert_eq!(call(&app, "/revoke", &p.service, &spent).await.0, 200);
    assert!(!active(&app, &p.rs, &spent).await);
    assert_eq!(
        call(&app, "/revoke", &p.acme_service, &spent).await,
        from_acme
    );

    // Even the resource server may not revoke: revocation stays with the issuing client.
    assert_eq!(call(&app, "/revoke", &p.rs, &token).await, from_acme);
    assert!(active(&app, &p.rs, &token).await);
    assert!(active(&app, &p.service, &token).await);
}

/// `ada` in the default tenant with its web client, and another `ada` in acme with its own.
async fn two_tenants_with_ada(app: &TestApp) -> (Rp, Rp) {
    let default_rp = app.setup_sign_in().await;
    app.cli_tenants(&["acme"]).await;
    let email = ["--email", "ada@acme.example"];
    app.cli_create_user("acme", "ada", &email, PASSWORD.as_bytes())
        .await
        .ok();
    let acme = app.cli_web_client("acme", "Ledger Web", &[]).await;
    (default_rp, app.rp(acme))
}

async fn a_session_never_signs_in_through_a_client_of_another_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (default_rp, acme_rp) = two_tenants_with_ada(&app).await;
    let browser = app.browser();
    browser.sign_in(&default_rp).await;
    let straight = browser.get(&default_rp.authorize_url("")).await;
    assert!(
        param(&redirect_params(&straight), "code").is_some(),
        "signed in"
    );

    // The same cookie at acme's client: the login page, never a code.
    let page = browser.get(&acme_rp.authorize_url("")).await;
    assert_eq!(page.status(), 200);
    assert!(page.headers().get("location").is_none());
    assert!(page.text().await.unwrap().contains("name=\"password\""));
    let silent = browser.get(&acme_rp.authorize_url("&prompt=none")).await;
    let params = redirect_params(&silent);
    assert_eq!(param(&params, "error"), Some("login_required"));
    assert_eq!(param(&params, "code"), None);

    // Signing in at acme makes an acme session, which in turn does not serve the default client.
    let tokens = browser.signed_in_tokens(&acme_rp).await;
    let issuer_userinfo = format!("{}/userinfo", app.issuer);
    let claims = app
        .verify_access_token(tokens["access_token"].as_str().unwrap(), &issuer_userinfo)
        .await;
    assert_eq!(claims["tenant_id"], "acme");
    let back = browser.get(&default_rp.authorize_url("")).await;
    assert_eq!(back.status(), 200);
    assert!(back.text().await.unwrap().contains("name=\"password\""));
}

async fn userinfo(app: &TestApp, token: &str) -> Value {
    let response = app.userinfo(Some(token)).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn userinfo_and_refresh_tokens_stay_with_their_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (default_rp, acme_rp) = two_tenants_with_ada(&app).await;
    let ours = app.browser().signed_in_tokens(&default_rp).await;
    let theirs = app.browser().signed_in_tokens(&acme_rp).await;

    // Two people named ada: each token speaks for its own, in its own tenant.
    let mine = userinfo(&app, &text(&ours, "access_token")).await;
    let acme = userinfo(&app, &text(&theirs, "access_token")).await;
    assert_eq!(
        (&mine["tenant_id"], &mine["email"]),
        (&json!("default"), &json!("ada@example.com"))
    );
    assert_eq!(
        (&acme["tenant_id"], &acme["email"]),
        (&json!("acme"), &json!("ada@acme.example"))
    );
    assert_ne!(mine["sub"], acme["sub"]);

    // The default client neither sees nor revokes acme's tokens, access or refresh.
    let default_client = default_rp.client();
    for kind in ["access_token", "refresh_token"] {
        assert!(
            !active(&app, &default_client, &text(&theirs, kind)).await,
            "{kind}"
        );
    }
    let refresh = text(&theirs, "refresh_token");
    assert_eq!(
        call(&app, "/revoke", &default_client, &refresh).await.0,
        200,
        "RFC 7009 §2.2"
    );
    assert!(
        active(&app, &acme_rp.client(), &refresh).await,
        "still live for its own client"
    );
    token_of(acme_rp.refresh(&refresh, None).await).await;
}
