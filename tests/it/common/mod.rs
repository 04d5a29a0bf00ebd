//! Test harness: the real application on port 0 with its own temporary data directory and
//! database (SQLite file, or a fresh PostgreSQL schema when `TEST_DATABASE_URL` is set),
//! spoken to over HTTP.

pub mod browser;
pub mod certificates;
pub mod contract;
pub mod counter;
pub mod enrol;
pub mod garage;
pub mod openapi;
pub mod pki;
pub mod proxy;
pub mod seal;
pub mod signing;
pub mod vneid;
pub mod web;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ca_enrol::app::{self, AppState, Application};
use ca_enrol::clock::{Clock, ManualClock};
use ca_enrol::config::Config;
use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl};
use serde_json::{json, Value};
use tempfile::TempDir;
use totp_rs::{Algorithm, Secret, TOTP};

pub struct Credentials {
    pub username: String,
    pub password: String,
    pub totp_secret: String,
}

impl Credentials {
    /// The code an authenticator app would show at `at` (unix seconds).
    pub fn code_at(&self, at: i64) -> String {
        totp_code(&self.totp_secret, at)
    }
}

pub fn totp_code(secret_base32: &str, at: i64) -> String {
    let secret = Secret::Encoded(secret_base32.to_string())
        .to_bytes()
        .unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, secret, None, String::new())
        .generate(u64::try_from(at).unwrap())
}

/// Where a test's data lives: a temp dir, and a database URL (empty for SQLite).
pub struct TestEnv {
    pub dir: TempDir,
    pub database_url: String,
    /// PostgreSQL: the test's schema, dropped with it.
    schema: Option<String>,
}

impl Drop for TestEnv {
    /// Left behind, every run of the PostgreSQL suite added ~280 schemas (~12,000 tables) to
    /// the test database. Best effort: a server of the test still holding a lock in the schema
    /// leaves it there after a second rather than holding the test up.
    fn drop(&mut self) {
        let Some(schema) = &self.schema else { return };
        let Ok(mut c) = diesel::pg::PgConnection::establish(&self.database_url) else {
            return;
        };
        let _ = c.batch_execute(&format!(
            "SET lock_timeout = '1s'; SET client_min_messages = warning; \
             DROP SCHEMA {schema} CASCADE"
        ));
    }
}

impl TestEnv {
    /// A data directory and database of its own, and a ca-root holding the checked-in
    /// configuration plus a CA made once per test binary (RSA-4096 roots take a while).
    pub fn new() -> Self {
        let env = Self::bare();
        copy_dir(template_ca(), &env.ca_root());
        env
    }

    /// Like [`TestEnv::new`] but with no CA yet: what a fresh clone has.
    pub fn bare() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (database_url, schema) = match std::env::var("TEST_DATABASE_URL") {
            Ok(base) if !base.is_empty() => {
                let (url, schema) = fresh_pg_schema(&base);
                (url, Some(schema))
            }
            _ => (String::new(), None),
        };
        let env = Self {
            dir,
            database_url,
            schema,
        };
        copy_ca_config(&env.ca_root());
        env
    }

    pub fn ca_root(&self) -> PathBuf {
        self.dir.path().join("ca-root")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn config(&self) -> Config {
        Config {
            listen: "127.0.0.1:0".into(),
            data_dir: self.data_dir(),
            ca_root: self.ca_root(),
            database_url: ca_enrol::settings::Secret::new(self.database_url.clone()),
            database_pool_size: 4,
            vneid: ca_enrol::vneid::Settings {
                trust_anchor_file: vneid::anchor_file(),
                ..Default::default()
            },
            ..Config::default()
        }
        .with_memory_delivery()
    }

    /// Runs raw SQL against the test's database, as a person with database access would
    /// (used to tamper with the audit trail).
    pub fn sql(&self, statement: &str) {
        if self.database_url.is_empty() {
            let path = self.data_dir().join("ca-enrol.db");
            let mut c =
                diesel::sqlite::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
            // Wait for the services' writers as they wait for each other (without a busy
            // timeout SQLite answers "database is locked" at once while one writes).
            diesel::sql_query("PRAGMA busy_timeout = 15000")
                .execute(&mut c)
                .unwrap();
            diesel::sql_query(statement).execute(&mut c).unwrap();
        } else {
            let mut c = diesel::pg::PgConnection::establish(&self.database_url).unwrap();
            diesel::sql_query(statement).execute(&mut c).unwrap();
        }
    }

    /// Environment for running the `ca-enrol` binary on this test's data.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ca-enrol"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("CA_ENROL_LISTEN")
            .env("CA_ENROL_DATA_DIR", self.data_dir())
            .env("CA_ENROL_CA_ROOT", self.ca_root())
            .env("CA_ENROL_VNEID__TRUST_ANCHOR_FILE", vneid::anchor_file())
            .env("DATABASE_URL", &self.database_url)
            .env("RUST_LOG", "warn");
        cmd
    }
}

