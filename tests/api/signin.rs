//! Browser sign-in over HTTP, as a browser and a relying party would do it: authorization
//! request, login form, consent, code, token exchange, ID token validation, and the refusals.

use std::sync::Arc;

use castellan::clock::Clock;
use castellan::protocol::TenantSlug;
use jsonwebtoken::Algorithm;
use reqwest::cookie::{CookieStore, Jar};
use serde_json::Value;

use crate::on_both_backends;
use crate::support::browser::client_builder;
use crate::support::oauth::{expect_already_used, key_for, validation};
use crate::support::{
    Backend, Browser, PASSWORD, REDIRECT, TestApp, VERIFIER, expect_oauth_error, hidden, param,
    redirect_params, urlencode,
};

on_both_backends!(
    a_user_signs_in_consents_and_the_client_gets_verified_tokens,
    the_authorization_endpoint_refuses_what_it_must,
    the_code_exchange_refuses_what_it_must,
    a_new_sign_in_ends_the_browsers_previous_session,
);

async fn a_user_signs_in_consents_and_the_client_gets_verified_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    let browser = app.browser();

    // A wrong password shows the form again, with the same message an unknown user gets.
    let page = browser
        .get(&rp.authorize_url(""))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Sign in") && page.contains("Ledger Web"),
        "{page}"
    );
    for (user, pass) in [("ada", "wrong password"), ("nobody", PASSWORD)] {
        let retry = browser.log_in(&page, user, pass).await;
        assert_eq!(retry.status(), 200);
        let html = retry.text().await.unwrap();
        assert!(
            html.contains("The username or password is not right."),
            "{html}"
        );
    }

    let code = browser.sign_in(&rp).await;
    let response = rp.exchange(&code).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["refresh_token"].as_str().unwrap().len() >= 43);

    let user = app
        .store
        .find_user(&TenantSlug::parse("default").unwrap(), "ada")
        .await
        .unwrap();
    let access = app
        .verify_access_token(
            tokens["access_token"].as_str().unwrap(),
            &format!("{}/userinfo", app.issuer),
        )
        .await;
    assert_eq!(access["sub"], user.id.as_str());
    assert_eq!(access["client_id"], rp.id.as_str());
    assert_eq!(access["tenant_id"], "default");
    // ada has no roles: the claim is left out, not an empty array (strict validators refuse one).
    assert!(access.get("roles").is_none(), "{access}");

    let id_token = tokens["id_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(
        (header.alg, header.typ.as_deref()),
        (Algorithm::RS256, Some("JWT"))
    );
    let key = key_for(&app.jwks().await, &header.kid.unwrap()).unwrap();
    // ID tokens carry no nbf (OIDC Core §2); everything else is checked as usual.
    let mut rules = validation(&app.issuer, &rp.id);
    rules.validate_nbf = false;
    rules.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(id_token, &key, &rules)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(claims["nonce"], "nonce-1");
    assert_eq!(claims["azp"], rp.id.as_str());
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["name"], "Ada Lovelace");
    assert_eq!(claims["preferred_username"], "ada");
    assert!(claims.get("roles").is_none(), "{claims}");
    assert_eq!(
        claims["at_hash"],
        castellan::crypto::jwt::at_hash(
            tokens["access_token"].as_str().unwrap(),
            castellan::protocol::SigningAlg::RS256,
        )
    );
    assert!((claims["auth_time"].as_i64().unwrap() - Clock::System.now()).abs() < 30);

    // Single sign-on: the session and the remembered consent lead straight back with a code.
    let again = browser
        .get(&rp.authorize_url("").replace("state=st-1", "state=st-2"))
        .await;
    let params = redirect_params(&again);
    assert_eq!(param(&params, "state"), Some("st-2"));
    assert!(param(&params, "code").is_some());

    // prompt=login forces the form even with a session.
    let forced = browser.get(&rp.authorize_url("&prompt=login")).await;
    assert_eq!(forced.status(), 200);
    assert!(forced.text().await.unwrap().contains("name=\"password\""));
}

