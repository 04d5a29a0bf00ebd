//! Status-services benchmark (not a test). In one run it prints:
//!
//! 1. CRL build-and-sign time (sort, DER encoding, one signature) for 10,000, 100,000 and
//!    1,000,000 revoked entries, in process, with the default (RSA-2048) issuing key; the raw
//!    time of one SHA-256 pass over the same CRL bytes is the baseline.
//!    Then the same from the database: a CRL of `STATUS_BENCH_CRL_DB_ENTRIES` revoked
//!    certificates read, signed and stored by the service, and the longest wait of another
//!    writer meanwhile (the CRL is signed outside the write transaction).
//! 2. OCSP responses per second and latency p50/p99 of `ca-enrol serve` (this crate's release
//!    binary, SQLite) and, side by side, of `cfssl ocspserve` (Debian `golang-cfssl`), both
//!    answering POSTed requests for the same certificates with responses signed by the same
//!    delegated responder, driven by `wrk` with the same script, duration and connections; the
//!    ratio. cfssl 1.2's `ocspserve` answers every RFC 5019 GET with 400 (it decodes the path
//!    with its leading `/`), so GET is measured for ca-enrol alone. Beside them, ca-enrol
//!    answering POSTed requests for random serials under our issuer that were never issued
//!    (the unsigned `unauthorized` status: a database read, no signature, nothing cached),
//!    against the known-serial figure. Then, when SoftHSM2 is installed, ca-enrol again with
//!    every CA key in a SoftHSM2 token (`[ca] signer = "pkcs11"`, a token ceremony, its own
//!    certificates): OCSP responses are pre-signed and cached, so the token should be off the
//!    hot path and the figures match the file-key server's.
//!
//! Fairness: on a machine with 2 or more cores each server runs pinned to CPU 0 and `wrk` to
//! CPU 1 (`taskset`), so the load generator never takes a server's core; the servers run one
//! after the other, alternating, `STATUS_BENCH_ROUNDS` times, and the median round is
//! reported. Each server's CPU time per response (from /proc) is printed too: it does not
//! depend on what else the machine runs.
//!
//! `cargo bench --bench status`. Settings (environment): `STATUS_BENCH_CERTS` (10000),
//! `STATUS_BENCH_SECONDS` per run (10), `STATUS_BENCH_CONNECTIONS` (32), `STATUS_BENCH_ROUNDS`
//! (3), `STATUS_BENCH_PIN` (1; 0 runs everything unpinned), `STATUS_BENCH_SKIP_CRL` (0),
//! `STATUS_BENCH_CRL_DB_ENTRIES` (1000000), `STATUS_BENCH_KEEP` (0; 1 keeps the working
//! directory with the databases and server logs).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use ca_enrol::audit::Actor;
use ca_enrol::ca::{
    self, build_crl, CeremonyConfig, CertStatus, CrlRequest, IssuingCa, PersonalProfile,
    Pkcs11Token, RevocationReason, RevokedEntry, Serial, SubjectInfo, TokenKeyLabels,
};
use ca_enrol::clock::SystemClock;
use ca_enrol::issuance::{IssuanceOrder, Issuer, Term};
use ca_enrol::store::Store;
use chrono::{Duration as ChronoDuration, Utc};
use diesel::{Connection, RunQueryDsl};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::ocsp::{OcspCertId, OcspCertStatus, OcspRequest, OcspResponse, OcspResponseStatus};
use openssl::pkey::PKey;
use openssl::x509::{X509ReqBuilder, X509};

struct Settings {
    certs: usize,
    seconds: u32,
    connections: u32,
    rounds: u32,
    pin: bool,
    skip_crl: bool,
    crl_db_entries: usize,
}

impl Settings {
    fn from_env() -> Settings {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Settings {
            certs: env_or("STATUS_BENCH_CERTS", 10_000),
            seconds: env_or("STATUS_BENCH_SECONDS", 10),
            connections: env_or("STATUS_BENCH_CONNECTIONS", 32),
            rounds: env_or("STATUS_BENCH_ROUNDS", 3),
            pin: env_or("STATUS_BENCH_PIN", 1) == 1 && cores >= 2,
            skip_crl: env_or("STATUS_BENCH_SKIP_CRL", 0) == 1,
            crl_db_entries: env_or("STATUS_BENCH_CRL_DB_ENTRIES", 1_000_000),
        }
    }

