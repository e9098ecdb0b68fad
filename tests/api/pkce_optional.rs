//! `--pkce optional` for a confidential client: a sign-in without PKCE works (the nonce guards
//! the ID token), a code issued with a challenge still needs its verifier, a verifier never
//! stands in for a challenge that was not made, and public clients can never opt out.

use serde_json::Value;

use crate::on_both_backends;
use crate::support::browser::{param, redirect_params};
use crate::support::oauth::claims_unverified;
use crate::support::{
    Backend, Browser, CHALLENGE, PASSWORD, Rp, TestApp, VERIFIER, expect_oauth_error, text,
};

on_both_backends!(
    a_confidential_client_with_optional_pkce_signs_in_without_it_and_cannot_be_downgraded,
    pkce_stays_required_by_default_and_for_public_clients,
);

/// `rp`'s authorization request with its PKCE parameters taken out.
fn without_pkce(rp: &Rp) -> String {
    rp.authorize_url("").replace(
        &format!("&code_challenge={CHALLENGE}&code_challenge_method=S256"),
        "",
    )
}

async fn exchange_without_verifier(rp: &Rp, code: &str) -> reqwest::Response {
    rp.token(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", crate::support::REDIRECT),
    ])
    .await
}

async fn a_confidential_client_with_optional_pkce_signs_in_without_it_and_cannot_be_downgraded(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    app.cli_create_user(
        "default",
        "ada",
        &["--email", "ada@example.com"],
        PASSWORD.as_bytes(),
    )
    .await
    .ok();
    let client = app
        .cli_web_client("default", "Ledger Web", &["--pkce", "optional"])
        .await;
    let rp = Rp::new(client, &app.base, app.http.clone());
    let browser = Browser::new(&app.base, &app.issuer);

    // Neither challenge nor verifier: a code, tokens, and an ID token carrying the nonce.
    let params = browser.sign_in_at(&without_pkce(&rp)).await;
    let code = param(&params, "code").expect("a code").to_owned();
    let tokens = exchange_without_verifier(&rp, &code).await;
    assert_eq!(tokens.status(), 200);
    let tokens: Value = tokens.json().await.unwrap();
    let claims = claims_unverified(&text(&tokens, "id_token"));
    assert_eq!(claims["nonce"], "nonce-1");

    // A verifier for a code issued without a challenge is refused (and the code is spent).
    let code = code_from(&browser, &without_pkce(&rp)).await;
    let downgraded = rp
        .exchange_with(&code, crate::support::REDIRECT, VERIFIER)
        .await;
    expect_oauth_error(downgraded, 400, "invalid_grant").await;

    // A code issued with a challenge still needs its verifier.
    let code = code_from(&browser, &rp.authorize_url("")).await;
    let missing = exchange_without_verifier(&rp, &code).await;
    expect_oauth_error(missing, 400, "invalid_grant").await;
    let code = code_from(&browser, &rp.authorize_url("")).await;
    assert_eq!(rp.exchange(&code).await.status(), 200);

    // Back to required: a request without PKCE is refused at the authorization endpoint.
    app.cli(&["client", "update", &rp.id, "--pkce", "required"])
        .await
        .ok();
    crate::support::eventually("the server sees PKCE required again", async || {
        let params = redirect_params(&browser.get(&without_pkce(&rp)).await);
        (param(&params, "error") == Some("invalid_request")).then_some(())
    })
    .await;
}

async fn code_from(browser: &Browser, url: &str) -> String {
    let params = redirect_params(&browser.get(url).await);
    param(&params, "code")
        .unwrap_or_else(|| panic!("no code in {params:?}"))
        .to_owned()
}

async fn pkce_stays_required_by_default_and_for_public_clients(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.cli_create_user("default", "ada", &[], PASSWORD.as_bytes())
        .await
        .ok();
    let client = app.cli_web_client("default", "Ledger Web", &[]).await;
    let rp = Rp::new(client, &app.base, app.http.clone());
    let browser = Browser::new(&app.base, &app.issuer);
    let params = redirect_params(&browser.get(&without_pkce(&rp)).await);
    assert_eq!(
        param(&params, "error"),
        Some("invalid_request"),
        "{params:?}"
    );
    assert!(
        param(&params, "error_description").is_some_and(|d| d.contains("code_challenge")),
        "{params:?}"
    );
    let method_only = rp
        .authorize_url("")
        .replace(&format!("&code_challenge={CHALLENGE}"), "");
    let params = redirect_params(&browser.get(&method_only).await);
    assert_eq!(
        param(&params, "error"),
        Some("invalid_request"),
        "{params:?}"
    );

    let public = app
        .cli_create_client(
            "default",
            "Mobile",
            &[
                "--grant",
                "authorization_code",
                "--redirect-uri",
                crate::support::REDIRECT,
                "--public",
                "--pkce",
                "optional",
            ],
        )
        .await;
    assert!(
        public.refusal().contains("public client always uses PKCE"),
        "{public:?}"
    );
    let public = app
        .cli_create_client(
            "default",
            "Mobile",
            &[
                "--grant",
                "authorization_code",
                "--redirect-uri",
                crate::support::REDIRECT,
                "--public",
                "--json",
            ],
        )
        .await
        .json();
    let id = public["client_id"].as_str().unwrap();
    let out = app
        .cli(&["client", "update", id, "--pkce", "optional"])
        .await;
    assert!(
        out.refusal().contains("public client always uses PKCE"),
        "{out:?}"
    );
}
