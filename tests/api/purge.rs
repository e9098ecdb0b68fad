//! The purge: codes, sessions, refresh tokens and revocations past use are deleted, with a
//! margin; live rows, and the revocations that still guard a live token, are kept.

use castellan::clock::Clock;
use castellan::store::grants::{CodeGrant, NewRefresh, RefreshGrant};
use castellan::store::purge::PURGE_MARGIN;

use crate::on_both_backends;
use crate::support::grants::{self, DAY, NOW, access, client_and_user, grant_of, session};
use crate::support::{Backend, TestApp, TestDb, eventually};

on_both_backends!(
    expired_rows_are_purged_and_live_ones_kept,
    the_server_purges_on_its_interval,
);

/// A code of `family` as the purge sees it: no nonce, no session id.
fn code(family: &str, rows: &(String, String)) -> CodeGrant {
    CodeGrant {
        nonce: None,
        sid: None,
        ..grants::code(family, &rows.0, &rows.1)
    }
}

/// A refresh token of `family`, dead if unused by `idle_until`, with no successor salt.
fn refresh(hash: &[u8], family: &str, rows: &(String, String), idle_until: i64) -> NewRefresh {
    let grant = RefreshGrant {
        successor_salt: None,
        ..grant_of(family, &rows.0, &rows.1)
    };
    grants::refresh(hash, &grant, idle_until)
}

/// Rows of every kind, some dead long enough, some dead within the margin, some live, then one
/// purge at `NOW + DAY`.
async fn expired_rows_are_purged_and_live_ones_kept(backend: Backend) {
    let db = TestDb::new(backend).await;
    let rows = client_and_user(&db).await;
    let store = &db.store;
    let at = NOW + DAY;
    let fresh = at - PURGE_MARGIN / 2;

    // Codes: long expired (one of them used), expired within the margin, live.
    store
        .insert_code(b"code-old", &code("f-old", &rows), NOW, NOW + 60)
        .await
        .unwrap();
    store
        .insert_code(b"code-used", &code("f-used", &rows), NOW, NOW + 60)
        .await
        .unwrap();
    store
        .redeem_code(b"code-used", NOW + 1, &access("jti-1"), |_| None)
        .await
        .unwrap();
    store
        .insert_code(b"code-recent", &code("f-recent", &rows), NOW, fresh)
        .await
        .unwrap();
    store
        .insert_code(b"code-live", &code("f-live", &rows), NOW, at + 60)
        .await
        .unwrap();

    // Refresh tokens: idle-expired long ago (one used and replaced), within the margin, live.
    store
        .insert_refresh(&refresh(b"rt-old", "f-rt", &rows, NOW + 60), NOW)
        .await
        .unwrap();
    store
        .insert_refresh(&refresh(b"rt-recent", "f-rt", &rows, fresh), NOW)
        .await
        .unwrap();
    store
        .insert_refresh(&refresh(b"rt-live", "f-rt", &rows, at + DAY), NOW)
        .await
        .unwrap();

    // Sessions: expired, ended long ago, ended within the margin, live.
    store
        .create_session(&session(b"s-expired", &rows.1), NOW, NOW + 3600)
        .await
        .unwrap();
    store
        .create_session(&session(b"s-ended", &rows.1), NOW, at + DAY)
        .await
        .unwrap();
    store.end_session(b"s-ended", NOW + 10).await.unwrap();
    store
        .create_session(&session(b"s-recent", &rows.1), NOW, at + DAY)
        .await
        .unwrap();
    store.end_session(b"s-recent", fresh).await.unwrap();
    store
        .create_session(&session(b"s-live", &rows.1), NOW, at + DAY)
        .await
        .unwrap();

    // Revoked access tokens: one whose token expired long ago, one still to expire.
    let client = "client-row";
    store
        .revoke_token("jti-old", client, NOW + 300, NOW)
        .await
        .unwrap();
    store
        .revoke_token("jti-live", client, at + 300, NOW)
        .await
        .unwrap();

    // Revoked families: one with nothing left, one still guarding a live refresh token.
    store
        .insert_code(b"code-gone", &code("f-gone", &rows), NOW, NOW + 60)
        .await
        .unwrap();
    store
        .redeem_code(b"code-gone", NOW + 1, &access("jti-2"), |_| None)
        .await
        .unwrap();
    store
        .redeem_code(b"code-gone", NOW + 2, &access("jti-3"), |_| None)
        .await
        .unwrap();
    let kept = code("f-kept", &rows);
    store
        .insert_code(b"code-kept", &kept, NOW, NOW + 60)
        .await
        .unwrap();
    store
        .redeem_code(b"code-kept", NOW + 1, &access("jti-4"), |_| {
            Some(refresh(b"rt-kept", "f-kept", &rows, at + DAY))
        })
        .await
        .unwrap();
    store
        .redeem_code(b"code-kept", NOW + 2, &access("jti-5"), |_| None)
        .await
        .unwrap();
    assert!(store.family_revoked("f-gone").await.unwrap());
    assert!(store.family_revoked("f-kept").await.unwrap());

    let counts = store.purge_expired(at).await.unwrap();
    assert_eq!(counts.of("authorization_codes"), 4, "{counts:?}");
    assert_eq!(counts.of("refresh_tokens"), 1, "{counts:?}");
    assert_eq!(counts.of("sessions"), 2, "{counts:?}");
    // The replays revoked the access tokens of f-gone and f-kept, long expired too.
    assert_eq!(counts.of("revoked_tokens"), 3, "{counts:?}");
    assert_eq!(counts.of("grant_access_tokens"), 3, "{counts:?}");
    assert_eq!(counts.of("revoked_families"), 1, "{counts:?}");

    assert_eq!(db.column("revoked_tokens", "jti").await, ["jti-live"]);
    assert_eq!(db.column("revoked_families", "family").await, ["f-kept"]);
    assert_eq!(
        db.column("authorization_codes", "family").await,
        ["f-live", "f-recent"]
    );
    assert_eq!(
        db.column("refresh_tokens", "family").await,
        ["f-kept", "f-rt", "f-rt"]
    );
    assert!(store.live_refresh(b"rt-live", at).await.unwrap().is_some());
    assert!(
        store.live_refresh(b"rt-kept", at).await.unwrap().is_none(),
        "its family is revoked"
    );
    assert_eq!(
        db.column("sessions", "auth_time").await.len(),
        2,
        "s-recent and s-live"
    );
    assert!(store.find_session(b"s-live", at).await.unwrap().is_some());

    // Nothing left to purge: a second run deletes nothing.
    assert_eq!(store.purge_expired(at).await.unwrap().total(), 0);
}

/// The server runs the purge by itself, every `purge_interval` seconds.
async fn the_server_purges_on_its_interval(backend: Backend) {
    let clock = Clock::fixed(NOW);
    let app = TestApp::builder(backend)
        .clock(clock.clone())
        .config(|c| c.purge_interval = 1)
        .spawn()
        .await;
    let rows = client_and_user(&app).await;
    app.store
        .insert_code(b"code-old", &code("f-old", &rows), NOW, NOW + 60)
        .await
        .unwrap();
    assert_eq!(app.column("authorization_codes", "family").await, ["f-old"]);
    clock.advance(60 + PURGE_MARGIN + 1);
    eventually("the purge job deletes the expired code", async || {
        app.column("authorization_codes", "family")
            .await
            .is_empty()
            .then_some(())
    })
    .await;
}
