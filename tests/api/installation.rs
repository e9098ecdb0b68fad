//! An installation is never lost or forked: a missing key file beside sealed keys stops the
//! server before it writes anything, management commands never create a database, and a backup
//! taken while the server runs restores into a server whose tokens the old JWKS validates.

use std::path::Path;

use castellan::app::App;
use castellan::clock::Clock;
use castellan::config::MasterKeySource;
use sqlx::Connection;

use crate::on_both_backends;
use crate::support::binary;
use crate::support::db::fresh_database;
use crate::support::oauth::{key_for, kid_of, validation};
use crate::support::{Backend, CC, Rp, TestApp, text};

on_both_backends!(a_missing_key_file_beside_sealed_keys_stops_the_server_before_it_writes,);

async fn a_missing_key_file_beside_sealed_keys_stops_the_server_before_it_writes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let elsewhere = tempfile::tempdir().unwrap();
    let missing = elsewhere.path().join("keys/master.key");
    let mut config = app.config.clone();
    config.master_key = MasterKeySource::File(missing.clone());
    let before = app.store.list_keys().await.unwrap().len();
    let error = match App::build(&config).await {
        Ok(_) => panic!("the server started without its key file"),
        Err(e) => castellan::error_chain::report(&e),
    };
    assert!(error.contains(&missing.display().to_string()), "{error}");
    assert!(error.contains("restore that file"), "{error}");
    assert!(!missing.exists(), "no new key file may be made: {error}");
    assert!(!elsewhere.path().join("keys").exists());
    assert_eq!(app.store.list_keys().await.unwrap().len(), before);
    // The server still signs with the keys it had: nothing was forked.
    let token = Rp::new(app.admin.clone(), &app.base, app.http.clone())
        .token(&[CC])
        .await;
    assert_eq!(token.status(), 200);
}

/// A management command run where there is no database names the path it looked for and
/// creates nothing; `init` is the one that creates it.
#[tokio::test]
async fn management_commands_refuse_a_sqlite_database_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let url = "sqlite://data/castellan.db";
    let out = binary::run(dir.path(), url, &["tenant", "list"], &[], b"").await;
    let message = out.refusal();
    let expected = dir.path().join("data/castellan.db");
    assert!(
        message.contains(&format!("no database at {}", expected.display())),
        "{message}"
    );
    assert!(message.contains("castellan serve"), "{message}");
    assert!(!dir.path().join("data").exists(), "nothing is created");

    let init = binary::run(dir.path(), url, &["init"], &[], b"").await;
    let printed = init.ok();
    assert!(
        printed.contains(&format!("database: {}", expected.display())),
        "{printed}"
    );
    let key = dir.path().join("keys/master.key");
    assert!(
        printed.contains(&format!("key-encryption key: {}", key.display())),
        "{printed}"
    );
    assert!(printed.contains("client_secret:"), "{printed}");
    assert!(expected.exists() && key.exists());
    let tenants = binary::run(dir.path(), url, &["tenant", "list"], &[], b"").await;
    assert!(tenants.ok().contains("default"), "{tenants:?}");
    // A second init opens what is there: no new admin, no new key.
    let again = binary::run(dir.path(), url, &["init"], &[], b"").await;
    assert!(!again.ok().contains("client_secret:"), "{again:?}");
}

#[tokio::test]
async fn management_commands_refuse_a_postgres_database_castellan_never_made() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Backend::Postgres, &dir).await;
    let out = binary::run(dir.path(), &url, &["client", "list"], &[], b"").await;
    let message = out.refusal();
    assert!(message.contains("holds no Castellan database"), "{message}");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let (tables,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        tables, 0,
        "the command must not migrate a database it did not make"
    );
}

