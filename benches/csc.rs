//! Remote-signing benchmark (not a test): `RemoteSigning::sign_hash`, the domain call behind
//! `POST /csc/v2/signatures/signHash`, in process (no HTTP, no JSON), for P-256 subscriber
//! keys in a SoftHSM2 token. Each signature is one call with its own SAD and one hash, so
//! everything the endpoint does per request is measured: the credential's reach and its
//! certificate's status read from the database, the SAD read, checked and used (conditional
//! update), the signature in the token, and one `csc_signatures` row and one
//! `credential.signed` audit event, in one durable SQLite write transaction.
//!
//! Printed in one run: (a) the raw token rate (`HashSigner::sign_sha256_digest` on the same
//! kind of key, one thread), (b) `sign_hash` with 1 worker and (c) with 2 concurrent workers
//! (each its own credential), and b/a. The application is the one `serve` builds
//! (`app::prepare`, SQLite, development CA); only its key store is swapped for the token.
//! The credentials, certificates and SADs are written directly beforehand (the OTP step is a
//! human's and not part of the rate).
//!
//! `cargo bench --bench csc` (`CSC_BENCH_SIGNATURES`: signatures per worker, default 2000).
//! Skipped, saying so, when `softhsm2-util` is not installed.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use ca_enrol::audit::{Actor, NewEvent};
use ca_enrol::ca::{self, CaKeyAlgorithm, CeremonyConfig, HashSigner};
use ca_enrol::clock::{Clock, SystemClock};
use ca_enrol::config::Config;
use ca_enrol::enrolment::Status;
use ca_enrol::remote_signing::{Hashes, KeyAlgorithm, KeyStore, RemoteSigning, ECDSA_WITH_SHA256};
use ca_enrol::status::CertificateStatus;
use ca_enrol::store::{
    AuthorizationRow, CertificateRow, CredentialRow, EnrolmentRow, StoreError, CREDENTIAL_READY,
};
use chrono::{Duration, NaiveDate};

#[path = "common/softhsm2.rs"]
mod softhsm2;

/// The development ceremony's CA in `ca_root` (what `serve` loads).
fn ceremony(ca_root: &std::path::Path) {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ca-root");
    std::fs::create_dir_all(ca_root.join("profiles")).unwrap();
    for f in ["ceremony.toml", "profiles/personal.toml"] {
        std::fs::copy(repo.join(f), ca_root.join(f)).unwrap();
    }
    let cfg: CeremonyConfig =
        toml::from_str(&std::fs::read_to_string(ca_root.join("ceremony.toml")).unwrap()).unwrap();
    ca::run_ceremony(ca_root, &cfg, None).unwrap();
}

