//! The only module with SQL: one code path over SQLite and PostgreSQL through sqlx's `AnyPool`.

pub mod apis;
mod assertions;
pub mod audit;
mod backup;
mod client_keys;
pub mod clients;
mod edits;
pub mod error;
pub mod grants;
pub mod keys;
pub mod login_failures;
pub mod purge;
mod references;
pub mod resource_servers;
pub mod revocations;
pub mod roles;
pub mod sessions;
pub mod tenants;
pub mod trusts;
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
    /// Only `serve` and `init` open this way: they are the commands that may make a database.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self> {
        let store = Self::open_unmigrated(url, max_connections).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to a database that Castellan already made, refusing one that does not exist:
    /// a management command run from the wrong folder must not answer from a new, empty file.
    pub async fn open_existing(url: &str, max_connections: u32) -> Result<Self> {
        let store = Self::connect(url, max_connections, Create::Never).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects (creating the database if needed) without migrating, so that `serve` can refuse
    /// to start (a missing key file, say) before it writes anything; then call [`Self::migrate`].
    pub async fn open_unmigrated(url: &str, max_connections: u32) -> Result<Self> {
        Self::connect(url, max_connections, Create::IfMissing).await
    }

    /// Does the database hold signing keys sealed under some key-encryption key?
    /// Answers before migrations have run (a new database holds none).
    pub async fn holds_sealed_keys(&self) -> Result<bool> {
        if !self.has_schema().await? {
            return Ok(false);
        }
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM signing_keys")
            .fetch_one(&self.pool)
            .await?;
        Ok(count > 0)
    }

    async fn connect(url: &str, max_connections: u32, create: Create) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let url = match (backend, create) {
            (Backend::Sqlite, Create::IfMissing) => prepare_sqlite(url)?,
            (Backend::Sqlite, Create::Never) => existing_sqlite(url)?,
            (Backend::Postgres, _) => url.to_owned(),
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
            .connect_with(options.clone())
            .await;
        let pool = match pool {
            Ok(pool) => pool,
            Err(e) => return Err(connect_error(&url, backend, e, &options).await),
        };
        let store = Self { pool, backend };
        if create == Create::Never && !store.has_schema().await? {
            store.close().await;
            return Err(Error::NotFound(format!(
                "{} holds no Castellan database; {}",
                redacted_url(&url),
                CREATE_HINT
            )));
        }
        Ok(store)
    }

    /// Has Castellan ever migrated this database?
    async fn has_schema(&self) -> Result<bool> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'"
            }
        };
        let (count,): (i64,) = sqlx::query_as(sql).fetch_one(&self.pool).await?;
        Ok(count > 0)
    }

    /// Applies the migrations this version knows; a database from a newer version is refused.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        migrator.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(version) => Error::unavailable(format!(
                "the database was migrated by a newer Castellan (migration {version} is unknown to this version); \
                 run that version, or restore the backup taken before the upgrade"
            )),
            e => Error::unavailable_from("database migration failed", e),
        })
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Create {
    IfMissing,
    Never,
}

const CREATE_HINT: &str = "start the server once with `castellan serve` (or run `castellan init`) to create it, or point database_url (CASTELLAN_DATABASE_URL, --config) at the existing one";

/// The path of a SQLite URL and its query, if any.
fn sqlite_path(url: &str) -> (&str, &str) {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    rest.split_once('?').unwrap_or((rest, ""))
}

/// Refuses a SQLite file that does not exist, naming the absolute path that was looked for.
fn existing_sqlite(url: &str) -> Result<String> {
    let (path, query) = sqlite_path(url);
    if path == ":memory:" || path.is_empty() || query.contains("mode=memory") {
        return Ok(url.to_owned());
    }
    if !Path::new(path).exists() {
        return Err(Error::NotFound(format!(
            "no database at {}; {CREATE_HINT}",
            absolute(Path::new(path)).display()
        )));
    }
    Ok(url.to_owned())
}

/// The path as the operator should look for it, whatever folder the command ran in.
pub fn absolute(path: &Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The absolute path of a SQLite database URL's file; `None` for PostgreSQL and in-memory ones.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let (path, query) = sqlite_path(url);
    if path == ":memory:" || path.is_empty() || query.contains("mode=memory") {
        return None;
    }
    Some(absolute(Path::new(path)))
}

/// Where a database URL points, for the operator: a SQLite file's absolute path, or a
/// PostgreSQL URL without its password.
pub fn describe(url: &str) -> String {
    match sqlite_file(url) {
        Some(path) => path.display().to_string(),
        None => redacted_url(url),
    }
}

/// The URL without its password, to name in a message.
fn redacted_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}@{}", &url[..scheme + 3], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// A first connection that fails says where it went and why, not "pool timed out": the pool
/// retries until its deadline and forgets the cause, so one more attempt asks for it.
async fn connect_error(
    url: &str,
    backend: Backend,
    e: sqlx::Error,
    options: &AnyConnectOptions,
) -> Error {
    use sqlx::ConnectOptions;
    let place = match backend {
        Backend::Sqlite => format!("the SQLite database {}", sqlite_path(url).0),
        Backend::Postgres => format!("PostgreSQL at {}", postgres_place(url)),
    };
    let cause = match &e {
        sqlx::Error::PoolTimedOut => {
            match tokio::time::timeout(Duration::from_secs(3), options.connect()).await {
                Ok(Err(direct)) => crate::error_chain::report(&direct),
                _ => "no answer within 3 seconds".to_owned(),
            }
        }
        other => crate::error_chain::report(other),
    };
    Error::Unavailable {
        what: format!("cannot connect to {place}: {cause}"),
        source: None,
    }
}

/// `host:port/database` of a PostgreSQL URL (libpq's defaults where parts are left out).
fn postgres_place(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
    let database = database.split('?').next().unwrap_or("");
    let authority = if authority.is_empty() {
        "localhost"
    } else {
        authority
    };
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
        && !authority.ends_with(']')
    {
        authority.to_owned()
    } else {
        format!("{authority}:5432")
    };
    if database.is_empty() {
        authority
    } else {
        format!("{authority}/{database}")
    }
}

/// Adds `mode=rwc` so the file is created, and creates its folder (mode 0700) and the file
/// (mode 0600, which SQLite gives its WAL and shared-memory files too): it holds every user's
/// password hash and the sealed signing keys.
fn prepare_sqlite(url: &str) -> Result<String> {
    let (path, query) = sqlite_path(url);
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