    /// The command prefix that runs a program on `cpu` (nothing when unpinned).
    fn on_cpu(&self, cpu: u32, program: &str) -> Command {
        if self.pin {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpu.to_string(), program]);
            c
        } else {
            Command::new(program)
        }
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A ca-root with the checked-in configuration.
fn ca_root_config(ca_root: &Path) -> CeremonyConfig {
    std::fs::create_dir_all(ca_root.join("profiles")).unwrap();
    for f in ["ceremony.toml", "profiles/personal.toml"] {
        std::fs::copy(repo().join("ca-root").join(f), ca_root.join(f)).unwrap();
    }
    toml::from_str(&std::fs::read_to_string(ca_root.join("ceremony.toml")).unwrap()).unwrap()
}

/// A ca-root with the checked-in configuration and a fresh development CA.
fn ceremony(ca_root: &Path) -> CeremonyConfig {
    let cfg = ca_root_config(ca_root);
    ca::run_ceremony(ca_root, &cfg, None).unwrap();
    cfg
}

#[path = "common/env.rs"]
mod env;
#[path = "common/softhsm2.rs"]
mod softhsm2;
use env::env_or;
const TOKEN_LABEL: &str = "status-bench";

/// The token ceremony into `ca_root` with the service's default key labels, and the issuing
/// CA signing through the token.
fn token_ceremony(ca_root: &Path, token: &Arc<Pkcs11Token>) -> Arc<IssuingCa> {
    let cfg = ca_root_config(ca_root);
    let labels = TokenKeyLabels {
        root: "ca-enrol-root".into(),
        issuing: "ca-enrol-issuing".into(),
        ocsp: "ca-enrol-ocsp".into(),
        sealing: "ca-enrol-sealing".into(),
    };
    ca::run_token_ceremony(ca_root, &cfg, token, &labels).unwrap();
    let der = ca::pem_to_der(
        &std::fs::read(ca_root.join("issuing.pem")).unwrap(),
        "CERTIFICATE",
    )
    .unwrap();
    let signer = token.signer(&labels.issuing, 1).unwrap();
    Arc::new(IssuingCa::new(&cfg.issuing.name, der, Arc::new(signer)).unwrap())
}

fn load_issuing(ca_root: &Path, cfg: &CeremonyConfig) -> Arc<IssuingCa> {
    Arc::new(
        IssuingCa::load(
            &cfg.issuing.name,
            &ca_root.join("issuing.pem"),
            &ca_root.join("private/issuing.key.pem"),
            None,
        )
        .unwrap(),
    )
}

// ---------------------------------------------------------------------------------------------
// CRL

fn crl_figures(ca_root: &Path, cfg: &CeremonyConfig) {
    let ca = load_issuing(ca_root, cfg);
    let profile = PersonalProfile::from_toml(
        &std::fs::read_to_string(ca_root.join("profiles/personal.toml")).unwrap(),
        "http://127.0.0.1:8080",
    )
    .unwrap();
    println!(
        "\nCRL build and sign, one thread, {:?} issuing key (entries in random serial order; \
         baseline: one SHA-256 pass over the finished CRL)",
        cfg.issuing.key
    );
    println!(
        "{:>10} {:>10} {:>14} {:>16} {:>8}",
        "entries", "size MB", "build+sign ms", "SHA-256 pass ms", "ratio"
    );
    let now = Utc::now();
    for n in [10_000usize, 100_000, 1_000_000] {
        let mut entries: Vec<RevokedEntry> = (0..n)
            .map(|i| RevokedEntry {
                serial: Serial::generate().unwrap(),
                revoked_at: now - ChronoDuration::seconds(i as i64),
                reason: RevocationReason::ALL[i % RevocationReason::ALL.len()],
            })
            .collect();
        let req = CrlRequest {
            number: 1,
            this_update: now,
            next_update: now + ChronoDuration::hours(24),
            shard: None,
            distribution_point_url: profile.crl_url(ca.name(), 0),
        };
        let t = Instant::now();
        let crl = build_crl(&ca, &req, &mut entries).unwrap();
        let build = t.elapsed().as_secs_f64();
        let t = Instant::now();
        std::hint::black_box(openssl::sha::sha256(&crl));
        let hash = t.elapsed().as_secs_f64();
        println!(
            "{n:>10} {:>10.1} {:>14.1} {:>16.1} {:>8.1}",
            crl.len() as f64 / 1e6,
            build * 1e3,
            hash * 1e3,
            build / hash
        );
        if n == 1_000_000 {
            // Not a figure: the big CRL must still be one openssl accepts.
            let file = ca_root.join("big.crl");
            std::fs::write(&file, &crl).unwrap();
            let out = Command::new("openssl")
                .args(["crl", "-inform", "DER", "-noout", "-in"])
                .arg(&file)
                .arg("-CAfile")
                .arg(ca_root.join("issuing.pem"))
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success() && text.contains("verify OK"), "{text}");
            std::fs::remove_file(&file).unwrap();
            println!("{:>10} openssl crl -verify: OK", "");
        }
    }
}

