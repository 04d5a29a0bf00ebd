//! Building the running service: first-run preparation (database, master key, development CA,
//! bootstrap administrator), the shared state, and the HTTP routes.

use std::path::PathBuf;
use std::sync::Arc;

use poem::listener::{Acceptor, TcpAcceptor};
use poem::{get, EndpointExt, Route, Server};

use crate::ca::{self, CaError, CeremonyConfig, IssuingCa, OcspResponder, PersonalProfile};
use crate::clock::Clock;
use crate::config::Config;
use crate::contract::Contracts;
use crate::enrolment::Enrolments;
use crate::http::{self, Metrics};
use crate::notify::{Dispatcher, Notifier, Outbox};
use crate::operators::{Accounts, NewOperatorCredentials};
use crate::otp::Otp;
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
    #[error("CA ({path}): {source}")]
    Ca { path: PathBuf, source: CaError },
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
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
    pub ca: CaHandles,
    /// The RA issuance service (issuance, acceptance record and idempotency together).
    pub issuance: crate::issuance::Issuance,
    pub otp: Otp,
    pub outbox: Outbox,
    pub contracts: Contracts,
    pub acceptance: crate::acceptance::Acceptance,
    /// The delivery back ends (tests read the in-memory one).
    pub notifier: Notifier,
    /// OCSP and CRL answers, and revocation.
    pub status: crate::status::StatusService,
    /// Renewal and rekey of active certificates.
    pub renewals: crate::renewal::Renewals,
    /// The expiry job (tests run it directly).
    pub expiry: crate::expiry::Expiry,
    /// Adoption reports.
    pub reports: crate::reports::Reports,
    /// The operator pages' CSRF key.
    pub web: crate::web::WebKeys,
}

/// The loaded CA material: what signs, what answers for status, and the profile.
#[derive(Clone)]
pub struct CaHandles {
    pub issuing: Arc<IssuingCa>,
    pub ocsp: Arc<OcspResponder>,
    pub profile: Arc<PersonalProfile>,
    /// Issuing CA then root, PEM.
    pub chain_pem: Arc<str>,
}

/// The CA files under `ca_root`: config, the ceremony's output, the private keys.
pub struct CaPaths {
    pub root: PathBuf,
}

impl CaPaths {
    pub fn new(root: &std::path::Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }
    pub fn ceremony_config(&self) -> PathBuf {
        self.root.join("ceremony.toml")
    }
    pub fn profile(&self) -> PathBuf {
        self.root.join("profiles").join("personal.toml")
    }
    pub fn issuing_cert(&self) -> PathBuf {
        self.root.join("issuing.pem")
    }
    fn read(&self, path: PathBuf) -> Result<String, AppError> {
        std::fs::read_to_string(&path).map_err(|e| AppError::Ca {
            path,
            source: CaError::ConfigInvalid(e.to_string()),
        })
    }
    pub fn ceremony(&self) -> Result<CeremonyConfig, AppError> {
        let path = self.ceremony_config();
        toml::from_str(&self.read(path.clone())?).map_err(|e: toml::de::Error| AppError::Ca {
            path,
            source: CaError::ConfigInvalid(e.message().to_string()),
        })
    }
}

fn passphrase(config: &Config) -> Option<&[u8]> {
    (!config.ca_key_passphrase.is_empty()).then(|| config.ca_key_passphrase.expose().as_bytes())
}

/// Runs the development ceremony into `ca_root` (refuses when any output exists).
pub fn run_ceremony(config: &Config) -> Result<ca::CeremonyOutput, AppError> {
    let paths = CaPaths::new(&config.ca_root);
    let cfg = paths.ceremony()?;
    ca::run_ceremony(&paths.root, &cfg, passphrase(config)).map_err(|source| AppError::Ca {
        path: paths.root.clone(),
        source,
    })
}

