//! An issuance interrupted between recording and signing (issue #19 point 4): the issuing
//! process stops after the `signing` row is committed. Until the recovery job cancels that row,
//! retries and new requests answer `503 issuance_interrupted` with `Retry-After`, and the
//! enrolment says so; after recovery the same request, with the same key pair, issues (the
//! cancelled row never certified the key), and the audit chain verifies.

use crate::common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use ca_enrol::audit::Actor;
use ca_enrol::issuance::{IdempotencyKey, Issuance};
use ca_enrol::status::CertificateStatus;
use common::signing::{ca_with, issuer, DiesOnce, DiesWhileSigning};
use common::TestApp;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509ReqBuilder;
use serde_json::{json, Value};

fn csr_pem(key: &PKey<Private>) -> String {
    let mut req = X509ReqBuilder::new().unwrap();
    req.set_pubkey(key).unwrap();
    req.sign(key, MessageDigest::sha256()).unwrap();
    String::from_utf8(req.build().to_pem().unwrap()).unwrap()
}

fn p256() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

/// The service as a process that stops at the signature would run it.
fn stopping_issuance(app: &TestApp) -> Issuance {
    let ca = ca_with(
        app,
        Arc::new(DiesWhileSigning(app.state.ca.issuing.signer().clone())),
    );
    Issuance::new(
        app.state.store.clone(),
        issuer(app, ca),
        app.state.acceptance.clone(),
        app.clock.clone(),
    )
}

/// An API key with scope `enrol`: (its id, its bearer token).
async fn enrol_key(app: &mut TestApp) -> (String, String) {
    api_key(app, &["enrol"]).await
}

/// An API key with `scopes`: (its id, its bearer token).
async fn api_key(app: &mut TestApp, scopes: &[&str]) -> (String, String) {
    let key = common::enrol::api_key(app, "app backend", json!(scopes), None).await;
    (
        key["id"].as_str().unwrap().to_string(),
        key["key"].as_str().unwrap().to_string(),
    )
}

/// POST the CSR; the status, the `Retry-After` header and the body.
async fn request(
    app: &TestApp,
    token: &str,
    enrolment: &str,
    csr: &str,
    idempotency_key: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut req = app
        .http
        .post(app.url(&format!("/api/v1/enrolments/{enrolment}/certificate")))
        .bearer_auth(token)
        .json(&json!({ "csr": csr }));
    if let Some(k) = idempotency_key {
        req = req.header("Idempotency-Key", k);
    }
    let resp = req.send().await.unwrap();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let (status, body) = common::into_parts(resp).await;
    (status, retry_after, body)
}

