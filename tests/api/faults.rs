//! Faults: PostgreSQL going away under a running server and coming back (503
//! `temporarily_unavailable`, no panic, no lost write, recovery without a restart), and a graceful
//! shutdown on SIGTERM with a request in flight; on SQLite, the write lock held by another process.

use std::future::Future;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use castellan::audit::EventKind;
use castellan::store::Store;
use reqwest::cookie::CookieStore;
use serde_json::Value;
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::helpers::{
    Backend, PATIENCE, TestApp, TestClient, bootstrap_credentials, expect_oauth_error, free_port,
    fresh_database, spawn_app_with, token_of, urlencode,
};
use crate::signin::{
    self, PASSWORD, REDIRECT, Rp, VERIFIER, authorize_url, browser, exchange, hidden, param,
    post_form, redirect_params, refresh, sign_in,
};

/// The longest any request may take while the database is away: a fault must not hang a caller.
/// Generous for a loaded machine; the bound that matters is that there is one.
const ANSWER_WITHIN: Duration = PATIENCE;

/// A TCP proxy in front of PostgreSQL that a test can cut, as if the server had stopped (live
/// connections dropped, new ones refused), and restore on the same port. The machine's
/// PostgreSQL, shared with the tests running alongside, is never touched.
struct Proxy {
    addr: SocketAddr,
    upstream: String,
    cut: watch::Sender<bool>,
    accept: Mutex<Option<JoinHandle<()>>>,
    forwards: Arc<Mutex<JoinSet<()>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            addr: listener.local_addr().unwrap(),
            upstream,
            cut: watch::channel(false).0,
            accept: Mutex::new(None),
            forwards: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let (mut cut, upstream) = (self.cut.subscribe(), self.upstream.clone());
        let forwards = Arc::clone(&self.forwards);
        let task = tokio::spawn(async move {
            loop {
                let inbound = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => continue,
                    },
                    // Returning drops the listener: connecting is refused from then on.
                    _ = cut.wait_for(|cut| *cut) => return,
                };
                let (upstream, cut) = (upstream.clone(), cut.clone());
                forwards
                    .lock()
                    .unwrap()
                    .spawn(forward(inbound, upstream, cut));
            }
        });
        *self.accept.lock().unwrap() = Some(task);
    }

    /// Returns once the port is closed and every forwarded connection is dropped.
    async fn cut(&self) {
        self.cut.send_replace(true);
        let accept = self.accept.lock().unwrap().take();
        if let Some(accept) = accept {
            accept.await.unwrap();
        }
        let mut forwards = std::mem::take(&mut *self.forwards.lock().unwrap());
        while forwards.join_next().await.is_some() {}
    }

    async fn restore(&self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.cut.send_replace(false);
        self.serve(listener);
    }
}

async fn forward(mut inbound: TcpStream, upstream: String, mut cut: watch::Receiver<bool>) {
    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
}

/// Splits a database URL around its `host:port`: (`scheme://user@`, `host:port`, `/name?...`).
fn around_host(url: &str) -> (String, String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let (user, host) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host),
        None => (String::new(), authority),
    };
    let has_port = host.rsplit_once(':').is_some_and(|(_, p)| !p.contains(']'));
    let host = if has_port {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    (format!("{scheme}://{user}"), host, path.to_owned())
}

/// Awaits `future`, failing the test if it takes longer than [`ANSWER_WITHIN`].
async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(ANSWER_WITHIN, future)
        .await
        .unwrap_or_else(|_| panic!("no answer within {ANSWER_WITHIN:?}: {what}"))
}