fn repo_ca_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ca-root")
}

/// The checked-in CA configuration (ceremony and profile), without any generated files.
fn copy_ca_config(to: &Path) {
    std::fs::create_dir_all(to.join("profiles")).unwrap();
    let from = repo_ca_root();
    std::fs::copy(from.join("ceremony.toml"), to.join("ceremony.toml")).unwrap();
    std::fs::copy(
        from.join("profiles/personal.toml"),
        to.join("profiles/personal.toml"),
    )
    .unwrap();
}

fn template_ca() -> &'static Path {
    static TEMPLATE: OnceLock<TempDir> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            copy_ca_config(dir.path());
            let config: ca_enrol::ca::CeremonyConfig =
                toml::from_str(&std::fs::read_to_string(dir.path().join("ceremony.toml")).unwrap())
                    .unwrap();
            ca_enrol::ca::run_ceremony(dir.path(), &config, None).unwrap();
            dir
        })
        .path()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Tests read what the service sent from memory ([`TestApp::last_otp`]).
trait MemoryDelivery {
    fn with_memory_delivery(self) -> Self;
}

impl MemoryDelivery for Config {
    fn with_memory_delivery(mut self) -> Self {
        self.notify.email.backend = ca_enrol::notify::EmailBackend::Memory;
        self.notify.sms.backend = ca_enrol::notify::SmsBackend::Memory;
        self
    }
}

/// A new schema in the PostgreSQL database named by `base`, and a URL that selects it.
fn fresh_pg_schema(base: &str) -> (String, String) {
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut c = diesel::pg::PgConnection::establish(base).expect("TEST_DATABASE_URL reachable");
    diesel::sql_query(format!("CREATE SCHEMA {schema}"))
        .execute(&mut c)
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    (url, schema)
}

