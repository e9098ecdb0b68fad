//! The audit trail as the running server writes it, and as its admin API serves it.

use serde_json::Value;

use crate::on_both_backends;
use crate::support::{Backend, PASSWORD, TestApp, text, token_of};

on_both_backends!(the_server_writes_an_audit_row_for_each_event);

async fn the_server_writes_an_audit_row_for_each_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    for _ in 0..3 {
        let token = app.admin_token().await;
        assert_eq!(token.status(), 200);
    }
    let code = app.browser().sign_in(&rp).await;
    let tokens = token_of(rp.exchange(&code).await).await;
    let first = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(rp.refresh(first, None).await.status(), 200);
    assert_eq!(rp.refresh(first, None).await.status(), 400);
    let revoked = rp.revoke(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(revoked.status(), 200);
    app.cli(&[
        "client",
        "create",
        "--tenant",
        "default",
        "--name",
        "Audited",
        "--grant",
        "client_credentials",
        "--json",
    ])
    .await
    .json();
    let made = app
        .cli_create_user("default", "grace", &[], b"another long passphrase")
        .await;
    assert!(made.success, "{made:?}");
    assert!(app.cli(&["keys", "rotate"]).await.success);

    let rows = app
        .audit_rows(&[
            "signin.success",
            "consent.granted",
            "token.issued",
            "refresh.reuse_detected",
            "token.revoked",
            "client.created",
            "user.created",
            "key.rotated",
        ])
        .await;
    let find = |event: &str, detail: &str| {
        rows.iter()
            .find(|r| r["event"] == event && r["detail"].as_str().unwrap_or("").contains(detail))
            .unwrap_or_else(|| panic!("no {event} {detail:?} in {rows:#?}"))
            .clone()
    };
    let service = find("token.issued", "client_credentials");
    assert_eq!(service["client_id"], app.admin.id.as_str());
    assert_eq!(service["count"], 3, "service tokens are counted in batches");
    let user = find("token.issued", "authorization_code");
    assert_eq!(user["client_id"], rp.id.as_str());
    assert_eq!(user["ip"], "127.0.0.1");
    assert_eq!(user["tenant"], "default");
    let signin = find("signin.success", "");
    assert_eq!(signin["actor"], user["actor"], "the user is the actor");
    assert_eq!(find("refresh.reuse_detected", "")["outcome"], "denied");
    assert_eq!(find("client.created", "Audited")["actor"], "cli");
    assert_eq!(find("user.created", "grace")["tenant"], "default");
    assert_eq!(find("key.rotated", "successor published")["actor"], "cli");
    let text = serde_json::to_string(&rows).unwrap();
    for secret in [
        PASSWORD,
        "another long passphrase",
        &rp.secret,
        &app.admin.secret,
        first,
        &code,
    ] {
        assert!(!text.contains(secret), "a secret in the audit trail");
    }
}

#[tokio::test]
async fn the_admin_api_serves_the_audit_trail_to_admin_tokens_only() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let admin = text(
        &app.admin_token().await.json().await.unwrap(),
        "access_token",
    );
    let get = |query: &'static str, token: Option<String>| {
        let mut request = app.http.get(app.url(&format!("/admin/audit{query}")));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    // The admin token's issuance is in the trail once the server has stored what it recorded.
    app.audit.flush().await.unwrap();
    let response = get("?tenant=default&limit=10", Some(admin.clone()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let rows: Vec<Value> = response.json().await.unwrap();
    assert!(
        rows.iter().any(|r| r["event"] == "token.issued"),
        "{rows:?}"
    );
    assert!(rows.iter().all(|r| r["tenant"] == "default"));

    let none = get("", None).await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"castellan\""
    );
    let rp = app.setup_sign_in().await;
    let user = app.browser().signed_in_tokens(&rp).await;
    let other = get("", Some(text(&user, "access_token"))).await.unwrap();
    assert_eq!(other.status(), 401, "a token for another audience");
    let bad = get("?limit=0", Some(admin.clone())).await.unwrap();
    assert_eq!(bad.status(), 400);
}