async fn view(app: &TestApp, token: &str, enrolment: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/v1/enrolments/{enrolment}"), Some(token))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn assert_interrupted(answer: &(u16, Option<String>, Value)) {
    let (status, retry_after, body) = answer;
    assert_eq!(*status, 503, "{body}");
    assert_eq!(body["code"], "issuance_interrupted", "{body}");
    assert!(
        !body["message_vi"].as_str().unwrap().is_empty(),
        "Vietnamese text: {body}"
    );
    // Until the row is old enough for recovery (5 min after recording, 1 min has passed),
    // plus one run of the job: about 300 s, never less than the job's interval.
    let seconds: u32 = retry_after.as_deref().unwrap().parse().unwrap();
    assert!((60..=300).contains(&seconds), "Retry-After {seconds}");
    assert_eq!(body["retry_after_seconds"], seconds, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_interrupted_before_signing_answers_so_and_issues_for_the_same_key_after_recovery(
) {
    let mut app = TestApp::spawn().await;
    let (key_id, token) = enrol_key(&mut app).await;
    let enrolment = common::contract::contracted(&app, &token, 7).await;
    let key = p256();
    let csr = csr_pem(&key);

    // The first request runs in a process that stops at the signature: its recording
    // transaction (claim, enrolment moved, row `signing`) commits, then nothing. Wait for the
    // row, then drop the request as the stopped process's client would see it: no answer.
    let stopping = stopping_issuance(&app);
    let (id, body) = (enrolment.clone(), csr.clone().into_bytes());
    let actor = Actor::ApiKey { id: key_id };
    let first = tokio::spawn(async move {
        let claim = IdempotencyKey::parse(Some("crash-1".into())).unwrap();
        stopping.issue_for_enrolment(&actor, &id, body, claim).await
    });
    let recorded = loop {
        let rows = app.certificate_rows(&enrolment).await;
        if let Some(row) = rows.into_iter().next() {
            break row;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    };
    assert_eq!(recorded.status, CertificateStatus::Signing);
    first.abort();

    // A minute on (signing takes milliseconds): the retry is told the issuance was
    // interrupted, not that a certificate exists; so is a new request, with or without a key.
    app.clock.advance(chrono::Duration::minutes(1));
    let retry = request(&app, &token, &enrolment, &csr, Some("crash-1")).await;
    assert_interrupted(&retry);
    let other = csr_pem(&p256());
    assert_interrupted(&request(&app, &token, &enrolment, &other, None).await);
    assert_interrupted(&request(&app, &token, &enrolment, &other, Some("crash-2")).await);
    let v = view(&app, &token, &enrolment).await;
    assert_eq!(v["status"], "issuance_interrupted", "{v}");
    assert_eq!(v["next_step"], "retry_issuance_later", "{v}");
    assert!(v["next_step_message"]
        .as_str()
        .unwrap()
        .contains("no certificate was issued"));

    // Recovery, once the row is stale: the row is revoked unsigned, the enrolment reopened.
    app.clock.advance(chrono::Duration::minutes(5));
    let healthy = issuer(&app, app.state.ca.issuing.clone());
    tokio::task::spawn_blocking(move || healthy.recover_blocking())
        .await
        .unwrap()
        .unwrap();
    let cancelled = app.certificate_row(&recorded.serial).await;
    assert_eq!(cancelled.status, CertificateStatus::Revoked);
    assert!(cancelled.cert_der.is_none(), "never signed");
    let v = view(&app, &token, &enrolment).await;
    assert_eq!(v["status"], "contract_signed", "{v}");
    assert_eq!(v["next_step"], "retry_issuance", "{v}");

    // The same request now issues, for the same key: the cancelled row never certified it.
    let (status, _, issued) = request(&app, &token, &enrolment, &csr, Some("crash-1")).await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["status"], "pending_acceptance");
    assert_ne!(issued["serial"], recorded.serial.as_str());
    let cert =
        openssl::x509::X509::from_pem(issued["certificate_pem"].as_str().unwrap().as_bytes())
            .unwrap();
    assert!(cert.public_key().unwrap().public_eq(&key));
    // And it is the key's answer from now on.
    let (status, _, again) = request(&app, &token, &enrolment, &csr, Some("crash-1")).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["serial"], issued["serial"]);
    let v = view(&app, &token, &enrolment).await;
    assert_eq!(v["status"], "certificate_issued", "{v}");
    assert_eq!(v["next_step"], "accept_certificate", "{v}");
    // The key is certified now: another enrolment cannot use it.
    let second = common::contract::contracted(&app, &token, 8).await;
    let (status, _, refused) = request(&app, &token, &second, &csr, None).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("key_already_certified"))
    );

    let out = app.env.command(&["audit", "verify"]).output().unwrap();
    assert!(
        out.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A signer that panics (a bug) fails the request it was signing and leaves its row `signing`
/// for recovery; the issuance writer goes on, and the next request issues.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_signer_fails_its_request_alone_and_the_next_one_issues() {
    let mut app = TestApp::spawn().await;
    let (key_id, token) = enrol_key(&mut app).await;
    let first = common::contract::contracted(&app, &token, 10).await;
    let second = common::contract::contracted(&app, &token, 11).await;
    let signer = DiesOnce {
        real: app.state.ca.issuing.signer().clone(),
        died: Default::default(),
    };
    let issuance = Issuance::new(
        app.state.store.clone(),
        issuer(&app, ca_with(&app, Arc::new(signer))),
        app.state.acceptance.clone(),
        app.clock.clone(),
    );
    let actor = Actor::ApiKey { id: key_id };

    let died = issuance
        .issue_for_enrolment(&actor, &first, csr_pem(&p256()).into_bytes(), None)
        .await;
    assert!(died.is_err(), "{died:?}");
    let rows = app.certificate_rows(&first).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, CertificateStatus::Signing);

    let key = p256();
    let issued = issuance
        .issue_for_enrolment(&actor, &second, csr_pem(&key).into_bytes(), None)
        .await
        .unwrap();
    let cert = openssl::x509::X509::from_der(&issued.cert_der).unwrap();
    assert!(cert.public_key().unwrap().public_eq(&key));
}

