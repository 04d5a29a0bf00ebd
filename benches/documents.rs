//! Documents benchmark (not a test): for each sealed document the service makes (the signed
//! contract, with the drawn signature; the accepted acceptance record), on one thread (so the
//! figures are per core):
//! (a) the raw signature rate of the document-sealing key (RSA-2048, development ceremony),
//! (b) rendering alone: typst layout + PDF/A-2b (`documents::render_located`),
//! (c) sealing alone: the PAdES B-B incremental update over a rendered document,
//! (d) rendering + sealing: what one signing or acceptance does,
//! printed per second with the ratios d/a and d/b. The data is what `contract/pdf.rs` and
//! `acceptance/pdf.rs` hand the templates, with a development watermark (the larger page).
//!
//! `cargo bench --bench documents` (set `DOCUMENTS_BENCH_SECONDS` to change the measuring
//! time per row).

use std::sync::Arc;
use std::time::Instant;

use ca_enrol::ca::{self, CeremonyConfig, SealingKey};
use ca_enrol::contract::{provider_data, seal_data, seal_document, Environment, Provider};
use ca_enrol::documents::{self, Image, Rendered, Request};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The development ceremony in a temp dir and its sealing key.
fn sealing_key(dir: &std::path::Path) -> SealingKey {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ca-root");
    let cfg: CeremonyConfig =
        toml::from_str(&std::fs::read_to_string(repo.join("ceremony.toml")).unwrap()).unwrap();
    ca::run_ceremony(dir, &cfg, None).unwrap();
    let der = |name: &str| {
        ca::pem_to_der(&std::fs::read(dir.join(name)).unwrap(), "CERTIFICATE").unwrap()
    };
    SealingKey::load(
        &dir.join("sealing.pem"),
        &dir.join("private/sealing.key.pem"),
        vec![der("issuing.pem"), der("root.pem")],
        None,
    )
    .unwrap()
}

