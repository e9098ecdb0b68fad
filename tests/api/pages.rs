//! The sign-in pages over HTTP: a client's display name, the login page's Cancel, and "Not you?"
//! on the consent page. (What a person sees and does in a real browser: `browser.rs`.)

use std::sync::Arc;

use reqwest::cookie::{CookieStore, Jar};

use crate::on_both_backends;
use crate::support::browser::client_builder;
use crate::support::{
    Backend, Browser, PASSWORD, REDIRECT, TestApp, eventually, hidden, param, redirect_params,
};

on_both_backends!(
    pages_show_a_clients_display_name_not_its_name,
    cancel_at_the_login_page_returns_access_denied,
    not_you_ends_the_session_and_asks_for_a_sign_in_to_the_same_request,
);

fn title(page: &str) -> &str {
    let start = page.find("<title>").map_or(0, |i| i + "<title>".len());
    let end = page[start..].find("</title>").map_or(start, |i| start + i);
    &page[start..end]
}

async fn pages_show_a_clients_display_name_not_its_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_ada(&[]).await;
    let client = app
        .cli_web_client(
            "default",
            "ledger-web-prod",
            &["--display-name", "Ledger", "--skip-consent"],
        )
        .await;
    let rp = app.rp(client.clone());
    let shown = app
        .cli(&["client", "show", &client.id, "--json"])
        .await
        .json();
    assert_eq!(shown["name"], "ledger-web-prod");
    assert_eq!(shown["display_name"], "Ledger");

    let login = app.browser().page(&rp.authorize_url("")).await;
    assert_eq!(title(&login), "Sign in to Ledger");
    assert!(!login.contains("ledger-web-prod"), "{login}");

    app.cli(&[
        "client",
        "update",
        &client.id,
        "--display-name",
        "Ledger Books",
    ])
    .await
    .ok();
    eventually("the new display name is shown", async || {
        let page = app.browser().page(&rp.authorize_url("")).await;
        (title(&page) == "Sign in to Ledger Books").then_some(())
    })
    .await;
    // An empty display name shows the client's name again.
    app.cli(&["client", "update", &client.id, "--display-name", ""])
        .await
        .ok();
    eventually("the name is shown again", async || {
        let page = app.browser().page(&rp.authorize_url("")).await;
        (title(&page) == "Sign in to ledger-web-prod").then_some(())
    })
    .await;
}

async fn cancel_at_the_login_page_returns_access_denied(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    let browser = app.browser();
    let cancel = async |url: &str| {
        let page = browser.page(url).await;
        assert!(page.contains(r#"value="cancel""#), "{page}");
        browser
            .post_form(
                "/login",
                &[
                    ("request", &hidden(&page, "request")),
                    ("csrf", &hidden(&page, "csrf")),
                    ("action", "cancel"),
                ],
            )
            .await
    };

    let back = redirect_params(&cancel(&rp.authorize_url("")).await);
    assert_eq!(param(&back, "error"), Some("access_denied"));
    assert_eq!(param(&back, "state"), Some("st-1"));
    assert_eq!(param(&back, "iss"), Some(app.issuer.as_str()));
    assert_eq!(param(&back, "code"), None);

    // As the client asked: here by a page that posts the answer to the redirect URI.
    let posted = cancel(&rp.authorize_url("&response_mode=form_post")).await;
    assert_eq!(posted.status(), 200);
    let page = posted.text().await.unwrap();
    assert!(page.contains(&format!(r#"action="{REDIRECT}""#)), "{page}");
    assert_eq!(hidden(&page, "error"), "access_denied");
    assert_eq!(hidden(&page, "state"), "st-1");
    assert_eq!(hidden(&page, "iss"), app.issuer);

    // The form's CSRF token still counts: a forged cancel goes nowhere.
    let page = browser.page(&rp.authorize_url("")).await;
    let forged = browser
        .post_form(
            "/login",
            &[
                ("request", &hidden(&page, "request")),
                ("csrf", "forged"),
                ("action", "cancel"),
            ],
        )
        .await;
    assert_eq!(forged.status(), 400);
}

async fn not_you_ends_the_session_and_asks_for_a_sign_in_to_the_same_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    app.cli_create_user("default", "bob", &[], PASSWORD.as_bytes())
        .await
        .ok();
    let jar = Arc::new(Jar::default());
    let http = client_builder()
        .cookie_provider(Arc::clone(&jar))
        .build()
        .unwrap();
    let browser = Browser::with(http, &app.base, &app.issuer);
    let url = rp.authorize_url("");

    let consent = browser.submit_login(&url, "ada", PASSWORD).await;
    assert_eq!(consent.status(), 200);
    let consent = consent.text().await.unwrap();
    assert!(
        consent.contains("Signed in as <strong>ada</strong>"),
        "{consent}"
    );
    assert!(consent.contains("Not you?"), "{consent}");
    let ada_session = session_cookie(&jar, &app).expect("ada's session");

    let switched = browser.decide(&consent, "switch").await;
    assert_eq!(switched.status(), 200);
    let forget = switched.headers().get_all("set-cookie").iter().any(|c| {
        let c = c.to_str().unwrap();
        c.starts_with("castellan_session=;") && c.contains("Max-Age=0")
    });
    assert!(forget, "the browser is told to forget the session");
    let login = switched.text().await.unwrap();
    assert_eq!(title(&login), "Sign in to Ledger Web");
    assert!(login.contains(r#"name="password""#), "{login}");
    assert_eq!(
        hidden(&login, "request"),
        hidden(&consent, "request"),
        "the same authorization request"
    );

    // ada's session is over on the server too, not only forgotten by this browser.
    let replayed = app
        .browser()
        .http
        .get(rp.authorize_url("&prompt=none"))
        .header("cookie", format!("castellan_session={ada_session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        param(&redirect_params(&replayed), "error"),
        Some("login_required")
    );

    // Someone else signs in on that page and carries on with the same request.
    let consent = browser.log_in(&login, "bob", PASSWORD).await;
    assert_eq!(consent.status(), 200);
    let consent = consent.text().await.unwrap();
    assert!(
        consent.contains("Signed in as <strong>bob</strong>"),
        "{consent}"
    );
    let back = redirect_params(&browser.decide(&consent, "allow").await);
    assert_eq!(param(&back, "state"), Some("st-1"));
    assert!(param(&back, "code").is_some(), "{back:?}");
}

fn session_cookie(jar: &Jar, app: &TestApp) -> Option<String> {
    let cookies = jar.cookies(&app.base.parse().unwrap())?;
    cookies
        .to_str()
        .unwrap()
        .split("; ")
        .find_map(|c| c.strip_prefix("castellan_session="))
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}
