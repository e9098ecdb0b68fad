//! `/userinfo` (OIDC Core §5.3): claims by scope, and the bearer tokens it refuses.

use castellan::protocol::TenantSlug;
use serde_json::Value;

use crate::on_both_backends;
use crate::support::{Backend, TestApp};

on_both_backends!(userinfo_answers_by_scope_and_refuses_bad_tokens);

async fn userinfo_answers_by_scope_and_refuses_bad_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    let tokens = app.browser().signed_in_tokens(&rp).await;
    let access = tokens["access_token"].as_str().unwrap();

    let response = app.userinfo(Some(access)).await;
    assert_eq!(response.status(), 200);
    let claims: Value = response.json().await.unwrap();
    let user = app
        .store
        .find_user(&TenantSlug::parse("default").unwrap(), "ada")
        .await
        .unwrap();
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["name"], "Ada Lovelace");
    assert!(
        claims.get("roles").is_none(),
        "no empty roles array: {claims}"
    );
    let posted = app
        .http
        .post(app.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    // RFC 6750 §2.2: the token in a form body (pyoidc sends it so), and one way only (§3.1).
    let in_body = app
        .http
        .post(app.url("/userinfo"))
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(in_body.status(), 200);
    let body_claims: Value = in_body.json().await.unwrap();
    assert_eq!(body_claims["sub"], user.id.as_str());
    let twice = app
        .http
        .post(app.url("/userinfo"))
        .bearer_auth(access)
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 400);
    let challenge = twice.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("error=\"invalid_request\""),
        "{challenge}"
    );

    // A narrower token sees fewer claims.
    let narrow: Value = rp
        .refresh(tokens["refresh_token"].as_str().unwrap(), Some("openid"))
        .await
        .json()
        .await
        .unwrap();
    let claims: Value = app
        .userinfo(narrow["access_token"].as_str())
        .await
        .json()
        .await
        .unwrap();
    assert!(
        claims.get("email").is_none() && claims.get("name").is_none(),
        "{claims}"
    );

    let bare = app.userinfo(None).await;
    assert_eq!(bare.status(), 401);
    assert_eq!(
        bare.headers()["www-authenticate"],
        "Bearer realm=\"castellan\""
    );
    let garbage = app.userinfo(Some("garbage")).await;
    assert_eq!(garbage.status(), 401);
    assert!(
        garbage.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );

    // A service token (no openid scope) is not for userinfo.
    let service: Value = app.admin_token().await.json().await.unwrap();
    let refused = app.userinfo(service["access_token"].as_str()).await;
    assert_eq!(refused.status(), 403);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );

    // Revoked: userinfo says invalid_token, as introspection says inactive.
    assert_eq!(rp.revoke(access).await.status(), 200);
    assert_eq!(app.userinfo(Some(access)).await.status(), 401);
}