async fn the_authorization_endpoint_refuses_what_it_must(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;

    // Unknown client or unregistered redirect URI: an error page, never a redirect.
    for url in [
        rp.authorize_url("").replace(&rp.id, "nobody"),
        rp.authorize_url("").replace(
            &urlencode(REDIRECT),
            &urlencode("https://evil.example.com/cb"),
        ),
        rp.authorize_url("").replace(
            &urlencode(REDIRECT),
            &urlencode("https://app.example.com/callback/"),
        ),
    ] {
        let response = app.browser().get(&url).await;
        assert_eq!(response.status(), 400);
        assert!(response.headers().get("location").is_none());
        assert!(response.text().await.unwrap().contains("cannot continue"));
    }

    // Everything else goes back to the client, with state and iss.
    let cases = [
        (
            rp.authorize_url("").replace(
                "&code_challenge_method=S256",
                "&code_challenge_method=plain",
            ),
            "invalid_request",
        ),
        (
            rp.authorize_url("")
                .replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (rp.authorize_url("&request=eyJ"), "request_not_supported"),
        (
            rp.authorize_url("&request_uri=urn%3Ax"),
            "request_uri_not_supported",
        ),
        (rp.authorize_url("&prompt=none"), "login_required"),
        (
            rp.authorize_url("")
                .replace("scope=openid", "scope=openid+admin"),
            "invalid_scope",
        ),
    ];
    for (url, error) in cases {
        let response = app.browser().get(&url).await;
        let params = redirect_params(&response);
        assert_eq!(param(&params, "error"), Some(error), "{url}");
        assert_eq!(param(&params, "state"), Some("st-1"));
        assert_eq!(param(&params, "iss"), Some(app.issuer.as_str()));
    }

    // A form without its CSRF token is refused.
    let browser = app.browser();
    let html = browser
        .get(&rp.authorize_url(""))
        .await
        .text()
        .await
        .unwrap();
    let request = hidden(&html, "request");
    for csrf in [None, Some("forged")] {
        let mut form = vec![
            ("request", request.as_str()),
            ("username", "ada"),
            ("password", PASSWORD),
        ];
        form.extend(csrf.map(|c| ("csrf", c)));
        assert_eq!(browser.post_form("/login", &form).await.status(), 400);
    }

    // Denying consent sends access_denied back.
    let consent = browser.log_in(&html, "ada", PASSWORD).await;
    let denied = browser.decide(&consent.text().await.unwrap(), "deny").await;
    assert_eq!(
        param(&redirect_params(&denied), "error"),
        Some("access_denied")
    );

    // A disabled user cannot sign in, and is told nothing more than a wrong password would.
    app.store
        .disable_user(
            &TenantSlug::parse("default").unwrap(),
            "ada",
            Clock::System.now(),
        )
        .await
        .unwrap();
    let refused = app
        .browser()
        .submit_login(&rp.authorize_url(""), "ada", PASSWORD)
        .await;
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("The username or password is not right.")
    );
}

async fn the_code_exchange_refuses_what_it_must(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;

    let code = app.browser().sign_in(&rp).await;
    let wrong_verifier = VERIFIER.replace('d', "e");
    let refused = rp.exchange_with(&code, REDIRECT, &wrong_verifier).await;
    expect_oauth_error(refused, 400, "invalid_grant").await;
    expect_oauth_error(rp.exchange(&code).await, 400, "invalid_grant").await;

    let code = app.browser().sign_in(&rp).await;
    let elsewhere = "https://app.example.com/other";
    let refused = rp.exchange_with(&code, elsewhere, VERIFIER).await;
    expect_oauth_error(refused, 400, "invalid_grant").await;

    let code = app.browser().sign_in(&rp).await;
    assert_eq!(rp.exchange(&code).await.status(), 200);
    expect_already_used(rp.exchange(&code).await).await;

    let code = app.browser().sign_in(&rp).await;
    let missing = rp
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    expect_oauth_error(missing, 400, "invalid_grant").await;
    expect_oauth_error(rp.exchange("made-up-code").await, 400, "invalid_grant").await;
}

fn session_cookie(jar: &Jar, app: &TestApp) -> Option<String> {
    let url = app.base.parse().unwrap();
    let cookies = jar.cookies(&url)?;
    cookies
        .to_str()
        .unwrap()
        .split("; ")
        .find_map(|c| c.strip_prefix("castellan_session="))
        .map(str::to_owned)
}

async fn a_new_sign_in_ends_the_browsers_previous_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    let jar = Arc::new(Jar::default());
    let http = client_builder()
        .cookie_provider(Arc::clone(&jar))
        .build()
        .unwrap();
    let browser = Browser::with(http, &app.base, &app.issuer);
    browser.sign_in_at(&rp.authorize_url("")).await;
    let first = session_cookie(&jar, &app).expect("a session cookie");
    browser.sign_in_at(&rp.authorize_url("&prompt=login")).await;
    let second = session_cookie(&jar, &app).expect("a session cookie");
    assert_ne!(first, second, "a new session id at each sign-in");

    let with_session = async |value: String| {
        app.browser()
            .http
            .get(rp.authorize_url("&prompt=none"))
            .header("cookie", format!("castellan_session={value}"))
            .send()
            .await
            .unwrap()
    };
    let old = redirect_params(&with_session(first).await);
    assert_eq!(
        param(&old, "error"),
        Some("login_required"),
        "the replaced session is over"
    );
    let current = redirect_params(&with_session(second).await);
    assert!(param(&current, "code").is_some(), "{current:?}");
}
