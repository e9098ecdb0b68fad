//! Consent as an attacker would test it: no code without the user's decision, whatever the
//! scope, prompt or API; consent remembered per API; `prompt=login`, `max_age` and
//! `prompt=consent` with a fresh sign-in.

use castellan::clock::Clock;

use crate::on_both_backends;
use crate::support::{
    Backend, Browser, CHALLENGE, PASSWORD, REDIRECT, Rp, TestApp, hidden, param, redirect_params,
    token_of, urlencode,
};

const ORDERS: &str = "https://orders.example.com";
const BILLING: &str = "https://billing.example.com";

on_both_backends!(
    a_code_for_an_api_needs_consent_even_without_scopes,
    consent_for_one_api_does_not_cover_another,
    prompt_login_and_max_age_accept_the_sign_in_they_asked_for,
    a_short_max_age_shortens_the_time_for_consent,
    a_consent_form_does_not_stand_in_for_a_sign_in,
    prompt_consent_is_honoured_after_a_fresh_sign_in,
);

/// Two APIs with a `read` scope each, a user `ada` with a role, and a web client (asking for
/// consent) granted `read` on both.
async fn api_setup(app: &TestApp) -> Rp {
    app.create_api(ORDERS, &["read"]).await;
    app.create_api(BILLING, &["read"]).await;
    app.create_role("default", "clerk", &["orders.read"]).await;
    app.create_ada(&["clerk"]).await;
    let client = app
        .create_web_client(&[(ORDERS, &["read"]), (BILLING, &["read"])])
        .await;
    app.rp(client)
}

/// An authorization request with exactly these extra parameters (no scope unless given).
fn request_url(app: &TestApp, rp: &Rp, extra: &str) -> String {
    format!(
        "{}/authorize?response_type=code&client_id={}&redirect_uri={}&state=st-2\
         &code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
        app.base,
        rp.id,
        urlencode(REDIRECT)
    )
}

fn resource(api: &str) -> String {
    format!("&resource={}", urlencode(api))
}

/// Signs in at `url` and, if asked, allows; the redirect's query.
async fn sign_in_and_allow(browser: &Browser, url: &str) -> Vec<(String, String)> {
    let page = browser.submit_login(url, "ada", PASSWORD).await;
    redirect_params(&browser.allow(page).await)
}

/// The page `url` leads to for a signed-in browser: a redirect's query, or the page's HTML.
async fn outcome(browser: &Browser, url: &str) -> Result<Vec<(String, String)>, String> {
    let response = browser.get(url).await;
    if response.status() == 303 {
        Ok(redirect_params(&response))
    } else {
        assert_eq!(response.status(), 200);
        Err(response.text().await.unwrap())
    }
}

async fn a_code_for_an_api_needs_consent_even_without_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = api_setup(&app).await;
    let browser = app.browser();
    let url = request_url(&app, &rp, &resource(ORDERS));

    // No scope at all: the token would still speak for ada at Orders, with her roles.
    let page = browser.submit_login(&url, "ada", PASSWORD).await;
    assert_eq!(page.status(), 200, "a code without consent");
    let html = page.text().await.unwrap();
    assert!(html.contains("Allow Ledger Web?"), "{html}");
    assert!(html.contains(ORDERS), "the page names the API: {html}");
    assert!(html.contains("roles and permissions"), "{html}");

    // Signed in now, but not consented: prompt=none must not slip through either.
    let silent = outcome(&browser, &format!("{url}&prompt=none"))
        .await
        .unwrap();
    assert_eq!(param(&silent, "error"), Some("consent_required"));
    assert_eq!(param(&silent, "code"), None);
    assert_eq!(param(&silent, "state"), Some("st-2"));
    let again = outcome(&browser, &url).await;
    assert!(again.is_err(), "still no code without a decision");

    // Deny: access_denied, and nothing remembered.
    let denied = browser.decide(&again.unwrap_err(), "deny").await;
    assert_eq!(
        param(&redirect_params(&denied), "error"),
        Some("access_denied")
    );
    assert!(outcome(&browser, &url).await.is_err());

    // Allow: a code whose token is for Orders and carries the role; then remembered.
    let done = redirect_params(&browser.allow(browser.get(&url).await).await);
    let code = param(&done, "code").expect("a code after consent");
    let tokens = token_of(rp.exchange(code).await).await;
    let access = app
        .verify_access_token(tokens["access_token"].as_str().unwrap(), ORDERS)
        .await;
    assert_eq!(access["roles"], serde_json::json!(["clerk"]));
    assert_eq!(access["permissions"], serde_json::json!(["orders.read"]));
    let silent = outcome(&browser, &format!("{url}&prompt=none"))
        .await
        .unwrap();
    assert!(param(&silent, "code").is_some(), "consent is remembered");
}