/// An unreachable PostgreSQL is named with its host and port and the cause.
#[tokio::test]
async fn an_unreachable_postgres_is_named_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let port = binary::free_port();
    let url = format!("postgres://castellan:hunter2@127.0.0.1:{port}/castellan");
    let out = binary::run(dir.path(), &url, &["tenant", "list"], &[], b"").await;
    let message = out.refusal();
    assert!(
        message.contains(&format!("PostgreSQL at 127.0.0.1:{port}/castellan")),
        "{message}"
    );
    assert!(message.to_lowercase().contains("refused"), "{message}");
    assert!(!message.contains("pool timed out"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

/// `castellan backup` while the server runs, restored into a fresh folder with the key file:
/// the restored server has every row written before the backup (some still in the WAL) and
/// signs with the same keys, so a validator holding the old JWKS accepts its tokens.
#[tokio::test]
async fn a_backup_restores_into_a_server_the_old_jwks_validates() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.cli_tenants(&["acme"]).await;
    app.cli_create_api("https://billing.example", &["--scope", "billing:read"])
        .await
        .ok();
    let service = app
        .cli_service("acme", "https://billing.example", "billing:read")
        .await;
    let old_jwks = app.jwks().await;

    let restored = tempfile::tempdir().unwrap();
    let copy = restored.path().join("castellan.db");
    let out = app.cli(&["backup", copy.to_str().unwrap()]).await;
    let printed = out.ok();
    assert!(printed.contains("is not in the backup"), "{printed}");
    assert!(printed.contains(&app.master_key_path().display().to_string()));
    assert_private(&copy);
    let again = app.cli(&["backup", copy.to_str().unwrap()]).await;
    assert!(again.refusal().contains("already exists"), "{again:?}");

    // Restore: the database file and, from where it was kept apart, the key file.
    let key = restored.path().join("keys/master.key");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    std::fs::copy(app.master_key_path(), &key).unwrap();
    let mut config = app.config.clone();
    config.database_url = format!("sqlite://{}", copy.display());
    config.master_key = MasterKeySource::File(key);
    let server = App::build_with_clock(&config, Clock::System).await.unwrap();
    assert!(
        server.bootstrap.is_none(),
        "the restored database is not new"
    );
    let base = format!("http://{}", server.local_addr());
    let issuer = server.issuer().to_owned();
    tokio::spawn(server.run_until_stopped(std::future::pending()));

    let token = Rp::new(service, &base, app.http.clone())
        .token(&[CC, ("audience", "https://billing.example")])
        .await;
    assert_eq!(token.status(), 200);
    let token: serde_json::Value = token.json().await.unwrap();
    let jwt = text(&token, "access_token");
    let key = key_for(&old_jwks, &kid_of(&jwt)).expect("signed by a key of the old JWKS");
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        &jwt,
        &key,
        &validation(&issuer, "https://billing.example"),
    )
    .unwrap()
    .claims;
    assert_eq!(claims["tenant_id"], "acme");
    assert_eq!(claims["scope"], "billing:read");
}

#[tokio::test]
async fn backup_of_postgres_points_to_pg_dump() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let target = app.dir.path().join("copy.db");
    let out = app.cli(&["backup", target.to_str().unwrap()]).await;
    assert!(out.refusal().contains("pg_dump"), "{out:?}");
    assert!(!target.exists());
}

fn assert_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
}

/// A database that a newer Castellan migrated is refused, and left as it was.
#[tokio::test]
async fn a_database_from_a_newer_version_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let url = "sqlite://castellan.db";
    binary::run(dir.path(), url, &["init"], &[], b"").await.ok();
    let file = format!("sqlite://{}/castellan.db", dir.path().display());
    let mut conn = sqlx::SqliteConnection::connect(&file).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
         VALUES (99999999, 'from the future', CURRENT_TIMESTAMP, 1, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let before: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    for args in [&["init"][..], &["tenant", "list"][..]] {
        let out = binary::run(dir.path(), url, args, &[], b"").await;
        let message = out.refusal();
        assert!(
            message.contains("migrated by a newer Castellan"),
            "{args:?}: {message}"
        );
    }
    let after: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(before, after);
}