/// Loads the CA; on first run (no issuing certificate yet) performs the development ceremony.
pub fn load_ca(config: &Config) -> Result<CaHandles, AppError> {
    let paths = CaPaths::new(&config.ca_root);
    let cfg = paths.ceremony()?;
    if !paths.issuing_cert().exists() {
        let out = run_ceremony(config)?;
        tracing::info!(
            root_sha256 = %out.root_sha256,
            issuing_sha256 = %out.issuing_sha256,
            ocsp_sha256 = %out.ocsp_sha256,
            dir = %paths.root.display(),
            "development CA ceremony done"
        );
    }
    let at = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| AppError::Ca { path, source }
    };
    let private = paths.root.join("private");
    let issuing = IssuingCa::load(
        &cfg.issuing.name,
        &paths.issuing_cert(),
        &private.join("issuing.key.pem"),
        passphrase(config),
    )
    .map_err(at(&paths.issuing_cert()))?;
    let ocsp_cert = paths.root.join("ocsp.pem");
    let ocsp = OcspResponder::load(
        &ocsp_cert,
        &private.join("ocsp.key.pem"),
        passphrase(config),
    )
    .map_err(at(&ocsp_cert))?;
    let profile_path = paths.profile();
    let profile =
        PersonalProfile::from_toml(&paths.read(profile_path.clone())?, &config.public_base_url)
            .map_err(at(&profile_path))?;
    let chain_pem = paths.read(paths.root.join("chain.pem"))?;
    Ok(CaHandles {
        issuing: Arc::new(issuing),
        ocsp: Arc::new(ocsp),
        profile: Arc::new(profile),
        chain_pem: chain_pem.into(),
    })
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
    crate::enrolment::identity::load_reference_tables();
    let keys = master_key(&config)?;
    let ca = load_ca(&config)?;
    let store = open_store(&config)?;
    let migrate_store = store.clone();
    let applied = tokio::task::spawn_blocking(move || migrate_store.migrate())
        .await
        .map_err(|e| crate::store::StoreError::Unexpected(e.to_string()))??;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied database migrations");
    }
    let notifier = Notifier::from_config(&config)?;
    let outbox = Outbox::new(keys.clone());
    let otp = Otp::new(
        store.clone(),
        &keys,
        config.otp.clone(),
        outbox.clone(),
        clock.clone(),
    );
    let enrolments = Enrolments::new(
        store.clone(),
        keys.clone(),
        clock.clone(),
        config.enrolment.clone(),
    );
    let contracts = Contracts::new(
        store.clone(),
        otp.clone(),
        clock.clone(),
        config.contract.clone(),
    );
    let acceptance = crate::acceptance::Acceptance::new(
        store.clone(),
        otp.clone(),
        outbox.clone(),
        clock.clone(),
        config.contract.provider.clone(),
        config.acceptance.clone(),
    );
    spawn_acceptance_deadline(acceptance.clone());
    let verification = Verification::new(store.clone(), clock.clone(), config.verification.clone());
    let web = crate::web::WebKeys::new(&keys);
    let accounts = Accounts::new(store.clone(), keys, clock.clone(), config.security.clone());
    let bootstrap_admin = accounts.bootstrap_admin().await?;
    let issuer = crate::issuance::Issuer::new(
        store.clone(),
        ca.issuing.clone(),
        ca.profile.clone(),
        clock.clone(),
    );
    spawn_issuance_recovery(issuer.clone());
    let renewals = crate::renewal::Renewals::new(store.clone(), contracts.clone(), clock.clone());
    let issuance =
        crate::issuance::Issuance::new(store.clone(), issuer, acceptance.clone(), clock.clone());
    let expiry = crate::expiry::Expiry::new(
        store.clone(),
        outbox.clone(),
        clock.clone(),
        config.expiry.clone(),
    );
    spawn_expiry(expiry.clone());
    let status = crate::status::StatusService::with_settings(
        store.clone(),
        clock.clone(),
        ca.issuing.clone(),
        ca.ocsp.clone(),
        ca.profile.clone(),
        &config.status,
    )
    .map_err(|source| AppError::Ca {
        path: config.ca_root.clone(),
        source,
    })?;
    status.spawn_crl_refresh();
    Dispatcher::new(
        store.clone(),
        outbox.clone(),
        notifier.clone(),
        clock.clone(),
        config.outbox.clone(),
    )
    .spawn();
    let reports = crate::reports::Reports::new(store.clone(), clock.clone());
    Ok(Prepared {
        state: AppState {
            config: Arc::new(config),
            store,
            accounts,
            enrolments,
            verification,
            clock,
            metrics: Metrics::default(),
            ca,
            issuance,
            otp,
            outbox,
            contracts,
            acceptance,
            notifier,
            status,
            renewals,
            expiry,
            reports,
            web,
        },
        bootstrap_admin,
    })
}