async fn consent_for_one_api_does_not_cover_another(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = api_setup(&app).await;
    let browser = app.browser();
    let orders = request_url(&app, &rp, &format!("&scope=read{}", resource(ORDERS)));
    let done = sign_in_and_allow(&browser, &orders).await;
    assert!(param(&done, "code").is_some());
    assert!(
        outcome(&browser, &orders).await.is_ok(),
        "remembered for Orders"
    );

    let billing = request_url(&app, &rp, &format!("&scope=read{}", resource(BILLING)));
    let html = outcome(&browser, &billing)
        .await
        .expect_err("read at Orders does not cover read at Billing");
    assert!(html.contains(BILLING), "{html}");
    let silent = outcome(&browser, &format!("{billing}&prompt=none"))
        .await
        .unwrap();
    assert_eq!(param(&silent, "error"), Some("consent_required"));
}

/// Before the fix, a first consent under `prompt=login` (or an elapsed `max_age`) sent the user
/// back to the login page after every consent, forever. The clock is fixed, so the user can
/// take their time on the consent page.
async fn prompt_login_and_max_age_accept_the_sign_in_they_asked_for(backend: Backend) {
    let clock = Clock::fixed(Clock::System.now());
    let app = TestApp::builder(backend).clock(clock.clone()).spawn().await;
    let rp = api_setup(&app).await;
    let browser = app.browser();
    for (i, extra) in ["&prompt=login", "&max_age=2"].iter().enumerate() {
        // A state of its own each time; a new scope, so that consent is asked.
        let scope = ["openid", "openid+email"][i];
        let url = request_url(&app, &rp, &format!("&scope={scope}{extra}"))
            .replace("state=st-2", &format!("state=loop-{i}"));
        clock.advance(10);
        let page = browser.submit_login(&url, "ada", PASSWORD).await;
        clock.advance(5);
        let done = browser.allow(page).await;
        let params = redirect_params(&done);
        assert!(param(&params, "code").is_some(), "{extra}: {params:?}");
        // The same request again needs a new sign-in: the client's rule, not ours to skip.
        let again = outcome(&browser, &url).await.expect_err("a new sign-in");
        assert!(again.contains("name=\"password\""), "{extra}");
    }
}

/// With `max_age`, a consent page left open longer than it (and than a minute) no longer counts
/// as part of its sign-in: whoever is at the browser then must sign in again.
async fn a_short_max_age_shortens_the_time_for_consent(backend: Backend) {
    let clock = Clock::fixed(Clock::System.now());
    let app = TestApp::builder(backend).clock(clock.clone()).spawn().await;
    let rp = api_setup(&app).await;
    let browser = app.browser();
    let url = request_url(&app, &rp, "&scope=openid&max_age=30");
    let page = browser.submit_login(&url, "ada", PASSWORD).await;
    clock.advance(61);
    let late = browser.allow(page).await;
    assert_eq!(late.status(), 200);
    assert!(
        late.text().await.unwrap().contains("name=\"password\""),
        "a sign-in 61 s old does not satisfy max_age=30"
    );
}

/// The consent step accepts only the sign-in made for its own request: an old session cannot
/// post a consent form to get around `prompt=login`.
async fn a_consent_form_does_not_stand_in_for_a_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = api_setup(&app).await;
    let browser = app.browser();
    let first = format!("{}&scope=openid", request_url(&app, &rp, ""));
    assert!(param(&sign_in_and_allow(&browser, &first).await, "code").is_some());

    // A consent page for a request without prompt=login, then the same form re-aimed at one
    // with prompt=login: the session was not signed in for that request.
    let wider = format!("{}&scope=openid+email", request_url(&app, &rp, ""));
    let html = outcome(&browser, &wider).await.expect_err("consent page");
    let forged = format!("{}&prompt=login", hidden(&html, "request"));
    let response = browser
        .post_form(
            "/consent",
            &[
                ("request", &forged),
                ("csrf", &hidden(&html, "csrf")),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.text().await.unwrap().contains("name=\"password\""),
        "prompt=login is not satisfied by an older sign-in"
    );
}

/// OIDC Core §3.1.2.1: `prompt=consent` shows the consent page, even right after a sign-in and
/// with consent stored before.
async fn prompt_consent_is_honoured_after_a_fresh_sign_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = api_setup(&app).await;
    let url = format!("{}&scope=openid", request_url(&app, &rp, ""));
    assert!(param(&sign_in_and_allow(&app.browser(), &url).await, "code").is_some());

    let fresh = app.browser();
    let consent = format!("{url}&prompt=consent");
    let page = fresh.submit_login(&consent, "ada", PASSWORD).await;
    let done = fresh.allow(page).await;
    assert!(param(&redirect_params(&done), "code").is_some());
    // Signed in already: prompt=consent asks again too.
    let html = outcome(&fresh, &consent).await;
    assert!(html.is_err(), "prompt=consent shows the page");
}
