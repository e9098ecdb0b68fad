//! Metrics and request ids, as a scraper and a caller see them.

use crate::on_both_backends;
use crate::support::{Backend, TestApp, TestClient};

on_both_backends!(metrics_count_requests_tokens_and_failures);

async fn scrape(app: &TestApp) -> String {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    response.text().await.unwrap()
}

async fn metrics_count_requests_tokens_and_failures(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let rp = app.setup_sign_in().await;
    for _ in 0..2 {
        let token = app.admin_token().await;
        assert_eq!(token.status(), 200);
    }
    let wrong = TestClient {
        secret: "wrong".into(),
        ..app.admin.clone()
    };
    let wrong = app.client_credentials(&wrong).await;
    assert_eq!(wrong.status(), 401);
    // A failed sign-in.
    let refused = app
        .browser()
        .submit_login(&rp.authorize_url(""), "ada", "not it")
        .await;
    assert_eq!(refused.status(), 200);

    let text = scrape(&app).await;
    for expected in [
        "castellan_http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"} 2",
        "castellan_http_requests_total{route=\"/token\",method=\"POST\",status=\"401\"} 1",
        "castellan_http_requests_total{route=\"/login\",method=\"POST\",status=\"200\"} 1",
        "castellan_tokens_issued_total{grant=\"client_credentials\"} 2",
        "castellan_client_authentications_total{method=\"client_secret\",outcome=\"success\"} 2",
        "castellan_client_authentications_total{method=\"client_secret\",outcome=\"failure\"} 1",
        "castellan_signin_failures_total 1",
        "castellan_lockouts_total 0",
        "castellan_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"/token\"} 3",
        "castellan_audit_events_dropped 0",
    ] {
        assert!(text.contains(expected), "no {expected:?} in\n{text}");
    }
    let gauge = |name: &str| -> i64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name}"))
            .parse()
            .unwrap()
    };
    assert!((0..60).contains(&gauge("castellan_signing_key_age_seconds")));
    assert!(gauge("castellan_db_pool_connections") >= 1);
}

#[tokio::test]
async fn every_response_has_a_request_id() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let id_of = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let first = app.healthz().await;
    let second = app.http.get(app.url("/nowhere")).send().await.unwrap();
    assert_eq!(id_of(&first).len(), 32);
    assert_ne!(id_of(&first), id_of(&second));
    let kept = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "edge-7f3a")
        .send()
        .await
        .unwrap();
    assert_eq!(id_of(&kept), "edge-7f3a", "a caller's sane id is kept");
    let forged = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "a b\tforged")
        .send()
        .await
        .unwrap();
    assert_ne!(id_of(&forged), "a b\tforged");
}

/// With `metrics_listen`, `/metrics` answers there and no longer on the public listener.
#[tokio::test]
async fn metrics_can_be_served_on_an_address_of_their_own() {
    let app = TestApp::builder(Backend::Sqlite)
        .config(|c| c.metrics_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))))
        .spawn()
        .await;
    assert_eq!(app.admin_token().await.status(), 200);
    let public = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(
        public.status(),
        404,
        "the main listener no longer serves /metrics"
    );
    let metrics_base = app.metrics_base.clone().expect("a metrics address");
    assert_ne!(metrics_base, app.base);
    let apart = app
        .http
        .get(format!("{metrics_base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(apart.status(), 200);
    let text = apart.text().await.unwrap();
    let expected =
        "castellan_http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"} 1";
    assert!(text.contains(expected), "no {expected:?} in\n{text}");
    let other = app
        .http
        .get(format!("{metrics_base}/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404, "nothing but /metrics there");
}

/// An error page names the request's id, the one in `X-Request-Id` (and the log), so the
/// person can quote it to the operators.
#[tokio::test]
async fn the_error_page_shows_the_request_id() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let page = app
        .http
        .get(app.url("/authorize?client_id=nobody&response_type=code"))
        .header("x-request-id", "edge-42")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    assert_eq!(page.headers()["x-request-id"], "edge-42");
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<code id="request-id">edge-42</code>"#),
        "{html}"
    );
    let fresh = app
        .http
        .get(app.url("/authorize?client_id=nobody"))
        .send()
        .await
        .unwrap();
    let id = fresh.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(fresh.text().await.unwrap().contains(&id));
}