/// A CRL built from the database by the service itself (read, sort, sign, store with its
/// audit event), with `n` revoked certificates, while another connection keeps taking the
/// write lock (`BEGIN IMMEDIATE; COMMIT`): how long such a writer (an issuance, a revocation)
/// had to wait at worst. The CRL is signed outside the write transaction, so that wait is the
/// storing of the CRL, not the whole build.
fn crl_from_database(dir: &Path, ca_root: &Path, cfg: &CeremonyConfig, n: usize) {
    let db = dir.join("crl-bench").join("ca-enrol.db");
    let store = Store::open_sqlite(&db, 4).unwrap();
    store.migrate().unwrap();
    let ca = load_issuing(ca_root, cfg);
    let mut conn = diesel::sqlite::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    let t = Instant::now();
    diesel::sql_query(format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
         INSERT INTO certificates (serial, ca_name, enrolment_id, package_code, status, \
         subject_dn, spki_sha256, key_description, not_before, not_after, crl_shard, tbs_der, \
         created_at, revoked_at, revocation_reason) \
         SELECT printf('7%015x', i * 7919), '{}', 'bench-' || i, 'PS0', 'revoked', 'CN=bench', \
         printf('%064x', i), 'P-256', '2026-01-01 00:00:00', '2027-01-01 00:00:00', 0, x'00', \
         '2026-01-01 00:00:00', '2026-06-01 00:00:00', 'keyCompromise' FROM n",
        ca.name()
    ))
    .execute(&mut conn)
    .unwrap();
    println!(
        "\nCRL from the database (SQLite): {n} revoked certificates inserted in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let profile = PersonalProfile::from_toml(
        &std::fs::read_to_string(ca_root.join("profiles/personal.toml")).unwrap(),
        "http://127.0.0.1:8080",
    )
    .unwrap();
    let responder = ca::OcspResponder::load(
        &ca_root.join("ocsp.pem"),
        &ca_root.join("private/ocsp.key.pem"),
        None,
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        ca_enrol::status::StatusService::new(
            store,
            Arc::new(SystemClock),
            ca,
            Arc::new(responder),
            Arc::new(profile),
        )
        .unwrap()
    });
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probe = {
        let stop = stop.clone();
        let db = db.clone();
        std::thread::spawn(move || {
            use diesel::connection::SimpleConnection;
            let mut c = diesel::sqlite::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
            c.batch_execute("PRAGMA busy_timeout = 60000;").unwrap();
            let mut worst = Duration::ZERO;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                c.batch_execute("BEGIN IMMEDIATE; COMMIT;").unwrap();
                worst = worst.max(t.elapsed());
                std::thread::sleep(Duration::from_millis(1));
            }
            worst
        })
    };
    let t = Instant::now();
    let crl = runtime.block_on(status.crl(0)).unwrap();
    let build = t.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let worst = probe.join().unwrap();
    println!(
        "  read, built, signed and stored by the service: {:.2} s ({:.1} MB); longest wait of \
         another writer meanwhile: {:.0} ms ({:.2} of the build)",
        build.as_secs_f64(),
        crl.der.len() as f64 / 1e6,
        worst.as_secs_f64() * 1e3,
        worst.as_secs_f64() / build.as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------------
// OCSP: the data set

/// One issued certificate and the OCSP answer both servers must give for it.
struct Cert {
    der: Vec<u8>,
    expected: CertStatus,
}

fn csr() -> Vec<u8> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut req = X509ReqBuilder::new().unwrap();
    req.set_pubkey(&key).unwrap();
    req.sign(&key, MessageDigest::sha256()).unwrap();
    req.build().to_der().unwrap()
}

