//! `spawn_app` and a `TestApp` with one helper per endpoint; each test gets its own database.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Once;
use std::time::Duration;

use castellan::admin;
use castellan::app::App;
use castellan::clock::Clock;
use castellan::config::Config;
use castellan::crypto::MasterKey;
use castellan::keys::rotation::Rotator;
use castellan::protocol::{ApiIdentifier, GrantType, Scope, TenantSlug};
use castellan::store::Store;
use castellan::store::clients::NewClient;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sqlx::Connection;

/// Runs each listed test once per backend: `mod NAME { sqlite, postgres }`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }

                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server's maintenance database; `.ci/run` sets it, the default suits these machines.
pub fn postgres_admin_url() -> String {
    std::env::var("CASTELLAN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database of the given kind; the temp dir holds the SQLite file and the master key.
pub async fn fresh_database(backend: Backend, dir: &tempfile::TempDir) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}/castellan.db", dir.path().display()),
        Backend::Postgres => {
            let admin_url = postgres_admin_url();
            let name = format!("castellan_test_{}", uuid_like());
            let mut conn = sqlx::PgConnection::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin_url}: {e} (set CASTELLAN_TEST_POSTGRES_URL)"));
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut conn)
                .await
                .unwrap();
            let (base, _) = admin_url.rsplit_once('/').unwrap();
            format!("{base}/{name}")
        }
    }
}

fn uuid_like() -> String {
    let mut bytes = [0u8; 8];
    castellan::crypto::random::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn init_test_log() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            castellan::telemetry::init(castellan::config::LogFormat::Text);
        }
    });
}

pub struct TestApp {
    pub base: String,
    pub issuer: String,
    pub http: reqwest::Client,
    pub store: Store,
    pub clock: Clock,
    pub database_url: String,
    pub dir: tempfile::TempDir,
    /// The bootstrap admin client's id and secret.
    pub admin: (String, String),
    pub config: Config,
    /// Runs key-rotation steps at once, at the app's clock.
    pub rotator: Arc<Rotator>,
}

pub struct TestClient {
    pub id: String,
    pub secret: String,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[]).await
}

/// Starts the server in-process with extra `CASTELLAN_*` settings.
pub async fn spawn_app_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    spawn_app_at(backend, Clock::System, extra).await
}

/// Starts the server in-process on the given clock (a fixed one lets a test move time).
pub async fn spawn_app_at(backend: Backend, clock: Clock, extra: &[(&str, &str)]) -> TestApp {
    init_test_log();
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(backend, &dir).await;
    let mut env: HashMap<String, String> = HashMap::from([
        ("CASTELLAN_LISTEN".into(), "127.0.0.1:0".into()),
        ("CASTELLAN_DATABASE_URL".into(), database_url.clone()),
        (
            "CASTELLAN_MASTER_KEY_FILE".into(),
            dir.path().join("keys/master.key").display().to_string(),
        ),
    ]);
    for (k, v) in extra {
        env.insert((*k).into(), (*v).into());
    }
    let config = Config::from_sources(None, &env).unwrap();
    let app = App::build_with_clock(&config, clock.clone()).await.unwrap();
    let rotator = app.rotator();
    let base = format!("http://{}", app.local_addr());
    let issuer = app.issuer().to_owned();
    let store = app.store().clone();
    let (admin_client, admin_secret) = app
        .bootstrap
        .as_ref()
        .expect("a fresh database bootstraps an admin");
    let admin = (
        admin_client.client_id.to_string(),
        admin_secret.secret().to_owned(),
    );
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    TestApp {
        base,
        issuer,
        http: reqwest::Client::new(),
        store,
        clock,
        database_url,
        dir,
        admin,
        config,
        rotator,
    }
}

