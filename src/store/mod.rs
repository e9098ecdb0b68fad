//! The only module with SQL: one code path over SQLite and PostgreSQL through sqlx's `AnyPool`.

pub mod apis;
pub mod audit;
pub mod clients;
pub mod error;
pub mod grants;
pub mod keys;
pub mod login_failures;
pub mod purge;
pub mod resource_servers;
pub mod revocations;
pub mod roles;
pub mod sessions;
pub mod tenants;
pub mod users;

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use error::Error;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects (creating a SQLite file and its folder if needed) and applies migrations.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let url = match backend {
            Backend::Sqlite => prepare_sqlite(url)?,
            Backend::Postgres => url.to_owned(),
        };
        let options: AnyConnectOptions = url
            .parse()
            .map_err(|e| Error::unavailable_from("invalid database URL", e))?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(3))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let store = Self { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| Error::unavailable_from("database migration failed", e))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Open connections and how many of them are idle, for the metrics.
    pub fn pool_use(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that will write.
    ///
    /// SQLite's default `BEGIN` takes the write lock only at the first write; if another
    /// connection wrote since this transaction's first read, the upgrade fails at once with
    /// "database is locked", without waiting out `busy_timeout`. `BEGIN IMMEDIATE` takes the
    /// lock up front, so writers queue instead of failing.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }

    /// Is the database answering?
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// A counter bumped by every change a running server caches.
    pub async fn generation(&self) -> Result<i64> {
        let (value,): (i64,) = sqlx::query_as("SELECT value FROM generation WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(value)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Tells every node that cached state changed; run inside the change's own transaction.
pub(crate) async fn bump_generation(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<()> {
    sqlx::query("UPDATE generation SET value = value + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Commits a change that running servers cache, telling every node about it in the same transaction.
/// Runs a one-row change `sql` binding `($1 = value, $2 = now, $3 = key)`; how many rows changed.
/// Users and clients update their fields (secret, disabled_at, password) this way.
pub(crate) async fn set_field<V>(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sql: &'static str,
    value: V,
    now: i64,
    key: &str,
) -> Result<u64>
where
    V: for<'q> sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + Send,
{
    let done = sqlx::query(sql)
        .bind(value)
        .bind(now)
        .bind(key)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}

pub(crate) async fn commit_change(mut tx: sqlx::Transaction<'_, sqlx::Any>) -> Result<()> {
    bump_generation(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Adds `mode=rwc` so the file is created, and creates its folder (mode 0700) and the file
/// (mode 0600, which SQLite gives its WAL and shared-memory files too): it holds every user's
/// password hash and the sealed signing keys.
fn prepare_sqlite(url: &str) -> Result<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path == ":memory:" || path.is_empty() {
        return Ok(url.to_owned());
    }
    let dir = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        crate::private_file::create_dir_all(dir).map_err(|e| {
            Error::unavailable(format!(
                "cannot create database folder {}: {e}",
                dir.display()
            ))
        })?;
    }
    if query.contains("mode=") {
        return Ok(url.to_owned());
    }
    match crate::private_file::create_new(Path::new(path)) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(Error::unavailable(format!(
                "cannot create database file {path}: {e}"
            )));
        }
    }
    if query.is_empty() {
        Ok(format!("sqlite://{path}?mode=rwc"))
    } else {
        Ok(format!("sqlite://{path}?{query}&mode=rwc"))
    }
}

/// A fresh uuid v7 row id.
pub(crate) fn new_id(now: i64) -> Result<String> {
    let millis = u64::try_from(now).unwrap_or(0).saturating_mul(1000);
    crate::crypto::random::uuid_v7(millis)
        .map(|u| u.to_string())
        .map_err(Error::internal_from)
}
