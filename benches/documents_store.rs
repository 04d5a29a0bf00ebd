//! Identity-document storage benchmark (not a test), one run: upload and read throughput and
//! p99 latency for 300 KB and 5 MiB images with 1 and 20 concurrent clients, documents in the
//! database (SQLite) against documents in a single-node Garage on 127.0.0.1. Measured at the
//! domain call the API and pages use (`Enrolments::put_document` / `read_document`: seal
//! under a new data key, store, the audited transaction; fetch, open, SHA-256 check), not
//! through HTTP. The Garage rows need the `garage` binary (`.ci/run` installs it); they are
//! skipped, saying so, without it.
//!
//! `CARGO_TARGET_DIR=/work/bench-target cargo bench --bench documents_store --no-run`, then run
//! the executable it prints (`DOCUMENTS_BENCH_UPLOADS` changes the uploads per row, 80).

#[allow(dead_code)]
#[path = "../tests/it/common/garage.rs"]
mod garage;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ca_enrol::app::{self, AppState};
use ca_enrol::audit::Actor;
use ca_enrol::clock::SystemClock;
use ca_enrol::config::Config;
use ca_enrol::enrolment::{DocumentKind, DocumentReader};
use serde_json::json;

const KB: usize = 1000;
const MIB: usize = 1024 * 1024;

/// A JPEG-looking image of `size` bytes (the upload path sniffs the magic bytes).
fn image(size: usize, n: usize) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    let mut x = n as u64 + 1;
    while b.len() < size - 2 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b.extend_from_slice(&x.to_le_bytes());
    }
    b.truncate(size - 2);
    b.extend_from_slice(&[0xFF, 0xD9]);
    b
}

fn copy_ca_config(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("ca-root");
    std::fs::create_dir_all(to.join("profiles")).unwrap();
    std::fs::copy(from.join("ceremony.toml"), to.join("ceremony.toml")).unwrap();
    std::fs::copy(
        from.join("profiles/personal.toml"),
        to.join("profiles/personal.toml"),
    )
    .unwrap();
}

/// A prepared service, listening (enrolments are submitted through its API), and an API key.
struct Service {
    state: AppState,
    port: u16,
    token: String,
}

async fn start(dir: &Path, tweak: impl FnOnce(&mut Config)) -> Service {
    copy_ca_config(&dir.join("ca-root"));
    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.join("data"),
        ca_root: dir.join("ca-root"),
        ..Config::default()
    };
    // Nothing is sent; keep any message in memory.
    config.notify.email.backend = ca_enrol::notify::EmailBackend::Memory;
    config.notify.sms.backend = ca_enrol::notify::SmsBackend::Memory;
    tweak(&mut config);
    let state = app::prepare(config, Arc::new(SystemClock))
        .await
        .unwrap()
        .state;
    let a = app::Application::bind(state.clone()).await.unwrap();
    let port = a.port;
    tokio::spawn(a.run(ca_enrol::router::routes, std::future::pending()));
    let integration = state
        .accounts
        .create_integration(&Actor::Cli, "bench")
        .await
        .unwrap();
    let token = state
        .accounts
        .create_api_key(
            &Actor::Cli,
            "bench",
            &["enrol".to_string()],
            Some(&integration.id),
        )
        .await
        .unwrap()
        .token;
    Service { state, port, token }
}

/// `n` enrolments awaiting documents, submitted through the API (not measured).
async fn enrolments(service: &Service, n: usize, offset: usize) -> Vec<String> {
    let (port, token) = (service.port, &service.token);
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let body = json!({
            "source": "app_ekyc",
            "identity": {
                "id_number": format!("001090{:06}", offset + i),
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
            "contact": {"phone": "0912345678", "email": "an.nguyen@example.vn"},
            "consent": {
                "version": "2025-07",
                "text_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                "given_at": "2025-12-01T09:30:00+07:00",
                "channel": "app"
            }
        });
        let resp = http
            .post(format!("http://127.0.0.1:{port}/api/v1/enrolments"))
            .bearer_auth(token)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let view: serde_json::Value = resp.json().await.unwrap();
        ids.push(view["id"].as_str().unwrap().to_string());
    }
    ids
}

