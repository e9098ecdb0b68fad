//! `/introspect` (RFC 7662) and `/revoke` (RFC 7009) for the access tokens Castellan issues.

use castellan::clock::Clock;
use serde_json::Value;

use crate::on_both_backends;
use crate::support::{Backend, TestApp, TestClient, expect_oauth_error};

const ORDERS: &str = "https://orders.example.com";
const BILLING: &str = "https://billing.example.com";

on_both_backends!(
    introspection_shows_live_tokens_to_the_right_clients_only,
    revoked_tokens_introspect_as_inactive,
    expired_tokens_introspect_as_inactive,
    bad_introspection_and_revocation_requests_are_refused,
);

async fn introspect(app: &TestApp, caller: &TestClient, token: &str) -> Value {
    let response = app.introspect(caller, token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn revoke(app: &TestApp, caller: &TestClient, token: &str) -> reqwest::Response {
    let form = [("token", token), ("token_type_hint", "access_token")];
    app.post_as(caller, "/revoke", &form).await
}

/// Three clients: `service` calls orders, `orders_rs` is the orders resource server (registered
/// as such: being granted the API would not do), `other` calls billing.
async fn three_clients(app: &TestApp) -> (TestClient, TestClient, TestClient) {
    app.create_api(ORDERS, &["orders:read"]).await;
    app.create_api(BILLING, &["billing:read"]).await;
    app.create_role("default", "reader", &["orders.read"]).await;
    let service = app
        .create_client("default", &[(ORDERS, &["orders:read"])], &["reader"], None)
        .await;
    let orders_rs = app
        .cli_client("default", "orders-rs", &["--resource-server-for", ORDERS])
        .await;
    let other = app
        .create_client("default", &[(BILLING, &["billing:read"])], &[], None)
        .await;
    (service, orders_rs, other)
}

async fn introspection_shows_live_tokens_to_the_right_clients_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (service, orders_rs, other) = three_clients(&app).await;
    let token = app.access_token(&service).await;
    let claims = app.verify_access_token(&token, ORDERS).await;

    for caller in [&service, &orders_rs] {
        let info = introspect(&app, caller, &token).await;
        assert_eq!(info["active"], true, "{info}");
        assert_eq!(info["token_type"], "Bearer");
        for name in [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "nbf",
            "jti",
            "client_id",
            "scope",
            "roles",
            "tenant_id",
            "permissions",
        ] {
            assert_eq!(info[name], claims[name], "{name}");
        }
    }
    // Neither a client of another API nor one that merely may call orders is its resource server.
    let caller = app
        .create_client("default", &[(ORDERS, &[])], &[], None)
        .await;
    for outsider in [&other, &caller] {
        assert_eq!(
            introspect(&app, outsider, &token).await,
            serde_json::json!({ "active": false })
        );
    }

    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    for bogus in ["abc", "a.b.c", tampered.as_str(), &"x".repeat(8000)] {
        assert_eq!(
            introspect(&app, &service, bogus).await,
            serde_json::json!({ "active": false }),
            "{bogus:.40}"
        );
    }
    // Longer than any parameter may be: refused outright.
    let absurd = app.introspect(&service, &"x".repeat(20_000)).await;
    expect_oauth_error(absurd, 400, "invalid_request").await;
}

async fn revoked_tokens_introspect_as_inactive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (service, orders_rs, other) = three_clients(&app).await;
    let token = app.access_token(&service).await;
    let kept = app.access_token(&service).await;

    let refused = revoke(&app, &other, &token).await;
    expect_oauth_error(refused, 400, "invalid_request").await;
    assert_eq!(
        introspect(&app, &orders_rs, &token).await["active"],
        true,
        "a refused revocation changes nothing"
    );

    for _ in 0..2 {
        let response = revoke(&app, &service, &token).await;
        assert_eq!(response.status(), 200, "revoking twice is fine");
    }
    assert_eq!(introspect(&app, &service, &token).await["active"], false);
    assert_eq!(introspect(&app, &orders_rs, &token).await["active"], false);
    assert_eq!(
        introspect(&app, &orders_rs, &kept).await["active"],
        true,
        "only that token"
    );
    assert_eq!(
        revoke(&app, &service, "not-a-token").await.status(),
        200,
        "RFC 7009 §2.2"
    );
}

async fn expired_tokens_introspect_as_inactive(backend: Backend) {
    let clock = Clock::fixed(Clock::System.now());
    let app = TestApp::builder(backend).clock(clock.clone()).spawn().await;
    let (service, orders_rs, _) = three_clients(&app).await;
    let token = app.access_token(&service).await;
    clock.advance(299);
    assert_eq!(introspect(&app, &orders_rs, &token).await["active"], true);
    clock.advance(1);
    assert_eq!(
        introspect(&app, &orders_rs, &token).await["active"],
        false,
        "exp is exclusive"
    );
}

async fn bad_introspection_and_revocation_requests_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (service, _, _) = three_clients(&app).await;
    let token = app.access_token(&service).await;
    for path in ["/introspect", "/revoke"] {
        let anonymous = app
            .http
            .post(app.url(path))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        expect_oauth_error(anonymous, 401, "invalid_client").await;
        let wrong = TestClient {
            secret: "wrong".into(),
            ..service.clone()
        };
        let wrong = app
            .post_as(&wrong, path, &[("token", token.as_str())])
            .await;
        expect_oauth_error(wrong, 401, "invalid_client").await;
        let missing = app
            .post_as(&service, path, &[("token_type_hint", "access_token")])
            .await;
        expect_oauth_error(missing, 400, "invalid_request").await;
        let get = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(get.status(), 405);
    }
    let discovery = app.openid_configuration().await;
    assert_eq!(
        discovery["introspection_endpoint"],
        format!("{}/introspect", app.issuer)
    );
    assert_eq!(
        discovery["revocation_endpoint"],
        format!("{}/revoke", app.issuer)
    );
}
