//! Building the running service: first-run preparation (database, master key, development CA,
//! bootstrap administrator), the shared state, its background jobs, and the listener. The
//! routes are in `router.rs`, above this state.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use poem::listener::{Acceptor, TcpAcceptor};
use poem::Server;

use crate::ca_files::{load_ca, CaFileError, CaHandles};
use crate::clock::Clock;
use crate::config::Config;
use crate::contract::Contracts;
use crate::enrolment::Enrolments;
use crate::http::Metrics;
use crate::jobs::every;
use crate::notify::{Dispatcher, Notifier, Outbox};
use crate::operators::{Accounts, NewOperatorCredentials};
use crate::otp::Otp;
use crate::secrets::{CsrfKey, MasterKey};
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
    #[error(transparent)]
    Ca(#[from] CaFileError),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoints::CheckpointError),
    #[error("configuration key `master_key`: {0}")]
    MasterKey(String),
    /// The database answers reads but refuses the write probe.
    #[error("{database} refuses writes: {reason}")]
    NotWritable { database: String, reason: String },
    /// A command-line command found a database the service never ran on.
    #[error(
        "{database} has not been set up by `ca-enrol serve`: run this command with the \
         service's configuration (its working directory and ca-enrol.toml, CA_ENROL_DATA_DIR, \
         DATABASE_URL), after the service has started once"
    )]
    NotSetUp { database: String },
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
    #[error(transparent)]
    VneidSim(#[from] crate::vneid::sim::SimError),
    #[error(transparent)]
    DocumentStore(#[from] crate::document_store::DocumentStoreError),
    #[error(transparent)]
    DocumentMigration(#[from] crate::document_store::MigrateError),
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
    /// The retention job (tests run it directly).
    pub retention: crate::retention::Retention,
    /// Where documents' ciphertext lives (`/readyz` probes it; tests sweep it).
    pub documents: crate::document_store::DocumentStore,
    /// Adoption reports.
    pub reports: crate::reports::Reports,
    /// The operator pages' CSRF key.
    pub csrf: CsrfKey,
    /// The VNeID hub connector.
    pub vneid: crate::vneid::Connector,
    /// Signed checkpoints of the audit chain (the job makes them; tests call `make`).
    pub checkpoints: crate::checkpoints::Checkpoints,
    /// Remote signing (CSC API): credentials, SAD, signatures.
    pub remote_signing: crate::remote_signing::RemoteSigning,
}

/// The pieces that exist before anything listens.
pub struct Prepared {
    pub state: AppState,
    /// Set when this start created the bootstrap administrator.
    pub bootstrap_admin: Option<NewOperatorCredentials>,
}

pub fn open_store(config: &Config) -> Result<Store, AppError> {
    let store = if config.is_postgres() {
        Store::open_postgres_with(config.database_url.expose(), config.pool_settings())?
    } else {
        Store::open_sqlite_with(&config.sqlite_path(), config.pool_settings())?
    };
    Ok(store)
}

/// The database as an operator finds it: the SQLite file (whose directory must be writable
/// too, for its `-wal` and `-shm` files), or PostgreSQL without the URL's password.
pub fn database_label(config: &Config) -> String {
    if config.is_postgres() {
        "the PostgreSQL database of `database_url`".into()
    } else {
        let path = config.sqlite_path();
        let dir = path.parent().unwrap_or(&path);
        format!(
            "SQLite database {} (file and directory {} must be writable)",
            path.display(),
            dir.display()
        )
    }
}

/// The master key, checked against the database (migrated already): the configured key, or
/// `<data_dir>/master.key`, created only when the database is empty. A key that does not match
/// the stored check value, or a missing key file beside a database already written, refuses
/// the start: a fresh key would fail every sealed secret and OTP without saying why. The check
/// value is stored at first run, and at the first start of a database from before the check.
pub async fn master_key(
    config: &Config,
    store: &Store,
    clock: &dyn Clock,
) -> Result<MasterKey, AppError> {
    let state = store.read(|tx| tx.master_key_check()).await?;
    let (keys, source) = if config.master_key.is_empty() {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| AppError::DataDir {
            path: config.data_dir.clone(),
            reason: e.to_string(),
        })?;
        let path = config.data_dir.join("master.key");
        let source = format!("the file {}", path.display());
        let keys = match MasterKey::load(&path)? {
            Some(keys) => keys,
            None if state.empty => MasterKey::create(&path)?,
            None => {
                return Err(AppError::MasterKey(format!(
                    "{source} is missing but the database already holds data sealed with \
                     the master key; restore that file (a new key cannot read the data)"
                )))
            }
        };
        (keys, source)
    } else {
        // validate() has checked the format.
        let keys = MasterKey::from_hex(config.master_key.expose()).ok_or_else(|| {
            AppError::Config(
                crate::settings::Invalid::new("master_key", "expected 64 hexadecimal characters")
                    .into(),
            )
        })?;
        (keys, "the setting (CA_ENROL_MASTER_KEY)".to_string())
    };
    let mismatch = || {
        AppError::MasterKey(format!(
            "the key from {source} is not the key this database was set up with (its stored \
             check value differs); start with the original key"
        ))
    };
    let stored = match state.check_value {
        Some(stored) => stored,
        None => {
            let check_value = keys.check_value();
            let upgrade = !state.empty;
            let at = crate::clock::truncate(clock.now());
            let written = store
                .write(move |tx| {
                    tx.insert_master_key_check(&check_value, at.naive_utc())?;
                    tx.audit(crate::audit::NewEvent::new(
                        at,
                        &crate::audit::Actor::System,
                        "master_key.check_stored",
                        "master_key",
                        "1",
                        serde_json::json!({ "existing_database": upgrade }),
                    ))?;
                    Ok::<_, crate::store::StoreError>(())
                })
                .await;
            match written {
                Ok(()) => return Ok(keys),
                // Another process starting at the same time stored its key's value first.
                Err(crate::store::StoreError::Conflict(_)) => store
                    .read(|tx| tx.master_key_check())
                    .await?
                    .check_value
                    .ok_or_else(mismatch)?,
                Err(e) => return Err(e.into()),
            }
        }
    };
    if keys.matches(&stored) {
        Ok(keys)
    } else {
        Err(mismatch())
    }
}

/// Everything `serve` does before listening; idempotent, so a second start reuses it all.
pub async fn prepare(mut config: Config, clock: Arc<dyn Clock>) -> Result<Prepared, AppError> {
    // First: a production start without the provider's identity stops before touching
    // anything. The website defaults to `public_base_url`.
    let base = config.public_base_url.clone();
    config
        .contract
        .provider
        .complete(config.environment, &base)
        .map_err(crate::config::ConfigError::from)?;
    std::fs::create_dir_all(&config.data_dir).map_err(|e| AppError::DataDir {
        path: config.data_dir.clone(),
        reason: e.to_string(),
    })?;
    crate::enrolment::identity::load_reference_tables();
    crate::vn::provinces::load();
    let ca = load_ca(&config)?;
    let store = open_store(&config)?;
    let migrate_store = store.clone();
    let applied = tokio::task::spawn_blocking(move || migrate_store.migrate())
        .await
        .map_err(|e| crate::store::StoreError::Unexpected(e.to_string()))??;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied database migrations");
    }
    // Migrations write only when some are pending: a read-only database that is up to date
    // would otherwise start, look ready, and fail every write.
    store
        .probe_write()
        .await
        .map_err(|e| AppError::NotWritable {
            database: database_label(&config),
            reason: e.to_string(),
        })?;
    let keys = master_key(&config, &store, clock.as_ref()).await?;
    let notifier = hub_callbacks(
        &config,
        Notifier::from_settings(&config.notify, &config.data_dir)?,
        &ca.sealing,
    )?;
    let outbox = Outbox::new(keys.clone());
    let otp = Otp::new(
        store.clone(),
        &keys,
        config.otp.clone(),
        outbox.clone(),
        clock.clone(),
    );
    let documents = crate::document_store::DocumentStore::from_settings(&config.documents)?;
    spawn_document_sweeper(&documents, &store, &config.documents);
    let enrolments = Enrolments::new(
        store.clone(),
        keys.clone(),
        documents.clone(),
        clock.clone(),
        config.enrolment.clone(),
    );
    let contracts = Contracts::new(
        store.clone(),
        otp.clone(),
        keys.clone(),
        clock.clone(),
        config.contract.clone(),
        config.environment,
        ca.sealing.clone(),
        outbox.clone(),
    );
    let acceptance = crate::acceptance::Acceptance::new(
        store.clone(),
        otp.clone(),
        outbox.clone(),
        clock.clone(),
        config.contract.provider.clone(),
        config.acceptance.clone(),
        config.environment,
        ca.sealing.clone(),
    );
    spawn_acceptance_deadline(&acceptance);
    let vneid = crate::vneid::Connector::new(
        store.clone(),
        enrolments.clone(),
        clock.clone(),
        config.vneid.clone(),
    )
    .map_err(|e| AppError::Config(e.into()))?;
    let verification = Verification::new(store.clone(), clock.clone(), config.verification.clone());
    let csrf = CsrfKey::derive(&keys);
    let remote_keys = remote_key_store(&config, &keys)?;
    let accounts = Accounts::new(store.clone(), keys, clock.clone(), config.security.clone())
        .with_totp_issuer(&config.contract.provider.name);
    let bootstrap_admin = accounts.bootstrap_admin().await?;
    let issuer = crate::issuance::Issuer::new(
        store.clone(),
        ca.issuing.clone(),
        ca.profile.clone(),
        clock.clone(),
    );
    spawn_issuance_recovery(&issuer);
    let renewals = crate::renewal::Renewals::new(store.clone(), contracts.clone(), clock.clone());
    let issuance =
        crate::issuance::Issuance::new(store.clone(), issuer, acceptance.clone(), clock.clone());
    let remote_signing = crate::remote_signing::RemoteSigning::new(
        store.clone(),
        otp.clone(),
        issuance.clone(),
        remote_keys,
        clock.clone(),
    );
    spawn_remote_signing_recovery(&remote_signing);
    let expiry = crate::expiry::Expiry::new(
        store.clone(),
        outbox.clone(),
        clock.clone(),
        config.expiry.clone(),
    );
    spawn_expiry(&expiry);
    let retention = crate::retention::Retention::new(
        store.clone(),
        documents.clone(),
        clock.clone(),
        config.retention.clone(),
    );
    spawn_retention(&retention);
    let status = crate::status::StatusService::with_settings(
        store.clone(),
        clock.clone(),
        ca.issuing.clone(),
        ca.ocsp.clone(),
        ca.profile.clone(),
        &config.status,
    )
    .map_err(|source| CaFileError {
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
    spawn_report_summary(&reports);
    let checkpoints =
        crate::checkpoints::Checkpoints::new(store.clone(), ca.sealing.clone(), clock.clone());
    spawn_audit_checkpoints(&checkpoints);
    spawn_audit_sequencer(&store);
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
            retention,
            documents,
            reports,
            csrf,
            vneid,
            checkpoints,
            remote_signing,
        },
        bootstrap_admin,
    })
}

