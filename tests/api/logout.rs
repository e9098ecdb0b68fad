//! RP-Initiated Logout, as a client would use it and as an attacker would try it, and the
//! cookies and CSRF tokens of sign-in.

use castellan::clock::Clock;
use castellan::protocol::ClientId;

use crate::on_both_backends;
use crate::support::{BYE, Backend, PASSWORD, TestApp, eventually, hidden, urlencode};

on_both_backends!(
    logout_ends_the_session_and_returns_only_to_registered_uris,
    a_logout_without_a_hint_for_this_session_is_confirmed_first,
    a_disabled_client_gets_no_post_logout_redirect,
    consent_and_logout_forms_are_bound_to_the_session,
    https_issuers_use_host_only_cookies,
    a_refreshed_id_token_is_a_hint_for_its_session,
);

fn logout_url(app: &TestApp, query: &str) -> String {
    format!("{}/logout?{query}", app.base)
}

async fn logout_ends_the_session_and_returns_only_to_registered_uris(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    let browser = app.browser();
    let tokens = browser.signed_in_tokens(&rp).await;
    let id_token = tokens["id_token"].as_str().unwrap();

    // Signed in: the authorization endpoint answers at once.
    assert!(browser.signed_in(&rp).await);

    let query = format!(
        "id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye-1",
        urlencode(BYE)
    );
    let out = browser.get(&logout_url(&app, &query)).await;
    assert_eq!(out.status(), 303);
    assert_eq!(out.headers()["location"], format!("{BYE}?state=bye-1"));
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("castellan_session=;")
    );

    // The session is over, even for a browser that kept the old cookie.
    let page = browser.get(&rp.authorize_url("")).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("name=\"password\""));

    // Anything unregistered, or unattributable, gets the signed-out page and no redirect.
    for query in [
        format!(
            "client_id={}&post_logout_redirect_uri={}",
            rp.id,
            urlencode("https://evil.example.com/")
        ),
        format!("post_logout_redirect_uri={}", urlencode(BYE)),
        format!(
            "client_id=other&id_token_hint={id_token}&post_logout_redirect_uri={}",
            urlencode(BYE)
        ),
        String::new(),
    ] {
        let response = browser.get(&logout_url(&app, &query)).await;
        assert_eq!(response.status(), 200, "{query}");
        assert!(response.headers().get("location").is_none());
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("You are signed out")
        );
    }
}

async fn a_logout_without_a_hint_for_this_session_is_confirmed_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    let browser = app.browser();
    browser.signed_in_tokens(&rp).await;
    // Another session of the same user, elsewhere: its ID token names another session.
    let elsewhere = app.browser().signed_in_tokens(&rp).await;
    let foreign_hint = elsewhere["id_token"].as_str().unwrap();

    let target = format!(
        "client_id={}&post_logout_redirect_uri={}&state=evil-state",
        rp.id,
        urlencode(BYE)
    );
    for query in [
        target.clone(),
        format!("{target}&id_token_hint={foreign_hint}"),
        format!("{target}&id_token_hint=not-a-token"),
    ] {
        let page = browser.get(&logout_url(&app, &query)).await;
        assert_eq!(page.status(), 200, "{query}");
        assert!(page.headers().get("location").is_none());
        assert!(
            page.headers().get("set-cookie").is_none(),
            "the cookie stays"
        );
        let html = page.text().await.unwrap();
        assert!(
            html.contains("Sign out?") && html.contains("Ledger Web"),
            "{html}"
        );
        assert!(browser.signed_in(&rp).await, "nothing ended: {query}");
    }
    // A relying party's POST without a hint is asked about too.
    let posted = browser
        .http
        .post(app.url("/logout"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(target.clone())
        .send()
        .await
        .unwrap();
    // It is sent on as a GET, which carries the SameSite=Lax session cookie: a cross-site POST
    // carries none, and answering it would clear the cookie while the session lives on.
    assert_eq!(posted.status(), 303);
    let location = posted.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/logout?{target}"));
    assert!(posted.headers().get("set-cookie").is_none());
    let page = browser.http.get(app.url(&location)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign out?"));
    assert!(browser.signed_in(&rp).await);

    // The user's own answer, with the form's CSRF token, signs out and goes back.
    let confirmed = browser
        .post_form(
            "/logout",
            &[
                ("request", &hidden(&html, "request")),
                ("csrf", &hidden(&html, "csrf")),
                ("logout_confirmed", "yes"),
            ],
        )
        .await;
    assert_eq!(confirmed.status(), 303);
    assert_eq!(
        confirmed.headers()["location"],
        format!("{BYE}?state=evil-state")
    );
    assert!(!browser.signed_in(&rp).await);

    // A request that brings no session cookie has none to clear: a cross-site page cannot make
    // the browser drop a cookie whose session lives on.
    let cookieless = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let bounced = cookieless
        .get(app.url(&format!("/logout?{target}")))
        .send()
        .await
        .unwrap();
    assert_eq!(bounced.status(), 303);
    assert!(bounced.headers().get("set-cookie").is_none());
}

async fn a_disabled_client_gets_no_post_logout_redirect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    let browser = app.browser();
    let tokens = browser.signed_in_tokens(&rp).await;
    let hint = tokens["id_token"].as_str().unwrap();
    app.store
        .disable_client(&ClientId::parse(&rp.id).unwrap(), Clock::System.now())
        .await
        .unwrap();
    let query = format!(
        "id_token_hint={hint}&post_logout_redirect_uri={}&state=s",
        urlencode(BYE)
    );
    // Eventually: the running server's client cache follows the store within a second or so.
    eventually("the disabled client to be seen", async || {
        let page = browser.get(&logout_url(&app, &query)).await;
        (page.status() == 200).then_some(())
    })
    .await;
    assert!(!browser.signed_in(&rp).await, "the hint still signs out");
}

async fn consent_and_logout_forms_are_bound_to_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    // Two browsers reach the consent page, each with a session of its own.
    let (one, two) = (app.browser(), app.browser());
    let mut pages = Vec::new();
    for browser in [&one, &two] {
        let page = browser
            .submit_login(&rp.authorize_url(""), "ada", PASSWORD)
            .await;
        assert_eq!(page.status(), 200);
        pages.push(page.text().await.unwrap());
    }
    let (first, second) = (&pages[0], &pages[1]);
    assert_ne!(hidden(first, "csrf"), hidden(second, "csrf"));
    // The other session's token is refused, and so is the login form's double-submit value.
    let login_page = one
        .get(&rp.authorize_url("&prompt=login"))
        .await
        .text()
        .await
        .unwrap();
    for csrf in [hidden(second, "csrf"), hidden(&login_page, "csrf")] {
        let response = one
            .post_form(
                "/consent",
                &[
                    ("request", &hidden(first, "request")),
                    ("csrf", &csrf),
                    ("decision", "allow"),
                ],
            )
            .await;
        assert_eq!(response.status(), 400);
        assert!(response.text().await.unwrap().contains("expired"));
    }
    // The logout confirmation as well: another session's token ends nothing.
    let page = one.get(&logout_url(&app, "")).await.text().await.unwrap();
    let confirm = async |csrf: &str| {
        one.post_form(
            "/logout",
            &[("request", ""), ("csrf", csrf), ("logout_confirmed", "yes")],
        )
        .await
    };
    assert_eq!(confirm(&hidden(second, "csrf")).await.status(), 400);
    let own = confirm(&hidden(&page, "csrf")).await;
    assert_eq!(own.status(), 200);
    assert!(own.text().await.unwrap().contains("You are signed out"));
}

