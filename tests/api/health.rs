//! `/healthz` (the process answers) and `/readyz` (database and signing key usable).

use serde_json::Value;

use crate::on_both_backends;
use crate::support::oauth::header;
use crate::support::{Backend, TestApp};

on_both_backends!(healthz_answers, readyz_checks_database_and_signing_key);

async fn healthz_answers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.healthz().await;
    assert_eq!(response.status(), 200);
    assert!(header(&response, "content-type").is_some_and(|c| c.starts_with("application/json")));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

async fn readyz_checks_database_and_signing_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.readyz().await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["checks"]["database"], true, "{body}");
    assert_eq!(body["checks"]["signing_key"], true, "{body}");
}

/// `castellan healthcheck` (the container's HEALTHCHECK) succeeds only on a 200 from the server.
#[tokio::test]
async fn the_healthcheck_command_asks_the_running_server() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let ready = app.healthcheck(&[]).await;
    assert!(ready.ok().contains("/readyz answered 200 OK"), "{ready:?}");
    let alive = app.healthcheck(&["--path", "/healthz"]).await;
    assert!(alive.ok().contains("/healthz answered 200 OK"), "{alive:?}");

    let missing = app.healthcheck(&["--path", "/nowhere"]).await;
    assert!(!missing.success);
    assert!(missing.stderr.contains("answered 404"), "{missing:?}");
    let closed = app.healthcheck(&["--addr", "127.0.0.1:1"]).await;
    assert!(!closed.success);
    assert!(closed.stderr.contains("cannot connect"), "{closed:?}");
    let bad = app.healthcheck(&["--path", "readyz"]).await;
    assert!(!bad.success);
    assert!(bad.stderr.contains("must start with /"), "{bad:?}");
}