/// The notifier with the VNeID hub's callbacks when a callback URL is set (otherwise they
/// wait in the outbox): signed by the document-sealing key, whose certificate and issuing CA
/// go in `x5c` (the hub holds our root).
fn hub_callbacks(
    config: &Config,
    notifier: Notifier,
    sealing: &crate::ca::SealingKey,
) -> Result<Notifier, AppError> {
    let v = &config.vneid;
    if v.callback_url.is_empty() {
        return Ok(notifier);
    }
    let mut chain_der = vec![sealing.cert_der().to_vec()];
    chain_der.extend(sealing.chain_der().iter().take(1).cloned());
    let signing = crate::notify::HubSigning {
        signer: sealing.signer().clone(),
        chain_der,
    };
    Ok(notifier.with_hub(crate::notify::HubCallbacks::new(
        &v.callback_url,
        v.callback_timeout_seconds,
        &v.provider_id,
        signing,
    )?))
}

/// Where remote-signing keys live: the CA's token when `[ca] signer = "pkcs11"`; otherwise
/// the development key store in software, which a production process never has (remote
/// issuance then answers `remote_signing_unavailable`).
fn remote_key_store(
    config: &Config,
    keys: &MasterKey,
) -> Result<Option<crate::remote_signing::KeyStore>, AppError> {
    use crate::remote_signing::KeyStore;
    Ok(match config.ca.signer {
        crate::ca_files::SignerKind::Pkcs11 => Some(KeyStore::Token(crate::ca_files::open_token(
            &config.ca.pkcs11,
        )?)),
        crate::ca_files::SignerKind::File => match config.environment {
            crate::contract::Environment::Production => None,
            _ => Some(KeyStore::Software(keys.clone())),
        },
    })
}

