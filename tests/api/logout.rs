//! RP-Initiated Logout as an attacker would try it, and the cookies and CSRF tokens of sign-in.

use castellan::clock::Clock;
use castellan::protocol::ClientId;

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with, urlencode};
use crate::on_both_backends;
use crate::signin::{
    PASSWORD, Rp, authorize_url, browser, hidden, post_form, setup, signed_in_tokens, submit_login,
};

const BYE: &str = "https://app.example.com/bye";

on_both_backends!(
    a_logout_without_a_hint_for_this_session_is_confirmed_first,
    a_disabled_client_gets_no_post_logout_redirect,
    consent_and_logout_forms_are_bound_to_the_session,
    https_issuers_use_host_only_cookies,
);

/// Does `browser` still have a session (the authorization endpoint answers at once)?
async fn signed_in(app: &TestApp, rp: &Rp, browser: &reqwest::Client) -> bool {
    let response = browser
        .get(authorize_url(app, rp, ""))
        .send()
        .await
        .unwrap();
    response.status() == 303
}

fn logout_url(app: &TestApp, query: &str) -> String {
    format!("{}/logout?{query}", app.base)
}

async fn a_logout_without_a_hint_for_this_session_is_confirmed_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;
    let browser = browser();
    signed_in_tokens(&app, &rp, &browser).await;
    // Another session of the same user, elsewhere: its ID token names another session.
    let elsewhere = signed_in_tokens(&app, &rp, &crate::signin::browser()).await;
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
        let page = browser.get(logout_url(&app, &query)).send().await.unwrap();
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
        assert!(
            signed_in(&app, &rp, &browser).await,
            "nothing ended: {query}"
        );
    }
    // A relying party's POST without a hint is asked about too.
    let posted = browser
        .post(app.url("/logout"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(target.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let html = posted.text().await.unwrap();
    assert!(html.contains("Sign out?"));
    assert!(signed_in(&app, &rp, &browser).await);

    // The user's own answer, with the form's CSRF token, signs out and goes back.
    let confirmed = post_form(
        &browser,
        app.url("/logout"),
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
    assert!(!signed_in(&app, &rp, &browser).await);
}

async fn a_disabled_client_gets_no_post_logout_redirect(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;
    let browser = browser();
    let tokens = signed_in_tokens(&app, &rp, &browser).await;
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
    crate::helpers::eventually("the disabled client to be seen", async || {
        let page = browser.get(logout_url(&app, &query)).send().await.unwrap();
        (page.status() == 200).then_some(())
    })
    .await;
    assert!(
        !signed_in(&app, &rp, &browser).await,
        "the hint still signs out"
    );
}

async fn consent_and_logout_forms_are_bound_to_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let rp = setup(&app).await;
    // Two browsers reach the consent page, each with a session of its own.
    let consent_page = async |browser: &reqwest::Client| {
        let page = submit_login(
            &app,
            browser,
            &authorize_url(&app, &rp, ""),
            "ada",
            PASSWORD,
        )
        .await;
        assert_eq!(page.status(), 200);
        page.text().await.unwrap()
    };
    let (one, two) = (browser(), browser());
    let first = consent_page(&one).await;
    let second = consent_page(&two).await;
    assert_ne!(hidden(&first, "csrf"), hidden(&second, "csrf"));
    // The other session's token is refused, and so is the login form's double-submit value.
    let login_page = one
        .get(authorize_url(&app, &rp, "&prompt=login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for csrf in [hidden(&second, "csrf"), hidden(&login_page, "csrf")] {
        let response = post_form(
            &one,
            app.url("/consent"),
            &[
                ("request", &hidden(&first, "request")),
                ("csrf", &csrf),
                ("decision", "allow"),
            ],
        )
        .await;
        assert_eq!(response.status(), 400);
        assert!(response.text().await.unwrap().contains("expired"));
    }
    // The logout confirmation as well: another session's token ends nothing.
    let page = one
        .get(logout_url(&app, ""))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let forged = post_form(
        &one,
        app.url("/logout"),
        &[
            ("request", ""),
            ("csrf", &hidden(&second, "csrf")),
            ("logout_confirmed", "yes"),
        ],
    )
    .await;
    assert_eq!(forged.status(), 400);
    let own = post_form(
        &one,
        app.url("/logout"),
        &[
            ("request", ""),
            ("csrf", &hidden(&page, "csrf")),
            ("logout_confirmed", "yes"),
        ],
    )
    .await;
    assert_eq!(own.status(), 200);
    assert!(own.text().await.unwrap().contains("You are signed out"));
}

/// Over https, cookies carry the `__Host-` prefix: Secure, host-only, path `/`.
async fn https_issuers_use_host_only_cookies(backend: Backend) {
    let app = spawn_app_with(backend, &[("CASTELLAN_ISSUER", "https://id.example.com")]).await;
    let rp = setup(&app).await;
    // reqwest keeps Secure cookies from an http origin to itself, so cookies go by hand here.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(authorize_url(&app, &rp, "")).send().await.unwrap();
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
