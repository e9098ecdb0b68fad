//! `TestApp`: the server in-process on a random port with a fresh database, built from typed
//! configuration, with one helper per endpoint.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Once};

use castellan::app::App;
use castellan::audit::Audit;
use castellan::clock::Clock;
use castellan::config::{Config, MasterKeySource};
use castellan::crypto::MasterKey;
use castellan::keys::rotation::Rotator;
use serde_json::Value;

use super::binary::CliOutput;
use super::browser::Browser;
use super::db::{Backend, TestDb, fresh_database};
use super::oauth::{CC, TestClient, jwk_key, kids, text, token_of, validation_for};
use super::rp::Rp;
use super::validator::Validator;

/// A running server and the database under it: everything a [`TestDb`] offers (the store, the
/// CLI, fixtures) through `Deref`, and the server's endpoints.
pub struct TestApp {
    db: TestDb,
    pub base: String,
    /// Where `/metrics` is served, when `metrics_listen` sets it apart.
    pub metrics_base: Option<String>,
    pub issuer: String,
    pub http: reqwest::Client,
    /// The bootstrap admin client.
    pub admin: TestClient,
    pub config: Config,
    /// Runs key-rotation steps at once, at the app's clock.
    pub rotator: Arc<Rotator>,
    /// The server's audit recorder, flushed by [`TestApp::audit_rows`].
    pub audit: Audit,
}

impl Deref for TestApp {
    type Target = TestDb;

    fn deref(&self) -> &TestDb {
        &self.db
    }
}

/// A change to the default settings.
type ConfigEdit = Box<dyn FnOnce(&mut Config) + Send>;

/// How a [`TestApp`] is to be started: its clock, its database and any settings that differ
/// from the defaults.
pub struct TestAppBuilder {
    backend: Backend,
    clock: Clock,
    database_url: Option<String>,
    /// The database was served before (another app's): no bootstrap admin is expected.
    existing_database: bool,
    edits: Vec<ConfigEdit>,
}

impl TestAppBuilder {
    /// A clock of the test's own (a fixed one lets the test move time).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Changes settings of the defaults, e.g. `|c| c.sessions.refresh_reuse_grace = 30`. The
    /// fields are set as given: what `Config::from_sources` would derive from one (say
    /// `key_publish_ahead` from `jwks_max_age`) the test sets too, if it matters.
    pub fn config(mut self, edit: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.edits.push(Box::new(edit));
        self
    }

    /// Serves this database (one reached through a proxy, say) instead of a fresh one.
    pub fn database(mut self, url: String) -> Self {
        self.database_url = Some(url);
        self
    }

    /// Serves the database of `other`, with its key-encryption key: a second node, or the
    /// same deployment restarted with new settings. It has no bootstrap admin of its own.
    pub fn sharing(mut self, other: &TestDb) -> Self {
        self.database_url = Some(other.database_url.clone());
        self.existing_database = true;
        let key = other.master_key_path();
        self.config(move |c| c.master_key = MasterKeySource::File(key))
    }

    pub async fn spawn(self) -> TestApp {
        init_test_log();
        let dir = tempfile::tempdir().unwrap();
        let database_url = match self.database_url {
            Some(url) => url,
            None => fresh_database(self.backend, &dir).await,
        };
        let mut config = defaults(&dir, &database_url);
        for edit in self.edits {
            edit(&mut config);
        }
        let app = App::build_with_clock(&config, self.clock.clone())
            .await
            .unwrap();
        // A database served before has no bootstrap admin to give: its client stays empty.
        let admin = match app.bootstrap.as_ref() {
            Some((admin, secret)) => TestClient {
                id: admin.client_id.to_string(),
                secret: secret.secret().to_owned(),
            },
            None if self.existing_database => TestClient {
                id: String::new(),
                secret: String::new(),
            },
            None => panic!("a fresh database bootstraps an admin"),
        };
        let db = TestDb {
            store: app.store().clone(),
            clock: self.clock,
            database_url,
            dir,
        };
        let (base, issuer) = (
            format!("http://{}", app.local_addr()),
            app.issuer().to_owned(),
        );
        let metrics_base = app.metrics_addr().map(|addr| format!("http://{addr}"));
        let (rotator, audit) = (app.rotator(), app.audit());
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        TestApp {
            db,
            base,
            metrics_base,
            issuer,
            http: reqwest::Client::new(),
            admin,
            config,
            rotator,
            audit,
        }
    }
}

/// The defaults, listening on a random port, on `database_url`, with the key file in `dir`.
fn defaults(dir: &tempfile::TempDir, database_url: &str) -> Config {
    let mut config = Config::from_sources(None, &HashMap::new()).unwrap();
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.database_url = database_url.to_owned();
    config.master_key = MasterKeySource::File(dir.path().join("keys/master.key"));
    config
}

/// Server logs in tests only when `TEST_LOG` is set.
fn init_test_log() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            castellan::telemetry::init(castellan::config::LogFormat::Text);
        }
    });
}