/// Every minute (and at start), settles credentials a stopped remote issuance left `pending`.
fn spawn_remote_signing_recovery(remote: &crate::remote_signing::RemoteSigning) {
    let remote = remote.clone();
    every(
        crate::issuance::RECOVERY_EVERY,
        "remote signing recovery",
        move || {
            let remote = remote.clone();
            async move {
                let settled = remote.recover().await?;
                if !settled.is_empty() {
                    tracing::warn!(credentials = ?settled, "settled credentials left pending");
                }
                Ok::<_, crate::remote_signing::RemoteSigningError>(())
            }
        },
    );
}

/// At start and every few seconds, chains audit events committed but left unchained (a process
/// stopped between a write's commit and its sequencer run; PostgreSQL only).
fn spawn_audit_sequencer(store: &crate::store::Store) {
    let store = store.clone();
    every(AUDIT_SEQUENCER_EVERY, "audit sequencer", move || {
        let store = store.clone();
        async move {
            let chained = store.chain_pending_audit().await?;
            if chained > 0 {
                tracing::warn!(chained, "chained audit events a write left pending");
            }
            Ok::<_, crate::store::StoreError>(())
        }
    });
}

/// How often the sequencer job looks for audit events left unchained.
const AUDIT_SEQUENCER_EVERY: Duration = Duration::from_secs(10);

