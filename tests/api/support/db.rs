//! A fresh database for every test, on either backend: the name of the one asked for, or a
//! [`TestDb`] opened on it as the server would open it, for tests that need no server.

use std::path::PathBuf;

use castellan::admin;
use castellan::audit::EventKind;
use castellan::clock::Clock;
use castellan::crypto::password;
use castellan::protocol::{
    ApiIdentifier, ClientId, GrantType, RedirectUri, Scope, SigningAlg, TenantSlug,
};
use castellan::store::Store;
use castellan::store::clients::NewClient;
use castellan::store::users::NewUser;
use sqlx::Connection;

use super::oauth::TestClient;

/// Runs each listed test once per backend: `mod NAME { sqlite, postgres }`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite).await
                }

                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::support::Backend::Postgres).await
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

/// The password of every user the kit creates.
pub const PASSWORD: &str = "correct horse battery";

/// The PostgreSQL server's maintenance database; `scripts/test` sets it, the default suits these
/// machines.
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
            let name = format!("castellan_test_{}", random_hex());
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

pub fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    castellan::crypto::random::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A test's database and the folder beside it (the SQLite file, the master key, files a test
/// writes), with the store open on it. A [`super::TestApp`] is one of these with a server on it.
pub struct TestDb {
    pub store: Store,
    pub clock: Clock,
    pub database_url: String,
    pub dir: tempfile::TempDir,
}

impl TestDb {
    /// A fresh database, migrated and bootstrapped (the default tenant and the admin client) as
    /// a first start of the server leaves it, with no server on it.
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database_url = fresh_database(backend, &dir).await;
        let store = Store::open(&database_url, 10).await.unwrap();
        let clock = Clock::System;
        admin::bootstrap(&store, &clock).await.unwrap();
        Self {
            store,
            clock,
            database_url,
            dir,
        }
    }

    /// The store on a database that the test's own `castellan serve` processes serve (and
    /// bootstrap), with the folder they run in.
    pub async fn open(database_url: String, dir: tempfile::TempDir) -> Self {
        let store = Store::open(&database_url, 2).await.unwrap();
        Self {
            store,
            clock: Clock::System,
            database_url,
            dir,
        }
    }

    /// Where the server keeps its key-encryption key.
    pub fn master_key_path(&self) -> PathBuf {
        self.dir.path().join("keys/master.key")
    }

    pub async fn create_api(&self, identifier: &str, scopes: &[&str]) {
        self.store
            .create_api(
                &ApiIdentifier::parse(identifier).unwrap(),
                identifier,
                &scopes_of(scopes),
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
        self.register(&NewClient {
            tenant: TenantSlug::parse(tenant).unwrap(),
            // Names are unique per tenant; tests tell their clients apart by id.
            name: format!("test client {}", random_hex()),
            display_name: None,
            grant_types: vec![GrantType::ClientCredentials],
            apis: apis
                .iter()
                .map(|(api, scopes)| (ApiIdentifier::parse(api).unwrap(), scopes_of(scopes)))
                .collect(),
            resource_server_for: vec![],
            roles: roles.iter().map(|r| r.to_string()).collect(),
            token_ttl: ttl,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            public: false,
            skip_consent: false,
            pkce_required: true,
            keys: None,
            jwks_uri: None,
            id_token_signing_alg: None,
        })
        .await
    }

    /// API `api` with `scopes` and a default-tenant client granted all of them.
    pub async fn client_for(&self, api: &str, scopes: &[&str]) -> TestClient {
        self.create_api(api, scopes).await;
        self.create_client("default", &[(api, scopes)], &[], None)
            .await
    }

    /// API `api` with `scopes`, its access tokens signed with `alg`, and a default-tenant
    /// client granted all of them.
    pub async fn client_for_alg(&self, api: &str, scopes: &[&str], alg: SigningAlg) -> TestClient {
        self.store
            .create_api_signed(
                &ApiIdentifier::parse(api).unwrap(),
                api,
                &scopes_of(scopes),
                &castellan::store::apis::Tenancy::All,
                Some(alg),
                self.clock.now(),
            )
            .await
            .unwrap();
        self.create_client("default", &[(api, scopes)], &[], None)
            .await
    }

    /// "Ledger Web" (technical name `ledger-web`): a confidential web client of the default
    /// tenant that asks for consent, redirects to [`super::REDIRECT`] (and after logout to
    /// [`super::BYE`]) and may call `apis`.
    pub async fn create_web_client(&self, apis: &[(&str, &[&str])]) -> TestClient {
        self.register(&NewClient {
            tenant: TenantSlug::parse("default").unwrap(),
            name: "ledger-web".into(),
            display_name: Some("Ledger Web".into()),
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            apis: apis
                .iter()
                .map(|(api, scopes)| (ApiIdentifier::parse(api).unwrap(), scopes_of(scopes)))
                .collect(),
            resource_server_for: vec![],
            roles: vec![],
            token_ttl: None,
            redirect_uris: vec![RedirectUri::parse(super::REDIRECT).unwrap()],
            post_logout_redirect_uris: vec![RedirectUri::parse(super::BYE).unwrap()],
            public: false,
            skip_consent: false,
            pkce_required: true,
            keys: None,
            jwks_uri: None,
            id_token_signing_alg: None,
        })
        .await
    }

    async fn register(&self, new: &NewClient) -> TestClient {
        let (record, secret) = admin::create_client(&self.store, &self.clock, new)
            .await
            .unwrap();
        TestClient {
            id: record.client_id.to_string(),
            secret: secret.unwrap().secret().to_owned(),
        }
    }

    /// User `ada` (Ada Lovelace, ada@example.com) of the default tenant, with [`PASSWORD`]
    /// and `roles`.
    pub async fn create_ada(&self, roles: &[&str]) {
        let hash = password::hash_blocking(PASSWORD).unwrap();
        let user = NewUser {
            tenant: TenantSlug::parse("default").unwrap(),
            username: "ada".into(),
            email_verified: false,
            given_name: None,
            family_name: None,
            email: Some("ada@example.com".into()),
            name: Some("Ada Lovelace".into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        };
        self.store
            .create_user(&user, &hash, self.clock.now())
            .await
            .unwrap();
    }

    /// The row id of a client, for store records to point at.
    pub async fn client_row(&self, client: &TestClient) -> String {
        self.store
            .find_client(&ClientId::parse(&client.id).unwrap())
            .await
            .unwrap()
            .unwrap()
            .id
    }

    /// One column of a table, as text, sorted: read straight from the database.
    pub async fn column(&self, table: &str, column: &str) -> Vec<String> {
        let mut conn = sqlx::AnyConnection::connect(&self.database_url)
            .await
            .unwrap();
        let sql = format!("SELECT CAST({column} AS TEXT) FROM {table} ORDER BY 1");
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        rows.into_iter().map(|(value,)| value).collect()
    }
}

/// Tokens issued to `client_id`, as the audit trail counts them; -1 if it cannot be read.
pub async fn tokens_issued(store: &Store, client_id: &str) -> i64 {
    let Ok(rows) = store.audit_tail(None, None, 10_000).await else {
        return -1;
    };
    rows.iter()
        .filter(|r| r.event == EventKind::TokenIssued.as_str())
        .filter(|r| r.client_id.as_deref() == Some(client_id))
        .map(|r| r.count)
        .sum()
}

fn scopes_of(scopes: &[&str]) -> Vec<Scope> {
    scopes.iter().map(|s| Scope::parse(s).unwrap()).collect()
}
