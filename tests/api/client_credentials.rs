//! The client credentials grant, end to end, validated as a resource server would.

use crate::on_both_backends;
use crate::support::{Backend, TestApp};

const ORDERS: &str = "https://orders.example.com";

on_both_backends!(issues_a_token_a_resource_server_accepts);

async fn issues_a_token_a_resource_server_accepts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_api(ORDERS, &["orders:read", "orders:write"])
        .await;
    app.create_role("default", "reader", &["orders.read", "orders.list"])
        .await;
    let client = app
        .create_client("default", &[(ORDERS, &["orders:read"])], &["reader"], None)
        .await;

    let response = app.client_credentials(&client).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "orders:read");

    let claims = app
        .verify_access_token(body["access_token"].as_str().unwrap(), ORDERS)
        .await;
    assert_eq!(claims["iss"], app.issuer.as_str());
    assert_eq!(claims["sub"], client.id.as_str());
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["aud"], ORDERS);
    assert_eq!(claims["scope"], "orders:read");
    assert_eq!(claims["roles"], serde_json::json!(["reader"]));
    assert_eq!(
        claims["permissions"],
        serde_json::json!(["orders.list", "orders.read"])
    );
    assert_eq!(claims["tenant_id"], "default");
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["nbf"].as_i64().unwrap(), iat);
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 300);
    assert!((iat - app.clock.now()).abs() <= 2);
    assert_eq!(claims["jti"].as_str().unwrap().len(), 36);
}
