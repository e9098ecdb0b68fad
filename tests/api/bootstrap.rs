//! A fresh database bootstraps an admin client that can obtain an admin token at once.

use crate::helpers::{Backend, TestClient, spawn_app, token_of};
use crate::on_both_backends;

const ADMIN_API: &str = "urn:castellan:admin";

on_both_backends!(bootstrap_admin_obtains_an_admin_token);

async fn bootstrap_admin_obtains_an_admin_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = TestClient {
        id: app.admin.0.clone(),
        secret: app.admin.1.clone(),
    };
    let response = app
        .token_basic(&admin, &[("grant_type", "client_credentials")])
        .await;
    let body = token_of(response).await;
    assert_eq!(body["scope"], "castellan:admin");
    let claims = app
        .verify_access_token(body["access_token"].as_str().unwrap(), ADMIN_API)
        .await;
    assert_eq!(claims["aud"], ADMIN_API);
    assert_eq!(claims["scope"], "castellan:admin");
    assert_eq!(claims["client_id"], admin.id.as_str());
    assert_eq!(claims["tenant_id"], "default");

    // Asked for explicitly, by resource and by scope, it is the same grant.
    let response = app
        .token_post(
            &admin,
            &[
                ("grant_type", "client_credentials"),
                ("resource", ADMIN_API),
                ("scope", "castellan:admin"),
            ],
        )
        .await;
    let body = token_of(response).await;
    app.verify_access_token(body["access_token"].as_str().unwrap(), ADMIN_API)
        .await;
}
