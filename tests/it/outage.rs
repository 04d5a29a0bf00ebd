//! A database outage (issue #19 point 2), on PostgreSQL: the app reaches the shared cluster
//! through a TCP proxy the test cuts and resumes (`common::proxy`), so other tests keep their
//! database. During the cut, API calls answer 503 `database_unavailable` with `Retry-After` in
//! about the acquire timeout (1 s) instead of the pool's former 30 s, an operator's page
//! answers 503 with a page that says to try again (not the 500 "report this" page),
//! `/readyz` answers 503,
//! and OCSP serves its cached answer until the staleness allowance (60 s, driven by the test
//! clock) has passed, then `tryLater`; once the proxy forwards again, requests succeed.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::proxy::Proxy;
use crate::common::web::web_sign_in;
use crate::common::{TestApp, TestEnv};

/// The unsigned `tryLater` OCSPResponse (RFC 6960 §4.2.1: responseStatus 3).
const TRY_LATER: [u8; 5] = [0x30, 0x03, 0x0A, 0x01, 0x03];

/// Far above the one-second acquire timeout and far below the former 30 s: not a timing
/// assertion, a "did not hang" one.
const FAST: Duration = Duration::from_secs(10);

fn ocsp_request(app: &TestApp, leaf: &Path, out: &Path) -> Vec<u8> {
    let issuing = app.env.ca_root().join("issuing.pem");
    let made = Command::new("openssl")
        .args(["ocsp", "-no_nonce", "-issuer"])
        .arg(issuing)
        .arg("-cert")
        .arg(leaf)
        .arg("-reqout")
        .arg(out)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    std::fs::read(out).unwrap()
}

async fn ocsp(app: &TestApp, request: &[u8]) -> Vec<u8> {
    let resp = app
        .http
        .post(app.url("/ocsp"))
        .header("content-type", "application/ocsp-request")
        .body(request.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap().to_vec()
}

async fn whoami(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .get(app.url("/api/v1/whoami"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_database_outage_calls_and_pages_answer_503_ocsp_serves_its_cache_then_try_later_and_all_resumes(
) {
    let env = TestEnv::new();
    if env.database_url.is_empty() {
        eprintln!(
            "skipped: the outage is a TCP proxy in front of PostgreSQL (set TEST_DATABASE_URL)"
        );
        return;
    }
    let proxy = Proxy::start(Proxy::upstream_of(&env.database_url)).await;
    let through = proxy.url_through(&env.database_url);
    let mut app = TestApp::spawn_with(env, |c| {
        c.database_url = ca_enrol::settings::Secret::new(through);
    })
    .await;
    let token = app.admin_token().await;
    let desk = web_sign_in(&mut app, "operator").await;

    // An active certificate whose good answer is served from the OCSP cache.
    let issued = crate::status::issue(&mut app, 1).await;
    app.env.sql(&format!(
        "UPDATE certificates SET status = 'active' WHERE serial = '{}'",
        issued.serial
    ));
    let request = ocsp_request(&app, &issued.leaf, &issued.dir.path().join("req.der"));
    let hits = app.state.status.ocsp_cache_stats().hits;
    // Kept once the first freshness check (started by the first answer) has been applied.
    let mut cached = Vec::new();
    for _ in 0..200 {
        cached = ocsp(&app, &request).await;
        if app.state.status.ocsp_cache_stats().hits > hits {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        app.state.status.ocsp_cache_stats().hits > hits,
        "the answer is served from the cache"
    );

    proxy.cut();

    let started = Instant::now();
    let resp = whoami(&app, &token).await;
    let took = started.elapsed();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "2");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "database_unavailable", "{body}");
    assert_eq!(body["retry_after_seconds"], 2, "{body}");
    assert!(took < FAST, "the API answered after {took:?}");
    println!("outage: the API answered 503 after {} ms", took.as_millis());

    // The operator's page: the same 503 and Retry-After, in the page's language, with no
    // operation id to report (nothing is broken, the request was not carried out).
    let started = Instant::now();
    let page = desk.get("/dashboard").await;
    let took = started.elapsed();
    assert_eq!(page.status, 503, "{}", page.body);
    assert_eq!(page.headers["retry-after"], "2");
    assert!(page.body.contains("Tạm thời gián đoạn"), "{}", page.body);
    assert!(page.body.contains("chưa được thực hiện"), "{}", page.body);
    assert!(!page.body.contains("operation-id"), "{}", page.body);
    assert!(took < FAST, "the page answered after {took:?}");

    let started = Instant::now();
    let resp = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let took = started.elapsed();
    assert!(took < FAST, "/readyz answered after {took:?}");
    println!("outage: /readyz answered 503 after {} ms", took.as_millis());

    // Within the staleness allowance the cached answer is served without the database.
    let started = Instant::now();
    assert_eq!(ocsp(&app, &request).await, cached, "the cached good answer");
    let took = started.elapsed();
    assert!(took < FAST, "OCSP answered after {took:?}");
    println!(
        "outage: OCSP answered from its cache after {} ms",
        took.as_millis()
    );
    // Past it (60 s after the last check that reached the database): tryLater.
    app.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(ocsp(&app, &request).await, TRY_LATER);

    proxy.resume();
    let resumed = Instant::now();
    loop {
        if whoami(&app, &token).await.status() == 200 {
            break;
        }
        assert!(
            resumed.elapsed() < Duration::from_secs(30),
            "still failing 30 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The figure README quotes (`--nocapture` shows it).
    println!(
        "outage: requests succeed again {} ms after the database came back",
        resumed.elapsed().as_millis()
    );
    let resp = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let page = desk.get("/dashboard").await;
    assert_eq!(page.status, 200, "{}", page.body);
    // Checked against the database again. Polled: a background job meeting one of the pool's
    // connections the cut closed marks the database unreachable until its next checkout.
    let resumed = Instant::now();
    while ocsp(&app, &request).await != cached {
        assert!(
            resumed.elapsed() < Duration::from_secs(30),
            "OCSP still not answering from a checked cache"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
