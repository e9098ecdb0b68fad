//! `App::build(config)` wires store, keys and HTTP; `run_until_stopped` serves until shutdown.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::audit::Audit;
use crate::clock::Clock;
use crate::config::{Config, MasterKeySource};
use crate::context::Context;
use crate::crypto::password::Hasher;
use crate::crypto::{CryptoError, GeneratedSecret, MasterKey};
use crate::directory::ClientDirectory;
use crate::http::rate_limit::Limiters;
use crate::http::state::{AppState, Discovery, Shared};
use crate::issuer::Issuer;
use crate::keys::KeyRing;
use crate::keys::rotation::{Policy, Rotator};
use crate::metrics::Metrics;
use crate::protocol::metadata::ServerMetadata;
use crate::signin::SignIn;
use crate::signin::lockout::Lockout;
use crate::store::clients::ClientRecord;
use crate::store::{self, Store};
use crate::{admin, http, jobs, keys, private_file};

pub use crate::jobs::REFRESH_INTERVAL;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("key-encryption key: {0}")]
    MasterKey(#[from] CryptoError),
    #[error(
        "the key-encryption key file {} does not exist, but the database {database} holds signing keys sealed with it; restore that file from your backup (or set CASTELLAN_MASTER_KEY to its contents). A new key cannot unseal the stored keys, so none was made",
        path.display()
    )]
    MasterKeyMissing { path: PathBuf, database: String },
    #[error("database: {0}")]
    Store(#[from] store::Error),
    #[error("signing keys: {0}")]
    Keys(#[from] keys::Error),
    #[error("bootstrap secret file: {0}")]
    BootstrapFile(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

pub struct App {
    listener: TcpListener,
    /// `metrics_listen`'s listener, when `/metrics` is served apart.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    limits: http::server::Limits,
    request_timeout: Duration,
    /// Background jobs, stopped at shutdown.
    jobs: Vec<JoinHandle<()>>,
    audit_writer: JoinHandle<()>,
    rotator: Arc<Rotator>,
    /// Credentials of the admin client created on an empty database, for the operator to save.
    pub bootstrap: Option<(ClientRecord, GeneratedSecret)>,
    /// Set when those credentials were written to `bootstrap_secret_file` (so not for stdout).
    pub bootstrap_file: Option<PathBuf>,
}

impl App {
    pub async fn build(config: &Config) -> Result<Self, StartError> {
        Self::build_with_clock(config, Clock::System).await
    }

    pub async fn build_with_clock(config: &Config, clock: Clock) -> Result<Self, StartError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: config.listen,
                    source,
                })?;
        let issuer_url = listener
            .local_addr()
            .map(|addr| config.issuer_for(addr))
            .map_err(|source| StartError::Listen {
                addr: config.listen,
                source,
            })?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Listen { addr, source })?,
            ),
            None => None,
        };
        let Installation {
            store,
            keys,
            bootstrap,
            bootstrap_file,
        } = Installation::open(config, &clock).await?;
        let keys = Arc::new(keys);
        let policy = Policy::from_config(config);
        let (audit, audit_writer) = Audit::spawn(store.clone(), clock.clone());
        let ctx = Arc::new(Context {
            issuer_url: issuer_url.clone(),
            clients: ClientDirectory::new(store.clone()),
            keys: Arc::clone(&keys),
            clock: clock.clone(),
            store: store.clone(),
            sessions: config.sessions,
            audit: audit.clone(),
            metrics: Arc::new(Metrics::new()),
        });
        let issuer = Arc::new(Issuer {
            ctx: Arc::clone(&ctx),
            default_ttl: config.access_token_ttl,
            max_ttl: config.max_token_ttl,
            assertions: crate::issuer::client_assertion::AssertionPolicy {
                max_lifetime: config.client_assertion_max_lifetime,
                skew: config.clock_skew,
                token_endpoint_audience: config.client_assertion_token_endpoint_audience,
            },
            fetcher: Arc::new(crate::jwks_fetch::JwksFetcher::new(
                crate::jwks_fetch::FetchPolicy::from_config(config),
            )),
        });
        let metadata = ServerMetadata::for_issuer(&issuer_url, &config.signing_algs);
        let discovery = Discovery {
            json: serde_json::to_vec(&metadata)
                .map_err(|e| CryptoError(format!("cannot serialise discovery: {e}")))?
                .into(),
        };
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        let signin = SignIn::new(
            Arc::clone(&ctx),
            Hasher::new(workers),
            Lockout::new(config.lockout),
        );
        let state = AppState::new(Shared {
            signin: Arc::new(signin),
            secure_cookies: issuer_url.starts_with("https://"),
            ctx,
            issuer,
            keys,
            store,
            discovery: Arc::new(discovery),
            jwks_cache_control: HeaderValue::from_str(&format!(
                "public, max-age={}",
                config.jwks_max_age
            ))
            .unwrap_or(HeaderValue::from_static("public, max-age=0")),
            limiters: Arc::new(Limiters::new(&config.rate_limits)),
            trusted_proxies: config.trusted_proxies.clone().into(),
        });
        let rotator = Arc::new(Rotator::new(
            state.store.clone(),
            Arc::clone(&state.keys),
            policy,
            state.ctx.clock.clone(),
            state.ctx.audit.clone(),
        ));
        let jobs = jobs::spawn(&state, config, &rotator);
        Ok(Self {
            listener,
            metrics_listener,
            state,
            limits: http::server::Limits {
                header_timeout: Duration::from_secs(config.header_timeout),
                drain_timeout: Duration::from_secs(config.request_timeout),
            },
            request_timeout: Duration::from_secs(config.request_timeout),
            jobs,
            audit_writer,
            rotator,
            bootstrap,
            bootstrap_file,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Where `/metrics` is served apart from the rest, if `metrics_listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn issuer(&self) -> &str {
        &self.state.ctx.issuer_url
    }

    /// The audit recorder, so a test can flush it instead of polling for rows.
    pub fn audit(&self) -> crate::audit::Audit {
        self.state.ctx.audit.clone()
    }

    /// Runs rotation steps on demand (tests drive a fixed clock through it).
    pub fn rotator(&self) -> Arc<Rotator> {
        Arc::clone(&self.rotator)
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Serves until `shutdown` resolves, then finishes requests in flight and closes the pool.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = http::router(
            self.state.clone(),
            self.request_timeout,
            self.metrics_listener.is_none(),
        );
        // One shutdown for both listeners: the metrics one stops with the main one.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let metrics_server = self.metrics_listener.map(|listener| {
            let mut stopped = stopped.clone();
            tokio::spawn(http::server::serve(
                listener,
                http::metrics_router(self.state.clone()),
                self.limits,
                async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                },
            ))
        });
        let shutdown = async move {
            shutdown.await;
            let _ = stop.send(true);
        };
        http::server::serve(self.listener, router, self.limits, shutdown).await;
        if let Some(server) = metrics_server {
            let _ = server.await;
        }
        for job in &self.jobs {
            job.abort();
        }
        // Pending audit events are written before the pool closes; an outage bounds the wait.
        if tokio::time::timeout(Duration::from_secs(5), self.state.ctx.audit.flush())
            .await
            .is_err()
        {
            tracing::warn!("audit events still pending at shutdown were lost");
        }
        self.audit_writer.abort();
        self.state.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// What `serve` and `init` make on first start and open afterwards: the migrated database, its
/// signing keys, and the bootstrap admin client's credentials when the database was empty.
pub struct Installation {
    pub store: Store,
    pub keys: KeyRing,
    pub bootstrap: Option<(ClientRecord, GeneratedSecret)>,
    /// Set when those credentials were written to `bootstrap_secret_file` (so not for stdout).
    pub bootstrap_file: Option<PathBuf>,
}

impl Installation {
    /// Refuses before writing anything when the key file is missing beside sealed keys.
    pub async fn open(config: &Config, clock: &Clock) -> Result<Self, StartError> {
        let store =
            Store::open_unmigrated(&config.database_url, config.database_max_connections).await?;
        let master = master_key(config, &store).await?;
        store.migrate().await?;
        let bootstrap_file = config.bootstrap_secret_file.as_deref();
        let bootstrap = match bootstrap_file {
            Some(path) => bootstrap_into(&store, clock, path).await?,
            None => admin::bootstrap(&store, clock).await?,
        };
        let bootstrap_file = bootstrap_file
            .filter(|_| bootstrap.is_some())
            .map(Path::to_path_buf);
        let keys = KeyRing::load(&store, master, &Policy::from_config(config), clock.now()).await?;
        Ok(Self {
            store,
            keys,
            bootstrap,
            bootstrap_file,
        })
    }
}

/// The key-encryption key. A key file is made only for a database that holds no sealed keys:
/// a new key beside old sealed keys would fork the installation and unseal nothing.
async fn master_key(config: &Config, store: &Store) -> Result<MasterKey, StartError> {
    let path = match &config.master_key {
        MasterKeySource::Inline(b64) => return Ok(MasterKey::from_base64(b64)?),
        MasterKeySource::File(path) => path,
    };
    if path.exists() || !store.holds_sealed_keys().await? {
        return Ok(MasterKey::load_or_create(path)?);
    }
    Err(StartError::MasterKeyMissing {
        path: store::absolute(path),
        database: store::describe(&config.database_url),
    })
}

/// Bootstraps an empty database with the admin client's credentials written to `path` (mode
/// 0600). The file is made first, so a secret is never created with nowhere to go, and never
/// over an existing file (which may hold an earlier secret); on a database that needs no
/// bootstrap the file is not touched, so restarts with the same setting are fine.
async fn bootstrap_into(
    store: &Store,
    clock: &Clock,
    path: &Path,
) -> Result<Option<(ClientRecord, GeneratedSecret)>, StartError> {
    if !store.list_tenants().await?.is_empty() {
        return Ok(None);
    }
    let mut file = private_file::create_new(path).map_err(|e| {
        StartError::BootstrapFile(match e.kind() {
            std::io::ErrorKind::AlreadyExists => format!(
                "{} already exists and is not overwritten (it may hold an earlier secret); move it away and start again",
                path.display()
            ),
            _ => format!("cannot create {}: {e}", path.display()),
        })
    })?;
    let created = match admin::bootstrap(store, clock).await {
        Ok(Some(created)) => created,
        // Another node bootstrapped first, or the store failed: nothing to keep.
        other => {
            let _ = std::fs::remove_file(path);
            return Ok(other?);
        }
    };
    let (client, secret) = &created;
    let text = format!(
        "client_id: {}\nclient_secret: {}\n",
        client.client_id,
        secret.secret()
    );
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| {
            StartError::BootstrapFile(format!(
                "cannot write {}: {e}; give client {} a new secret with `castellan client rotate-secret`",
                path.display(),
                client.client_id
            ))
        })?;
    Ok(Some(created))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