/// A rekey stopped at the signature: its retry is told so; the enrolment keeps its active
/// certificate (recovery does not reopen it); after recovery the retry rekeys with that key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_interrupted_rekey_answers_so_and_rekeys_the_same_key_after_recovery() {
    let mut app = TestApp::spawn().await;
    let (key_id, token) = api_key(&mut app, &["enrol", "lifecycle"]).await;
    let citizen = common::certificates::Citizen::new(9, ("Phường Cửa Nam", "Thành phố Hà Nội"));
    let (enrolment, old) = common::certificates::active(&app, &token, &citizen).await;
    let key = p256();
    let csr = csr_pem(&key);

    let stopping = stopping_issuance(&app);
    let (serial, body) = (old.clone(), csr.clone().into_bytes());
    let actor = Actor::ApiKey { id: key_id };
    let first = tokio::spawn(async move {
        let claim = IdempotencyKey::parse(Some("rekey-crash".into())).unwrap();
        stopping.rekey(&actor, &serial, body, claim).await
    });
    let recorded = loop {
        let rows = app.certificate_rows(&enrolment).await;
        if let Some(row) = rows
            .into_iter()
            .find(|r| r.status == CertificateStatus::Signing)
        {
            break row;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    };
    first.abort();

    let rekey = |csr: String| {
        let req = app
            .http
            .post(app.url(&format!("/api/v1/certificates/{old}/rekey")))
            .bearer_auth(&token)
            .header("Idempotency-Key", "rekey-crash")
            .json(&json!({ "csr": csr }));
        async move {
            let resp = req.send().await.unwrap();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let (status, body) = common::into_parts(resp).await;
            (status, retry_after, body)
        }
    };
    app.clock.advance(chrono::Duration::minutes(1));
    assert_interrupted(&rekey(csr.clone()).await);
    // The enrolment's own certificate is untouched and still what it shows.
    let v = view(&app, &token, &enrolment).await;
    assert_eq!(v["status"], "certificate_issued", "{v}");
    assert_eq!(v["next_step"], "retry_issuance_later", "{v}");

    app.clock.advance(chrono::Duration::minutes(5));
    let healthy = issuer(&app, app.state.ca.issuing.clone());
    tokio::task::spawn_blocking(move || healthy.recover_blocking())
        .await
        .unwrap()
        .unwrap();
    let cancelled = app.certificate_row(&recorded.serial).await;
    assert_eq!(cancelled.status, CertificateStatus::Revoked);
    let v = view(&app, &token, &enrolment).await;
    assert_eq!(v["status"], "certificate_issued", "{v}");
    assert_eq!(v["next_step"], "none", "{v}");

    let (status, _, issued) = rekey(csr).await;
    assert_eq!(status, 201, "{issued}");
    assert_eq!(issued["supersedes"], old.as_str());
    assert_ne!(issued["serial"], recorded.serial.as_str());
    let cert =
        openssl::x509::X509::from_pem(issued["certificate_pem"].as_str().unwrap().as_bytes())
            .unwrap();
    assert!(cert.public_key().unwrap().public_eq(&key));

    let out = app.env.command(&["audit", "verify"]).output().unwrap();
    assert!(
        out.status.success(),
        "audit verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Figures for README (not a check): how long a retry waits for its `issuance_interrupted`
/// answer, beside the replay of an answered key. Before this answer existed, the retry waited
/// 30 s and then answered `409 idempotency_key_in_use`. Run with
/// `cargo test --test it interrupted::measure -- --ignored --nocapture` (and with
/// `TEST_DATABASE_URL` for PostgreSQL).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement, printed; run by hand"]
async fn measure_interrupted_answer_latency() {
    const N: usize = 300;
    let mut app = TestApp::spawn().await;
    let (key_id, token) = enrol_key(&mut app).await;
    let stuck = common::contract::contracted(&app, &token, 7).await;
    let answered = common::contract::contracted(&app, &token, 8).await;
    let csr = csr_pem(&p256());
    let stopping = stopping_issuance(&app);
    let (id, body) = (stuck.clone(), csr.clone().into_bytes());
    let actor = Actor::ApiKey { id: key_id };
    let first = tokio::spawn(async move {
        let claim = IdempotencyKey::parse(Some("crash-1".into())).unwrap();
        stopping.issue_for_enrolment(&actor, &id, body, claim).await
    });
    loop {
        let rows = app.certificate_rows(&stuck).await;
        if !rows.is_empty() {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    first.abort();
    app.clock.advance(chrono::Duration::minutes(1));
    let other = csr_pem(&p256());
    let (status, _, _) = request(&app, &token, &answered, &other, Some("ok-1")).await;
    assert_eq!(status, 201);

    let mut rows = Vec::new();
    for (label, enrolment, csr, key) in [
        (
            "retry, interrupted (same key)",
            &stuck,
            &csr,
            Some("crash-1"),
        ),
        ("new request, interrupted (no key)", &stuck, &other, None),
        ("retry, answered (replay)", &answered, &other, Some("ok-1")),
    ] {
        let mut times = Vec::with_capacity(N);
        for _ in 0..N {
            let t = std::time::Instant::now();
            let (status, _, body) = request(&app, &token, enrolment, csr, key).await;
            times.push(t.elapsed());
            assert!(status == 503 || status == 201, "{body}");
        }
        times.sort();
        rows.push(format!(
            "{label}: median {:.2} ms, p95 {:.2} ms, max {:.2} ms over {N}",
            times[N / 2].as_secs_f64() * 1e3,
            times[N * 95 / 100].as_secs_f64() * 1e3,
            times[N - 1].as_secs_f64() * 1e3,
        ));
    }
    let db = if std::env::var("TEST_DATABASE_URL").is_ok() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    for row in rows {
        println!("{db}: {row}");
    }
}
