//! Security headers, no-store, and the limits on parameters, headers and slow clients.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use castellan::protocol::form::FormParams;

use crate::on_both_backends;
use crate::support::{Backend, CC, PATIENCE, TestApp, expect_oauth_error};

on_both_backends!(every_response_carries_the_security_headers);

fn assert_secured(response: &reqwest::Response, what: &str) {
    let h = |name: &str| {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    let csp = h("content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(h("x-frame-options"), "DENY", "{what}");
}

fn no_store(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get("cache-control")
        .is_some_and(|v| v.to_str().unwrap().contains("no-store"))
}

async fn every_response_carries_the_security_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;

    let login = app.browser().get(&rp.authorize_url("")).await;
    assert_eq!(login.status(), 200);
    assert_secured(&login, "login page");
    assert!(no_store(&login), "a form with a CSRF token is never cached");
    assert!(!login.headers().contains_key("strict-transport-security"));
    // The page works under its policy: nothing inline, the stylesheet from the same origin.
    let html = login.text().await.unwrap();
    assert!(
        !html.contains("<script") && !html.contains("style="),
        "{html}"
    );
    assert!(html.contains("/static/castellan.css"));

    let error_page = app
        .http
        .get(app.url("/authorize?client_id=nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_page.status(), 400);
    assert_secured(&error_page, "error page");

    let token = app.admin_token().await;
    assert_eq!(token.status(), 200);
    assert_secured(&token, "token response");
    assert!(no_store(&token));

    let missing = app.http.get(app.url("/nowhere")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_secured(&missing, "404");
}

#[tokio::test]
async fn an_https_issuer_adds_hsts() {
    let app = TestApp::builder(Backend::Sqlite)
        .config(|c| c.issuer = Some("https://id.example.test".into()))
        .spawn()
        .await;
    let response = app.healthz().await;
    let hsts = response.headers()["strict-transport-security"]
        .to_str()
        .unwrap();
    assert!(hsts.starts_with("max-age=63072000"), "{hsts}");
}

#[tokio::test]
async fn overlong_parameters_are_refused_with_a_clear_error() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let long = "x".repeat(FormParams::MAX_VALUE + 1);
    let response = app.token_basic(&app.admin, &[CC, ("scope", &long)]).await;
    let (_, body) = expect_oauth_error(response, 400, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("\"scope\" is longer than 8192 bytes"),
        "{body}"
    );

    let rp = app.setup_sign_in().await;
    let page = app
        .http
        .get(rp.authorize_url(&format!("&state={long}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("longer than 8192 bytes")
    );
}

/// Writes raw bytes and reads until the server answers or closes; `None` if it closed silently.
async fn raw_exchange(app: &TestApp, request: &[u8]) -> Option<String> {
    let mut stream = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer)).await;
    (!answer.is_empty()).then(|| String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let big = "a".repeat(20 * 1024);
    let request = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let answer = raw_exchange(&app, request.as_bytes()).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    let fine = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let answer = raw_exchange(&app, fine.as_bytes()).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_slow_loris_is_cut_off() {
    let app = TestApp::builder(Backend::Sqlite)
        .config(|c| c.header_timeout = 1)
        .spawn()
        .await;
    let mut stream = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Dribble a header byte at a time, never finishing the head: the 1-s timeout covers the
    // whole head, so only a server that never cuts it off keeps this going until the deadline.
    let mut closed = false;
    while started.elapsed() < PATIENCE {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if stream.write_all(b"X").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await
        {
            assert!(n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"));
            closed = true;
            break;
        }
    }
    assert!(
        closed,
        "the connection is still open after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_body_that_never_finishes_gets_408() {
    let app = TestApp::builder(Backend::Sqlite)
        .config(|c| c.request_timeout = 1)
        .spawn()
        .await;
    let request = b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=";
    // Without the timeout the server would wait for the body forever, and `raw_exchange` would
    // give up with nothing.
    let answer = raw_exchange(&app, request).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}
