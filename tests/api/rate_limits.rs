//! Rate limits per client address: 429 with `Retry-After` for the API and for pages, and an
//! untrusted peer's `X-Forwarded-For` ignored.

use crate::on_both_backends;
use crate::support::{Backend, TestApp, expect_oauth_error};

on_both_backends!(rate_limits_answer_429_with_retry_after);

async fn rate_limits_answer_429_with_retry_after(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| {
            c.rate_limits.token = 3;
            c.rate_limits.authorize = 2;
            c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        })
        .spawn()
        .await;
    let token = async |address| app.admin_token_from(address).await;
    for _ in 0..3 {
        assert_eq!(token("198.51.100.7").await.status(), 200);
    }
    let limited = token("198.51.100.7").await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    let (_, body) = expect_oauth_error(limited, 429, "temporarily_unavailable").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("too many requests"),
        "{body}"
    );
    // Limits are per address.
    assert_eq!(token("198.51.100.8").await.status(), 200);

    // Pages answer with a page.
    let rp = app.setup_sign_in().await;
    let browser = app.browser();
    for _ in 0..2 {
        let page = browser.get(&rp.authorize_url("")).await;
        assert_eq!(page.status(), 200);
    }
    let page = browser.get(&rp.authorize_url("")).await;
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key("retry-after"));
    assert!(page.text().await.unwrap().contains("Too many attempts"));
}

/// An untrusted peer's `X-Forwarded-For` is ignored: it cannot dodge a limit by inventing addresses.
#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::builder(Backend::Sqlite)
        .config(|c| c.rate_limits.token = 1)
        .spawn()
        .await;
    assert_eq!(app.admin_token_from("198.51.100.1").await.status(), 200);
    assert_eq!(app.admin_token_from("198.51.100.2").await.status(), 429);
}
