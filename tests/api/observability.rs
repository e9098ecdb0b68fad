//! Metrics, request ids, the audit trail as the server writes it, and logs free of secrets.

use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::helpers::{
    Backend, PATIENCE, TestApp, bootstrap_credentials, eventually, free_port, spawn_app_with,
    token_of,
};
use crate::on_both_backends;
use crate::signin::{
    CHALLENGE, PASSWORD, REDIRECT, VERIFIER, authorize_url, browser, exchange, hidden, post_form,
    refresh, setup, sign_in, signed_in_tokens, submit_login,
};

on_both_backends!(
    metrics_count_requests_tokens_and_failures,
    the_server_writes_an_audit_row_for_each_event,
);

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
    let app = spawn_app_with(backend, &[]).await;
    let rp = setup(&app).await;
    for _ in 0..2 {
        let token = app.admin_token().await;
        assert_eq!(token.status(), 200);
    }
    let wrong = app
        .http
        .post(app.url("/token"))
        .basic_auth(&app.admin.0, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    // A failed sign-in.
    let refused = submit_login(
        &app,
        &browser(),
        &authorize_url(&app, &rp, ""),
        "ada",
        "not it",
    )
    .await;
    assert_eq!(refused.status(), 200);

    let text = scrape(&app).await;
    for expected in [
        "castellan_http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"} 2",
        "castellan_http_requests_total{route=\"/token\",method=\"POST\",status=\"401\"} 1",
        "castellan_http_requests_total{route=\"/login\",method=\"POST\",status=\"200\"} 1",
        "castellan_tokens_issued_total{grant=\"client_credentials\"} 2",
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
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let id_of = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let first = app.http.get(app.url("/healthz")).send().await.unwrap();
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

async fn the_server_writes_an_audit_row_for_each_event(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    let rp = setup(&app).await;
    for _ in 0..3 {
        let token = app.admin_token().await;
        assert_eq!(token.status(), 200);
    }
    let code = sign_in(&app, &rp, &browser()).await;
    let tokens = token_of(exchange(&app, &rp, &code, REDIRECT, VERIFIER).await).await;
    let first = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(refresh(&app, &rp, first, None).await.status(), 200);
    assert_eq!(refresh(&app, &rp, first, None).await.status(), 400);
    let revoked = app
        .http
        .post(app.url("/revoke"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(&[("token", tokens["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    app.cli(&[
        "client",
        "create",
        "--tenant",
        "default",
        "--name",
        "Audited",
        "--grant",
        "client_credentials",
        "--json",
    ])
    .await
    .json();
    let made = app
        .cli_with_stdin(
            &[
                "user",
                "create",
                "--tenant",
                "default",
                "--username",
                "grace",
                "--password-stdin",
            ],
            b"another long passphrase",
        )
        .await;
    assert!(made.success, "{made:?}");
    assert!(app.cli(&["keys", "rotate"]).await.success);

    let rows = app
        .audit_rows(&[
            "signin.success",
            "consent.granted",
            "token.issued",
            "refresh.reuse_detected",
            "token.revoked",
            "client.created",
            "user.created",
            "key.rotated",
        ])
        .await;
    let find = |event: &str, detail: &str| {
        rows.iter()
            .find(|r| r["event"] == event && r["detail"].as_str().unwrap_or("").contains(detail))
            .unwrap_or_else(|| panic!("no {event} {detail:?} in {rows:#?}"))
            .clone()
    };
    let service = find("token.issued", "client_credentials");
    assert_eq!(service["client_id"], app.admin.0.as_str());
    assert_eq!(service["count"], 3, "service tokens are counted in batches");
    let user = find("token.issued", "authorization_code");
    assert_eq!(user["client_id"], rp.id.as_str());
    assert_eq!(user["ip"], "127.0.0.1");
    assert_eq!(user["tenant"], "default");
    let signin = find("signin.success", "");
    assert_eq!(signin["actor"], user["actor"], "the user is the actor");
    assert_eq!(find("refresh.reuse_detected", "")["outcome"], "denied");
    assert_eq!(find("client.created", "Audited")["actor"], "cli");
    assert_eq!(find("user.created", "grace")["tenant"], "default");
    assert_eq!(find("key.rotated", "successor published")["actor"], "cli");
    let text = serde_json::to_string(&rows).unwrap();
    for secret in [
        PASSWORD,
        "another long passphrase",
        &rp.secret,
        &app.admin.1,
        first,
        &code,
    ] {
        assert!(!text.contains(secret), "a secret in the audit trail");
    }
}

#[tokio::test]
async fn the_admin_api_serves_the_audit_trail_to_admin_tokens_only() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let admin: Value = app.admin_token().await.json().await.unwrap();
    let admin = admin["access_token"].as_str().unwrap().to_owned();
    let get = |query: &'static str, token: Option<String>| {
        let mut request = app.http.get(app.url(&format!("/admin/audit{query}")));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let rows: Vec<Value> = eventually("the admin token's issuance in the trail", async || {
        let response = get("?tenant=default&limit=10", Some(admin.clone()))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let rows: Vec<Value> = response.json().await.unwrap();
        rows.iter()
            .any(|r| r["event"] == "token.issued")
            .then_some(rows)
    })
    .await;
    assert!(rows.iter().all(|r| r["tenant"] == "default"));

    let none = get("", None).await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"castellan\""
    );
    let rp = setup(&app).await;
    let user = signed_in_tokens(&app, &rp, &browser()).await;
    let other = get("", Some(user["access_token"].as_str().unwrap().to_owned()))
        .await
        .unwrap();
    assert_eq!(other.status(), 401, "a token for another audience");
    let bad = get("?limit=0", Some(admin.clone())).await.unwrap();
    assert_eq!(bad.status(), 400);
}

/// The real binary with JSON logs at debug level: every line is JSON, lines written while a
/// request is handled carry its id, and no password, secret, code or token appears.
#[tokio::test]
async fn logs_are_json_with_request_ids_and_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        (
            "CASTELLAN_DATABASE_URL",
            format!("sqlite://{}/c.db", dir.path().display()),
        ),
        (
            "CASTELLAN_MASTER_KEY_FILE",
            format!("{}/master.key", dir.path().display()),
        ),
        ("CASTELLAN_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "debug".to_owned()),
    ];
    let port = free_port();
    let log_path = dir.path().join("server.log");
    let mut server = Command::new(env!("CARGO_BIN_EXE_castellan"))
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("CASTELLAN_LISTEN", format!("127.0.0.1:{port}"))
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap()).lines();
    let admin = bootstrap_credentials(&mut stdout).await;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let cli = async |args: &[&str], input: &[u8]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_castellan"))
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stdin, input)
            .await
            .unwrap();
        drop(stdin);
        let out = child.wait_with_output().await.unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    cli(
        &[
            "user",
            "create",
            "--tenant",
            "default",
            "--username",
            "ada",
            "--password-stdin",
        ],
        PASSWORD.as_bytes(),
    )
    .await;
    let created: Value = serde_json::from_str(
        &cli(
            &[
                "client",
                "create",
                "--tenant",
                "default",
                "--name",
                "Web",
                "--grant",
                "authorization_code",
                "--grant",
                "refresh_token",
                "--redirect-uri",
                REDIRECT,
                "--skip-consent",
                "--json",
            ],
            b"",
        )
        .await,
    )
    .unwrap();
    let rp = (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    );
    let token = http
        .post(format!("{base}/token"))
        .basic_auth(&admin.0, Some(&admin.1))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let request_id = token.headers()["x-request-id"].to_str().unwrap().to_owned();
    let access: Value = token.json().await.unwrap();

    // A sign-in, by hand: the login page, the form, the redirect with a code.
    let browser = browser();
    let authorize = format!(
        "{base}/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid+offline_access\
         &state=s&code_challenge={CHALLENGE}&code_challenge_method=S256",
        rp.0,
        crate::helpers::urlencode(REDIRECT)
    );
    let html = browser
        .get(authorize)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let back = post_form(
        &browser,
        format!("{base}/login"),
        &[
            ("request", &hidden(&html, "request")),
            ("csrf", &hidden(&html, "csrf")),
            ("username", "ada"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(back.status(), 303);
    let location = back.headers()["location"].to_str().unwrap().to_owned();
    let code = location
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("code="))
        .unwrap()
        .to_owned();
    let tokens: Value = http
        .post(format!("{base}/token"))
        .basic_auth(&rp.0, Some(&rp.1))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refreshed: Value = http
        .post(format!("{base}/token"))
        .basic_auth(&rp.0, Some(&rp.1))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(refreshed["refresh_token"].is_string(), "{refreshed}");
    let used = tokens["refresh_token"].as_str().unwrap();
    let refused = failures(&base, &admin, &rp, &code, used).await;

    let pid = server.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(PATIENCE, server.wait())
        .await
        .expect("the server stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");

    let log = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["span"]["id"] == request_id.as_str()),
        "no line carries the token request's id {request_id}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "castellan stopped"),
        "no shutdown line"
    );
    let secrets = [
        PASSWORD,
        &admin.1,
        &rp.1,
        &code,
        access["access_token"].as_str().unwrap(),
        tokens["access_token"].as_str().unwrap(),
        tokens["id_token"].as_str().unwrap(),
        tokens["refresh_token"].as_str().unwrap(),
        refreshed["refresh_token"].as_str().unwrap(),
    ];
    for (i, secret) in secrets.iter().enumerate() {
        assert!(!log.contains(secret), "secret #{i} is in the log");
    }
    // The failures were logged (so the check below looked at them), without their values.
    for said in ["sign-in refused", "replayed"] {
        assert!(log.contains(said), "no {said:?} line");
    }
    for secret in &refused {
        assert!(
            !log.contains(secret.as_str()),
            "a refused value is in the log: {secret}"
        );
    }
}