/// At start and every hour, signs the audit chain's head with the sealing key.
/// Summarises the closed days the adoption reports read (`reports::Reports::summarise_closed_days`).
fn spawn_report_summary(reports: &crate::reports::Reports) {
    let reports = reports.clone();
    every(crate::reports::SUMMARY_EVERY, "report summary", move || {
        let reports = reports.clone();
        async move {
            let days = reports.summarise_closed_days().await?;
            if days > 0 {
                tracing::info!(days, "report days summarised");
            }
            Ok::<_, crate::reports::ReportsError>(())
        }
    });
}

fn spawn_audit_checkpoints(checkpoints: &crate::checkpoints::Checkpoints) {
    let checkpoints = checkpoints.clone();
    every(
        crate::checkpoints::CHECKPOINT_EVERY,
        "audit checkpoint",
        move || {
            let checkpoints = checkpoints.clone();
            async move {
                if let Some(seq) = checkpoints.make().await? {
                    tracing::info!(seq, "audit chain checkpoint signed");
                }
                Ok::<_, crate::checkpoints::CheckpointError>(())
            }
        },
    );
}

/// Every minute (and at start), revokes certificates a stopped process left between record and
/// sign and gives their enrolments back.
fn spawn_issuance_recovery(issuer: &crate::issuance::Issuer) {
    let issuer = issuer.clone();
    let interval = crate::issuance::RECOVERY_EVERY;
    every(interval, "issuance recovery", move || {
        let issuer = issuer.clone();
        async move {
            let serials = tokio::task::spawn_blocking(move || issuer.recover_blocking())
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            if !serials.is_empty() {
                tracing::warn!(
                    ?serials,
                    "revoked certificates left unsigned by a stopped process"
                );
            }
            Ok::<_, String>(())
        }
    });
}