/// A drawn signature: a dark wave on white, 600 × 200 grey PNG.
fn signature_png() -> Vec<u8> {
    let (w, h) = (600u32, 200u32);
    let mut pixels = vec![255u8; (w * h) as usize];
    for x in 20..w - 20 {
        let y = f64::from(h) / 2.0 + 50.0 * (f64::from(x) / 40.0).sin();
        for dy in -3i32..=3 {
            let row = (y as i32 + dy).clamp(0, h as i32 - 1) as u32;
            pixels[(row * w + x) as usize] = 20;
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    out
}

fn subscriber() -> Value {
    json!({
        "name": "Nguyễn Thị Thuỷ Tiên",
        "date_of_birth": "17/05/1990",
        "sex": "Nữ",
        "nationality": "Việt Nam",
        "id_number": "001190012345",
        "id_issue_date": "10/08/2021",
        "id_issue_place": "Cục Cảnh sát quản lý hành chính về trật tự xã hội",
        "address": "Số 1, Phường Đống Đa, Tỉnh Đắk Lắk",
        "phone": "0912 345 678",
        "email": "tien.nguyen@example.vn",
    })
}

fn contract_data(provider: &Provider, at: DateTime<Utc>, png: &[u8]) -> Value {
    json!({
        "watermark": ca_enrol::contract::WATERMARK,
        "number": "HD-2026-000123",
        "dated": "Ngày 05 tháng 12 năm 2026",
        "provider": provider_data(provider),
        "subscriber": subscriber(),
        "package": {"name": "PS0 – Cá nhân cơ bản", "term_months": "12", "price": "0 đồng", "free": true},
        "evidence": {
            "signed_at": ca_enrol::vn::time_date_seconds(at),
            "channel": "Tin nhắn SMS",
            "destination": "+84 91* *** 678",
            "challenge_id": "5f0c3a4e-8d7b-4c1e-9a55-2f1d0b6c7e88",
            "draft_sha256": ca_enrol::secrets::sha256_hex(b"draft"),
            "signature_sha256": ca_enrol::secrets::sha256_hex(png),
            "client_ip": "203.0.113.7",
            "user_agent": "SmartCA/5.2 (Android 14)",
        },
        "seal": seal_data(provider, at),
    })
}

fn acceptance_data(provider: &Provider, at: DateTime<Utc>) -> Value {
    json!({
        "watermark": ca_enrol::contract::WATERMARK,
        "dated": "Ngày 05 tháng 12 năm 2026",
        "contract_number": "HD-2026-000123",
        "package_name": "PS0 – Cá nhân cơ bản",
        "provider": provider_data(provider),
        "subscriber": subscriber(),
        "certificate": {
            "serial": "5A3F9C0D2E7B41A8C6D1F0E9B8A7C6D5",
            "holder_name": "Nguyễn Thị Thuỷ Tiên",
            "holder_id": "001190012345",
            "holder_province": "Tỉnh Đắk Lắk",
            "issuer": "CA-Enrol Development Issuing CA – CA-Enrol",
            "not_before": "10:00:00 05/12/2026",
            "not_after": "10:00:00 05/12/2027",
            "key": "RSA 2048",
            "fingerprint": "AB:".repeat(31) + "AB",
        },
        "evidence": {
            "accepted_at": ca_enrol::vn::time_date_seconds(at),
            "channel": "Tin nhắn SMS",
            "destination": "+84 91* *** 678",
            "challenge_id": "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
            "record_sha256": ca_enrol::secrets::sha256_hex(b"record"),
            "client_ip": "203.0.113.7",
            "user_agent": "SmartCA/5.2 (Android 14)",
        },
        "seal": seal_data(provider, at),
    })
}

/// Runs `f` for `secs` seconds (at least once); calls per second.
fn rate(secs: f64, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while n == 0 || start.elapsed().as_secs_f64() < secs {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let secs: f64 = std::env::var("DOCUMENTS_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let dir = tempfile::tempdir().unwrap();
    let key = Arc::new(sealing_key(dir.path()));
    let mut provider = Provider::default();
    provider
        .complete(Environment::Development, "https://ca.example.vn")
        .unwrap();
    let at = DateTime::from_timestamp(1_796_000_000, 0).unwrap();
    let png = signature_png();
    let contract = contract_data(&provider, at, &png);
    let acceptance = acceptance_data(&provider, at);
    let images = [Image {
        name: "/signature.png",
        bytes: &png,
    }];
    let documents: [(&str, &str, &Value, &[Image<'_>]); 2] = [
        (
            "contract (signed)",
            documents::CONTRACT_TEMPLATE,
            &contract,
            &images,
        ),
        (
            "acceptance (signed)",
            documents::ACCEPTANCE_TEMPLATE,
            &acceptance,
            &[],
        ),
    ];
    let render = |template: &str, data: &Value, images: &[Image<'_>]| {
        documents::render_located(&Request {
            template,
            data,
            images,
            created: at,
            ident: "bench",
        })
        .unwrap()
    };
    let seal = |r: &Rendered| {
        let copy = Rendered {
            pdf: r.pdf.clone(),
            seal_box: r.seal_box,
        };
        seal_document(copy, &key, &provider, "Đóng dấu", at).unwrap()
    };

    // The first render builds the fonts and templates (once per process): not measured.
    render(documents::CONTRACT_TEMPLATE, &contract, &images);
    let tbs = vec![0x5a_u8; 900];
    let raw = rate(secs, || {
        key.signer().sign(&tbs).unwrap();
    });
    println!(
        "documents benchmark, one thread, {secs} s per row; sealing key: {:.0} signatures/s",
        raw
    );
    println!(
        "{:<20} {:>9} {:>10} {:>10} {:>16} {:>8} {:>8}",
        "document", "bytes", "render/s", "seal/s", "render+seal/s", "vs key", "vs rend"
    );
    for (name, template, data, images) in documents {
        let rendered = render(template, data, images);
        let sealed_len = seal(&rendered).len();
        let render_rate = rate(secs, || {
            render(template, data, images);
        });
        let seal_rate = rate(secs, || {
            seal(&rendered);
        });
        let both = rate(secs, || {
            seal(&render(template, data, images));
        });
        println!(
            "{name:<20} {sealed_len:>9} {render_rate:>10.1} {seal_rate:>10.1} {both:>16.1} {:>8.3} {:>8.3}",
            both / raw,
            both / render_rate
        );
    }
}