/// Over https, cookies carry the `__Host-` prefix: Secure, host-only, path `/`.
async fn https_issuers_use_host_only_cookies(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| c.issuer = Some("https://id.example.com".into()))
        .spawn()
        .await;
    let rp = app.setup_sign_in().await;
    // reqwest keeps Secure cookies from an http origin to itself, so cookies go by hand here.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(rp.authorize_url("")).send().await.unwrap();
    let set = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-castellan_csrf="), "{set}");
    assert!(set.contains("; Secure") && set.contains("; Path=/") && !set.contains("Domain"));
    let csrf_cookie = set.split(';').next().unwrap().to_owned();
    let html = page.text().await.unwrap();
    let login = http
        .post(app.url("/login"))
        .header("cookie", &csrf_cookie)
        .form(&[
            ("request", hidden(&html, "request").as_str()),
            ("csrf", hidden(&html, "csrf").as_str()),
            ("username", "ada"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the consent page");
    let session = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.contains("castellan_session"))
        .unwrap();
    assert!(
        session.starts_with("__Host-castellan_session="),
        "{session}"
    );
    assert!(session.contains("; Secure") && session.contains("HttpOnly"));
}

/// OIDC Core §12.2: a refresh answers with a new ID token (same `sub`, `auth_time` and `sid`,
/// no `nonce`), and a relying party that keeps the latest one can still sign the user out with it.
async fn a_refreshed_id_token_is_a_hint_for_its_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    let browser = app.browser();
    let first = browser.signed_in_tokens(&rp).await;
    let refreshed = crate::support::token_of(
        rp.refresh(first["refresh_token"].as_str().unwrap(), None)
            .await,
    )
    .await;
    let id_token = refreshed["id_token"]
        .as_str()
        .expect("an ID token on refresh");
    let key = crate::support::oauth::key_for(
        &app.jwks().await,
        &jsonwebtoken::decode_header(id_token).unwrap().kid.unwrap(),
    )
    .unwrap();
    let mut rules = crate::support::oauth::validation(&app.issuer, &rp.id);
    rules.validate_nbf = false;
    rules.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let decode = |token: &str| {
        jsonwebtoken::decode::<serde_json::Value>(token, &key, &rules)
            .unwrap()
            .claims
    };
    let (old, new) = (
        decode(first["id_token"].as_str().unwrap()),
        decode(id_token),
    );
    for claim in ["sub", "auth_time", "sid", "aud"] {
        assert_eq!(old[claim], new[claim], "{claim}");
    }
    assert!(new.get("nonce").is_none(), "{new}");
    let out = browser
        .get(&app.url(&format!(
            "/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=s",
            urlencode(BYE)
        )))
        .await;
    assert_eq!(out.status(), 303, "the refreshed hint names the session");
    assert!(!browser.signed_in(&rp).await);
}