impl TestApp {
    /// The key-encryption key the server created in the test's folder.
    pub fn master_key(&self) -> MasterKey {
        MasterKey::load(&self.dir.path().join("keys/master.key")).unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn create_api(&self, identifier: &str, scopes: &[&str]) {
        let scopes: Vec<Scope> = scopes.iter().map(|s| Scope::parse(s).unwrap()).collect();
        self.store
            .create_api(
                &ApiIdentifier::parse(identifier).unwrap(),
                identifier,
                &scopes,
                self.clock.now(),
            )
            .await
            .unwrap();
    }

    pub async fn create_role(&self, tenant: &str, name: &str, permissions: &[&str]) {
        let permissions: Vec<String> = permissions.iter().map(|p| p.to_string()).collect();
        self.store
            .create_role(
                &TenantSlug::parse(tenant).unwrap(),
                name,
                &permissions,
                self.clock.now(),
            )
            .await
            .unwrap();
    }

    pub async fn create_tenant(&self, slug: &str) {
        self.store
            .create_tenant(&TenantSlug::parse(slug).unwrap(), slug, self.clock.now())
            .await
            .unwrap();
    }

    /// A client-credentials client in `tenant` granted `apis` (identifier, scopes) and `roles`.
    pub async fn create_client(
        &self,
        tenant: &str,
        apis: &[(&str, &[&str])],
        roles: &[&str],
        ttl: Option<i64>,
    ) -> TestClient {
        let new = NewClient {
            tenant: TenantSlug::parse(tenant).unwrap(),
            name: "test client".into(),
            grant_types: vec![GrantType::ClientCredentials],
            apis: apis
                .iter()
                .map(|(api, scopes)| {
                    (
                        ApiIdentifier::parse(api).unwrap(),
                        scopes.iter().map(|s| Scope::parse(s).unwrap()).collect(),
                    )
                })
                .collect(),
            resource_server_for: vec![],
            roles: roles.iter().map(|r| r.to_string()).collect(),
            token_ttl: ttl,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            public: false,
            skip_consent: false,
        };
        let (record, secret) = admin::create_client(&self.store, &self.clock, &new)
            .await
            .unwrap();
        TestClient {
            id: record.client_id.to_string(),
            secret: secret.unwrap().secret().to_owned(),
        }
    }

    /// A client-credentials token request of the bootstrap admin client.
    pub async fn admin_token(&self) -> reqwest::Response {
        self.http
            .post(self.url("/token"))
            .basic_auth(&self.admin.0, Some(&self.admin.1))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
    }

    /// `POST /token` with `client_secret_basic`.
    pub async fn token_basic(
        &self,
        client: &TestClient,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url("/token"))
            .basic_auth(urlencode(&client.id), Some(urlencode(&client.secret)))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// `POST /token` with `client_secret_post`: the credentials travel in the form body.
    pub async fn token_post(
        &self,
        client: &TestClient,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut body: Vec<(&str, &str)> = vec![
            ("client_id", client.id.as_str()),
            ("client_secret", client.secret.as_str()),
        ];
        body.extend_from_slice(form);
        self.http
            .post(self.url("/token"))
            .form(&body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /token` with a raw body and headers, for malformed requests.
    pub async fn token_raw(
        &self,
        content_type: Option<&str>,
        authorization: Option<&str>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.url("/token")).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        if let Some(auth) = authorization {
            request = request.header("authorization", auth);
        }
        request.send().await.unwrap()
    }

    pub async fn jwks(&self) -> Value {
        self.http
            .get(self.url("/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `GET /jwks.json` with an optional `If-None-Match`, for the caching headers.
    pub async fn jwks_response(&self, if_none_match: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.url("/jwks.json"));
        if let Some(etag) = if_none_match {
            request = request.header("if-none-match", etag);
        }
        request.send().await.unwrap()
    }

    /// `GET` one of the two discovery documents; `path` is its `/.well-known/...` path.
    pub async fn discovery(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// `GET /healthz`.
    pub async fn healthz(&self) -> reqwest::Response {
        self.http.get(self.url("/healthz")).send().await.unwrap()
    }

    /// `GET /readyz`.
    pub async fn readyz(&self) -> reqwest::Response {
        self.http.get(self.url("/readyz")).send().await.unwrap()
    }

    /// Runs the real `castellan` binary against this app's database, from its temp dir.
    pub async fn cli(&self, args: &[&str]) -> CliOutput {
        self.cli_with_env(args, &[]).await
    }

    /// Runs the CLI with extra `CASTELLAN_*` settings (an inline master key replaces the file).
    pub async fn cli_with_env(&self, args: &[&str], extra: &[(&str, &str)]) -> CliOutput {
        self.run_cli(args, extra, b"").await
    }

    /// The audit trail as `castellan audit tail --json` gives it, polled until `done` holds
    /// (the recorder writes in batches).
    pub async fn audit_until(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        eventually(what, async || {
            let rows = self
                .cli(&["audit", "tail", "--json", "--limit", "500"])
                .await
                .json();
            let rows = rows.as_array().unwrap().clone();
            done(&rows).then_some(rows)
        })
        .await
    }

    /// The audit trail, polled until it holds a row for each of `events`.
    pub async fn audit_rows(&self, events: &[&str]) -> Vec<Value> {
        self.audit_until("audit rows", |rows| {
            events.iter().all(|e| rows.iter().any(|r| r["event"] == *e))
        })
        .await
    }

    /// Runs `castellan healthcheck` with `args`, configured to listen where this server does.
    pub async fn healthcheck(&self, args: &[&str]) -> CliOutput {
        let listen = self.base.trim_start_matches("http://").to_owned();
        let args: Vec<&str> = std::iter::once("healthcheck")
            .chain(args.iter().copied())
            .collect();
        self.cli_with_env(&args, &[("CASTELLAN_LISTEN", &listen)])
            .await
    }

    /// Runs the CLI with `input` on its standard input (a password, say).
    pub async fn cli_with_stdin(&self, args: &[&str], input: &[u8]) -> CliOutput {
        self.run_cli(args, &[], input).await
    }

    async fn run_cli(&self, args: &[&str], extra: &[(&str, &str)], input: &[u8]) -> CliOutput {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_castellan"));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("CASTELLAN_") {
                command.env_remove(name);
            }
        }
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("CASTELLAN_DATABASE_URL", &self.database_url)
            .env("RUST_BACKTRACE", "0")
            .kill_on_drop(true);
        if !extra.iter().any(|(k, _)| *k == "CASTELLAN_MASTER_KEY") {
            command.env(
                "CASTELLAN_MASTER_KEY_FILE",
                self.dir.path().join("keys/master.key"),
            );
        }
        command
            .envs(extra.iter().copied())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut stdin, input)
            .await
            .unwrap();
        drop(stdin);
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("castellan {args:?} did not finish within 60 s"))
            .unwrap();
        let out = CliOutput {
            success: output.status.success(),
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        };
        assert!(
            !out.stderr.contains("panicked"),
            "castellan {args:?} panicked: {}",
            out.stderr
        );
        out
    }

    /// Validates an access token as a resource server would: JWKS by `kid`, RS256, every claim.
    pub async fn verify_access_token(&self, token: &str, audience: &str) -> Value {
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let kid = header.kid.expect("kid in header");
        let jwks = self.jwks().await;
        let key = key_for(&jwks, &kid).unwrap_or_else(|| panic!("kid {kid} not in JWKS"));
        let validation = validation(&self.issuer, audience);
        jsonwebtoken::decode::<Value>(token, &key, &validation)
            .unwrap()
            .claims
    }
}

/// The RS256 key published under `kid` in a JWKS document.
pub fn key_for(jwks: &Value, kid: &str) -> Option<DecodingKey> {
    let jwk = jwks["keys"].as_array()?.iter().find(|k| k["kid"] == kid)?;
    Some(DecodingKey::from_rsa_components(jwk["n"].as_str()?, jwk["e"].as_str()?).unwrap())
}

/// A resource server's rules: RS256, this issuer and audience, no leeway, every time claim checked.
pub fn validation(issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    validation.validate_nbf = true;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    validation
}

/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded first.
pub fn urlencode(s: &str) -> String {
    url_encode(s)
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What a `castellan` command printed and how it exited.
#[derive(Debug)]
pub struct CliOutput {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert!(self.success, "command failed: {self:?}");
        &self.stdout
    }

    /// Asserts success and parses stdout as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

/// A port free on 127.0.0.1 right now, for a real `castellan serve` to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The bootstrap admin client's id and secret, which `castellan serve` prints once on stdout
/// on first start; fails unless both come within 30 s.
pub async fn bootstrap_credentials(
    stdout: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) -> (String, String) {
    let (mut id, mut secret) = (String::new(), String::new());
    while id.is_empty() || secret.is_empty() {
        let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
            .await
            .expect("the server starts within 30 s")
            .unwrap()
            .expect("the bootstrap credentials on stdout");
        if let Some(value) = line.trim().strip_prefix("client_id:") {
            id = value.trim().to_owned();
        } else if let Some(value) = line.trim().strip_prefix("client_secret:") {
            secret = value.trim().to_owned();
        }
    }
    (id, secret)
}

/// How long a test waits for what should happen soon. Generous, because the suite shares a
/// loaded machine; polling returns as soon as the thing holds, so passing tests do not wait it.
/// What a test proves is that it happens without a restart, not how fast: speed is the
/// benchmarks' business.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `attempt` every 150 ms until it yields a value; fails after [`PATIENCE`].
pub async fn eventually<T>(what: &str, mut attempt: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {PATIENCE:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// For [`eventually`]: a token response that is no longer a success, 5xx counting as "not yet"
/// (a transient outage is not a refusal).
pub fn refused(response: reqwest::Response) -> Option<reqwest::Response> {
    let status = response.status();
    (!status.is_success() && !status.is_server_error()).then_some(response)
}

/// Asserts a 200 token response with `Cache-Control: no-store` and returns its body.
pub async fn token_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let cache_control = header(&response, "cache-control");
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "expected a token, got {body}");
    assert_eq!(cache_control.as_deref(), Some("no-store"));
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    body
}

/// Asserts an RFC 6749 §5.2 error: status, `error`, a non-empty `error_description`, JSON,
/// `Cache-Control: no-store`; returns the headers and the body.
pub async fn expect_oauth_error(
    response: reqwest::Response,
    status: u16,
    error: &str,
) -> (reqwest::header::HeaderMap, Value) {
    let headers = response.headers().clone();
    let (actual, body) = error_of(response).await;
    assert_eq!(
        (actual, body["error"].as_str()),
        (status, Some(error)),
        "{body}"
    );
    let description = body["error_description"].as_str().unwrap_or("");
    assert!(
        !description.trim().is_empty(),
        "no error_description: {body}"
    );
    assert!(
        headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json")),
        "{headers:?}"
    );
    assert_eq!(
        headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    if status == 401 {
        assert!(
            headers.contains_key("www-authenticate"),
            "a 401 without a challenge: {headers:?}"
        );
    }
    (headers, body)
}

pub fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

pub async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body)
}
