//! Load benchmark of the full enrolment path through HTTP (not a test). Against the release
//! `ca-enrol serve` (SQLite: one process; PostgreSQL when `FLOW_BENCH_PG_URL` is set: one and
//! then two processes on one database, a fresh schema per run), N concurrent clients each walk
//! enrolments end to end:
//!
//! VNeID registration (the hub's signed token) → hand-over → PS0 contract → contract OTP →
//! contract signed with the code → certificate for a P-256 CSR → the acceptance record shown
//! (its PDF, as the provider's app shows it before asking for the code: domain step 6) →
//! acceptance OTP → acceptance.
//!
//! OTP codes come from the outbox as the service delivers them: the challenge's
//! `outbox_message_id` (read from the database) names the file the development SMS back end
//! writes under `<data_dir>/outbox/`; the time from the OTP request's answer to that file is
//! printed as `otp delivery` (the outbox dispatcher's latency).
//!
//! Per row it prints enrolments per minute, per-step p50/p99/max, the server processes' CPU
//! per enrolment (from /proc/<pid>/stat) and the client's own CPU, and refusals per step.
//! `ca-enrol audit verify` runs on each database afterwards and its result is printed.
//!
//! `cargo bench --bench flow` (or build with `--no-run` and run the printed executable).
//! Settings (environment): `FLOW_BENCH_SECONDS` per row (20), `FLOW_BENCH_CLIENTS` (`1,8,32`),
//! `FLOW_BENCH_PG_URL` (unset: SQLite only), `FLOW_BENCH_SKIP_SQLITE` (0), `FLOW_BENCH_KEEP`
//! (0; 1 keeps the working directory with the databases and server logs, and the PostgreSQL
//! rows' schemas, dropped otherwise), `FLOW_BENCH_BIN`
//! (another `ca-enrol` binary to measure, e.g. main's kept aside, for before/after figures).
//!
//! `FLOW_BENCH_ISSUANCE=1` runs only the issuance rows instead: contract-signed enrolments
//! prepared through the API, then certificates for P-256 CSRs through HTTP with 1 and 8
//! clients, side by side with `cfssl serve` (SQLite certdb in WAL) on the same RSA-2048
//! issuing key, the same CSRs and the same client; `FLOW_BENCH_ISSUANCE_COUNT` certificates per
//! row and server (300), posted in `FLOW_BENCH_ISSUANCE_ROUNDS` rounds (5) that alternate
//! between the two servers, so that a machine whose speed drifts over minutes weighs on both
//! alike.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use ca_enrol::vneid::sim::{registration_claims, Hub};
use chrono::Utc;
use diesel::sql_types::Text;
use diesel::{Connection, QueryableByName, RunQueryDsl};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::{X509NameBuilder, X509ReqBuilder};
use serde_json::{json, Value};

#[path = "common/env.rs"]
mod env;
use env::env_or;

/// The service under test: this build's, or `FLOW_BENCH_BIN` (another build kept aside, to
/// compare before and after a change on the same machine).
fn binary() -> PathBuf {
    std::env::var_os("FLOW_BENCH_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_ca-enrol")),
        PathBuf::from,
    )
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const STEPS: [&str; 10] = [
    "registration",
    "hand-over",
    "contract",
    "contract otp",
    "otp delivery",
    "contract sign",
    "certificate",
    "record pdf",
    "acceptance otp",
    "acceptance",
];
/// Index of the client-side wait for the SMS file (twice per enrolment).
const DELIVERY: usize = 4;

/// Where a run's services keep their data, and the database they share.
struct Site {
    dir: PathBuf,
    ca_root: PathBuf,
    hub_dir: PathBuf,
    /// Empty for SQLite.
    database_url: String,
}