/// Requests that fail, each carrying a secret-like value that must not reach the log: wrong
/// client secrets (Basic and in the body), malformed Basic headers, unknown, replayed and reused
/// codes and refresh tokens, bogus tokens at introspection, revocation and userinfo, and a
/// wrong password. Returns the values sent.
async fn failures(
    base: &str,
    admin: &(String, String),
    rp: &(String, String),
    code: &str,
    used_refresh: &str,
) -> Vec<String> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let http = reqwest::Client::new();
    let sent: Vec<String> = [
        "wrong-basic-secret-5c1d7e",
        "wrong-post-secret-8a2b4f",
        "no-colon-in-basic-3e9f0a",
        "not*base64*basic-6b7c8d",
        "bad%ZZencoding-basic-1f2e3d",
        "unknown-code-4d5e6f",
        "unknown-refresh-7a8b9c",
        "bogus-introspected-0c1d2e",
        "bogus-revoked-3f4a5b",
        "bogus-bearer-6c7d8e",
        "wrong-password-9f0a1b",
    ]
    .map(str::to_owned)
    .into();
    let token = |form: Vec<(&'static str, String)>, basic: Option<String>| {
        let mut request = http.post(format!("{base}/token")).form(&form);
        if let Some(header) = basic {
            request = request.header("authorization", header);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let cc = || vec![("grant_type", "client_credentials".to_owned())];
    let basic = |id: &str, secret: &str| Some(format!("Basic {}", b64(&format!("{id}:{secret}"))));
    let statuses = [
        token(cc(), basic(&admin.0, &sent[0])).await,
        token(
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", admin.0.clone()),
                ("client_secret", sent[1].clone()),
            ],
            None,
        )
        .await,
        token(cc(), Some(format!("Basic {}", b64(&sent[2])))).await,
        token(cc(), Some(format!("Basic {}", sent[3]))).await,
        token(cc(), basic(&admin.0, &sent[4])).await,
        token(
            cc(),
            Some(format!("Basic {}", b64(&format!("%ZZ:{}", sent[0])))),
        )
        .await,
    ];
    for status in statuses {
        assert!([400, 401].contains(&status), "{status}");
    }
    let as_rp = |form: Vec<(&'static str, String)>| token(form, basic(&rp.0, &rp.1));
    for form in [
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", sent[5].clone()),
            ("redirect_uri", REDIRECT.into()),
            ("code_verifier", VERIFIER.into()),
        ],
        // Replayed: it revokes what it issued, and says so in the log without the code.
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code.into()),
            ("redirect_uri", REDIRECT.into()),
            ("code_verifier", VERIFIER.into()),
        ],
        vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", sent[6].clone()),
        ],
        vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", used_refresh.into()),
        ],
    ] {
        assert_eq!(as_rp(form).await, 400);
    }
    for (path, value) in [("/introspect", &sent[7]), ("/revoke", &sent[8])] {
        let answer = http
            .post(format!("{base}{path}"))
            .basic_auth(&rp.0, Some(&rp.1))
            .form(&[("token", value.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{path}");
    }
    let userinfo = http
        .get(format!("{base}/userinfo"))
        .bearer_auth(&sent[9])
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401);
    let browser = browser();
    let authorize = format!(
        "{base}/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid\
         &code_challenge={CHALLENGE}&code_challenge_method=S256",
        rp.0,
        crate::helpers::urlencode(REDIRECT)
    );
    let html = browser
        .get(authorize)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let wrong = post_form(
        &browser,
        format!("{base}/login"),
        &[
            ("request", &hidden(&html, "request")),
            ("csrf", &hidden(&html, "csrf")),
            ("username", "ada"),
            ("password", &sent[10]),
        ],
    )
    .await;
    assert_eq!(wrong.status(), 200, "the form again");
    sent
}
