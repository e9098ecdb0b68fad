//! Refresh tokens over HTTP: rotation, narrowing, reuse revoking the sign-in, the retry grace
//! window, and introspection and revocation of a refresh token.

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::oauth::expect_already_used;
use crate::support::{Backend, TestApp, expect_oauth_error, text};

on_both_backends!(
    refresh_tokens_rotate_and_reuse_revokes_the_sign_in,
    a_refresh_retry_within_the_grace_window_is_answered,
    refresh_tokens_introspect_and_revoke,
);

async fn refresh_tokens_rotate_and_reuse_revokes_the_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    let tokens = app.browser().signed_in_tokens(&rp).await;
    let first = text(&tokens, "refresh_token");

    // Rotation: a new refresh token each time; scopes may shrink, never grow.
    let response = rp.refresh(&first, Some("openid email")).await;
    assert_eq!(response.status(), 200);
    let second: Value = response.json().await.unwrap();
    assert_eq!(second["scope"], "email openid");
    let second_token = text(&second, "refresh_token");
    assert_ne!(second_token, first);
    let claims = app
        .verify_access_token(
            second["access_token"].as_str().unwrap(),
            &format!("{}/userinfo", app.issuer),
        )
        .await;
    assert_eq!(claims["scope"], "email openid");
    let wider = rp.refresh(&second_token, Some("openid admin")).await;
    expect_oauth_error(wider, 400, "invalid_scope").await;

    // A refused refresh spends nothing: the same token still rotates.
    let third: Value = rp.refresh(&second_token, None).await.json().await.unwrap();
    let newest = text(&third, "refresh_token");

    // The spent first token, presented again, revokes the whole sign-in: the newest token dies too.
    expect_already_used(rp.refresh(&first, None).await).await;
    expect_oauth_error(rp.refresh(&newest, None).await, 400, "invalid_grant").await;
    expect_oauth_error(rp.refresh("made-up", None).await, 400, "invalid_grant").await;
}

/// With `refresh_reuse_grace`, a client that lost the response to a refresh may retry with the
/// same token and gets the same successor again: a replayer inside the window gains nothing the
/// client does not also hold, and cannot revoke the client's successor (RFC 9700 §4.14.2).
async fn a_refresh_retry_within_the_grace_window_is_answered(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| c.sessions.refresh_reuse_grace = 30)
        .spawn()
        .await;
    let rp = app.setup_sign_in().await;
    let tokens = app.browser().signed_in_tokens(&rp).await;
    let first = text(&tokens, "refresh_token");
    let refreshed = async |token: &str| {
        let response = rp.refresh(token, None).await;
        assert_eq!(response.status(), 200);
        text(&response.json().await.unwrap(), "refresh_token")
    };
    let lost = refreshed(&first).await;
    let retried = refreshed(&first).await;
    assert_eq!(
        lost, retried,
        "the retry is answered with the same successor"
    );
    let next = refreshed(&retried).await;
    // The successor has been used since: presenting its parent is a replay after all, and the
    // whole sign-in is revoked.
    expect_oauth_error(rp.refresh(&first, None).await, 400, "invalid_grant").await;
    expect_oauth_error(rp.refresh(&next, None).await, 400, "invalid_grant").await;
}

async fn refresh_tokens_introspect_and_revoke(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    let tokens = app.browser().signed_in_tokens(&rp).await;
    let token = tokens["refresh_token"].as_str().unwrap();
    let form = [("token", token), ("token_type_hint", "refresh_token")];
    let introspected =
        async || -> Value { rp.post("/introspect", &form).await.json().await.unwrap() };
    let info = introspected().await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["token_type"], "refresh_token");
    assert_eq!(info["client_id"], rp.id.as_str());
    assert_eq!(info["scope"], "email offline_access openid profile");

    // Another client learns nothing about it.
    let other: Value = app
        .introspect(&app.admin, token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(other, json!({ "active": false }));

    assert_eq!(rp.post("/revoke", &form).await.status(), 200);
    assert_eq!(introspected().await, json!({ "active": false }));
    expect_oauth_error(rp.refresh(token, None).await, 400, "invalid_grant").await;
}