impl Site {
    fn new(dir: PathBuf, ca_root: &Path, hub_dir: &Path, database_url: String) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            dir,
            ca_root: ca_root.to_path_buf(),
            hub_dir: hub_dir.to_path_buf(),
            database_url,
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .current_dir(&self.dir)
            .env("CA_ENROL_DATA_DIR", self.data_dir())
            .env("CA_ENROL_CA_ROOT", &self.ca_root)
            .env(
                "CA_ENROL_VNEID__TRUST_ANCHOR_FILE",
                self.hub_dir.join("hub-ca.pem"),
            )
            .env("DATABASE_URL", &self.database_url)
            .env("RUST_LOG", "warn")
            .env_remove("CA_ENROL_LISTEN");
        cmd
    }

    fn serve(&self, n: usize) -> Server {
        let log = std::fs::File::create(self.dir.join(format!("serve-{n}.log"))).unwrap();
        let mut child = self
            .command(&["serve"])
            .env("CA_ENROL_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("ca-enrol serve printed its address")
                .unwrap();
            if let Some(base) = line.strip_prefix("ca-enrol listening on ") {
                break base.trim().to_string();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, base }
    }

    /// An API key with scope `enrol` (the CLI, beside the running service).
    fn enrol_key(&self) -> String {
        let out = self
            .command(&[
                "api-key",
                "create",
                "--name",
                "flow bench",
                "--scopes",
                "enrol",
            ])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "api-key create: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout.lines().last().unwrap().trim().to_string()
    }

    fn audit_verify(&self, what: &str) {
        let out = self.command(&["audit", "verify"]).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "audit verify ({what}): {} — {}",
            if out.status.success() {
                "passed"
            } else {
                "FAILED"
            },
            text.trim().lines().last().unwrap_or("")
        );
    }
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User + system CPU seconds process `pid` has used so far.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // In clock ticks: USER_HZ, 100 on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// The most memory process `pid` has held so far (VmHWM), in MiB: a leak shows as growth
/// from row to row.
fn peak_rss_mib(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// A ca-root with the checked-in configuration and a fresh development CA.
fn ceremony(ca_root: &Path) {
    std::fs::create_dir_all(ca_root.join("profiles")).unwrap();
    for f in ["ceremony.toml", "profiles/personal.toml"] {
        std::fs::copy(repo().join("ca-root").join(f), ca_root.join(f)).unwrap();
    }
    let cfg: ca_enrol::ca::CeremonyConfig =
        toml::from_str(&std::fs::read_to_string(ca_root.join("ceremony.toml")).unwrap()).unwrap();
    ca_enrol::ca::run_ceremony(ca_root, &cfg, None).unwrap();
}

/// A new schema in the PostgreSQL database named by `base`, and a URL that selects it.
fn fresh_pg_schema(base: &str) -> (String, String) {
    let schema = format!("flow_{}", uuid::Uuid::new_v4().simple());
    let mut c = diesel::pg::PgConnection::establish(base).expect("FLOW_BENCH_PG_URL reachable");
    diesel::sql_query(format!("CREATE SCHEMA {schema}"))
        .execute(&mut c)
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    (url, schema)
}

/// Drops a row's schema once it is measured (each holds ~110 MB of PDFs after a 10 s row),
/// unless `FLOW_BENCH_KEEP=1` asks to keep it for inspection.
fn done_with_pg_schema(base: &str, schema: &str) {
    if env_or("FLOW_BENCH_KEEP", 0) == 1 {
        println!("kept schema {schema}");
        return;
    }
    let mut c = diesel::pg::PgConnection::establish(base).expect("FLOW_BENCH_PG_URL reachable");
    diesel::sql_query(format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut c)
        .unwrap();
}

/// A valid VNeID application for citizen `n`: unique ID number and phone.
fn application(n: u32) -> Value {
    json!({
        "source": "vneid",
        "identity": {
            "id_number": format!("001090{n:06}"),
            "full_name": "Nguyễn Văn An",
            "date_of_birth": "1990-05-17",
            "sex": "male",
            "nationality": "Việt Nam",
            "permanent_address": {
                "line": "Số 12 phố Hàng Bài",
                "ward": "Phường Cửa Nam",
                "province": "Thành phố Hà Nội"
            },
            "id_issue_date": "2021-06-01",
            "id_issue_place": "Cục Cảnh sát quản lý hành chính về trật tự xã hội",
            "id_expiry_date": "2035-05-17"
        },
        "contact": {"phone": format!("09{n:08}"), "email": "an.nguyen@example.vn"},
        "consent": {
            "version": "2025-07",
            "text_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "given_at": "2025-12-01T09:30:00+07:00",
            "channel": "app"
        }
    })
}

/// A PKCS#10 request for a fresh P-256 key.
fn csr_pem() -> String {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "ignored").unwrap();
    let mut req = X509ReqBuilder::new().unwrap();
    req.set_subject_name(&name.build()).unwrap();
    req.set_pubkey(&key).unwrap();
    req.sign(&key, MessageDigest::sha256()).unwrap();
    String::from_utf8(req.build().to_pem().unwrap()).unwrap()
}

