//! `App::build(config)` wires store, keys and HTTP; `run_until_stopped` serves until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::{Config, MasterKeySource};
use crate::crypto::password::Hasher;
use crate::crypto::{CryptoError, GeneratedSecret, MasterKey};
use crate::directory::ClientDirectory;
use crate::issuer::Issuer;
use crate::keys::KeyRing;
use crate::keys::rotation::{Policy, Rotator};
use crate::protocol::metadata::ServerMetadata;
use crate::signin::SignIn;
use crate::state::{AppState, Discovery};
use crate::store::clients::ClientRecord;
use crate::store::{self, Store};
use crate::{admin, http, keys};

/// How often a node checks the store for changes made elsewhere (CLI, other nodes).
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// How often a node checks whether a rotation step is due.
pub const ROTATION_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("key-encryption key: {0}")]
    MasterKey(#[from] CryptoError),
    #[error("database: {0}")]
    Store(#[from] store::Error),
    #[error("signing keys: {0}")]
    Keys(#[from] keys::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

pub struct App {
    listener: TcpListener,
    state: AppState,
    refresher: JoinHandle<()>,
    rotation: Option<JoinHandle<()>>,
    rotator: Arc<Rotator>,
    /// Credentials of the admin client created on an empty database, for the operator to save.
    pub bootstrap: Option<(ClientRecord, GeneratedSecret)>,
}

impl App {
    pub async fn build(config: &Config) -> Result<Self, StartError> {
        Self::build_with_clock(config, Clock::System).await
    }

    pub async fn build_with_clock(config: &Config, clock: Clock) -> Result<Self, StartError> {
        let master = match &config.master_key {
            MasterKeySource::Inline(b64) => MasterKey::from_base64(b64)?,
            MasterKeySource::File(path) => MasterKey::load_or_create(path)?,
        };
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
        let store = Store::open(&config.database_url, config.database_max_connections).await?;
        let bootstrap = admin::bootstrap(&store, &clock).await?;
        let keys =
            Arc::new(KeyRing::load(&store, master, config.signing_key_bits, clock.now()).await?);
        let issuer = Arc::new(Issuer {
            issuer: issuer_url.clone(),
            default_ttl: config.access_token_ttl,
            max_ttl: config.max_token_ttl,
            clients: ClientDirectory::new(store.clone()),
            keys: Arc::clone(&keys),
            clock,
            store: store.clone(),
        });
        let metadata = ServerMetadata::for_issuer(&issuer_url);
        let discovery = Discovery {
            json: serde_json::to_vec(&metadata)
                .map_err(|e| CryptoError(format!("cannot serialise discovery: {e}")))?
                .into(),
        };
        let workers = std::thread::available_parallelism().map_or(2, usize::from);
        let signin = SignIn::new(Arc::clone(&issuer), Hasher::new(workers));
        let state = AppState {
            signin: Arc::new(signin),
            secure_cookies: issuer_url.starts_with("https://"),
            issuer: Arc::clone(&issuer),
            keys,
            store,
            discovery: Arc::new(discovery),
            jwks_cache_control: HeaderValue::from_str(&format!(
                "public, max-age={}",
                config.jwks_max_age
            ))
            .unwrap_or(HeaderValue::from_static("public, max-age=0")),
        };
        let refresher = tokio::spawn(refresh_loop(state.clone()));
        let rotator = Arc::new(Rotator::new(
            state.store.clone(),
            Arc::clone(&state.keys),
            Policy::from_config(config),
            state.issuer.clock.clone(),
        ));
        // A fixed clock belongs to its owner (a test), who runs the rotator as it moves time.
        let rotation = match &state.issuer.clock {
            Clock::System => Some(tokio::spawn(rotation_loop(Arc::clone(&rotator)))),
            Clock::Fixed(_) => None,
        };
        Ok(Self {
            listener,
            state,
            refresher,
            rotation,
            rotator,
            bootstrap,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn issuer(&self) -> &str {
        &self.state.issuer.issuer
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
        let router = http::router(self.state.clone());
        let result = axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
        self.refresher.abort();
        if let Some(rotation) = &self.rotation {
            rotation.abort();
        }
        self.state.store.close().await;
        result
    }
}

/// Picks up changes made by the CLI or other nodes: clients and keys are reloaded on a new generation.
async fn refresh_loop(state: AppState) {
    let mut seen = state.store.generation().await.ok();
    let mut ticker = tokio::time::interval(REFRESH_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match state.store.generation().await {
            Ok(generation) if Some(generation) != seen => {
                state.issuer.clients.invalidate();
                match state.keys.refresh(&state.store).await {
                    Ok(()) => seen = Some(generation),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot reload signing keys; keeping the current set")
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot check the store for changes"),
        }
    }
}

/// Performs scheduled rotation steps; every node runs it, conditional updates keep one winner.
async fn rotation_loop(rotator: Arc<Rotator>) {
    let mut ticker = tokio::time::interval(ROTATION_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match rotator.tick().await {
            Ok(events) => {
                for event in events {
                    tracing::info!(?event, "signing key rotation");
                }
            }
            Err(e) => tracing::warn!(error = %e, "key rotation step failed; retrying"),
        }
    }
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
