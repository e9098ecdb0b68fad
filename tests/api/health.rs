//! `/healthz` (the process answers) and `/readyz` (database and signing key usable).

use serde_json::Value;

use crate::helpers::{Backend, header, spawn_app};
use crate::on_both_backends;

on_both_backends!(healthz_answers, readyz_checks_database_and_signing_key);

async fn healthz_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.healthz().await;
    assert_eq!(response.status(), 200);
    assert!(header(&response, "content-type").is_some_and(|c| c.starts_with("application/json")));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

async fn readyz_checks_database_and_signing_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.readyz().await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["checks"]["database"], true, "{body}");
    assert_eq!(body["checks"]["signing_key"], true, "{body}");
}