/// Polls `check` every 100 ms until it holds, failing after `limit`.
async fn within(limit: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn admin_client(app: &TestApp) -> TestClient {
    TestClient {
        id: app.admin.0.clone(),
        secret: app.admin.1.clone(),
    }
}

async fn client_credentials(app: &TestApp, client: &TestClient) -> reqwest::Response {
    let form = [("grant_type", "client_credentials")];
    bounded("client credentials", app.token_basic(client, &form)).await
}

async fn refreshed(app: &TestApp, rp: &Rp, token: &str) -> Value {
    let response = bounded("refresh", refresh(app, rp, token, None)).await;
    token_of(response).await
}

async fn exchanged(app: &TestApp, rp: &Rp, code: &str) -> Value {
    let response = bounded("code exchange", exchange(app, rp, code, REDIRECT, VERIFIER)).await;
    token_of(response).await
}

/// `POST` to `/introspect` or `/revoke` as the relying party.
async fn as_rp(app: &TestApp, rp: &Rp, path: &str, token: &str) -> reqwest::Response {
    let request = app
        .http
        .post(app.url(path))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(&[("token", token)])
        .send();
    bounded(path, request).await.unwrap()
}

fn text(body: &Value, name: &str) -> String {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        .to_owned()
}

/// A code for a browser that already has a session and has consented: no form on the way.
async fn code_for_signed_in(app: &TestApp, rp: &Rp, browser: &reqwest::Client) -> String {
    let response = browser
        .get(authorize_url(app, rp, ""))
        .send()
        .await
        .unwrap();
    let params = redirect_params(&response);
    param(&params, "code").expect("a code").to_owned()
}

/// Tokens issued to `client_id` by client credentials, as the audit trail counts them.
async fn issued_by_audit(store: &Store, client_id: &str) -> i64 {
    let Ok(rows) = store.audit_tail(None, None, 10_000).await else {
        return -1;
    };
    rows.iter()
        .filter(|r| r.event == EventKind::TokenIssued.as_str())
        .filter(|r| r.client_id.as_deref() == Some(client_id))
        .map(|r| r.count)
        .sum()
}

#[tokio::test]
async fn a_postgres_outage_answers_503_and_recovery_needs_no_restart() {
    let dir = tempfile::tempdir().unwrap();
    let direct = fresh_database(Backend::Postgres, &dir).await;
    let (prefix, upstream, path) = around_host(&direct);
    let proxy = Proxy::start(upstream).await;
    let proxied = format!("{prefix}{}{path}", proxy.addr);
    // The helper makes a database of its own; this setting points the server at ours instead.
    let app = spawn_app_with(Backend::Postgres, &[("CASTELLAN_DATABASE_URL", &proxied)]).await;
    let rp = signin::setup(&app).await;
    let admin = admin_client(&app);
    // `setup` moved the store's generation, which empties the client cache at the refresh loop's
    // next tick; after it, the clients used below stay cached through the outage.
    tokio::time::sleep(castellan::app::REFRESH_INTERVAL * 2).await;

    // Warm up: a service token, a sign-in, a rotation right before the cut, a code kept unused.
    token_of(client_credentials(&app, &admin).await).await;
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let signed_in = reqwest::Client::builder()
        .cookie_provider(Arc::clone(&jar))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let code = sign_in(&app, &rp, &signed_in).await;
    let first = exchanged(&app, &rp, &code).await;
    let spent = text(&first, "refresh_token");
    let access = text(&first, "access_token");
    let successor = text(&refreshed(&app, &rp, &spent).await, "refresh_token");
    let unused_code = code_for_signed_in(&app, &rp, &signed_in).await;
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
    within(PATIENCE, "/readyz is 200 again", async || {
        bounded("/readyz", app.readyz()).await.status() == 200
    })
    .await;
    let recovered_in = restored_at.elapsed();

    // No write was lost, and the failed attempts spent nothing: the successor rotated right
    // before the cut still works, and so does the code an exchange failed on.
    let newest = text(&refreshed(&app, &rp, &successor).await, "refresh_token");
    exchanged(&app, &rp, &unused_code).await;
    // The token spent before the cut is a replay, which revokes its sign-in (also a write).
    let replay = bounded("refresh", refresh(&app, &rp, &spent, None)).await;
    let (_, body) = expect_oauth_error(replay, 400, "invalid_grant").await;
    assert!(
        text(&body, "error_description").contains("already used"),
        "{body}"
    );
    let revoked = bounded("refresh", refresh(&app, &rp, &newest, None)).await;
    expect_oauth_error(revoked, 400, "invalid_grant").await;

    // A new sign-in with a password, its code exchange and a refresh all work again.
    let code = bounded("sign-in", sign_in(&app, &rp, &browser())).await;
    let tokens = exchanged(&app, &rp, &code).await;
    refreshed(&app, &rp, &text(&tokens, "refresh_token")).await;
    let info: Value = as_rp(&app, &rp, "/introspect", &text(&tokens, "access_token"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["active"], true, "{info}");
    token_of(client_credentials(&app, &admin).await).await;

    // The audit trail counts every service token, the ones served during the outage included.
    let expected = 2 + seen.served_from_cache;
    within(
        PATIENCE,
        &format!("the audit trail counts all {expected} service tokens"),
        async || issued_by_audit(&app.store, &admin.id).await == expected,
    )
    .await;
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
    let old_session = browser()
        .get(authorize_url(&app, &rp, ""))
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
        within(PATIENCE, "/readyz reports the outage", async || {
            let response = bounded("/readyz", app.readyz()).await;
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            status == 503 && body["checks"]["database"] == false && body["status"] == "not_ready"
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
    let cc = [("grant_type", "client_credentials")];
    let oauth = async {
        tokio::join!(
            unavailable("unknown client", app.token_basic(&stranger, &cc)),
            unavailable("refresh", refresh(app, rp, successor, None)),
            unavailable(
                "exchange",
                exchange(app, rp, unused_code, REDIRECT, VERIFIER)
            ),
            unavailable("introspect", as_rp(app, rp, "/introspect", successor)),
            unavailable("introspect", as_rp(app, rp, "/introspect", access)),
            unavailable("revoke", as_rp(app, rp, "/revoke", access)),
        )
    };
    let userinfo = async {
        let userinfo = app
            .http
            .get(app.url("/userinfo"))
            .bearer_auth(access)
            .send();
        let response = bounded("/userinfo", userinfo).await.unwrap();
        assert_eq!(response.status(), 503, "/userinfo");
    };
    // A signed-in browser goes back to the client with `temporarily_unavailable`.
    let signed_in = async {
        let response = bounded(
            "authorize",
            browser()
                .get(authorize_url(app, rp, ""))
                .header("cookie", session)
                .send(),
        );
        let params = redirect_params(&response.await.unwrap());
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
        let fresh = browser();
        let page = bounded("authorize", fresh.get(authorize_url(app, rp, "")).send()).await;
        let page = page.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        let form = [
            ("request", hidden(&html, "request")),
            ("csrf", hidden(&html, "csrf")),
            ("username", "ada".into()),
            ("password", PASSWORD.into()),
        ];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let done = bounded("login", post_form(&fresh, app.url("/login"), &form)).await;
        let params = redirect_params(&done);
        assert_eq!(
            param(&params, "error"),
            Some("temporarily_unavailable"),
            "{params:?}"
        );
    };
    // A client that cannot be looked up cannot be redirected to: a page says so, never a 500.
    let unknown_authorize = async {
        let url = authorize_url(app, rp, "").replace(&rp.id, "never-seen-before");
        let page = bounded("authorize", browser().get(url).send())
            .await
            .unwrap();
        let status = page.status().as_u16();
        let html = page.text().await.unwrap();
        assert!(html.contains("unavailable"), "{html}");
        assert!(status < 500 || status == 503, "{status}: {html}");
        status
    };
    // Signing out cannot end the session now: a 503 says so, or a 200 claims it was done.
    let logout = async {
        let request = browser().get(app.url("/logout")).header("cookie", session);
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

/// The real binary on SQLite: a `POST /token` whose body is still arriving when SIGTERM comes is
/// answered; new connections are refused; the process flushes the audit trail, closes the
/// pool and exits 0.
#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_then_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("castellan.db");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut command = Command::new(env!("CARGO_BIN_EXE_castellan"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CASTELLAN_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .arg("serve")
        .env(
            "CASTELLAN_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env(
            "CASTELLAN_MASTER_KEY_FILE",
            dir.path().join("keys/master.key"),
        )
        .env("CASTELLAN_LISTEN", &addr)
        .env("RUST_LOG", "info")
        .env("RUST_BACKTRACE", "0")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = tokio::spawn(async move {
        let mut log = String::new();
        BufReader::new(stderr)
            .read_to_string(&mut log)
            .await
            .unwrap();
        log
    });
    // The bootstrap admin's credentials are printed once, on stdout.
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let (id, secret) = bootstrap_credentials(&mut stdout).await;

    // The listener is bound before the credentials are printed. A first request shows the
    // connection is being served; then the second one's head and half its body, and SIGTERM
    // while its handler waits for the rest.
    let mut in_flight = TcpStream::connect(&addr).await.unwrap();
    let probe = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    in_flight.write_all(probe.as_bytes()).await.unwrap();
    let (status, _) = bounded("/healthz", read_response(&mut in_flight)).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let body = b"grant_type=client_credentials";
    let credentials = format!("{}:{}", urlencode(&id), urlencode(&secret));
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        base64::engine::general_purpose::STANDARD.encode(credentials),
        body.len()
    );
    in_flight.write_all(head.as_bytes()).await.unwrap();
    in_flight.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let signalled = Instant::now();

    // The listener closes at once: a new connection is refused. A connection whose handshake
    // races the close is reset instead (the kernel drops the listener's queue); either way
    // nothing new is served.
    within(
        PATIENCE,
        "new connections are refused",
        async || match TcpStream::connect(&addr).await {
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
                    ),
                    "{e}"
                );
                true
            }
            Ok(_) => false,
        },
    )
    .await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the process waits for the request in flight"
    );

    // The rest of the body, a second after the signal: the request is answered in full.
    tokio::time::sleep_until(signalled + Duration::from_secs(1)).await;
    in_flight.write_all(&body[10..]).await.unwrap();
    let (status, json) = bounded("the response", read_response(&mut in_flight)).await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{json}");
    let token: Value = serde_json::from_str(&json).unwrap();
    assert!(
        token["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{token}"
    );
    // Answered, the connection is closed rather than kept alive.
    let mut rest = Vec::new();
    let read = bounded("the close", in_flight.read_to_end(&mut rest)).await;
    assert!(read.is_err() || rest.is_empty(), "{rest:?}");

    // The process exits 0 soon after and says it stopped.
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("the process exits after the response")
        .unwrap();
    let log = log.await.unwrap();
    assert!(status.success(), "exit status {status:?}; log:\n{log}");
    assert!(log.contains("stopped"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains("were cut off"), "{log}");
    assert!(!log.contains("were lost"), "{log}");
    drop(stdout);

    // Nothing written was lost: the token answered during the shutdown is in the audit trail.
    // And the pool was closed: SQLite removes its write-ahead log when the last connection closes.
    assert!(
        !dir.path().join("castellan.db-wal").exists(),
        "the write-ahead log is left: the pool was not closed"
    );
    let store = Store::open(&format!("sqlite://{}", db.display()), 1)
        .await
        .unwrap();
    assert_eq!(issued_by_audit(&store, &id).await, 1);
    store.close().await;
}

/// SQLite's own kind of outage: another process (a backup, an operator's `sqlite3` shell) holds
/// the write lock. Writers wait out `busy_timeout`, then answer 503 rather than hang or fail
/// with a 500; tokens that need no write keep coming; once the lock is released, what failed
/// works, because a failed attempt spent nothing.
#[tokio::test]
async fn a_sqlite_write_lock_held_elsewhere_answers_503_then_recovers() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let rp = signin::setup(&app).await;
    let admin = admin_client(&app);
    let browser = browser();
    let code = sign_in(&app, &rp, &browser).await;
    let spare = text(&exchanged(&app, &rp, &code).await, "refresh_token");
    let unused_code = code_for_signed_in(&app, &rp, &browser).await;
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
        bounded("refresh", refresh(&app, &rp, &spare, None)),
        bounded(
            "code exchange",
            exchange(&app, &rp, &unused_code, REDIRECT, VERIFIER)
        ),
        client_credentials(&app, &admin),
    );
    assert_eq!(service.status(), 200, "service tokens need no write");
    expect_oauth_error(rotation, 503, "temporarily_unavailable").await;
    expect_oauth_error(exchange_attempt, 503, "temporarily_unavailable").await;
    assert!(
        started.elapsed() < ANSWER_WITHIN,
        "answered in {:?}",
        started.elapsed()
    );

    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    holder.close().await.unwrap();
    let rotated = refreshed(&app, &rp, &spare).await;
    assert_ne!(text(&rotated, "refresh_token"), spare);
    let exchanged_later = exchanged(&app, &rp, &unused_code).await;
    assert!(exchanged_later["id_token"].is_string(), "{exchanged_later}");
    // The audit writer waited the lock out: both service tokens are recorded.
    within(PATIENCE, "audit rows written after the lock", async || {
        issued_by_audit(&app.store, &admin.id).await == 2
    })
    .await;
}

/// Reads one HTTP/1.1 response with a `Content-Length` body: its status line and its body.
async fn read_response(stream: &mut TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "closed mid-response: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no Content-Length: {head}"));
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed mid-body: {}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
    let status = head.lines().next().unwrap().to_owned();
    let body = String::from_utf8(buf[head_end..head_end + length].to_vec()).unwrap();
    (status, body)
}
