//! How the authorization response travels (`response_mode`) and the `redirect_uri` rules of
//! RFC 6749 §4.1.3 and OIDC Core §3.1.2.1.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::helpers::{Backend, TestApp, expect_oauth_error, spawn_app, token_of};
use crate::on_both_backends;
use crate::signin::{
    CHALLENGE, REDIRECT, Rp, VERIFIER, authorize_url, browser, hidden, param, redirect_params,
    setup, sign_in,
};

on_both_backends!(
    form_post_answers_with_a_self_submitting_form_under_a_narrow_policy,
    unknown_response_modes_are_refused,
    openid_requests_must_name_their_redirect_uri,
    the_token_request_repeats_redirect_uri_exactly_when_the_authorization_request_did,
);

/// The hidden fields of a form-post page, in order.
fn fields(html: &str) -> Vec<(String, String)> {
    html.match_indices("<input type=\"hidden\" name=\"")
        .map(|(at, marker)| {
            let rest = &html[at + marker.len()..];
            let name = &rest[..rest.find('"').unwrap()];
            (name.to_owned(), hidden(&html[at..], name))
        })
        .collect()
}

async fn form_post_answers_with_a_self_submitting_form_under_a_narrow_policy(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;
    let browser = browser();
    sign_in(&app, &rp, &browser).await;

    let page = browser
        .get(authorize_url(&app, &rp, "&response_mode=form_post"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("<form method=\"post\" action=\"{REDIRECT}\">")),
        "{html}"
    );
    let sent = fields(&html);
    let names: Vec<&str> = sent.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["code", "state", "iss"]);
    assert_eq!(param(&sent, "state"), Some("st-1"));
    assert_eq!(param(&sent, "iss"), Some(app.issuer.as_str()));
    assert!(
        html.contains("<noscript><button"),
        "a button without JavaScript"
    );

    // The policy allows exactly the page's one script, and forms only to the client's origin.
    let script = html
        .split("<script>")
        .nth(1)
        .and_then(|s| s.split("</script>").next())
        .unwrap();
    let hash = STANDARD.encode(digest(&SHA256, script.as_bytes()));
    assert!(
        policy.contains(&format!("script-src 'sha256-{hash}';")),
        "{policy}"
    );
    assert!(
        policy.contains("form-action https://app.example.com;"),
        "{policy}"
    );
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");

    // The code it carries works like a query one.
    let code = param(&sent, "code").unwrap();
    let tokens = crate::signin::exchange(&app, &rp, code, REDIRECT, VERIFIER).await;
    token_of(tokens).await;

    // Errors after the client is verified travel the same way.
    let fresh = crate::signin::browser();
    let page = fresh
        .get(authorize_url(
            &app,
            &rp,
            "&response_mode=form_post&prompt=none",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let sent = fields(&page.text().await.unwrap());
    assert_eq!(param(&sent, "error"), Some("login_required"));
    assert_eq!(param(&sent, "state"), Some("st-1"));
    let page = fresh
        .get(authorize_url(
            &app,
            &rp,
            "&response_mode=form_post&max_age=soon",
        ))
        .send()
        .await
        .unwrap();
    let sent = fields(&page.text().await.unwrap());
    assert_eq!(
        param(&sent, "error"),
        Some("invalid_request"),
        "a malformed max_age"
    );

    let metadata: serde_json::Value = app
        .discovery("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["response_modes_supported"],
        serde_json::json!(["query", "form_post"])
    );
    // Public clients may revoke their own tokens (RFC 7009 §2.1), and discovery says so.
    assert!(
        metadata["revocation_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("none"))
    );
}

async fn unknown_response_modes_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;
    let browser = browser();
    for mode in ["fragment", "jwt", "query.jwt", "FORM_POST"] {
        let response = browser
            .get(authorize_url(&app, &rp, &format!("&response_mode={mode}")))
            .send()
            .await
            .unwrap();
        let params = redirect_params(&response);
        assert_eq!(param(&params, "error"), Some("invalid_request"), "{mode}");
        assert_eq!(param(&params, "state"), Some("st-1"));
        assert_eq!(param(&params, "code"), None);
    }
}

fn without_redirect(app: &TestApp, rp: &Rp, scope: &str) -> String {
    format!(
        "{}/authorize?response_type=code&client_id={}&scope={scope}&state=s\
         &code_challenge={CHALLENGE}&code_challenge_method=S256",
        app.base, rp.id
    )
}

async fn openid_requests_must_name_their_redirect_uri(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;
    // The client has one registered URI, but an OpenID request must still name it.
    let response = browser()
        .get(without_redirect(&app, &rp, "openid"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("redirect_uri is missing"), "{html}");
}

async fn the_token_request_repeats_redirect_uri_exactly_when_the_authorization_request_did(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;
    let browser = browser();
    let exchange_without = async |code: &str| {
        app.http
            .post(app.url("/token"))
            .basic_auth(&rp.id, Some(&rp.secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await
            .unwrap()
    };

    // Named in the authorization request: required at the token endpoint.
    let code = sign_in(&app, &rp, &browser).await;
    expect_oauth_error(exchange_without(&code).await, 400, "invalid_grant").await;

    // Not named (a plain OAuth request, one registered URI): may be left out, and if sent must
    // equal the registered one.
    let url = without_redirect(&app, &rp, "profile");
    let answer = |url: String| {
        let browser = &browser;
        async move { redirect_params(&browser.get(url).send().await.unwrap()) }
    };
    let params = answer(url.clone()).await;
    let code = param(&params, "code").expect("a code").to_owned();
    token_of(exchange_without(&code).await).await;
    let params = answer(url).await;
    let code = param(&params, "code").unwrap().to_owned();
    let other = "https://app.example.com/other";
    expect_oauth_error(
        crate::signin::exchange(&app, &rp, &code, other, VERIFIER).await,
        400,
        "invalid_grant",
    )
    .await;
}
