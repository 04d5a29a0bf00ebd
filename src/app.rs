//! Building the running service: first-run preparation (database, master key, development CA,
//! bootstrap administrator), the shared state, and the HTTP routes.

use std::path::PathBuf;
use std::sync::Arc;

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{get, EndpointExt, Route, Server};

use crate::clock::Clock;
use crate::config::Config;
use crate::enrolment::Enrolments;
use crate::http::{self, Metrics};
use crate::operators::{Accounts, NewOperatorCredentials};
use crate::secrets::MasterKey;
use crate::store::Store;
use crate::verification::Verification;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Accounts(#[from] crate::operators::OperatorsError),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
}

/// What every request handler may use.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub accounts: Accounts,
    pub enrolments: Enrolments,
    pub verification: Verification,
    pub clock: Arc<dyn Clock>,
    pub metrics: Metrics,
}

/// The pieces that exist before anything listens.
pub struct Prepared {
    pub state: AppState,
    /// Set when this start created the bootstrap administrator.
    pub bootstrap_admin: Option<NewOperatorCredentials>,
}

pub fn open_store(config: &Config) -> Result<Store, AppError> {
    let store = if config.is_postgres() {
        Store::open_postgres(config.database_url.expose(), config.database_pool_size)?
    } else {
        Store::open_sqlite(&config.sqlite_path(), config.database_pool_size)?
    };
    Ok(store)
}

pub fn master_key(config: &Config) -> Result<MasterKey, AppError> {
    if !config.master_key.is_empty() {
        // validate() has checked the format.
        return MasterKey::from_hex(config.master_key.expose()).ok_or_else(|| {
            AppError::Config(crate::config::ConfigError::Invalid {
                key: "master_key",
                problem: "expected 64 hexadecimal characters".into(),
            })
        });
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|e| AppError::DataDir {
        path: config.data_dir.clone(),
        reason: e.to_string(),
    })?;
    Ok(MasterKey::load_or_create(
        &config.data_dir.join("master.key"),
    )?)
}

/// Everything `serve` does before listening; idempotent, so a second start reuses it all.
pub async fn prepare(config: Config, clock: Arc<dyn Clock>) -> Result<Prepared, AppError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| AppError::DataDir {
        path: config.data_dir.clone(),
        reason: e.to_string(),
    })?;
    let keys = master_key(&config)?;
    let store = open_store(&config)?;
    let migrate_store = store.clone();
    let applied = tokio::task::spawn_blocking(move || migrate_store.migrate())
        .await
        .map_err(|e| crate::store::StoreError::Unexpected(e.to_string()))??;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied database migrations");
    }
    crate::enrolment::identity::load_reference_tables();
    let enrolments = Enrolments::new(
        store.clone(),
        keys.clone(),
        clock.clone(),
        config.enrolment.clone(),
    );
    let verification = Verification::new(store.clone(), clock.clone(), config.verification.clone());
    let accounts = Accounts::new(store.clone(), keys, clock.clone(), config.security.clone());
    let bootstrap_admin = accounts.bootstrap_admin().await?;
    Ok(Prepared {
        state: AppState {
            config: Arc::new(config),
            store,
            accounts,
            enrolments,
            verification,
            clock,
            metrics: Metrics::default(),
        },
        bootstrap_admin,
    })
}

pub fn routes(state: AppState) -> impl poem::Endpoint {
    let api = crate::api::service(&state.config.public_base_url);
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let metrics = state.metrics.clone();
    Route::new()
        .nest("/api", api)
        .at("/api/openapi.json", spec)
        .nest("/api/docs", docs)
        .at("/healthz", get(http::healthz))
        .at("/readyz", get(http::readyz))
        .at("/metrics", get(http::metrics_text))
        .data(state)
        .around(move |ep, req| http::around(ep, req, metrics.clone()))
}

/// A bound, not yet running server. Binding first lets tests use port 0 and learn the port.
pub struct Application {
    acceptor: poem::listener::TcpAcceptor,
    pub port: u16,
    pub state: AppState,
}

impl Application {
    pub async fn bind(state: AppState) -> Result<Self, AppError> {
        let addr = state.config.listen_addr();
        let acceptor =
            TcpListener::bind(addr)
                .into_acceptor()
                .await
                .map_err(|e| AppError::Listen {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                })?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .unwrap_or(addr.port());
        Ok(Self {
            acceptor,
            port,
            state,
        })
    }

    /// Serves until `shutdown` resolves.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(
                routes(self.state),
                shutdown,
                Some(std::time::Duration::from_secs(10)),
            )
            .await
    }
}