struct Figures {
    per_second: f64,
    p99_ms: f64,
    mib_per_second: f64,
}

fn figures(mut latencies: Vec<Duration>, wall: Duration, size: usize) -> Figures {
    latencies.sort();
    let n = latencies.len();
    let p99 = latencies[(n * 99).div_ceil(100).saturating_sub(1)];
    let per_second = n as f64 / wall.as_secs_f64();
    Figures {
        per_second,
        p99_ms: p99.as_secs_f64() * 1000.0,
        mib_per_second: per_second * size as f64 / MIB as f64,
    }
}

/// Uploads `uploads` documents (4 per enrolment) from `clients` tasks, then reads each back.
async fn run(
    service: &Service,
    size: usize,
    clients: usize,
    uploads: usize,
    offset: usize,
) -> (Figures, Figures) {
    let ids = enrolments(service, uploads.div_ceil(4), offset).await;
    let state = &service.state;
    let jobs: Vec<(String, DocumentKind)> = ids
        .iter()
        .flat_map(|id| DocumentKind::ALL.map(|k| (id.clone(), k)))
        .take(uploads)
        .collect();
    let per = jobs.len().div_ceil(clients);
    let chunks: Vec<Vec<(String, DocumentKind)>> = jobs.chunks(per).map(<[_]>::to_vec).collect();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, chunk) in chunks.clone().into_iter().enumerate() {
        let enrolments = state.enrolments.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for (i, (id, kind)) in chunk.into_iter().enumerate() {
                let bytes = image(size, c * 1000 + i);
                let t = Instant::now();
                enrolments
                    .put_document(&Actor::Cli, &id, kind, bytes)
                    .await
                    .unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut up = Vec::new();
    for t in tasks {
        up.extend(t.await.unwrap());
    }
    let upload = figures(up, started.elapsed(), size);

    let started = Instant::now();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let enrolments = state.enrolments.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for (id, kind) in chunk {
                let t = Instant::now();
                let doc = enrolments
                    .read_document(&Actor::Cli, &DocumentReader::RaOfficer, &id, kind)
                    .await
                    .unwrap();
                assert_eq!(doc.bytes.len(), size);
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut down = Vec::new();
    for t in tasks {
        down.extend(t.await.unwrap());
    }
    (upload, figures(down, started.elapsed(), size))
}

#[tokio::main]
async fn main() {
    let uploads: usize = std::env::var("DOCUMENTS_BENCH_UPLOADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(80);
    let dir = tempfile::tempdir().unwrap();
    let db = start(&dir.path().join("db"), |_| {}).await;
    let node = garage::binary().map(|_| garage::Garage::start());
    let object = match &node {
        Some(node) => Some(
            start(&dir.path().join("obj"), |c| {
                node.use_for(c);
            })
            .await,
        ),
        None => {
            eprintln!("no `garage` binary: object-store rows skipped");
            None
        }
    };
    println!(
        "| store | image | clients | uploads/s | upload p99 ms | upload MiB/s | reads/s | read p99 ms | read MiB/s |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut offset = 0;
    for (label, size) in [("300 KB", 300 * KB), ("5 MiB", 5 * MIB)] {
        for clients in [1, 20] {
            for (store, state) in [
                ("database (SQLite)", Some(&db)),
                ("Garage", object.as_ref()),
            ] {
                let Some(state) = state else { continue };
                let (up, down) = run(state, size, clients, uploads, offset).await;
                offset += uploads;
                println!(
                    "| {store} | {label} | {clients} | {:.0} | {:.1} | {:.1} | {:.0} | {:.1} | {:.1} |",
                    up.per_second,
                    up.p99_ms,
                    up.mib_per_second,
                    down.per_second,
                    down.p99_ms,
                    down.mib_per_second
                );
            }
        }
    }
}