/// Issues `n` certificates through the real issuance code into the SQLite database the server
/// will open, then gives them a realistic mix of statuses (as the lifecycle and acceptance
/// code would: status, revocation time and reason columns): 60% active, 20% revoked (key
/// compromise, superseded, cessation of operation), 10% suspended, 10% not yet accepted.
fn issue_certificates(data: &Path, ca_root: &Path, ca: Arc<IssuingCa>, n: usize) -> Vec<Cert> {
    let db = data.join("ca-enrol.db");
    let store = Store::open_sqlite(&db, 2).unwrap();
    store.migrate().unwrap();
    // The master key and its check value, as the service's first start makes them: the server
    // started on this database afterwards refuses a non-empty database without them.
    let config = ca_enrol::config::Config {
        data_dir: data.to_path_buf(),
        ..Default::default()
    };
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(ca_enrol::app::master_key(&config, &store, &SystemClock))
        .unwrap();
    let profile = PersonalProfile::from_toml(
        &std::fs::read_to_string(ca_root.join("profiles/personal.toml")).unwrap(),
        "http://127.0.0.1:8080",
    )
    .unwrap();
    let issuer = Issuer::new(
        store.clone(),
        ca.clone(),
        Arc::new(profile),
        Arc::new(SystemClock),
    );
    let mut issued = Vec::with_capacity(n);
    for i in 0..n {
        let order = IssuanceOrder {
            enrolment_id: format!("bench-{i}"),
            subject: SubjectInfo {
                full_name: "Nguyễn Thị Ánh Tuyết".into(),
                id_number: format!("001301{:06}", i % 1_000_000),
                province: "Thành phố Hà Nội".into(),
                locality: Some("Phường Cửa Nam".into()),
                email: None,
            },
            package_code: "PS0".into(),
            term: Term::Months(12),
            supersedes: None,
        };
        let cert = issuer
            .issue_blocking(&Actor::System, &order, &csr())
            .unwrap();
        issued.push(cert);
    }
    let revoked_at = (Utc::now() - ChronoDuration::days(1)).format("%Y-%m-%d %H:%M:%S");
    let mut conn = diesel::sqlite::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    conn.immediate_transaction(|c| {
        for (i, cert) in issued.iter().enumerate() {
            let set = match i % 10 {
                0..=5 => "status = 'active'".to_string(),
                6 => format!(
                    "status = 'revoked', revoked_at = '{revoked_at}', \
                     revocation_reason = 'keyCompromise'"
                ),
                7 => format!(
                    "status = 'revoked', revoked_at = '{revoked_at}', revocation_reason = '{}'",
                    if i % 20 == 7 {
                        "superseded"
                    } else {
                        "cessationOfOperation"
                    }
                ),
                8 => format!("status = 'suspended', revoked_at = '{revoked_at}'"),
                _ => continue,
            };
            diesel::sql_query(format!(
                "UPDATE certificates SET {set} WHERE serial = '{}'",
                cert.serial
            ))
            .execute(c)?;
        }
        Ok::<_, diesel::result::Error>(())
    })
    .unwrap();
    // What OCSP must say, by the service's own mapping from the stored row.
    issued
        .into_iter()
        .map(|cert| {
            let serial = cert.serial.clone();
            let row = store
                .read_blocking(move |tx| tx.certificate_status(&serial))
                .unwrap()
                .unwrap();
            Cert {
                expected: ca_enrol::status::ocsp_status(&row, ca.name()),
                der: cert.cert_der,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// OCSP: cfssl's database of pre-signed responses

/// Fills a cfssl certdb (SQLite, cfssl's schema) with the same certificates and statuses, lets
/// `cfssl ocsprefresh` sign a response for each with our delegated responder's key, and dumps
/// them with `cfssl ocspdump` into the file `cfssl ocspserve` serves.
fn cfssl_responses(dir: &Path, ca_root: &Path, certs: &[Cert]) -> PathBuf {
    let db = dir.join("cfssl-certdb.db");
    let mut conn = diesel::sqlite::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
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
    let expiry = (Utc::now() + ChronoDuration::days(365)).format("%Y-%m-%d %H:%M:%S");
    conn.immediate_transaction(|c| {
        for cert in certs {
            let x = X509::from_der(&cert.der).unwrap();
            let serial = x.serial_number().to_bn().unwrap().to_dec_str().unwrap();
            let aki = hex::encode(x.authority_key_id().unwrap().as_slice());
            let pem = String::from_utf8(x.to_pem().unwrap()).unwrap();
            let (status, reason, revoked_at) = match &cert.expected {
                // cfssl 1.2 cannot read a NULL revocation time; it ignores it for "good".
                CertStatus::Good => ("good", 0, "'1970-01-01 00:00:00'".to_string()),
                CertStatus::Revoked { at, reason } => (
                    "revoked",
                    reason.map_or(0, |r| r.code()),
                    format!("'{}'", at.format("%Y-%m-%d %H:%M:%S")),
                ),
                CertStatus::Unknown => unreachable!("every certificate is known"),
            };
            diesel::sql_query(format!(
                "INSERT INTO certificates (serial_number, authority_key_identifier, ca_label, \
                 status, reason, expiry, revoked_at, pem) VALUES ('{serial}', '{aki}', '', \
                 '{status}', {reason}, '{expiry}', {revoked_at}, '{pem}')"
            ))
            .execute(c)?;
        }
        Ok::<_, diesel::result::Error>(())
    })
    .unwrap();
    let db_config = dir.join("cfssl-db.json");
    std::fs::write(
        &db_config,
        format!(
            // Without WAL and with a sync per insert, ocsprefresh writes ~80 responses/s.
            r#"{{"driver":"sqlite3","data_source":"file:{}?_journal_mode=WAL&_synchronous=OFF"}}"#,
            db.to_str().unwrap()
        ),
    )
    .unwrap();
    let t = Instant::now();
    let out = Command::new("cfssl")
        .arg("ocsprefresh")
        .arg("-db-config")
        .arg(&db_config)
        .arg("-ca")
        .arg(ca_root.join("issuing.pem"))
        .arg("-responder")
        .arg(ca_root.join("ocsp.pem"))
        .arg("-responder-key")
        .arg(ca_root.join("private/ocsp.key.pem"))
        .output()
        .expect("cfssl installed (apt-get install golang-cfssl)");
    assert!(
        out.status.success(),
        "cfssl ocsprefresh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "  cfssl ocsprefresh signed {} responses in {:.1} s",
        certs.len(),
        t.elapsed().as_secs_f64()
    );
    let out = Command::new("cfssl")
        .arg("ocspdump")
        .arg("-db-config")
        .arg(&db_config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cfssl ocspdump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let responses = dir.join("cfssl-responses.txt");
    std::fs::write(&responses, &out.stdout).unwrap();
    responses
}

// ---------------------------------------------------------------------------------------------
// OCSP: requests, servers, load

/// One certificate's OCSP request: DER (for POST), the RFC 5019 GET path suffix (base64 with
/// `+`, `/` and `=` percent-escaped) and the CertID to find in the answer. SHA-1 CertIDs, as
/// browsers and `openssl ocsp` send them.
struct Query {
    der: Vec<u8>,
    get_suffix: String,
    id: OcspCertId,
}

fn query(cert: &X509, issuer: &X509) -> Query {
    let cert_id = || OcspCertId::from_cert(MessageDigest::sha1(), cert, issuer).unwrap();
    let mut req = OcspRequest::new().unwrap();
    req.add_id(cert_id()).unwrap();
    let der = req.to_der().unwrap();
    let get_suffix = base64::engine::general_purpose::STANDARD
        .encode(&der)
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    Query {
        der,
        get_suffix,
        id: cert_id(),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Server {
    name: &'static str,
    child: Child,
    base: String,
    /// Where OCSP requests are POSTed; GET paths are this plus the base64 request.
    ocsp_path: &'static str,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// User + system CPU seconds the process has used so far.
    fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // In clock ticks: USER_HZ, 100 on Linux.
        (ticks(11) + ticks(12)) / 100.0
    }
}

/// `ca-enrol serve` on the database under `dir/data`, with `env` added (the token settings).
fn start_ours(
    s: &Settings,
    name: &'static str,
    dir: &Path,
    ca_root: &Path,
    env: &[(&str, &str)],
) -> Server {
    let log = std::fs::File::create(dir.join("ca-enrol.log")).unwrap();
    let mut child = s
        .on_cpu(0, env!("CARGO_BIN_EXE_ca-enrol"))
        .arg("serve")
        .current_dir(dir)
        .env("CA_ENROL_DATA_DIR", dir.join("data"))
        .env("CA_ENROL_CA_ROOT", ca_root)
        .env("CA_ENROL_LISTEN", "127.0.0.1:0")
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
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
    Server {
        name,
        child,
        base,
        ocsp_path: "/ocsp",
    }
}

fn start_cfssl(s: &Settings, dir: &Path, responses: &Path) -> Server {
    let port = free_port();
    let log = std::fs::File::create(dir.join("cfssl.log")).unwrap();
    let child = s
        .on_cpu(0, "cfssl")
        .arg("ocspserve")
        .args(["-address", "127.0.0.1", "-port", &port.to_string()])
        .arg("-responses")
        .arg(responses)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_for_port(port);
    Server {
        name: "cfssl",
        child,
        base: format!("http://127.0.0.1:{port}"),
        ocsp_path: "/",
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Method {
    Get,
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// Asks `server` once for every certificate and checks the answer is a successful response
/// with the expected status and reason: both servers must serve the same statuses for the
/// comparison to mean anything. For ca-enrol this also pre-signs every response, which is its
/// steady state.
fn check_answers(server: &Server, method: Method, certs: &[Cert], queries: &[Query]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let mut sizes = 0usize;
    runtime.block_on(async {
        for (cert, q) in certs.iter().zip(queries) {
            let request = match method {
                Method::Get => client.get(format!(
                    "{}{}/{}",
                    server.base,
                    server.ocsp_path.trim_end_matches('/'),
                    q.get_suffix
                )),
                Method::Post => client
                    .post(format!("{}{}", server.base, server.ocsp_path))
                    .header("content-type", "application/ocsp-request")
                    .body(q.der.clone()),
            };
            let resp = request.send().await.unwrap();
            let what = format!("{} {}", server.name, method.as_str());
            assert_eq!(resp.status(), 200, "{what}");
            let der = resp.bytes().await.unwrap();
            sizes += der.len();
            let resp = OcspResponse::from_der(&der).unwrap();
            assert_eq!(resp.status(), OcspResponseStatus::SUCCESSFUL, "{what}");
            let basic = resp.basic().unwrap();
            let found = basic
                .find_status(&q.id)
                .expect("the response answers the CertID");
            let (status, reason) = match &cert.expected {
                CertStatus::Good => (OcspCertStatus::GOOD, None),
                CertStatus::Revoked { reason, .. } => {
                    (OcspCertStatus::REVOKED, reason.map(|r| r.code()))
                }
                CertStatus::Unknown => unreachable!(),
            };
            assert_eq!(found.status, status, "{what}");
            if let Some(code) = reason {
                assert_eq!(found.reason.as_raw(), i32::from(code), "{what}");
            }
        }
    });
    println!(
        "  {} {}: all {} answers checked (status and reason), {} bytes on average",
        server.name,
        method.as_str(),
        certs.len(),
        sizes / certs.len().max(1)
    );
}

/// Every never-issued serial is answered with the unsigned `unauthorized` status.
fn check_unknown(server: &Server, requests: &[Vec<u8>]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    runtime.block_on(async {
        for der in requests {
            let resp = client
                .post(format!("{}{}", server.base, server.ocsp_path))
                .header("content-type", "application/ocsp-request")
                .body(der.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let resp = OcspResponse::from_der(&resp.bytes().await.unwrap()).unwrap();
            assert_eq!(resp.status(), OcspResponseStatus::UNAUTHORIZED);
        }
    });
    println!(
        "  {} POST: all {} never-issued serials answered unauthorized",
        server.name,
        requests.len()
    );
}

struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
    cpu_us_per_response: f64,
}

/// A load run: `server` answering `method` requests listed in `file`.
struct Scenario<'a> {
    server: &'a Server,
    method: Method,
    file: PathBuf,
    /// What the requests ask about, when not the issued certificates.
    what: &'static str,
}

impl Scenario<'_> {
    fn label(&self) -> String {
        format!("{} {}{}", self.server.name, self.method.as_str(), self.what)
    }

    fn run(&self, s: &Settings, seconds: u32) -> Run {
        let cpu_before = self.server.cpu_seconds();
        let mut cmd = s.on_cpu(1, "wrk");
        cmd.args(["-t1", "--latency", "--timeout", "5s"])
            .arg(format!("-c{}", s.connections))
            .arg(format!("-d{seconds}s"))
            .arg("-s")
            .arg(repo().join("benches/ocsp.lua"))
            .arg(&self.server.base)
            .arg("--")
            .arg(&self.file);
        match self.method {
            Method::Get => cmd.arg("get"),
            Method::Post => cmd.args(["post", self.server.ocsp_path]),
        };
        let out = cmd.output().expect("wrk installed (apt-get install wrk)");
        let cpu = self.server.cpu_seconds() - cpu_before;
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("WRK_RESULT "))
            .unwrap_or_else(|| {
                panic!(
                    "wrk output:\n{text}{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        let v: Vec<f64> = line
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        let requests = v[0];
        Run {
            rps: requests / (v[1] / 1e6),
            errors: (v[2] + v[3]) as u64,
            p50_ms: v[4] / 1e3,
            p99_ms: v[5] / 1e3,
            max_ms: v[6] / 1e3,
            cpu_us_per_response: cpu * 1e6 / requests.max(1.0),
        }
    }
}

fn median_run(runs: &mut [Run]) -> &Run {
    runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    &runs[runs.len() / 2]
}

/// One OCSP request per certificate, and the files `wrk` reads them from: hex DER for POST
/// (`dir/requests.hex`) and RFC 5019 GET paths (`dir/requests.get`).
fn requests(dir: &Path, ca_root: &Path, certs: &[Cert]) -> (Vec<Query>, PathBuf, PathBuf) {
    let issuer = X509::from_pem(&std::fs::read(ca_root.join("issuing.pem")).unwrap()).unwrap();
    let queries: Vec<Query> = certs
        .iter()
        .map(|c| query(&X509::from_der(&c.der).unwrap(), &issuer))
        .collect();
    let post_file = dir.join("requests.hex");
    let mut f = std::fs::File::create(&post_file).unwrap();
    for q in &queries {
        writeln!(f, "{}", hex::encode(&q.der)).unwrap();
    }
    let get_file = dir.join("requests.get");
    let mut f = std::fs::File::create(&get_file).unwrap();
    for q in &queries {
        writeln!(f, "/ocsp/{}", q.get_suffix).unwrap();
    }
    (queries, post_file, get_file)
}

/// The server with every CA key in the SoftHSM2 token, on its own CA and certificates, and
/// its POST and GET request files.
fn token_server(
    s: &Settings,
    dir: &Path,
    token: &Arc<Pkcs11Token>,
) -> (Server, Vec<Cert>, Vec<Query>, PathBuf, PathBuf) {
    let dir = dir.join("token");
    let ca_root = dir.join("ca-root");
    let ca = token_ceremony(&ca_root, token);
    let t = Instant::now();
    let certs = issue_certificates(&dir.join("data"), &ca_root, ca, s.certs);
    println!(
        "  token CA: {} certificates issued through the token in {:.1} s",
        s.certs,
        t.elapsed().as_secs_f64()
    );
    let (queries, post, get) = requests(&dir, &ca_root, &certs);
    let server = start_ours(
        s,
        "ca-enrol token",
        &dir,
        &ca_root,
        &[
            ("CA_ENROL_CA__SIGNER", "pkcs11"),
            ("CA_ENROL_CA__PKCS11__MODULE", softhsm2::MODULE),
            ("CA_ENROL_CA__PKCS11__TOKEN_LABEL", TOKEN_LABEL),
            ("PKCS11_PIN", softhsm2::PIN),
        ],
    );
    (server, certs, queries, post, get)
}

fn ocsp_figures(
    s: &Settings,
    dir: &Path,
    ca_root: &Path,
    cfg: &CeremonyConfig,
    token: Option<&Arc<Pkcs11Token>>,
) {
    println!(
        "\nOCSP: {} certificates issued through the issuance code into SQLite",
        s.certs
    );
    let t = Instant::now();
    let certs = issue_certificates(
        &dir.join("data"),
        ca_root,
        load_issuing(ca_root, cfg),
        s.certs,
    );
    println!("  issued in {:.1} s", t.elapsed().as_secs_f64());
    let responses = cfssl_responses(dir, ca_root, &certs);
    let (queries, post_file, get_file) = requests(dir, ca_root, &certs);

    // The same requests with the serial (16 random octets, as issuance draws them) replaced
    // by another random one: serials under our issuer that were never issued.
    let unknown_file = dir.join("requests-unknown.hex");
    let mut f = std::fs::File::create(&unknown_file).unwrap();
    let unknown: Vec<Vec<u8>> = certs
        .iter()
        .zip(&queries)
        .map(|(c, q)| {
            let serial = X509::from_der(&c.der)
                .unwrap()
                .serial_number()
                .to_bn()
                .unwrap()
                .to_vec();
            let at = q
                .der
                .windows(serial.len())
                .position(|w| w == serial.as_slice())
                .unwrap();
            let mut der = q.der.clone();
            let mut fresh = vec![0u8; serial.len()];
            openssl::rand::rand_bytes(&mut fresh).unwrap();
            // Positive, and no leading zero octet to drop: the DER length stays the same.
            fresh[0] = (fresh[0] & 0x7f) | 0x40;
            der[at..at + serial.len()].copy_from_slice(&fresh);
            writeln!(f, "{}", hex::encode(&der)).unwrap();
            der
        })
        .collect();

    let ours = start_ours(s, "ca-enrol", dir, ca_root, &[]);
    check_unknown(&ours, &unknown);
    let cfssl = start_cfssl(s, dir, &responses);
    check_answers(&ours, Method::Post, &certs, &queries);
    check_answers(&ours, Method::Get, &certs, &queries);
    check_answers(&cfssl, Method::Post, &certs, &queries);
    let token = token.map(|t| token_server(s, dir, t));
    if let Some((server, certs, queries, _, _)) = &token {
        check_answers(server, Method::Post, certs, queries);
        check_answers(server, Method::Get, certs, queries);
    }
    // cfssl 1.2's ocspserve cannot answer GET: it base64-decodes the path with its leading
    // '/' and turns '+' into ' ' (400 for every request), so the comparison uses POST.
    let mut scenarios = vec![
        Scenario {
            server: &ours,
            method: Method::Post,
            file: post_file.clone(),
            what: "",
        },
        Scenario {
            server: &cfssl,
            method: Method::Post,
            file: post_file,
            what: "",
        },
        Scenario {
            server: &ours,
            method: Method::Get,
            file: get_file,
            what: "",
        },
        Scenario {
            server: &ours,
            method: Method::Post,
            file: unknown_file,
            what: " unknown",
        },
    ];
    if let Some((server, _, _, post, get)) = &token {
        for (method, file) in [(Method::Post, post), (Method::Get, get)] {
            scenarios.push(Scenario {
                server,
                method,
                file: file.clone(),
                what: "",
            });
        }
    }
    println!(
        "  method: wrk -t1 -c{} -d{}s, a random certificate per request; {}; \
         {} alternating rounds after a 2 s warm-up each",
        s.connections,
        s.seconds,
        if s.pin {
            "servers on CPU 0, wrk on CPU 1 (taskset)"
        } else {
            "unpinned"
        },
        s.rounds
    );
    for sc in &scenarios {
        sc.run(s, 2);
    }
    let mut results: Vec<Vec<Run>> = scenarios.iter().map(|_| Vec::new()).collect();
    println!(
        "{:>6} {:<21} {:>11} {:>8} {:>8} {:>8} {:>7} {:>14}",
        "round", "server", "responses/s", "p50 ms", "p99 ms", "max ms", "errors", "CPU us/resp"
    );
    for round in 1..=s.rounds {
        for (sc, runs) in scenarios.iter().zip(results.iter_mut()) {
            let r = sc.run(s, s.seconds);
            println!(
                "{round:>6} {:<21} {:>11.0} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>14.1}",
                sc.label(),
                r.rps,
                r.p50_ms,
                r.p99_ms,
                r.max_ms,
                r.errors,
                r.cpu_us_per_response
            );
            runs.push(r);
        }
    }
    println!("\nOCSP summary (median round of {}):", s.rounds);
    let medians: Vec<&Run> = results.iter_mut().map(|r| median_run(r)).collect();
    for (sc, r) in scenarios.iter().zip(&medians) {
        println!(
            "  {:<21} {:>7.0} responses/s, p50 {:.2} ms, p99 {:.2} ms, {:.1} us CPU per response",
            sc.label(),
            r.rps,
            r.p50_ms,
            r.p99_ms,
            r.cpu_us_per_response
        );
    }
    let (ours_post, cfssl_post, ours_get, ours_unknown) =
        (medians[0], medians[1], medians[2], medians[3]);
    println!(
        "  unknown serials / issued ones (POST): {:.2} x responses/s, {:.2} x CPU per response",
        ours_unknown.rps / ours_post.rps,
        ours_unknown.cpu_us_per_response / ours_post.cpu_us_per_response
    );
    println!(
        "  ratio ca-enrol / cfssl (POST): {:.2} x responses/s, {:.2} x CPU per response",
        ours_post.rps / cfssl_post.rps,
        ours_post.cpu_us_per_response / cfssl_post.cpu_us_per_response
    );
    let worst_rps = ours_post.rps.min(ours_get.rps);
    let worst_p99 = ours_post.p99_ms.max(ours_get.p99_ms);
    println!(
        "  targets (GET and POST): >= 30,000 responses/s {}, p99 < 5 ms {}, >= 2 x cfssl {}",
        verdict(worst_rps >= 30_000.0),
        verdict(worst_p99 < 5.0),
        verdict(ours_post.rps >= 2.0 * cfssl_post.rps)
    );
    if let [token_post, token_get] = medians[4..] {
        println!(
            "  keys in the SoftHSM2 token / keys in files: POST {:.2} x responses/s, \
             GET {:.2} x; CPU per response POST {:.2} x",
            token_post.rps / ours_post.rps,
            token_get.rps / ours_get.rps,
            token_post.cpu_us_per_response / ours_post.cpu_us_per_response
        );
        println!(
            "  targets with the responder key in the token (GET and POST): \
             >= 30,000 responses/s {}, p99 < 5 ms {}",
            verdict(token_post.rps.min(token_get.rps) >= 30_000.0),
            verdict(token_post.p99_ms.max(token_get.p99_ms) < 5.0)
        );
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

fn main() {
    let s = Settings::from_env();
    let dir = tempfile::tempdir().unwrap();
    let token = match softhsm2::token(dir.path(), TOKEN_LABEL) {
        Ok(token) => Some(token),
        Err(why) => {
            println!("SoftHSM2 rows skipped: {why}");
            None
        }
    };
    let ca_root = dir.path().join("ca-root");
    let cfg = ceremony(&ca_root);
    println!(
        "status benchmark: {} core(s) available",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if !s.skip_crl {
        crl_figures(&ca_root, &cfg);
        crl_from_database(dir.path(), &ca_root, &cfg, s.crl_db_entries);
    }
    ocsp_figures(&s, dir.path(), &ca_root, &cfg, token.as_ref());
    if env_or("STATUS_BENCH_KEEP", 0) == 1 {
        println!("kept {}", dir.keep().display());
    }
}
