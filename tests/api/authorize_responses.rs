//! How the authorization response travels (`response_mode`) and the `redirect_uri` rules of
//! RFC 6749 §4.1.3 and OIDC Core §3.1.2.1.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::on_both_backends;
use crate::support::{
    Backend, CHALLENGE, REDIRECT, Rp, TestApp, VERIFIER, expect_oauth_error, hidden, param,
    redirect_params, token_of,
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
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    let browser = app.browser();
    browser.sign_in(&rp).await;

    let page = browser
        .get(&rp.authorize_url("&response_mode=form_post"))
        .await;
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
    token_of(rp.exchange(code).await).await;

    // Errors after the client is verified travel the same way.
    let fresh = app.browser();
    let form_post = async |extra: &str| {
        let url = rp.authorize_url(&format!("&response_mode=form_post{extra}"));
        fresh.get(&url).await
    };
    let page = form_post("&prompt=none").await;
    assert_eq!(page.status(), 200);
    let sent = fields(&page.text().await.unwrap());
    assert_eq!(param(&sent, "error"), Some("login_required"));
    assert_eq!(param(&sent, "state"), Some("st-1"));
    let sent = fields(&form_post("&max_age=soon").await.text().await.unwrap());
    assert_eq!(
        param(&sent, "error"),
        Some("invalid_request"),
        "a malformed max_age"
    );

    let metadata = app.openid_configuration().await;
    assert_eq!(
        metadata["response_modes_supported"],
        serde_json::json!(["query", "form_post"])
    );
    // What is refused is said, not left to defaults (`request_uri_parameter_supported`
    // defaults to true in OIDC Discovery §3).
    for flag in [
        "request_parameter_supported",
        "request_uri_parameter_supported",
        "claims_parameter_supported",
    ] {
        assert_eq!(metadata[flag], serde_json::json!(false), "{flag}");
    }
    // Public clients may revoke their own tokens (RFC 7009 §2.1), and discovery says so.
    assert!(
        metadata["revocation_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("none"))
    );
}

async fn unknown_response_modes_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    let browser = app.browser();
    for mode in ["fragment", "jwt", "query.jwt", "FORM_POST"] {
        let url = rp.authorize_url(&format!("&response_mode={mode}"));
        let params = redirect_params(&browser.get(&url).await);
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
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    // The client has one registered URI, but an OpenID request must still name it.
    let response = app
        .browser()
        .get(&without_redirect(&app, &rp, "openid"))
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("redirect_uri is missing"), "{html}");
}

async fn the_token_request_repeats_redirect_uri_exactly_when_the_authorization_request_did(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    let browser = app.browser();
    let exchange_without = async |code: &str| {
        rp.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", VERIFIER),
        ])
        .await
    };

    // Named in the authorization request: required at the token endpoint.
    let code = browser.sign_in(&rp).await;
    expect_oauth_error(exchange_without(&code).await, 400, "invalid_grant").await;

    // Not named (a plain OAuth request, one registered URI): may be left out, and if sent must
    // equal the registered one.
    let url = without_redirect(&app, &rp, "profile");
    let params = redirect_params(&browser.get(&url).await);
    let code = param(&params, "code").expect("a code").to_owned();
    token_of(exchange_without(&code).await).await;
    let params = redirect_params(&browser.get(&url).await);
    let code = param(&params, "code").unwrap().to_owned();
    let other = "https://app.example.com/other";
    let refused = rp.exchange_with(&code, other, VERIFIER).await;
    expect_oauth_error(refused, 400, "invalid_grant").await;
}