/// A subscriber with an active certificate and a ready P-256 credential in the token, and
/// `sads` single-hash authorisations for it. Returns (credential id, user id, SADs+hashes).
async fn subscriber(
    state: &ca_enrol::app::AppState,
    keys: &KeyStore,
    n: usize,
    sads: usize,
) -> (String, String, Vec<(String, String)>) {
    let now = SystemClock.now().naive_utc();
    let (enrolment_id, credential_id) = (uuid::Uuid::new_v4().to_string(), format!("bench-{n}"));
    let user = format!("0010900{n:05}");
    let generated = keys.generate(&credential_id, KeyAlgorithm::P256).unwrap();
    let spki = generated.signer.public_key_der().to_vec();
    let serial = format!("{:040x}", n + 1);
    let engine = base64::engine::general_purpose::STANDARD;
    let authorizations: Vec<(AuthorizationRow, String)> = (0..sads)
        .map(|i| {
            let hash = openssl::sha::sha256(format!("document {n}/{i}").as_bytes());
            let sad = format!("sad_bench_{n}_{i}_{}", uuid::Uuid::new_v4().simple());
            let row = AuthorizationRow {
                id: uuid::Uuid::new_v4().to_string(),
                sad_sha256: hex::encode(openssl::sha::sha256(sad.as_bytes())),
                credential_id: credential_id.clone(),
                hashes: hex::encode(hash),
                num_signatures: 1,
                otp_challenge_id: "bench".into(),
                expires_at: now + Duration::hours(1),
                used_at: None,
                created_at: now,
            };
            (row, format!("{sad}\n{}", engine.encode(hash)))
        })
        .collect();
    let out: Vec<(String, String)> = authorizations
        .iter()
        .map(|(_, s)| {
            let (sad, hash) = s.split_once('\n').unwrap();
            (sad.to_string(), hash.to_string())
        })
        .collect();
    let rows: Vec<AuthorizationRow> = authorizations.into_iter().map(|(r, _)| r).collect();
    let (id, u) = (credential_id.clone(), user.clone());
    state
        .store
        .write(move |tx| {
            tx.insert_enrolment(&EnrolmentRow {
                id: enrolment_id.clone(),
                source: "app_ekyc".into(),
                status: Status::CertificateIssued,
                id_number: u,
                full_name: "Nguyễn Văn Bench".into(),
                date_of_birth: NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
                sex: "male".into(),
                nationality: "VN".into(),
                permanent_address: "Số 1".into(),
                permanent_ward: "Phường Ba Đình".into(),
                permanent_province: "Thành phố Hà Nội".into(),
                current_address: None,
                current_ward: None,
                current_province: None,
                id_issue_date: NaiveDate::from_ymd_opt(2021, 1, 1).unwrap(),
                id_issue_place: "Cục CSQLHC về TTXH".into(),
                id_expiry_date: None,
                phone: "+84912345678".into(),
                email: None,
                consent_version: "bench".into(),
                consent_text_sha256: "bench".into(),
                consent_given_at: now,
                consent_channel: "app".into(),
                submitted_by: "bench".into(),
                enrolled_by: None,
                verified_by: None,
                created_at: now,
                updated_at: now,
                renews: None,
                integration_id: None,
            })?;
            tx.insert_certificate(&CertificateRow {
                serial: serial.clone(),
                ca_name: "bench".into(),
                enrolment_id: enrolment_id.clone(),
                package_code: "PS0".into(),
                status: CertificateStatus::Active,
                subject_dn: "CN=bench".into(),
                spki_sha256: hex::encode(openssl::sha::sha256(&spki)),
                key_description: "P-256".into(),
                not_before: now - Duration::hours(1),
                not_after: now + Duration::days(365),
                crl_shard: 0,
                tbs_der: Vec::new(),
                cert_der: None,
                created_at: now,
                signed_at: Some(now),
                revoked_at: None,
                revocation_reason: None,
                supersedes: None,
            })?;
            tx.insert_credential(&CredentialRow {
                id: id.clone(),
                enrolment_id,
                certificate_serial: Some(serial),
                key_algorithm: "P-256".into(),
                key_store: "pkcs11".into(),
                sealed_key: None,
                spki_der: Some(spki),
                state: CREDENTIAL_READY.into(),
                created_at: now,
            })?;
            for row in &rows {
                tx.insert_authorization(row)?;
            }
            // Every write transaction leaves an audit event.
            tx.audit(NewEvent::new(
                SystemClock.now(),
                &Actor::System,
                "bench.credential_prepared",
                "credential",
                &id,
                serde_json::json!({}),
            ))?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    (credential_id, user, out)
}

/// Signs with every SAD in turn through `sign_hash`; returns the count.
async fn worker(
    remote: RemoteSigning,
    credential: String,
    user: String,
    sads: Vec<(String, String)>,
) -> usize {
    let actor = Actor::System;
    for (sad, hash) in &sads {
        let hashes = Hashes::parse(std::slice::from_ref(hash)).unwrap();
        let signatures = remote
            .sign_hash(
                &actor,
                &credential,
                Some(&user),
                None,
                sad,
                hashes,
                ECDSA_WITH_SHA256,
            )
            .await
            .unwrap();
        assert_eq!(signatures.len(), 1);
    }
    sads.len()
}

fn main() {
    let per_worker: usize = std::env::var("CSC_BENCH_SIGNATURES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    let token = match softhsm2::token(dir.path(), "csc-bench") {
        Ok(t) => t,
        Err(e) => {
            println!("SKIPPED: no SoftHSM2 token ({e})");
            return;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let (data_dir, ca_root) = (dir.path().join("data"), dir.path().join("ca"));
        std::fs::create_dir_all(&data_dir).unwrap();
        ceremony(&ca_root);
        let config = Config {
            listen: "127.0.0.1:0".into(),
            data_dir,
            ca_root,
            database_pool_size: 4,
            ..Config::default()
        };
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let state = ca_enrol::app::prepare(config, clock.clone())
            .await
            .unwrap()
            .state;
        let keys = KeyStore::Token(token.clone());
        let remote = RemoteSigning::new(
            state.store.clone(),
            state.otp.clone(),
            state.issuance.clone(),
            Some(keys.clone()),
            clock,
        );

        // (a) The raw token rate: one P-256 key, one thread, no database.
        token.generate("bench-raw", CaKeyAlgorithm::P256).unwrap();
        let raw = token.signer("bench-raw", 2).unwrap();
        let digest = openssl::sha::sha256(b"raw");
        let started = Instant::now();
        let raw_n = per_worker * 2;
        for _ in 0..raw_n {
            raw.sign_sha256_digest(&digest).unwrap();
        }
        let raw_rate = raw_n as f64 / started.elapsed().as_secs_f64();

        let mut rows = Vec::new();
        for (label, workers) in [("1 worker", 1usize), ("2 workers", 2)] {
            let mut jobs = Vec::new();
            for w in 0..workers {
                jobs.push(subscriber(&state, &keys, workers * 10 + w, per_worker).await);
            }
            let started = Instant::now();
            let handles: Vec<_> = jobs
                .into_iter()
                .map(|(credential, user, sads)| {
                    tokio::spawn(worker(remote.clone(), credential, user, sads))
                })
                .collect();
            let mut total = 0;
            for h in handles {
                total += h.await.unwrap();
            }
            let rate = total as f64 / started.elapsed().as_secs_f64();
            rows.push((label, total, rate));
        }

        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        println!("remote signing (CSC signHash, in process), P-256 keys in SoftHSM2, SQLite, {cores} cores");
        println!("{:<34} {:>10} {:>12}", "", "signatures", "per second");
        println!(
            "{:<34} {:>10} {:>12.0}",
            "raw token signature (1 thread)", raw_n, raw_rate
        );
        for (label, total, rate) in rows {
            println!(
                "{:<34} {:>10} {:>12.0}   ({:.0}% of raw)",
                format!("sign_hash, {label}"),
                total,
                rate,
                100.0 * rate / raw_rate
            );
        }
    });
}