/// Every minute (and at start), revokes certificates a stopped process left between record and
/// sign and gives their enrolments back; safe with several processes (conditional updates).
fn spawn_issuance_recovery(issuer: crate::issuance::Issuer) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            let issuer = issuer.clone();
            match tokio::task::spawn_blocking(move || issuer.recover_blocking()).await {
                Ok(Ok(serials)) if !serials.is_empty() => {
                    tracing::warn!(
                        ?serials,
                        "revoked certificates left unsigned by a stopped process"
                    );
                }
                Ok(Err(e)) => tracing::error!(error = %e, "issuance recovery failed"),
                Err(e) => tracing::error!(error = %e, "issuance recovery task failed"),
                Ok(Ok(_)) => {}
            }
        }
    });
}

/// Periodically sends acceptance reminders and revokes certificates not accepted in time;
/// safe with several processes (conditional updates).
fn spawn_acceptance_deadline(acceptance: crate::acceptance::Acceptance) {
    let every = std::time::Duration::from_secs(acceptance.settings().job_interval_seconds);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match acceptance.run_deadline().await {
                Ok(run) if !run.revoked.is_empty() => {
                    tracing::info!(
                        revoked = ?run.revoked,
                        reminded = run.reminded.len(),
                        "revoked certificates not accepted in time"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "acceptance deadline job failed"),
            }
        }
    });
}

/// Periodically marks certificates past notAfter expired and sends the reminders due; safe
/// with several processes (conditional updates, one reminder row per certificate and day).
fn spawn_expiry(expiry: crate::expiry::Expiry) {
    let every = std::time::Duration::from_secs(expiry.settings().job_interval_seconds);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match expiry.run().await {
                Ok(run) if !run.expired.is_empty() || !run.reminded.is_empty() => {
                    tracing::info!(
                        expired = run.expired.len(),
                        reminded = run.reminded.len(),
                        "expiry job"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "expiry job failed"),
            }
        }
    });
}

pub fn routes(state: AppState) -> impl poem::Endpoint {
    let api = crate::api::service(&state.config.public_base_url);
    let spec = api.spec_endpoint();
    let docs = api.swagger_ui();
    let metrics = state.metrics.clone();
    let status = state.status.clone();
    let app = Route::new()
        .nest("/api", api)
        .at("/api/openapi.json", spec)
        .nest("/api/docs", docs)
        .at("/healthz", get(http::healthz))
        .at("/readyz", get(http::readyz))
        .at("/metrics", get(http::metrics_text))
        .at("/ca/:file", get(http::ca_certificate))
        .at("/crl/:file", get(crate::status::crl_get))
        .nest("/", crate::web::routes())
        .data(state);
    // OCSP handlers get only the status service: request data is cloned per request, and
    // OCSP is the hot path.
    Route::new()
        .at(
            "/ocsp",
            poem::post(crate::status::ocsp_post).data(status.clone()),
        )
        .at("/ocsp/*request", get(crate::status::ocsp_get).data(status))
        .nest_no_strip("/", app)
        .around(move |ep, req| http::around(ep, req, metrics.clone()))
}

/// The listening socket. TCP_NODELAY is set on it, so accepted connections inherit it: a
/// response larger than one segment (an OCSP response with its headers is about 1.7 KB) is not
/// held back by Nagle's algorithm waiting for the client's delayed acknowledgement.
fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpAcceptor> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    TcpAcceptor::from_tokio(socket.listen(1024)?)
}

/// A bound, not yet running server. Binding first lets tests use port 0 and learn the port.
pub struct Application {
    acceptor: TcpAcceptor,
    pub port: u16,
    pub state: AppState,
}

impl Application {
    pub async fn bind(state: AppState) -> Result<Self, AppError> {
        let addr = state.config.listen_addr();
        let acceptor = listen(addr).map_err(|e| AppError::Listen {
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