impl TestApp {
    pub fn builder(backend: Backend) -> TestAppBuilder {
        TestAppBuilder {
            backend,
            clock: Clock::System,
            database_url: None,
            existing_database: false,
            edits: Vec::new(),
        }
    }

    /// The server with the default settings on a fresh database.
    pub async fn spawn(backend: Backend) -> Self {
        Self::builder(backend).spawn().await
    }

    /// The key-encryption key the server created in the test's folder.
    pub fn master_key(&self) -> MasterKey {
        MasterKey::load(&self.master_key_path()).unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A new browser with no session.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.base, &self.issuer)
    }

    /// A relying party with the credentials of `client`.
    pub fn rp(&self, client: TestClient) -> Rp {
        Rp::new(client, &self.base, self.http.clone())
    }

    /// The usual sign-in cast: user `ada` and the web client Ledger Web, which asks for consent.
    pub async fn setup_sign_in(&self) -> Rp {
        self.create_ada(&[]).await;
        self.rp(self.create_web_client(&[]).await)
    }

    /// A client-credentials token request of the bootstrap admin client.
    pub async fn admin_token(&self) -> reqwest::Response {
        self.token_basic(&self.admin, &[CC]).await
    }

    /// [`TestApp::admin_token`], forwarded for `address` (believed only from a trusted proxy).
    pub async fn admin_token_from(&self, address: &str) -> reqwest::Response {
        self.http
            .post(self.url("/token"))
            .header("x-forwarded-for", address)
            .header("authorization", self.admin.basic())
            .form(&[CC])
            .send()
            .await
            .unwrap()
    }

    /// A client-credentials token request of `client`, nothing else asked.
    pub async fn client_credentials(&self, client: &TestClient) -> reqwest::Response {
        self.token_basic(client, &[CC]).await
    }

    /// The access token of a successful [`TestApp::client_credentials`] request.
    pub async fn access_token(&self, client: &TestClient) -> String {
        text(
            &token_of(self.client_credentials(client).await).await,
            "access_token",
        )
    }

    /// `POST /token` with `client_secret_basic`.
    pub async fn token_basic(
        &self,
        client: &TestClient,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url("/token"))
            .header("authorization", client.basic())
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

    /// A form `POST` to `path` as `client`, with `client_secret_basic`.
    pub async fn post_as(
        &self,
        client: &TestClient,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .basic_auth(&client.id, Some(&client.secret))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// `POST /introspect` of `token` as `client`.
    pub async fn introspect(&self, client: &TestClient, token: &str) -> reqwest::Response {
        self.post_as(client, "/introspect", &[("token", token)])
            .await
    }

    /// `GET /userinfo` with `token` as a bearer token, or with none.
    pub async fn userinfo(&self, token: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.url("/userinfo"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    pub async fn jwks(&self) -> Value {
        self.jwks_response(None).await.json().await.unwrap()
    }

    /// The `kid`s the JWKS publishes now.
    pub async fn jwks_kids(&self) -> Vec<String> {
        kids(&self.jwks().await)
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

    /// The OpenID Provider metadata.
    pub async fn openid_configuration(&self) -> Value {
        self.discovery("/.well-known/openid-configuration")
            .await
            .json()
            .await
            .unwrap()
    }

    /// `GET /healthz`.
    pub async fn healthz(&self) -> reqwest::Response {
        self.http.get(self.url("/healthz")).send().await.unwrap()
    }

    /// `GET /readyz`.
    pub async fn readyz(&self) -> reqwest::Response {
        self.http.get(self.url("/readyz")).send().await.unwrap()
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

    /// The audit trail as `castellan audit tail --json` gives it, once the server has stored all
    /// it recorded (it writes in batches); asserts that it holds a row for each of `events`.
    pub async fn audit_rows(&self, events: &[&str]) -> Vec<Value> {
        self.audit.flush().await.unwrap();
        let rows = self
            .cli(&["audit", "tail", "--json", "--limit", "500"])
            .await
            .json();
        let rows = rows.as_array().unwrap().clone();
        for event in events {
            assert!(
                rows.iter().any(|r| r["event"] == *event),
                "no {event} in {rows:#?}"
            );
        }
        rows
    }

    /// A caching resource server of `audience`, reading this server's JWKS.
    pub fn validator(&self, audience: &str) -> Validator {
        Validator::new(&self.url("/jwks.json"), &self.issuer, audience)
    }

    /// Validates an access token as a resource server would: JWKS by `kid`, the algorithm the
    /// key's JWK names (RS256 unless the API chose another), every claim.
    pub async fn verify_access_token(&self, token: &str, audience: &str) -> Value {
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let kid = header.kid.expect("kid in header");
        let jwks = self.jwks().await;
        let (key, alg) = jwk_key(&jwks, &kid).unwrap_or_else(|| panic!("kid {kid} not in JWKS"));
        assert_eq!(header.alg, alg, "the header names its key's algorithm");
        let validation = validation_for(alg, &self.issuer, audience);
        jsonwebtoken::decode::<Value>(token, &key, &validation)
            .unwrap()
            .claims
    }
}
