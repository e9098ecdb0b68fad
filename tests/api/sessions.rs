//! Sessions and remembered consent in the store.

use castellan::protocol::TenantSlug;

use crate::on_both_backends;
use crate::support::grants::{NOW, client_and_user, session};
use crate::support::{Backend, TestDb};

on_both_backends!(
    sessions_end_expire_and_die_with_their_user,
    consent_is_remembered_per_user_client_and_audience,
);

async fn sessions_end_expire_and_die_with_their_user(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (_, user_row) = client_and_user(&db).await;
    let store = &db.store;
    store
        .create_session(&session(b"s1", &user_row), NOW, NOW + 3600)
        .await
        .unwrap();
    store
        .create_session(&session(b"s2", &user_row), NOW, NOW + 3600)
        .await
        .unwrap();
    let live = store.find_session(b"s1", NOW + 10).await.unwrap().unwrap();
    assert_eq!(
        (live.user_row.as_str(), live.auth_time, live.sid.as_deref()),
        (user_row.as_str(), NOW, Some("sid"))
    );
    assert_eq!(live.login_request_hash.as_deref(), Some(&b"request"[..]));
    assert!(
        store
            .find_session(b"s1", NOW + 3600)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    store.end_session(b"s1", NOW + 20).await.unwrap();
    assert!(
        store.find_session(b"s1", NOW + 21).await.unwrap().is_none(),
        "ended"
    );
    assert!(store.find_session(b"unknown", NOW).await.unwrap().is_none());
    let default = TenantSlug::parse("default").unwrap();
    store.disable_user(&default, "ada", NOW + 30).await.unwrap();
    assert!(
        store.find_session(b"s2", NOW + 31).await.unwrap().is_none(),
        "a disabled user has no session"
    );
}

async fn consent_is_remembered_per_user_client_and_audience(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (client_row, user_row) = client_and_user(&db).await;
    let store = &db.store;
    const API: &str = "https://api.example.com";
    let granted = async |client_row: &str, audience: &str| {
        store
            .consented_scopes(&user_row, client_row, audience, 0)
            .await
            .unwrap()
    };
    assert!(granted(&client_row, API).await.is_empty());
    store
        .record_consent(&user_row, &client_row, API, &["", "openid", "read"], NOW)
        .await
        .unwrap();
    store
        .record_consent(&user_row, &client_row, API, &["read", "email"], NOW + 1)
        .await
        .unwrap();
    assert_eq!(
        granted(&client_row, API).await,
        ["", "email", "openid", "read"]
    );
    assert!(
        granted(&client_row, "https://other.example.com")
            .await
            .is_empty(),
        "agreeing to read for one API does not cover read for another"
    );
    let later = store
        .consented_scopes(&user_row, &client_row, API, NOW + 1)
        .await
        .unwrap();
    assert_eq!(later, ["email", "read"], "older consents age out");
    let other = db
        .create_client("default", &[(API, &["read"])], &[], None)
        .await;
    let other_row = db.client_row(&other).await;
    assert!(granted(&other_row, API).await.is_empty(), "per client");
}