/// A drawn signature: a transparent 600 x 200 RGBA PNG with a dark stroke, base64.
fn signature_image() -> String {
    let (width, height) = (600u32, 200u32);
    let mut pixels = vec![0u8; (width * height * 4) as usize];
    for x in 0..width {
        let at = (((x * height / width) * width + x) * 4) as usize;
        pixels[at..at + 4].copy_from_slice(&[20, 20, 60, 255]);
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// The first run of exactly six digits in `text`.
fn otp_in(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(5)).find_map(|i| {
        let window = &bytes[i..i + 6];
        let before = i.checked_sub(1).map(|j| bytes[j].is_ascii_digit()) == Some(true);
        let after = bytes.get(i + 6).is_some_and(u8::is_ascii_digit);
        (window.iter().all(u8::is_ascii_digit) && !before && !after)
            .then(|| String::from_utf8_lossy(window).into_owned())
    })
}

#[derive(QueryableByName)]
struct MessageId {
    #[diesel(sql_type = Text)]
    outbox_message_id: String,
}

/// A client's own connection, to look up which outbox message carries a challenge's code.
enum Lookup {
    Sqlite(diesel::sqlite::SqliteConnection),
    Pg(diesel::pg::PgConnection),
}

impl Lookup {
    fn open(site: &Site) -> Self {
        if site.database_url.is_empty() {
            let path = site.data_dir().join("ca-enrol.db");
            let mut c =
                diesel::sqlite::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
            diesel::sql_query("PRAGMA busy_timeout = 15000")
                .execute(&mut c)
                .unwrap();
            Lookup::Sqlite(c)
        } else {
            Lookup::Pg(diesel::pg::PgConnection::establish(&site.database_url).unwrap())
        }
    }

    fn message_id(&mut self, challenge: &str) -> Option<String> {
        let q = diesel::sql_query(format!(
            "SELECT outbox_message_id FROM otp_challenges WHERE id = '{challenge}'"
        ));
        let rows: Vec<MessageId> = match self {
            Lookup::Sqlite(c) => q.load(c).ok()?,
            Lookup::Pg(c) => q.load(c).ok()?,
        };
        rows.into_iter().next().map(|r| r.outbox_message_id)
    }
}

/// What one client measured.
#[derive(Default)]
struct Tally {
    done: u64,
    /// Seconds per step.
    steps: Vec<Vec<f64>>,
    /// Refusals and failures per step, and the first one's text.
    errors: Vec<u64>,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Self {
        Self {
            steps: vec![Vec::new(); STEPS.len()],
            errors: vec![0; STEPS.len()],
            ..Default::default()
        }
    }

    fn merge(&mut self, other: Tally) {
        self.done += other.done;
        for (a, b) in self.steps.iter_mut().zip(other.steps) {
            a.extend(b);
        }
        for (a, b) in self.errors.iter_mut().zip(other.errors) {
            *a += b;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
    hub: Arc<Hub>,
    outbox: PathBuf,
    lookup: Arc<Mutex<Lookup>>,
    signature: Arc<String>,
}

/// One failed step: its index and what the server said.
type Failure = (usize, String);

impl Client {
    async fn call(
        &self,
        tally: &mut Tally,
        step: usize,
        req: reqwest::RequestBuilder,
        expect: u16,
    ) -> Result<Value, Failure> {
        let body = self.fetch(tally, step, req, expect).await?;
        serde_json::from_slice(&body).map_err(|e| (step, e.to_string()))
    }

    /// The answer's body, timed as `step`.
    async fn fetch(
        &self,
        tally: &mut Tally,
        step: usize,
        req: reqwest::RequestBuilder,
        expect: u16,
    ) -> Result<Vec<u8>, Failure> {
        let t = Instant::now();
        let resp = req.send().await.map_err(|e| (step, e.to_string()))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| (step, e.to_string()))?;
        tally.steps[step].push(t.elapsed().as_secs_f64());
        if status != expect {
            let text = String::from_utf8_lossy(&body);
            return Err((step, format!("{} {status}: {text}", STEPS[step])));
        }
        Ok(body.to_vec())
    }

    fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(body)
    }

    /// The code the service sent for `challenge`, from the SMS back end's file.
    async fn code(&self, tally: &mut Tally, challenge: &str) -> Result<String, Failure> {
        let t = Instant::now();
        let lookup = self.lookup.clone();
        let id = challenge.to_string();
        let message = tokio::task::spawn_blocking(move || {
            lookup.lock().ok().and_then(|mut l| l.message_id(&id))
        })
        .await
        .ok()
        .flatten()
        .ok_or((DELIVERY, format!("no challenge {challenge}")))?;
        let file = self.outbox.join(format!("{message}.sms.txt"));
        loop {
            if let Ok(text) = tokio::fs::read_to_string(&file).await {
                if let Some(code) = otp_in(text.split_once("\n\n").map_or("", |(_, b)| b)) {
                    tally.steps[DELIVERY].push(t.elapsed().as_secs_f64());
                    return Ok(code);
                }
            }
            if t.elapsed() > Duration::from_secs(30) {
                return Err((DELIVERY, format!("message {message} not delivered")));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn enrol(&self, tally: &mut Tally, n: u32) -> Result<(), Failure> {
        let enrolment = self.signed_contract(tally, n).await?;
        let cert = self
            .call(
                tally,
                6,
                self.post(
                    &format!("/api/v1/enrolments/{enrolment}/certificate"),
                    &json!({ "csr": csr_pem() }),
                ),
                201,
            )
            .await?;
        let serial = cert["serial"].as_str().unwrap_or_default().to_string();
        // The app shows the record before asking for the code (its PDF is made then).
        self.fetch(
            tally,
            7,
            self.http
                .get(format!(
                    "{}/api/v1/certificates/{serial}/acceptance-record",
                    self.base
                ))
                .bearer_auth(&self.key)
                .header("Accept", "application/pdf"),
            200,
        )
        .await?;
        let sent = self
            .call(
                tally,
                8,
                self.post(
                    &format!("/api/v1/certificates/{serial}/acceptance/otp"),
                    &json!({}),
                ),
                201,
            )
            .await?;
        let challenge = sent["challenge_id"].as_str().unwrap_or_default();
        let code = self.code(tally, challenge).await?;
        self.call(
            tally,
            9,
            self.post(
                &format!("/api/v1/certificates/{serial}/acceptance"),
                &json!({"agree": true, "otp_code": code, "challenge_id": challenge,
                        "client_ip": "203.0.113.7", "user_agent": "SmartCA/5.2"}),
            ),
            200,
        )
        .await?;
        Ok(())
    }

    /// Citizen `n` registered through the hub, with a signed PS0 contract: the enrolment's id.
    async fn signed_contract(&self, tally: &mut Tally, n: u32) -> Result<String, Failure> {
        let application = application(n);
        let token = self
            .hub
            .sign(&registration_claims(
                &application,
                &uuid::Uuid::new_v4().to_string(),
                "ca-enrol",
                Utc::now().timestamp(),
            ))
            .map_err(|e| (0, e.to_string()))?;
        let registered = self
            .call(
                tally,
                0,
                self.http
                    .post(format!("{}/api/v1/vneid/registrations", self.base))
                    .header("Content-Type", "application/jose")
                    .body(token),
                201,
            )
            .await?;
        let view = self
            .call(
                tally,
                1,
                self.post(
                    "/api/v1/vneid/handover",
                    &json!({"token": registered["handover_token"]}),
                ),
                200,
            )
            .await?;
        let enrolment = view["id"].as_str().unwrap_or_default().to_string();
        let contract = self
            .call(
                tally,
                2,
                self.post(
                    &format!("/api/v1/enrolments/{enrolment}/contract"),
                    &json!({"package_code": "PS0"}),
                ),
                201,
            )
            .await?;
        let contract = contract["id"].as_str().unwrap_or_default().to_string();
        let sent = self
            .call(
                tally,
                3,
                self.post(&format!("/api/v1/contracts/{contract}/otp"), &json!({})),
                201,
            )
            .await?;
        let challenge = sent["challenge_id"].as_str().unwrap_or_default();
        let code = self.code(tally, challenge).await?;
        self.call(
            tally,
            5,
            self.post(
                &format!("/api/v1/contracts/{contract}/sign"),
                &json!({"agree": true, "signature_image": *self.signature,
                        "otp_code": code, "challenge_id": challenge}),
            ),
            200,
        )
        .await?;
        Ok(enrolment)
    }
}

/// Citizens are numbered across the whole run: ID numbers and phones stay unique.
static NEXT_CITIZEN: AtomicU32 = AtomicU32::new(1);

/// `clients` clients spread over `servers` walk enrolments for `seconds`; prints the row.
fn row(
    site: &Site,
    label: &str,
    servers: &[Server],
    key: &str,
    hub: &Arc<Hub>,
    clients: usize,
    seconds: u64,
) -> f64 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let signature = Arc::new(signature_image());
    let make = |i: usize| Client {
        http: reqwest::Client::new(),
        base: servers[i % servers.len()].base.clone(),
        key: key.to_string(),
        hub: hub.clone(),
        outbox: site.data_dir().join("outbox"),
        lookup: Arc::new(Mutex::new(Lookup::open(site))),
        signature: signature.clone(),
    };
    let all: Vec<Client> = (0..clients).map(make).collect();
    // Warm-up: one enrolment per client (connections, caches), not counted.
    runtime.block_on(async {
        let mut warm = Tally::new();
        for c in &all {
            let n = NEXT_CITIZEN.fetch_add(1, Ordering::Relaxed);
            if let Err((_, e)) = c.enrol(&mut warm, n).await {
                panic!("warm-up enrolment failed: {e}");
            }
        }
    });
    let pids: Vec<String> = servers.iter().map(|s| s.child.id().to_string()).collect();
    let cpu = || pids.iter().map(|p| cpu_seconds(p)).sum::<f64>();
    let cpu_before = cpu();
    let client_before = cpu_seconds("self");
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let tally = runtime.block_on(async {
        let tasks: Vec<_> = all
            .into_iter()
            .map(|c| {
                tokio::spawn(async move {
                    let mut tally = Tally::new();
                    while Instant::now() < deadline {
                        let n = NEXT_CITIZEN.fetch_add(1, Ordering::Relaxed);
                        match c.enrol(&mut tally, n).await {
                            Ok(()) => tally.done += 1,
                            Err((step, e)) => {
                                tally.errors[step] += 1;
                                tally.first_error.get_or_insert(e);
                            }
                        }
                    }
                    tally
                })
            })
            .collect();
        let mut total = Tally::new();
        for t in tasks {
            total.merge(t.await.unwrap());
        }
        total
    });
    let elapsed = start.elapsed().as_secs_f64();
    let server_cpu = cpu() - cpu_before;
    let client_cpu = cpu_seconds("self") - client_before;
    let per_minute = tally.done as f64 / elapsed * 60.0;
    let done = tally.done.max(1) as f64;
    println!(
        "\n{label}, {clients} client(s): {} enrolments in {elapsed:.1} s = {per_minute:.0}/min; \
         server CPU {:.1} ms/enrolment ({:.2} cores busy), client CPU {:.1} ms/enrolment; \
         server peak RSS {:.0} MiB",
        tally.done,
        server_cpu * 1e3 / done,
        server_cpu / elapsed,
        client_cpu * 1e3 / done,
        pids.iter().map(|p| peak_rss_mib(p)).fold(0.0, f64::max),
    );
    println!(
        "  {:<15} {:>8} {:>9} {:>9} {:>9} {:>7}",
        "step", "count", "p50 ms", "p99 ms", "max ms", "errors"
    );
    for (i, name) in STEPS.iter().enumerate() {
        let mut v = tally.steps[i].clone();
        v.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| {
            if v.is_empty() {
                0.0
            } else {
                v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1] * 1e3
            }
        };
        println!(
            "  {name:<15} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>7}",
            v.len(),
            pct(0.50),
            pct(0.99),
            pct(1.0),
            tally.errors[i]
        );
    }
    if let Some(e) = &tally.first_error {
        println!("  first error: {}", e.chars().take(300).collect::<String>());
    }
    per_minute
}

fn client_counts() -> Vec<usize> {
    std::env::var("FLOW_BENCH_CLIENTS")
        .unwrap_or_else(|_| "1,8,32".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect()
}

/// One database: `processes` services (started one after the other: the first run sets the
/// database up), then a row per client count. Returns enrolments per minute per row.
fn run_site(site: &Site, label: &str, processes: usize, hub: &Arc<Hub>) -> Vec<(usize, f64)> {
    let seconds = env_or("FLOW_BENCH_SECONDS", 20u64);
    let mut servers = vec![site.serve(0)];
    let key = site.enrol_key();
    for n in 1..processes {
        servers.push(site.serve(n));
    }
    let rates = client_counts()
        .into_iter()
        .map(|clients| {
            let rate = row(site, label, &servers, &key, hub, clients, seconds);
            (clients, rate)
        })
        .collect();
    drop(servers);
    site.audit_verify(label);
    rates
}

// ---------------------------------------------------------------------------------------------
// Issuance through HTTP, side by side with `cfssl serve` (FLOW_BENCH_ISSUANCE=1)

/// `cfssl serve` (Debian `golang-cfssl` 1.2) with the issuing CA's certificate and key and a
/// SQLite certdb in WAL (synchronous NORMAL, as ca-enrol's), every certificate recorded there.
fn start_cfssl(dir: &Path, ca_root: &Path) -> Server {
    let db = dir.join("cfssl-certdb.db");
    let mut conn = diesel::sqlite::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    // cfssl 1.2's certdb schema (certdb/sqlite/migrations).
    diesel::sql_query(
        "CREATE TABLE certificates (serial_number blob NOT NULL, \
         authority_key_identifier blob NOT NULL, ca_label blob, status blob NOT NULL, \
         reason int, expiry timestamp, revoked_at timestamp, pem blob NOT NULL, \
         PRIMARY KEY(serial_number, authority_key_identifier))",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query(
        "CREATE TABLE ocsp_responses (serial_number blob NOT NULL, \
         authority_key_identifier blob NOT NULL, body blob NOT NULL, expiry timestamp, \
         PRIMARY KEY(serial_number, authority_key_identifier))",
    )
    .execute(&mut conn)
    .unwrap();
    drop(conn);
    let db_config = dir.join("cfssl-db.json");
    std::fs::write(
        &db_config,
        format!(
            r#"{{"driver":"sqlite3","data_source":"file:{}?_journal_mode=WAL&_synchronous=NORMAL"}}"#,
            db.to_str().unwrap()
        ),
    )
    .unwrap();
    let config = dir.join("cfssl-config.json");
    std::fs::write(
        &config,
        r#"{"signing":{"default":{"expiry":"8760h","usages":["digital signature","content commitment"]}}}"#,
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(dir.join("cfssl.log")).unwrap();
    let child = Command::new("cfssl")
        .arg("serve")
        .args(["-address", "127.0.0.1", "-port", &port.to_string()])
        .arg("-ca")
        .arg(ca_root.join("issuing.pem"))
        .arg("-ca-key")
        .arg(ca_root.join("private/issuing.key.pem"))
        .arg("-config")
        .arg(&config)
        .arg("-db-config")
        .arg(&db_config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("cfssl installed (apt-get install golang-cfssl)");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "cfssl serve did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// Rows in a table (and optional `WHERE` clause) of the SQLite database at `path`.
fn count_rows(path: &Path, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut c = diesel::sqlite::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
        .get_result::<Count>(&mut c)
        .unwrap()
        .n
}

/// `requests` (URL, JSON body) posted by `clients` concurrent clients, each expecting
/// `expect`; returns (requests per second, the server's CPU ms per request). The CPU is read
/// once `settled` holds after the last answer: work a server defers past its answers (the
/// notices ca-enrol's dispatcher sends with its next round) is counted, its wait is not.
fn post_all(
    runtime: &tokio::runtime::Runtime,
    server: &Server,
    bearer: Option<&str>,
    requests: Vec<(String, Value)>,
    expect: u16,
    clients: usize,
    settled: &dyn Fn() -> bool,
) -> Posted {
    let queue = Arc::new(Mutex::new(requests));
    let pid = server.child.id().to_string();
    let cpu_before = cpu_seconds(&pid);
    let start = Instant::now();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let (queue, http) = (queue.clone(), reqwest::Client::new());
                let bearer = bearer.map(str::to_string);
                tokio::spawn(async move {
                    loop {
                        let Some((url, body)) = queue.lock().unwrap().pop() else {
                            break;
                        };
                        let mut req = http.post(&url).json(&body);
                        if let Some(b) = &bearer {
                            req = req.bearer_auth(b);
                        }
                        let resp = req.send().await.unwrap();
                        let status = resp.status().as_u16();
                        let text = resp.text().await.unwrap();
                        assert_eq!(status, expect, "{url}: {text}");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let waiting = Instant::now();
    while !settled() {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "the server did not settle"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Posted {
        seconds: elapsed,
        cpu_seconds: cpu_seconds(&pid) - cpu_before,
    }
}

/// What [`post_all`] measured: the time to the last answer, and the server's CPU time until it
/// settled.
#[derive(Clone, Copy, Default)]
struct Posted {
    seconds: f64,
    cpu_seconds: f64,
}

impl std::ops::AddAssign for Posted {
    fn add_assign(&mut self, other: Posted) {
        self.seconds += other.seconds;
        self.cpu_seconds += other.cpu_seconds;
    }
}

/// Certificates per second through HTTP for P-256 CSRs, ca-enrol (on enrolments whose
/// contracts were signed through the API beforehand; each certificate recorded before
/// signing, audited, with its acceptance record) against `cfssl serve` (same RSA-2048
/// issuing key, the same CSRs, the same client), with 1 and 8 clients.
fn issuance_side_by_side(dir: &Path, ca_root: &Path, hub_dir: &Path, hub: &Arc<Hub>) {
    let count = env_or("FLOW_BENCH_ISSUANCE_COUNT", 300usize);
    let site = Site::new(dir.join("issuance"), ca_root, hub_dir, String::new());
    let ours = site.serve(0);
    let key = site.enrol_key();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rows = [1usize, 8];
    let wanted = count * rows.len();
    let prepared_at = Instant::now();
    let client = Arc::new(Client {
        http: reqwest::Client::new(),
        base: ours.base.clone(),
        key: key.clone(),
        hub: hub.clone(),
        outbox: site.data_dir().join("outbox"),
        lookup: Arc::new(Mutex::new(Lookup::open(&site))),
        signature: Arc::new(signature_image()),
    });
    let mut enrolments: Vec<String> = runtime.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let client = client.clone();
                tokio::spawn(async move {
                    let mut tally = Tally::new();
                    let mut ids = Vec::new();
                    for _ in (t..wanted).step_by(8) {
                        let n = NEXT_CITIZEN.fetch_add(1, Ordering::Relaxed);
                        match client.signed_contract(&mut tally, n).await {
                            Ok(id) => ids.push(id),
                            Err((_, e)) => panic!("preparing an enrolment failed: {e}"),
                        }
                    }
                    ids
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    println!(
        "\nissuance through HTTP: {} contract-signed enrolments prepared through the API \
         (registration, hand-over, PS0 contract, code, signature) in {:.1} s",
        enrolments.len(),
        prepared_at.elapsed().as_secs_f64()
    );
    let cfssl = start_cfssl(&site.dir, ca_root);
    let db = site.data_dir().join("ca-enrol.db");
    println!(
        "  {:<8} {:>14} {:>12} {:>14} {:>12} {:>8} {:>14}",
        "clients",
        "ca-enrol /s",
        "CPU ms/cert",
        "cfssl /s",
        "CPU ms/cert",
        "ratio",
        "rounds' ratios"
    );
    let rounds = env_or("FLOW_BENCH_ISSUANCE_ROUNDS", 5usize).clamp(1, count.max(1));
    // Each certificate's notices (SMS and e-mail) delivered.
    let delivered = || count_rows(&db, "outbox_messages WHERE status = 'pending'") == 0;
    for clients in rows {
        let (mut ours_total, mut cfssl_total) = (Posted::default(), Posted::default());
        let mut ratios = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let n = count / rounds + usize::from(round < count % rounds);
            let csrs: Vec<String> = (0..n).map(|_| csr_pem()).collect();
            let ours_requests: Vec<_> = enrolments
                .drain(..n)
                .zip(&csrs)
                .map(|(id, csr)| {
                    (
                        format!("{}/api/v1/enrolments/{id}/certificate", ours.base),
                        json!({ "csr": csr }),
                    )
                })
                .collect();
            let cfssl_requests: Vec<_> = csrs
                .iter()
                .map(|csr| {
                    (
                        format!("{}/api/v1/cfssl/sign", cfssl.base),
                        json!({ "certificate_request": csr }),
                    )
                })
                .collect();
            let post_ours = |requests| {
                post_all(
                    &runtime,
                    &ours,
                    Some(&key),
                    requests,
                    201,
                    clients,
                    &delivered,
                )
            };
            let post_cfssl =
                |requests| post_all(&runtime, &cfssl, None, requests, 200, clients, &|| true);
            // Who goes first alternates, so that neither always meets the other's wake.
            let (o, c) = if round % 2 == 0 {
                let o = post_ours(ours_requests);
                (o, post_cfssl(cfssl_requests))
            } else {
                let c = post_cfssl(cfssl_requests);
                (post_ours(ours_requests), c)
            };
            ratios.push(c.seconds / o.seconds);
            ours_total += o;
            cfssl_total += c;
        }
        let rate = |p: Posted| count as f64 / p.seconds;
        let cpu_ms = |p: Posted| p.cpu_seconds * 1e3 / count as f64;
        let (low, high) = ratios
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), r| (l.min(*r), h.max(*r)));
        println!(
            "  {clients:<8} {:>14.0} {:>12.2} {:>14.0} {:>12.2} {:>8.2} {:>14}",
            rate(ours_total),
            cpu_ms(ours_total),
            rate(cfssl_total),
            cpu_ms(cfssl_total),
            rate(ours_total) / rate(cfssl_total),
            format!("{low:.2}-{high:.2}"),
        );
    }
    println!(
        "  peak RSS: ca-enrol {:.0} MiB, cfssl {:.0} MiB",
        peak_rss_mib(&ours.child.id().to_string()),
        peak_rss_mib(&cfssl.child.id().to_string()),
    );
    drop(cfssl);
    drop(ours);
    println!(
        "  ca-enrol database: {} certificates, {} acceptance records ({} record PDFs: made on \
         first need); cfssl certdb: {} certificates",
        count_rows(&db, "certificates"),
        count_rows(&db, "acceptance_records"),
        count_rows(&db, "pdf_documents WHERE kind = 'acceptance_record'"),
        count_rows(&site.dir.join("cfssl-certdb.db"), "certificates"),
    );
    site.audit_verify("issuance side by side");
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let ca_root = dir.path().join("ca-root");
    ceremony(&ca_root);
    let hub_dir = dir.path().join("hub");
    let now = Utc::now();
    let hub = Hub::generate((
        now - chrono::Duration::days(1),
        now + chrono::Duration::days(30),
    ))
    .unwrap();
    hub.save(&hub_dir).unwrap();
    let hub = Arc::new(hub);
    println!(
        "flow benchmark: {} core(s) available; server and client unpinned on the same machine; \
         {} s per row",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        env_or("FLOW_BENCH_SECONDS", 20u64)
    );
    if env_or("FLOW_BENCH_ISSUANCE", 0) == 1 {
        issuance_side_by_side(dir.path(), &ca_root, &hub_dir, &hub);
    } else {
        rows_per_site(dir.path(), &ca_root, &hub_dir, &hub);
    }
    if env_or("FLOW_BENCH_KEEP", 0) == 1 {
        println!("kept {}", dir.keep().display());
    }
}

/// The full path's rows: SQLite with one `serve`, then PostgreSQL with one and two.
fn rows_per_site(dir: &Path, ca_root: &Path, hub_dir: &Path, hub: &Arc<Hub>) {
    let mut summary = Vec::new();
    if env_or("FLOW_BENCH_SKIP_SQLITE", 0) != 1 {
        let site = Site::new(dir.join("sqlite"), ca_root, hub_dir, String::new());
        summary.push((
            "SQLite, 1 serve",
            run_site(&site, "SQLite, 1 serve", 1, hub),
        ));
    }
    if let Ok(base) = std::env::var("FLOW_BENCH_PG_URL") {
        for processes in [1usize, 2] {
            let label = if processes == 1 {
                "PostgreSQL, 1 serve"
            } else {
                "PostgreSQL, 2 serve"
            };
            let (url, schema) = fresh_pg_schema(&base);
            let site = Site::new(dir.join(format!("pg-{processes}")), ca_root, hub_dir, url);
            let rates = run_site(&site, label, processes, hub);
            done_with_pg_schema(&base, &schema);
            summary.push((label, rates));
        }
    }
    println!("\nsummary (enrolments per minute; ratio to the same setup's first row)");
    for (label, rates) in &summary {
        let first = rates.first().map_or(1.0, |r| r.1.max(1e-9));
        let cells: Vec<String> = rates
            .iter()
            .map(|(c, r)| format!("{c} clients {r:.0} ({:.2}x)", r / first))
            .collect();
        println!("  {label:<22} {}", cells.join(", "));
    }
}
