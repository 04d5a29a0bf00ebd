//! The `ca-enrol` command line.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::app::{self, AppError, Application};
use crate::audit::Actor;
use crate::clock::SystemClock;
use crate::config::{Config, LogFormat};
use crate::operators::{Accounts, NewOperatorCredentials, Role};

#[derive(Parser)]
#[command(
    name = "ca-enrol",
    version,
    about = "Enrolment and certificate service of a Vietnamese public CA"
)]
pub struct Cli {
    /// Optional TOML configuration file; environment variables CA_ENROL_* override it.
    #[arg(long, global = true, default_value = "ca-enrol.toml")]
    pub config: PathBuf,
    /// Log as JSON lines (overrides `log_format`).
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the service (first run: creates the database, development CA and an administrator).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create the root, issuing, OCSP responder and document-sealing keys and certificates
    /// from `<ca_root>/ceremony.toml`; refuses if any already exist.
    Ceremony {
        /// Generate the keys inside the PKCS#11 token of `[ca.pkcs11]` (PIN from
        /// `pin_file` or the PKCS11_PIN environment variable); only certificates are written.
        #[arg(long)]
        pkcs11: bool,
        /// With --pkcs11: generate the issuing, OCSP and sealing keys only and write
        /// `<ca_root>/issuing.csr.pem` for an offline root to sign.
        #[arg(long, requires = "pkcs11", conflicts_with = "import_issuing")]
        csr_only: bool,
        /// With --pkcs11: for a token CA from before the document-sealing key, generate
        /// that key in the token and write `<ca_root>/sealing.pem`, signed by the
        /// token's issuing key.
        #[arg(long, requires = "pkcs11", conflicts_with_all = ["import_issuing", "csr_only"])]
        add_sealing_key: bool,
        /// Install the issuing CA certificate the offline root signed for the token's
        /// issuing key (after --csr-only); needs --root.
        #[arg(long, value_name = "CERT", requires = "root")]
        import_issuing: Option<PathBuf>,
        /// The root certificate that signed --import-issuing.
        #[arg(long, value_name = "CERT", requires = "import_issuing")]
        root: Option<PathBuf>,
    },
    /// Operator accounts.
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// Integrations (each API key belongs to one).
    Integration {
        #[command(subcommand)]
        command: IntegrationCommand,
    },
    /// Integration API keys.
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Identity documents' storage.
    Documents {
        #[command(subcommand)]
        command: DocumentsCommand,
    },
    /// A stand-in for the national VNeID hub, to try the connector (README, "VNeID").
    VneidSim {
        #[command(subcommand)]
        command: VneidSimCommand,
    },
}