pub struct TestApp {
    pub env: TestEnv,
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub admin: Credentials,
    /// The running service's state: its store, OTP service, outbox and back ends.
    pub state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestApp {
    /// The stored row of certificate `serial` (it must exist).
    pub async fn certificate_row(&self, serial: &str) -> ca_enrol::store::CertificateRow {
        let serial = serial.to_string();
        self.state
            .store
            .read(move |tx| tx.certificate(&serial))
            .await
            .unwrap()
            .unwrap()
    }

    /// The certificate rows of `enrolment`, as stored.
    pub async fn certificate_rows(&self, enrolment: &str) -> Vec<ca_enrol::store::CertificateRow> {
        let id = enrolment.to_string();
        self.state
            .store
            .read(move |tx| tx.certificates_for_enrolment(&id))
            .await
            .unwrap()
    }

    pub async fn spawn() -> Self {
        Self::spawn_with(TestEnv::new(), |_| {}).await
    }

    pub async fn spawn_with(env: TestEnv, tweak: impl FnOnce(&mut Config)) -> Self {
        // `TEST_LOG=debug` (any filter) prints the apps' logs, with each test's output.
        if let Ok(filter) = std::env::var("TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let mut config = env.config();
        if garage::object_store_requested() {
            let node = garage::shared().expect("TEST_DOCUMENT_STORE=object needs `garage`");
            node.use_for(&mut config);
        }
        tweak(&mut config);
        let clock = ManualClock::new();
        let prepared = app::prepare(config, clock.clone()).await.unwrap();
        let creds = prepared
            .bootstrap_admin
            .expect("fresh database creates an admin");
        let state = prepared.state.clone();
        let app = Application::bind(prepared.state).await.unwrap();
        let base = format!("http://127.0.0.1:{}", app.port);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run(ca_enrol::router::routes, async {
            let _ = rx.await;
        }));
        Self {
            env,
            base,
            http: reqwest::Client::new(),
            clock,
            admin: Credentials {
                username: creds.username,
                password: creds.one_time_password,
                totp_secret: creds.totp_secret_base32,
            },
            state,
            shutdown: Some(tx),
        }
    }

    /// The messages the in-memory back end delivered to `to` (E.164 number or e-mail
    /// address), oldest first, once there are at least `count` (waits up to 5 s for the
    /// dispatcher; returns what there is then). Certificate status notices are left out: they
    /// follow a change asynchronously and would shift the counts tests take before asking
    /// for a code; [`TestApp::notices_to`] reads them.
    pub async fn messages_to(&self, to: &str, count: usize) -> Vec<ca_enrol::notify::Delivery> {
        self.delivered_to(to, count, |d| !d.kind.starts_with("certificate_"))
            .await
    }

    /// The certificate status notices delivered to `to` (`kind` `certificate_…`), once there
    /// are at least `count` (waits up to 5 s).
    pub async fn notices_to(&self, to: &str, count: usize) -> Vec<ca_enrol::notify::Delivery> {
        self.delivered_to(to, count, |d| d.kind.starts_with("certificate_"))
            .await
    }

    async fn delivered_to(
        &self,
        to: &str,
        count: usize,
        wanted: impl Fn(&ca_enrol::notify::Delivery) -> bool,
    ) -> Vec<ca_enrol::notify::Delivery> {
        let sink = self
            .state
            .notifier
            .memory()
            .expect("the test app delivers to memory")
            .clone();
        let mine = || -> Vec<_> {
            sink.delivered()
                .into_iter()
                .filter(|d| d.to == to && wanted(d))
                .collect()
        };
        for _ in 0..250 {
            if mine().len() >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        mine()
    }

    /// The code in the `n`-th message (1-based) sent to `to`, waiting for it.
    pub async fn nth_otp(&self, to: &str, n: usize) -> String {
        let messages = self.messages_to(to, n).await;
        let m = messages
            .get(n - 1)
            .unwrap_or_else(|| panic!("no message {n} to {to}; got {}", messages.len()));
        otp_in(&m.text).unwrap_or_else(|| panic!("no code in {:?}", m.text))
    }

    /// The code in the last message sent to `to` (waits for a first one).
    pub async fn last_otp(&self, to: &str) -> Option<String> {
        let messages = self.messages_to(to, 1).await;
        otp_in(&messages.last()?.text)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    /// Moves to the next TOTP step, so a fresh code is not a replay of the last one.
    pub fn next_totp_step(&self) {
        self.clock.advance(chrono::Duration::seconds(30));
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        checked_parts("POST", req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        checked_parts("GET", req.send().await.unwrap()).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.delete(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        checked_parts("DELETE", req.send().await.unwrap()).await
    }

    /// Signs in; returns (status, body).
    pub async fn login(&self, who: &Credentials, code: &str) -> (u16, Value) {
        self.post(
            "/api/v1/operator/session",
            None,
            json!({"username": who.username, "password": who.password, "totp_code": code}),
        )
        .await
    }

    /// Signs in with a fresh code and, on first use, replaces the one-time password (and
    /// takes the new TOTP secret the change answers).
    pub async fn session(&self, who: &mut Credentials) -> String {
        self.next_totp_step();
        let (status, body) = self.login(who, &who.code_at(self.now())).await;
        assert_eq!(status, 201, "login failed: {body}");
        let token = body["token"].as_str().unwrap().to_string();
        if body["must_change_password"] == json!(true) {
            let new_password = format!("{}-changed-once", who.password);
            let (status, body) = self
                .post(
                    "/api/v1/operator/password",
                    Some(&token),
                    json!({"current_password": who.password, "new_password": new_password}),
                )
                .await;
            // The first change also replaces the TOTP secret the administrator saw.
            assert_eq!(status, 200, "password change failed: {body}");
            who.password = new_password;
            who.totp_secret = body["totp_secret"].as_str().unwrap().to_string();
        }
        token
    }

    pub async fn admin_token(&mut self) -> String {
        let mut admin = std::mem::replace(
            &mut self.admin,
            Credentials {
                username: String::new(),
                password: String::new(),
                totp_secret: String::new(),
            },
        );
        let token = self.session(&mut admin).await;
        self.admin = admin;
        token
    }

    /// Creates an operator through the API; returns its credentials.
    pub async fn create_operator(
        &self,
        admin_token: &str,
        username: &str,
        role: &str,
    ) -> Credentials {
        let (status, body) = self
            .post(
                "/api/v1/operators",
                Some(admin_token),
                json!({"username": username, "role": role}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        Credentials {
            username: username.into(),
            password: body["one_time_password"].as_str().unwrap().into(),
            totp_secret: body["totp_secret"].as_str().unwrap().into(),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The first run of exactly six digits in `text`.
pub fn otp_in(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(5)).find_map(|i| {
        let window = &bytes[i..i + 6];
        let before = i.checked_sub(1).map(|j| bytes[j].is_ascii_digit()) == Some(true);
        let after = bytes.get(i + 6).is_some_and(u8::is_ascii_digit);
        (window.iter().all(u8::is_ascii_digit) && !before && !after)
            .then(|| String::from_utf8_lossy(window).into_owned())
    })
}

pub async fn into_parts(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    parts(status, text)
}

/// [`into_parts`], failing the test if the answer does not match the OpenAPI document.
pub async fn checked_parts(method: &str, resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let path = resp.url().path().to_string();
    let header = |name| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let allow = header(reqwest::header::ALLOW);
    let text = resp.text().await.unwrap();
    if let Some(why) = openapi::mismatch(
        method,
        &path,
        status,
        content_type.as_deref(),
        allow.as_deref(),
        text.as_bytes(),
    ) {
        panic!("{method} {path}: the answer does not match the OpenAPI document: {why}\n{text}");
    }
    parts(status, text)
}

fn parts(status: u16, text: String) -> (u16, Value) {
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// A `ca-enrol serve` process on a free port; killed on drop.
pub struct ServeProcess {
    pub child: Child,
    pub base: String,
    pub stdout: String,
}

impl ServeProcess {
    /// Starts the binary and waits until it prints its listening line.
    pub fn start(env: &TestEnv) -> Self {
        Self::start_with(env, &[])
    }

    /// [`ServeProcess::start`] with extra environment variables.
    pub fn start_with(env: &TestEnv, vars: &[(&str, &str)]) -> Self {
        Self::spawn(env, vars, Stdio::inherit())
    }

    /// [`ServeProcess::start_with`], its log (stderr) written to `log`.
    pub fn start_logging_to(env: &TestEnv, vars: &[(&str, &str)], log: &std::path::Path) -> Self {
        Self::spawn(env, vars, std::fs::File::create(log).unwrap().into())
    }

    fn spawn(env: &TestEnv, vars: &[(&str, &str)], stderr: Stdio) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = env
            .command(&["serve"])
            .envs(vars.iter().copied())
            .env("CA_ENROL_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut stdout = String::new();
        let mut base = None;
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 {
            stdout.push_str(&line);
            if let Some(rest) = line.trim().strip_prefix("ca-enrol listening on ") {
                base = Some(rest.to_string());
                break;
            }
            line.clear();
        }
        // Keep draining so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        let base = base.unwrap_or_else(|| panic!("serve did not start; stdout was:\n{stdout}"));
        Self {
            child,
            base,
            stdout,
        }
    }

    /// The bootstrap credentials of a first run, if any: stdout is a pipe here, so they are
    /// in the 0600 file whose path the first run prints.
    pub fn printed_admin(&self) -> Option<Credentials> {
        let text = std::fs::read_to_string(self.bootstrap_file()?).unwrap();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
        };
        Some(Credentials {
            username: field("username:")?,
            password: field("one-time password:")?,
            totp_secret: field("TOTP secret:")?,
        })
    }
}

impl ServeProcess {
    /// The file of the bootstrap credentials, as the first run printed it.
    pub fn bootstrap_file(&self) -> Option<std::path::PathBuf> {
        let (_, rest) = self.stdout.split_once("one-time credentials are in ")?;
        let (path, _) = rest.split_once(" (mode 0600")?;
        Some(path.into())
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn wait_ready(base: &str) {
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{base} never became ready");
}

/// Sends the same POST `n` times at once, each with `Idempotency-Key: idempotency_key` (a
/// client retrying before its first attempt was answered); the answers in sending order.
pub async fn race_with_one_key(
    app: &TestApp,
    path: &str,
    token: &str,
    idempotency_key: &str,
    body: &Value,
    n: usize,
) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let req = app
                .http
                .post(app.url(path))
                .bearer_auth(token)
                .header("Idempotency-Key", idempotency_key)
                .json(body);
            tokio::spawn(async move { into_parts(req.send().await.unwrap()).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

/// CRC-32 (ISO 3309) of a PNG chunk's type and data, for the test images.
pub fn png_crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