/// Periodically sends acceptance reminders and revokes certificates not accepted in time.
fn spawn_acceptance_deadline(acceptance: &crate::acceptance::Acceptance) {
    let interval = Duration::from_secs(acceptance.settings().job_interval_seconds);
    let acceptance = acceptance.clone();
    every(interval, "acceptance deadline", move || {
        let acceptance = acceptance.clone();
        async move {
            let run = acceptance.run_deadline().await?;
            if !run.revoked.is_empty() {
                tracing::info!(
                    revoked = ?run.revoked,
                    reminded = run.reminded.len(),
                    "revoked certificates not accepted in time"
                );
            }
            Ok::<_, crate::acceptance::AcceptanceError>(())
        }
    });
}

/// Periodically marks certificates past notAfter expired and sends the reminders due (one
/// reminder row per certificate and day, so processes never send one twice).
fn spawn_expiry(expiry: &crate::expiry::Expiry) {
    let interval = Duration::from_secs(expiry.settings().job_interval_seconds);
    let expiry = expiry.clone();
    every(interval, "expiry", move || {
        let expiry = expiry.clone();
        async move {
            let run = expiry.run().await?;
            if !run.expired.is_empty() || !run.reminded.is_empty() {
                tracing::info!(
                    expired = run.expired.len(),
                    reminded = run.reminded.len(),
                    "expiry job"
                );
            }
            Ok::<_, crate::expiry::ExpiryError>(())
        }
    });
}

/// Periodically destroys identity documents past their retention and purges old OTP
/// challenges, delivered messages and idempotency records, in bounded batches.
fn spawn_retention(retention: &crate::retention::Retention) {
    let interval = Duration::from_secs(retention.settings().job_interval_seconds);
    let retention = retention.clone();
    every(interval, "retention", move || {
        let retention = retention.clone();
        async move {
            let run = retention.run().await?;
            if run != crate::retention::RetentionRun::default() {
                tracing::info!(
                    documents_destroyed = run.documents_destroyed.len(),
                    otp_challenges = run.otp_challenges,
                    outbox_messages = run.outbox_messages,
                    idempotency_records = run.idempotency_records,
                    vneid_jtis = run.vneid_jtis,
                    recording_nonces = run.recording_nonces,
                    "retention job"
                );
            }
            Ok::<_, crate::retention::RetentionError>(())
        }
    });
}

/// Periodically deletes document objects no row points to (uploads whose row never
/// committed, deletions that failed), once older than the grace period.
fn spawn_document_sweeper(
    documents: &crate::document_store::DocumentStore,
    store: &Store,
    settings: &crate::document_store::Settings,
) {
    if !documents.has_objects() {
        return;
    }
    let o = &settings.object_storage;
    let interval = Duration::from_secs(o.sweep_interval_seconds);
    let grace = Duration::from_secs(o.sweep_grace_seconds);
    let (documents, store) = (documents.clone(), store.clone());
    every(interval, "document sweeper", move || {
        let (documents, store) = (documents.clone(), store.clone());
        async move {
            let swept = documents.sweep(&store, grace).await?;
            if swept > 0 {
                tracing::info!(objects_deleted = swept, "document sweeper");
            }
            Ok::<_, crate::document_store::DocumentStoreError>(())
        }
    });
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

    /// Serves the endpoint `routes` makes from the state (`router::routes`) until `shutdown`
    /// resolves.
    pub async fn run<E: poem::Endpoint + 'static>(
        self,
        routes: impl FnOnce(AppState) -> E,
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