#[derive(Subcommand)]
pub enum VneidSimCommand {
    /// Make a hub CA and signing key in DIR; `DIR/hub-ca.pem` is the provider's
    /// `vneid.trust_anchor_file`.
    Init {
        #[arg(long, default_value = "vneid-sim")]
        dir: PathBuf,
    },
    /// Print a registration signed by the hub of DIR: the intake-shaped JSON body of
    /// APPLICATION (identity, contact, consent) as the claims for a new transaction.
    Sign {
        #[arg(long, default_value = "vneid-sim")]
        dir: PathBuf,
        #[arg(long)]
        application: PathBuf,
        /// The hub's transaction id (a retry of a transaction repeats it).
        #[arg(long)]
        transaction_id: String,
        /// Whose registration it is (the provider's `vneid.provider_id`).
        #[arg(long, default_value = "ca-enrol")]
        provider_id: String,
    },
    /// Receive callbacks on ADDR at `/callbacks`, verify them against the provider's root
    /// certificate and print each (once per Idempotency-Key) as a JSON line, until stopped.
    Listen {
        #[arg(long, default_value = "127.0.0.1:8700")]
        listen: String,
        /// The provider's root CA certificate (`<ca_root>/root.pem`).
        #[arg(long)]
        trust: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Create an account; prints its one-time password and TOTP enrolment.
    Create {
        #[arg(long)]
        username: String,
        /// operator, ra_officer, admin or auditor
        #[arg(long)]
        role: String,
    },
    /// Reset an account's TOTP secret (a lost phone; also the way back in for the only
    /// administrator): prints the new secret once; the next sign-in enrols a new one.
    ResetTotp {
        #[arg(long)]
        username: String,
        /// Also replace the password with a one-time password (printed once).
        #[arg(long)]
        password: bool,
    },
}

#[derive(Subcommand)]
pub enum IntegrationCommand {
    /// Create an integration; prints its id.
    Create {
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key; prints it once.
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated: enrol, lifecycle, reports, all_integrations
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// The integration's id; without it, a new integration named after the key.
        #[arg(long)]
        integration: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum DocumentsCommand {
    /// Move existing documents' ciphertext to the object store of
    /// `[documents.object_storage]`, or back into the database, in batches (each one
    /// transaction with a `documents.migrated` event). Safe to interrupt and run again.
    Migrate {
        #[arg(long, value_enum)]
        to: MigrationTarget,
        /// Print how many documents and bytes lie where, and move nothing.
        #[arg(long)]
        dry_run: bool,
        /// Documents per batch (each batch holds their ciphertext in memory).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=1000))]
        batch: i64,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum MigrationTarget {
    ObjectStorage,
    Database,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and check every signed checkpoint against the sealing
    /// certificate and the chain; exit 1 naming the first bad event or checkpoint.
    Verify,
    /// The signed checkpoints of the chain, to keep outside the database.
    Checkpoints {
        /// Write them as JSON to this file (`-`: stdout).
        #[arg(long)]
        export: PathBuf,
    },
}

pub fn init_logging(format: &LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only on a terminal: a log shipper reading a pipe or file gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn print_credentials(c: &NewOperatorCredentials) {
    // Shown on the terminal once; deliberately not through the logger.
    print!("{}", credentials_text(c));
}

fn credentials_text(c: &NewOperatorCredentials) -> String {
    format!(
        "  username:           {}\n  role:               {}\n  one-time password:  {}\n  \
         TOTP secret:        {}\n  otpauth URL:        {}\n\
         Add the TOTP secret to an authenticator app, then sign in at /sign-in in a\n\
         browser: you will choose your own password and enrol a new TOTP secret from a QR\n\
         code. (API: POST /api/v1/operator/session, then POST /api/v1/operator/password,\n\
         which answers the new TOTP secret once.) The one-time secrets then stop working.\n",
        c.username,
        c.role.as_str(),
        c.one_time_password,
        c.totp_secret_base32,
        c.otpauth_url
    )
}

/// Where the first run's one-time credentials go when stdout is not a terminal.
const BOOTSTRAP_FILE: &str = "bootstrap-admin.txt";

/// Hands the first run's credentials to whoever started the service: on the terminal, or,
/// when stdout is a pipe or a file (a service manager's journal, a CI log, kept and shipped
/// like logs), in `<data_dir>/bootstrap-admin.txt` that only the service's user can read.
fn hand_over_bootstrap(config: &Config, c: &NewOperatorCredentials) -> Result<(), AppError> {
    use std::io::{IsTerminal, Write};
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if std::io::stdout().is_terminal() {
        println!("First run: bootstrap administrator created. Sign in once with:");
        print_credentials(c);
        return Ok(());
    }
    let path = config.data_dir.join(BOOTSTRAP_FILE);
    let failed = |e: std::io::Error| AppError::DataDir {
        path: path.clone(),
        reason: e.to_string(),
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(failed)?;
    // `mode` applies only to a new file: a left-over one keeps its permissions otherwise.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(failed)?;
    file.write_all(credentials_text(c).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(failed)?;
    // Absolute, so the message holds whatever directory the reader is in.
    let shown = std::fs::canonicalize(&path).unwrap_or(path);
    println!(
        "First run: bootstrap administrator created; its one-time credentials are in {} \
         (mode 0600, not printed because stdout is not a terminal). Read it, then delete it.",
        shown.display()
    );
    Ok(())
}

fn file_ceremony(config: &Config) -> Result<i32, AppError> {
    let out = crate::ca_files::run_ceremony(config)?;
    println!("CA ceremony done. Record these fingerprints (SHA-256):");
    println!(
        "  root     {}  {}",
        out.root_sha256,
        out.root_cert.display()
    );
    println!(
        "  issuing  {}  {}",
        out.issuing_sha256,
        out.issuing_cert.display()
    );
    println!(
        "  ocsp     {}  {}",
        out.ocsp_sha256,
        out.ocsp_cert.display()
    );
    println!(
        "  sealing  {}  {}",
        out.sealing_sha256,
        out.sealing_cert.display()
    );
    println!(
        "Private keys: {} (take root.key.pem offline).",
        out.root_key
            .parent()
            .map_or_else(String::new, |p| p.display().to_string())
    );
    Ok(0)
}

pub async fn run(cli: Cli) -> Result<i32, AppError> {
    let mut config = Config::load(&cli.config)?;
    if cli.log_json {
        config.log_format = LogFormat::Json;
    }
    init_logging(&config.log_format);
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let store = app::open_store(&config)?;
            let applied = tokio::task::spawn_blocking(move || store.migrate())
                .await
                .map_err(|e| crate::store::StoreError::Unexpected(e.to_string()))??;
            println!("applied {} migration(s)", applied.len());
            Ok(0)
        }
        Command::Ceremony {
            pkcs11,
            csr_only,
            add_sealing_key,
            import_issuing,
            root,
        } => {
            use crate::ca_files::{TokenCeremony, TokenCeremonyDone};
            let what = match (import_issuing, root) {
                (Some(issuing), Some(root)) => TokenCeremony::Import { issuing, root },
                _ if csr_only => TokenCeremony::CsrOnly,
                _ if add_sealing_key => TokenCeremony::AddSealing,
                _ if pkcs11 => TokenCeremony::Full,
                _ => return file_ceremony(&config),
            };
            match crate::ca_files::run_token_ceremony(&config, what)? {
                TokenCeremonyDone::Csr(path) => {
                    println!(
                        "Issuing, OCSP and sealing keys generated in token {:?}.",
                        config.ca.pkcs11.token_label
                    );
                    println!("Have the root sign {}, then run:", path.display());
                    println!(
                        "  ca-enrol ceremony --import-issuing <issuing.pem> --root <root.pem>"
                    );
                }
                TokenCeremonyDone::Sealing(sha256) => {
                    println!(
                        "Sealing key generated in token {:?}. Record this fingerprint (SHA-256):",
                        config.ca.pkcs11.token_label
                    );
                    println!("  sealing  {sha256}");
                }
                TokenCeremonyDone::Certificates(out) => {
                    println!("CA ceremony done. Record these fingerprints (SHA-256):");
                    println!("  root     {}", out.root_sha256);
                    println!("  issuing  {}", out.issuing_sha256);
                    println!("  ocsp     {}", out.ocsp_sha256);
                    println!("  sealing  {}", out.sealing_sha256);
                    println!(
                        "Keys: in token {:?}; certificates: {}.",
                        config.ca.pkcs11.token_label,
                        config.ca_root.display()
                    );
                }
            }
            Ok(0)
        }
        Command::Operator {
            command: OperatorCommand::Create { username, role },
        } => {
            let accounts = accounts(config).await?;
            let role = Role::parse(&role)?;
            let creds = accounts
                .create_operator(&Actor::Cli, &username, role)
                .await?;
            println!("Operator created.");
            print_credentials(&creds);
            Ok(0)
        }
        Command::Operator {
            command: OperatorCommand::ResetTotp { username, password },
        } => {
            let accounts = accounts(config).await?;
            let reset = accounts
                .reset_credentials_of(&Actor::Cli, &username, password, true)
                .await?;
            // Shown on the terminal once; deliberately not through the logger.
            println!(
                "Credentials of `{}` reset; their sessions ended.",
                reset.username
            );
            if let Some(p) = &reset.one_time_password {
                println!("  one-time password:  {p}");
            }
            if let (Some(secret), Some(url)) = (&reset.totp_secret_base32, &reset.otpauth_url) {
                println!("  TOTP secret:        {secret}\n  otpauth URL:        {url}");
            }
            println!(
                "Add the TOTP secret to an authenticator app and sign in at /sign-in: the first\n\
                 sign-in enrols a new TOTP secret (and a new password), so the secret above\n\
                 stops working."
            );
            Ok(0)
        }
        Command::Integration {
            command: IntegrationCommand::Create { name },
        } => {
            let accounts = accounts(config).await?;
            let integration = accounts.create_integration(&Actor::Cli, &name).await?;
            println!("Integration `{}`: {}", integration.name, integration.id);
            Ok(0)
        }
        Command::ApiKey {
            command:
                ApiKeyCommand::Create {
                    name,
                    scopes,
                    integration,
                },
        } => {
            let accounts = accounts(config).await?;
            let key = accounts
                .create_api_key(&Actor::Cli, &name, &scopes, integration.as_deref())
                .await?;
            println!(
                "API key `{}` ({}) of integration {}, shown once:",
                key.name, key.id, key.integration_id
            );
            println!("{}", key.token);
            Ok(0)
        }
        Command::VneidSim { command } => vneid_sim(command).await,
        Command::Documents {
            command: DocumentsCommand::Migrate { to, dry_run, batch },
        } => migrate_documents(&config, to, dry_run, batch).await,
        Command::Audit {
            command: AuditCommand::Verify,
        } => audit_verify(&config).await,
        Command::Audit {
            command: AuditCommand::Checkpoints { export },
        } => {
            let store = app::open_store(&config)?;
            let checkpoints =
                tokio::task::spawn_blocking(move || crate::checkpoints::export_blocking(&store))
                    .await
                    .map_err(|e| crate::store::StoreError::Unexpected(e.to_string()))??;
            let sealing = crate::ca_files::CaPaths::new(&config.ca_root).sealing_cert_der()?;
            let document = serde_json::json!({
                "sealing_certificate": crate::ca::certificate_to_pem(&sealing),
                "checkpoints": checkpoints,
            });
            let text = format!("{document:#}\n");
            if export.as_os_str() == "-" {
                print!("{text}");
            } else {
                std::fs::write(&export, text).map_err(|e| AppError::DataDir {
                    path: export.clone(),
                    reason: e.to_string(),
                })?;
                println!(
                    "{} checkpoint(s) written to {}",
                    checkpoints_len(&document),
                    export.display()
                );
            }
            Ok(0)
        }
    }
}

async fn vneid_sim(command: VneidSimCommand) -> Result<i32, AppError> {
    use crate::vneid::sim::{registration_claims, CallbackReceiver, Hub, SimError};
    let failed = |e: &dyn std::fmt::Display| SimError::new(e.to_string());
    match command {
        VneidSimCommand::Init { dir } => {
            let now = chrono::Utc::now();
            let hub = Hub::generate((
                now - chrono::Duration::days(1),
                now + chrono::Duration::days(730),
            ))?;
            hub.save(&dir)?;
            println!("hub CA and signing key written to {}", dir.display());
            println!("trust anchor: {}", dir.join("hub-ca.pem").display());
            Ok(0)
        }
        VneidSimCommand::Sign {
            dir,
            application,
            transaction_id,
            provider_id,
        } => {
            let hub = Hub::load(&dir)?;
            let text = std::fs::read(&application).map_err(|e| failed(&e))?;
            let body: serde_json::Value = serde_json::from_slice(&text).map_err(|e| failed(&e))?;
            let claims = registration_claims(
                &body,
                &transaction_id,
                &provider_id,
                chrono::Utc::now().timestamp(),
            );
            println!("{}", hub.sign(&claims)?);
            Ok(0)
        }
        VneidSimCommand::Listen { listen, trust } => {
            let pem = std::fs::read(&trust).map_err(|e| failed(&e))?;
            let anchor = openssl::x509::X509::from_pem(&pem).map_err(|e| failed(&e))?;
            let receiver = CallbackReceiver::start(&listen, anchor).await?;
            println!("receiving callbacks at {}", receiver.url());
            let (mut printed, mut refusals) = (0, 0);
            loop {
                let (_, callbacks, refused) = receiver.snapshot();
                for c in callbacks.iter().skip(printed) {
                    println!(
                        "{}",
                        serde_json::json!({"idempotency_key": c.idempotency_key, "claims": c.claims})
                    );
                }
                printed = callbacks.len();
                for r in refused.iter().skip(refusals) {
                    eprintln!("refused: {r}");
                }
                refusals = refused.len();
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => return Ok(0),
                    _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
                }
            }
        }
    }
}

fn checkpoints_len(document: &serde_json::Value) -> usize {
    document["checkpoints"].as_array().map_or(0, Vec::len)
}

/// `audit verify`: the chain, then every checkpoint against the sealing certificate in
/// `ca_root` (not the database's word) and against the chain.
async fn migrate_documents(
    config: &Config,
    to: MigrationTarget,
    dry_run: bool,
    batch: i64,
) -> Result<i32, AppError> {
    use crate::document_store::{self as ds, Direction, DocumentStore};
    let store = app::open_store(config)?;
    let before = ds::placement(&store).await?;
    let show = |what: &str, p: crate::store::Placed| {
        println!("{what}: {} document(s), {} bytes", p.documents, p.bytes)
    };
    show("in the database", before.in_rows);
    show("in object storage", before.in_objects);
    show(
        "in the database from before per-document keys (they stay)",
        before.legacy,
    );
    if dry_run {
        return Ok(0);
    }
    let documents = DocumentStore::from_settings(&config.documents)?;
    if !documents.has_objects() {
        eprintln!("[documents.object_storage] has no endpoint: nothing to migrate to or from");
        return Ok(2);
    }
    let to = match to {
        MigrationTarget::ObjectStorage => Direction::ToObjectStorage,
        MigrationTarget::Database => Direction::ToDatabase,
    };
    let done = ds::migrate(&store, &documents, to, batch).await?;
    println!(
        "moved {} document(s), {} bytes, to {} in {} batch(es)",
        done.documents,
        done.bytes,
        to.as_str(),
        done.batches
    );
    Ok(0)
}

async fn audit_verify(config: &Config) -> Result<i32, AppError> {
    let store = app::open_store(config)?;
    let sealing = crate::ca_files::CaPaths::new(&config.ca_root).sealing_cert_der()?;
    let verification = tokio::task::spawn_blocking(move || {
        crate::checkpoints::verify_all_blocking(&store, &sealing)
    })
    .await
    .map_err(|e| crate::store::StoreError::Unexpected(e.to_string()))??;
    let (report, checkpoints) = (verification.chain, verification.checkpoints);
    let mut code = 0;
    match report.fault {
        None => println!(
            "audit chain intact: {} events, head {}",
            report.events_checked, report.head_seq
        ),
        Some(fault) => {
            println!(
                "audit chain BROKEN: {fault} ({} events verified before it, head {})",
                report.events_checked, report.head_seq
            );
            code = 1;
        }
    }
    match checkpoints.fault {
        None => println!(
            "signed checkpoints: {} agree with the chain",
            checkpoints.checked
        ),
        Some(fault) => {
            println!(
                "audit chain REWRITTEN: {fault} ({} checkpoints agreed before it)",
                checkpoints.checked
            );
            code = 1;
        }
    }
    Ok(code)
}

/// The accounts of the service's database. Refuses a database `serve` never set up: a
/// command run without the service's configuration (another directory, no `DATABASE_URL`)
/// would otherwise make a new database and master key and report success there.
async fn accounts(config: Config) -> Result<Accounts, AppError> {
    let not_set_up = || AppError::NotSetUp {
        database: if config.is_postgres() {
            "the PostgreSQL database of `database_url`".into()
        } else {
            format!("the SQLite database {}", config.sqlite_path().display())
        },
    };
    if !config.is_postgres() && !config.sqlite_path().exists() {
        return Err(not_set_up());
    }
    let store = app::open_store(&config)?;
    let migrate_store = store.clone();
    tokio::task::spawn_blocking(move || migrate_store.migrate())
        .await
        .map_err(|e| crate::store::StoreError::Unexpected(e.to_string()))??;
    if store.read(|tx| tx.master_key_check()).await?.empty {
        return Err(not_set_up());
    }
    let keys = app::master_key(&config, &store, &SystemClock).await?;
    Ok(
        Accounts::new(store, keys, Arc::new(SystemClock), config.security.clone())
            .with_totp_issuer(&config.contract.provider.name),
    )
}

async fn serve(config: Config) -> Result<i32, AppError> {
    let prepared = app::prepare(config, Arc::new(SystemClock)).await?;
    if let Some(creds) = &prepared.bootstrap_admin {
        hand_over_bootstrap(&prepared.state.config, creds)?;
    }
    let app = Application::bind(prepared.state).await?;
    let host = app.state.config.listen_addr().ip();
    let base = format!("http://{host}:{}", app.port);
    println!("  Operator pages:        {base}/sign-in");
    println!("  API docs (Swagger UI): {base}/api/docs");
    println!("  OpenAPI document:      {base}/api/openapi.json");
    println!("  Health:                {base}/healthz   Readiness: {base}/readyz   Metrics: {base}/metrics");
    // Last, so whoever waits for it (scripts, tests) has read everything above.
    println!("ca-enrol listening on {base}");
    tracing::info!(port = app.port, "listening");
    app.run(crate::router::routes, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| AppError::Listen {
        addr: base,
        reason: e.to_string(),
    })?;
    Ok(0)
}
