//! Identity-document storage benchmark (not a test), one run: upload and read throughput and
//! p99 latency for ~300 KB and ~5 MiB images with 1 and 20 concurrent clients, documents in the
//! database (SQLite) against documents in a single-node Garage on 127.0.0.1. Measured at the
//! domain call the API and pages use (`Enrolments::put_document`: decode, check and re-encode
//! the image, seal under a new data key, store, the audited transaction; `read_document`:
//! fetch, open, SHA-256 check, audited), not through HTTP. The images are real JPEGs of noise
//! (which barely compresses, so their size stays near the target after re-encoding). The
//! Garage rows need the `garage` binary (`.ci/run` installs it); they are skipped, saying so,
//! without it.
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

/// A real JPEG (quality 90, the quality the server re-encodes at) of noise in 4×4 blocks,
/// `width` × 2/3 of it: noise barely compresses, so the file's size follows its area (the
/// blocks keep a 300 KB image above the 600×400 minimum). `n` varies the pixels.
fn image(width: u32, n: usize) -> Vec<u8> {
    let pixels = image::RgbImage::from_fn(width, width * 2 / 3, |x, y| {
        // splitmix64 of the block and the image number.
        let mut z = (u64::from(x / 4) | u64::from(y / 4) << 24 | (n as u64) << 48)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let [r, g, b, ..] = (z ^ (z >> 31)).to_le_bytes();
        image::Rgb([r, g, b])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(pixels)
        .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
            &mut out, 90,
        ))
        .unwrap();
    out
}

/// The width whose image comes closest to `size` bytes without passing it (the upload limit
/// is 5 MiB).
fn width_for(size: usize) -> u32 {
    let mut width = 800u32;
    for _ in 0..4 {
        let got = image(width, 0).len();
        width = (f64::from(width) * (size as f64 / got as f64).sqrt() * 0.99) as u32;
    }
    while image(width, 0).len() > size {
        width -= width / 50;
    }
    width
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

fn figures(mut latencies: Vec<Duration>, wall: Duration, bytes: usize) -> Figures {
    latencies.sort();
    let n = latencies.len();
    let p99 = latencies[(n * 99).div_ceil(100).saturating_sub(1)];
    let per_second = n as f64 / wall.as_secs_f64();
    Figures {
        per_second,
        p99_ms: p99.as_secs_f64() * 1000.0,
        mib_per_second: bytes as f64 / wall.as_secs_f64() / MIB as f64,
    }
}

/// Uploads `uploads` documents (3 per enrolment: the fourth would queue it for a video call,
/// and the reads are an RA officer's, allowed while no call waits) from `clients` tasks, then
/// reads each back. The images come from a small pool made beforehand, so making them is not
/// measured (each upload is still decoded, re-encoded and sealed under a new key).
async fn run(
    service: &Service,
    pool: &[Vec<u8>],
    clients: usize,
    uploads: usize,
    offset: usize,
) -> (Figures, Figures) {
    const KINDS: [DocumentKind; 3] = [
        DocumentKind::IdFront,
        DocumentKind::IdBack,
        DocumentKind::Portrait,
    ];
    let ids = enrolments(service, uploads.div_ceil(KINDS.len()), offset).await;
    let state = &service.state;
    let jobs: Vec<(String, DocumentKind)> = ids
        .iter()
        .flat_map(|id| KINDS.map(|k| (id.clone(), k)))
        .take(uploads)
        .collect();
    let per = jobs.len().div_ceil(clients);
    let chunks: Vec<Vec<(String, DocumentKind)>> = jobs.chunks(per).map(<[_]>::to_vec).collect();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, chunk) in chunks.clone().into_iter().enumerate() {
        let enrolments = state.enrolments.clone();
        let pool = pool.to_vec();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut bytes) = (Vec::new(), 0);
            for (i, (id, kind)) in chunk.into_iter().enumerate() {
                let image = pool[(c + i) % pool.len()].clone();
                bytes += image.len();
                let t = Instant::now();
                enrolments
                    .put_document(&Actor::Cli, &id, kind, image)
                    .await
                    .unwrap();
                lat.push(t.elapsed());
            }
            (lat, bytes)
        }));
    }
    let (mut up, mut up_bytes) = (Vec::new(), 0);
    for t in tasks {
        let (lat, bytes) = t.await.unwrap();
        up.extend(lat);
        up_bytes += bytes;
    }
    let upload = figures(up, started.elapsed(), up_bytes);

    let started = Instant::now();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let enrolments = state.enrolments.clone();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut bytes) = (Vec::new(), 0);
            for (id, kind) in chunk {
                let t = Instant::now();
                let doc = enrolments
                    .read_document(&Actor::Cli, &DocumentReader::RaOfficer, &id, kind)
                    .await
                    .unwrap();
                lat.push(t.elapsed());
                bytes += doc.bytes.len();
            }
            (lat, bytes)
        }));
    }
    let (mut down, mut down_bytes) = (Vec::new(), 0);
    for t in tasks {
        let (lat, bytes) = t.await.unwrap();
        down.extend(lat);
        down_bytes += bytes;
    }
    (upload, figures(down, started.elapsed(), down_bytes))
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
        let width = width_for(size);
        let pool: Vec<Vec<u8>> = (0..4).map(|n| image(width, n)).collect();
        eprintln!(
            "{label}: {width}×{} JPEG, {} bytes",
            width * 2 / 3,
            pool[0].len()
        );
        for clients in [1, 20] {
            for (store, state) in [
                ("database (SQLite)", Some(&db)),
                ("Garage", object.as_ref()),
            ] {
                let Some(state) = state else { continue };
                let (up, down) = run(state, &pool, clients, uploads, offset).await;
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
