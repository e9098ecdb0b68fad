//! Database outages under a running server: PostgreSQL going away and coming back (503
//! `temporarily_unavailable`, no panic, no lost write, recovery without a restart), and on
//! SQLite the write lock held by another process.

use std::future::Future;
use std::sync::Arc;

use reqwest::cookie::CookieStore;
use serde_json::Value;
use sqlx::Connection;
use tokio::time::Instant;

use crate::support::browser::client_builder;
use crate::support::chaos::Proxy;
use crate::support::db::{fresh_database, tokens_issued};
use crate::support::oauth::expect_already_used;
use crate::support::wait::bounded;
use crate::support::{
    Backend, Browser, PASSWORD, PATIENCE, Rp, TestApp, TestClient, eventually, expect_oauth_error,
    param, redirect_params, text, token_of,
};

async fn client_credentials(app: &TestApp, client: &TestClient) -> reqwest::Response {
    bounded("client credentials", app.client_credentials(client)).await
}

async fn refreshed(rp: &Rp, token: &str) -> Value {
    token_of(bounded("refresh", rp.refresh(token, None)).await).await
}

async fn exchanged(rp: &Rp, code: &str) -> Value {
    token_of(bounded("code exchange", rp.exchange(code)).await).await
}

#[tokio::test]
async fn a_postgres_outage_answers_503_and_recovery_needs_no_restart() {
    let dir = tempfile::tempdir().unwrap();
    let direct = fresh_database(Backend::Postgres, &dir).await;
    let (proxy, proxied) = Proxy::in_front_of(&direct).await;
    let app = TestApp::builder(Backend::Postgres)
        .database(proxied)
        .spawn()
        .await;
    let rp = app.setup_sign_in().await;
    let admin = app.admin.clone();
    // `setup_sign_in` moved the store's generation, which empties the client cache at the
    // refresh loop's next tick; after it, the clients used below stay cached through the outage.
    tokio::time::sleep(castellan::app::REFRESH_INTERVAL * 2).await;

    // Warm up: a service token, a sign-in, a rotation right before the cut, a code kept unused.
    token_of(client_credentials(&app, &admin).await).await;
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let http = client_builder()
        .cookie_provider(Arc::clone(&jar))
        .build()
        .unwrap();
    let signed_in = Browser::with(http, &app.base, &app.issuer);
    let code = signed_in.sign_in(&rp).await;
    let first = exchanged(&rp, &code).await;
    let spent = text(&first, "refresh_token");
    let access = text(&first, "access_token");
    let successor = text(&refreshed(&rp, &spent).await, "refresh_token");
    let unused_code = signed_in.code_for(&rp).await;
    // The signed-in browser's cookies, sent by hand from here on, so no answer can change them.
    let session = jar.cookies(&app.base.parse().unwrap()).unwrap();
    let session = session.to_str().unwrap();

    proxy.cut().await;
    let cut_at = Instant::now();
    let seen = outage(
        &app,
        &rp,
        &admin,
        session,
        &successor,
        &unused_code,
        &access,
    )
    .await;
    let outage_took = cut_at.elapsed();
    proxy.restore().await;

    // Recovery, without a restart.
    let restored_at = Instant::now();
    eventually("/readyz is 200 again", async || {
        let ready = bounded("/readyz", app.readyz()).await.status() == 200;
        ready.then_some(())
    })
    .await;
    let recovered_in = restored_at.elapsed();

    // No write was lost, and the failed attempts spent nothing: the successor rotated right
    // before the cut still works, and so does the code an exchange failed on.
    let newest = text(&refreshed(&rp, &successor).await, "refresh_token");
    exchanged(&rp, &unused_code).await;
    // The token spent before the cut is a replay, which revokes its sign-in (also a write).
    expect_already_used(bounded("refresh", rp.refresh(&spent, None)).await).await;
    let revoked = bounded("refresh", rp.refresh(&newest, None)).await;
    expect_oauth_error(revoked, 400, "invalid_grant").await;

    // A new sign-in with a password, its code exchange and a refresh all work again.
    let code = bounded("sign-in", app.browser().sign_in(&rp)).await;
    let tokens = exchanged(&rp, &code).await;
    refreshed(&rp, &text(&tokens, "refresh_token")).await;
    let access = text(&tokens, "access_token");
    let info = bounded("/introspect", rp.introspect(&access)).await;
    let info: Value = info.json().await.unwrap();
    assert_eq!(info["active"], true, "{info}");
    token_of(client_credentials(&app, &admin).await).await;

    // The audit trail counts every service token, the ones served during the outage included.
    let expected = 2 + seen.served_from_cache;
    app.audit.flush().await.unwrap();
    assert_eq!(
        tokens_issued(&app.store, &admin.id).await,
        expected,
        "the audit trail counts all {expected} service tokens"
    );
    eprintln!(
        "outage checks took {outage_took:?}; {} service tokens served from cache; \
         ready again {recovered_in:?} after the restore",
        seen.served_from_cache
    );
    // Checked last, so that they hide nothing above.
    let mut problems = Vec::new();
    // An error page for an outage is a 503, as every other answer during it (DESIGN.md,
    // Errors), not a 400 that blames the browser.
    if seen.page_status != 503 {
        problems.push(format!(
            "the sign-in error page for a client that cannot be looked up during the outage \
             answered {}, not 503",
            seen.page_status
        ));
    }
    // A sign-out that answered 200 during the outage must have ended the session.
    let old_session = app
        .browser()
        .http
        .get(rp.authorize_url(""))
        .header("cookie", session);
    let after = bounded("authorize", old_session.send()).await.unwrap();
    if seen.logout_status == 200 && after.status() != 200 {
        problems.push(format!(
            "the sign-out during the outage answered 200, yet its session still signs in \
             (authorize answered {} with the old cookie): the write was lost",
            after.status()
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What [`outage`] saw that the test checks at its end.
struct Outage {
    /// Service tokens served from the client cache.
    served_from_cache: i64,
    /// The status of the error page for a client that could not be looked up.
    page_status: u16,
    /// The status of the sign-out page.
    logout_status: u16,
}

/// Everything asked while the database is away, at once (each may wait out the pool's acquire
/// timeout).
async fn outage(
    app: &TestApp,
    rp: &Rp,
    admin: &TestClient,
    session: &str,
    successor: &str,
    unused_code: &str,
    access: &str,
) -> Outage {
    let ready = async {
        eventually("/readyz reports the outage", async || {
            let response = bounded("/readyz", app.readyz()).await;
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            let down = status == 503
                && body["checks"]["database"] == false
                && body["status"] == "not_ready";
            down.then_some(())
        })
        .await;
        let health = bounded("/healthz", app.healthz()).await;
        assert_eq!(health.status(), 200, "the process is alive");
        // The container's HEALTHCHECK sees it too.
        let check = app.healthcheck(&[]).await;
        assert!(!check.success, "{check:?}");
        assert!(check.stderr.contains("answered 503"), "{check:?}");
    };
    // A cached client keeps getting service tokens; if not cached, it is told to retry later.
    let service = async {
        let mut served = 0;
        for _ in 0..2 {
            let response = client_credentials(app, admin).await;
            if response.status() == 200 {
                token_of(response).await;
                served += 1;
            } else {
                expect_oauth_error(response, 503, "temporarily_unavailable").await;
            }
        }
        served
    };
    // A client never seen before cannot be checked: not `invalid_client`, but retry later.
    let stranger = TestClient {
        id: "never-seen-before".into(),
        secret: "whatever".into(),
    };
    let oauth = async {
        tokio::join!(
            unavailable("unknown client", app.client_credentials(&stranger)),
            unavailable("refresh", rp.refresh(successor, None)),
            unavailable("exchange", rp.exchange(unused_code)),
            unavailable("introspect", rp.introspect(successor)),
            unavailable("introspect", rp.introspect(access)),
            unavailable("revoke", rp.revoke(access)),
        )
    };
    let userinfo = async {
        let response = bounded("/userinfo", app.userinfo(Some(access))).await;
        assert_eq!(response.status(), 503, "/userinfo");
    };
    // A signed-in browser goes back to the client with `temporarily_unavailable`.
    let signed_in = async {
        let request = app
            .browser()
            .http
            .get(rp.authorize_url(""))
            .header("cookie", session);
        let response = bounded("authorize", request.send()).await.unwrap();
        let params = redirect_params(&response);
        assert_eq!(
            param(&params, "error"),
            Some("temporarily_unavailable"),
            "{params:?}"
        );
        assert_eq!(param(&params, "state"), Some("st-1"));
    };
    // A new browser gets the login form (the client is cached); signing in sends it back with
    // `temporarily_unavailable`.
    let login = async {
        let fresh = app.browser();
        let page = bounded("authorize", fresh.get(&rp.authorize_url(""))).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        let done = bounded("login", fresh.log_in(&html, "ada", PASSWORD)).await;
        let params = redirect_params(&done);
        assert_eq!(
            param(&params, "error"),
            Some("temporarily_unavailable"),
            "{params:?}"
        );
    };
    // A client that cannot be looked up cannot be redirected to: a page says so, never a 500.
    let unknown_authorize = async {
        let url = rp.authorize_url("").replace(&rp.id, "never-seen-before");
        let page = bounded("authorize", app.browser().get(&url)).await;
        let status = page.status().as_u16();
        let html = page.text().await.unwrap();
        assert!(html.contains("unavailable"), "{html}");
        assert!(status < 500 || status == 503, "{status}: {html}");
        status
    };
    // Signing out cannot end the session now: a 503 says so, or a 200 claims it was done.
    let logout = async {
        let request = app
            .browser()
            .http
            .get(app.url("/logout"))
            .header("cookie", session);
        let page = bounded("logout", request.send()).await.unwrap();
        let status = page.status().as_u16();
        assert!(status == 200 || status == 503, "{status}");
        status
    };
    let ((), served, _, (), (), (), page_status, logout_status) = tokio::join!(
        ready,
        service,
        oauth,
        userinfo,
        signed_in,
        login,
        unknown_authorize,
        logout
    );
    Outage {
        served_from_cache: served,
        page_status,
        logout_status,
    }
}

/// Asserts a 503 `temporarily_unavailable` token-endpoint error, in time.
async fn unavailable(what: &str, response: impl Future<Output = reqwest::Response>) {
    let response = bounded(what, response).await;
    expect_oauth_error(response, 503, "temporarily_unavailable").await;
}

/// SQLite's own kind of outage: another process (a backup, an operator's `sqlite3` shell) holds
/// the write lock. Writers wait out `busy_timeout`, then answer 503 rather than hang or fail
/// with a 500; tokens that need no write keep coming; once the lock is released, what failed
/// works, because a failed attempt spent nothing.
#[tokio::test]
async fn a_sqlite_write_lock_held_elsewhere_answers_503_then_recovers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let rp = app.setup_sign_in().await;
    let admin = app.admin.clone();
    let browser = app.browser();
    let code = browser.sign_in(&rp).await;
    let spare = text(&exchanged(&rp, &code).await, "refresh_token");
    let unused_code = browser.code_for(&rp).await;
    assert_eq!(client_credentials(&app, &admin).await.status(), 200);

    let mut holder = sqlx::AnyConnection::connect(&app.database_url)
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let started = Instant::now();
    let (rotation, exchange_attempt, service) = tokio::join!(
        bounded("refresh", rp.refresh(&spare, None)),
        bounded("code exchange", rp.exchange(&unused_code)),
        client_credentials(&app, &admin),
    );
    assert_eq!(service.status(), 200, "service tokens need no write");
    expect_oauth_error(rotation, 503, "temporarily_unavailable").await;
    expect_oauth_error(exchange_attempt, 503, "temporarily_unavailable").await;
    assert!(
        started.elapsed() < PATIENCE,
        "answered in {:?}",
        started.elapsed()
    );

    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    holder.close().await.unwrap();
    let rotated = refreshed(&rp, &spare).await;
    assert_ne!(text(&rotated, "refresh_token"), spare);
    let exchanged_later = exchanged(&rp, &unused_code).await;
    assert!(exchanged_later["id_token"].is_string(), "{exchanged_later}");
    // The audit writer waited the lock out: both service tokens are recorded.
    app.audit.flush().await.unwrap();
    assert_eq!(tokens_issued(&app.store, &admin.id).await, 2);
}
