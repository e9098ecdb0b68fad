//! The real binary's logs: JSON lines carrying request ids, and free of secrets even when every
//! kind of request fails.

use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::binary::{bootstrap_credentials, serve, sqlite_in, terminate};
use crate::support::html::query_param;
use crate::support::oauth::basic;
use crate::support::{
    Browser, CC, CHALLENGE, PASSWORD, PATIENCE, REDIRECT, Rp, TestClient, TestDb, text, urlencode,
};

/// The real binary with JSON logs at debug level: every line is JSON, lines written while a
/// request is handled carry its id, and no password, secret, code or token appears.
#[tokio::test]
async fn logs_are_json_with_request_ids_and_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let (mut command, addr) = serve(dir.path());
    let mut server = command
        .envs(sqlite_in(dir.path()))
        .env("CASTELLAN_LOG_FORMAT", "json")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap()).lines();
    let (id, secret) = bootstrap_credentials(&mut stdout).await;
    let admin = TestClient { id, secret };
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    // The management commands, against the server's database.
    let [(_, database_url), _] = sqlite_in(dir.path());
    let db = TestDb::open(database_url, dir).await;
    db.cli_create_user("default", "ada", &[], PASSWORD.as_bytes())
        .await
        .ok();
    let web = db
        .cli_web_client("default", "Web", &["--skip-consent"])
        .await;
    let rp = Rp::new(web, &base, http.clone());
    let token = Rp::new(admin.clone(), &base, http.clone())
        .token(&[CC])
        .await;
    let request_id = token.headers()["x-request-id"].to_str().unwrap().to_owned();
    let access: Value = token.json().await.unwrap();

    // A sign-in, by hand: the login page, the form, the redirect with a code.
    let browser = Browser::new(&base, &base);
    let authorize = format!(
        "{base}/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid+offline_access\
         &state=s&code_challenge={CHALLENGE}&code_challenge_method=S256",
        rp.id,
        urlencode(REDIRECT)
    );
    let html = browser.get(&authorize).await.text().await.unwrap();
    let back = browser.log_in(&html, "ada", PASSWORD).await;
    assert_eq!(back.status(), 303);
    let location = back.headers()["location"].to_str().unwrap().to_owned();
    let (_, query) = location.split_once('?').unwrap();
    let code = query_param(query, "code").unwrap();
    let tokens: Value = rp.exchange(&code).await.json().await.unwrap();
    let refreshed: Value = rp
        .refresh(&text(&tokens, "refresh_token"), None)
        .await
        .json()
        .await
        .unwrap();
    assert!(refreshed["refresh_token"].is_string(), "{refreshed}");
    let used = tokens["refresh_token"].as_str().unwrap();
    let refused = failures(&base, &admin, &rp, &code, used).await;

    terminate(server.id().unwrap());
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
        lines.iter().any(|l| l["target"] == "castellan::access"
            && l["fields"]["request_id"] == request_id.as_str()
            && l["fields"]["route"] == "/token"
            && l["fields"]["status"] == 200),
        "no access line for the token request {request_id}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "castellan stopped"),
        "no shutdown line"
    );
    let secrets = [
        PASSWORD,
        &admin.secret,
        &rp.secret,
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
    admin: &TestClient,
    rp: &Rp,
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
    let statuses = [
        token(cc(), Some(basic(&admin.id, &sent[0]))).await,
        token(
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", admin.id.clone()),
                ("client_secret", sent[1].clone()),
            ],
            None,
        )
        .await,
        token(cc(), Some(format!("Basic {}", b64(&sent[2])))).await,
        token(cc(), Some(format!("Basic {}", sent[3]))).await,
        token(cc(), Some(basic(&admin.id, &sent[4]))).await,
        token(cc(), Some(basic("%ZZ", &sent[0]))).await,
    ];
    for status in statuses {
        assert!([400, 401].contains(&status), "{status}");
    }
    for response in [
        rp.exchange(&sent[5]).await,
        // Replayed: it revokes what it issued, and says so in the log without the code.
        rp.exchange(code).await,
        rp.refresh(&sent[6], None).await,
        rp.refresh(used_refresh, None).await,
    ] {
        assert_eq!(response.status(), 400);
    }
    assert_eq!(rp.introspect(&sent[7]).await.status(), 200, "/introspect");
    assert_eq!(rp.revoke(&sent[8]).await.status(), 200, "/revoke");
    let userinfo = http
        .get(format!("{base}/userinfo"))
        .bearer_auth(&sent[9])
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401);
    let browser = Browser::new(base, base);
    let authorize = format!(
        "{base}/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid\
         &code_challenge={CHALLENGE}&code_challenge_method=S256",
        rp.id,
        urlencode(REDIRECT)
    );
    let html = browser.get(&authorize).await.text().await.unwrap();
    let wrong = browser.log_in(&html, "ada", &sent[10]).await;
    assert_eq!(wrong.status(), 200, "the form again");
    sent
}

/// The default text log, written to a file: one access line per request at INFO (method, route,
/// status, latency, request id, client address), no colour codes, and no query string.
#[tokio::test]
async fn each_request_has_an_access_line_in_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let (mut command, addr) = serve(dir.path());
    let mut server = command
        .envs(sqlite_in(dir.path()))
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap()).lines();
    bootstrap_credentials(&mut stdout).await;
    let http = reqwest::Client::new();
    let secret_query = "code_challenge=query-value-not-for-logs-5e6f";
    let page = http
        .get(format!(
            "http://{addr}/authorize?client_id=nobody&{secret_query}"
        ))
        .header("x-request-id", "access-line-1")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    let health = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    let health_id = health.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();

    terminate(server.id().unwrap());
    tokio::time::timeout(PATIENCE, server.wait())
        .await
        .expect("the server stops on SIGTERM")
        .unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(!log.contains('\u{1b}'), "colour codes in a file:\n{log}");
    assert!(!log.contains("query-value-not-for-logs"), "{log}");
    let access: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("castellan::access"))
        .collect();
    let authorize = access
        .iter()
        .find(|l| l.contains("request_id=access-line-1"))
        .unwrap_or_else(|| panic!("no access line for the authorization request:\n{log}"));
    for field in [
        " INFO ",
        "method=GET",
        "route=/authorize",
        "status=400",
        "latency_ms=",
        "client=127.0.0.1",
    ] {
        assert!(authorize.contains(field), "no {field:?} in {authorize}");
    }
    assert!(
        access
            .iter()
            .any(|l| l.contains(&format!("request_id={health_id}")) && l.contains("status=200")),
        "no access line for /healthz:\n{log}"
    );
}
