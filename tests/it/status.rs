//! Revocation status services checked by tools this project did not write: `openssl ocsp` as
//! the client, pkilint on the responses.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use common::TestApp;
use serde_json::json;

/// A certificate issued through the API, in `pending_acceptance`.
pub struct Issued {
    pub serial: String,
    pub leaf: PathBuf,
    pub dir: tempfile::TempDir,
}

pub async fn issue(app: &mut TestApp, n: u32) -> Issued {
    let key = common::enrol::enrol_key(app).await;
    let enrolment = common::contract::contracted(app, &key, n).await;
    let csr = common::certificates::csr_pem();
    let (status, body) = app
        .post(
            &format!("/api/v1/enrolments/{enrolment}/certificate"),
            Some(&key),
            serde_json::json!({ "csr": csr }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let dir = tempfile::tempdir().unwrap();
    let leaf = dir.path().join("leaf.pem");
    std::fs::write(&leaf, body["certificate_pem"].as_str().unwrap()).unwrap();
    Issued {
        serial: body["serial"].as_str().unwrap().to_string(),
        leaf,
        dir,
    }
}

/// Sets a status as another module (acceptance, expiry) or a person with SQL access would.
fn set_status(app: &TestApp, serial: &str, status: &str) {
    app.env.sql(&format!(
        "UPDATE certificates SET status = '{status}' WHERE serial = '{serial}'"
    ));
}

struct OcspRun {
    text: String,
}

/// `openssl ocsp` against the running app: the status line of `leaf` and whether the
/// signature and responder chain verified. `-validity_period` allows for the tests' clock
/// running ahead of the machine's.
fn openssl_ocsp(app: &TestApp, args: &[&str]) -> OcspRun {
    let ca = app.env.ca_root();
    let url = app.url("/ocsp");
    let chain = ca.join("chain.pem");
    let mut all: Vec<&str> = vec![
        "ocsp",
        "-url",
        &url,
        "-CAfile",
        chain.to_str().unwrap(),
        "-validity_period",
        "3600",
    ];
    all.extend_from_slice(args);
    let out = Command::new("openssl").args(&all).output().unwrap();
    OcspRun {
        text: String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr),
    }
}

fn ocsp_for(app: &TestApp, leaf: &Path, extra: &[&str]) -> OcspRun {
    let issuing = app.env.ca_root().join("issuing.pem");
    // A digest option must come before -cert.
    let mut args = vec!["-issuer", issuing.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-cert", leaf.to_str().unwrap()]);
    openssl_ocsp(app, &args)
}

fn assert_verified_status(run: &OcspRun, expected: &str) {
    assert!(
        run.text.contains("Response verify OK"),
        "openssl ocsp did not verify:\n{}",
        run.text
    );
    assert!(
        run.text.contains(&format!(": {expected}")),
        "expected {expected}:\n{}",
        run.text
    );
}

fn assert_pkilint_ocsp_clean(der: &[u8]) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), der).unwrap();
    let out = Command::new("lint_ocsp_response")
        .args(["lint", "-s", "WARNING", file.path().to_str().unwrap()])
        .output()
        .expect("pkilint installed (pip install pkilint)");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.trim().is_empty(),
        "pkilint findings:\n{text}"
    );
}

/// A DER OCSP request for `leaf` made by openssl (SHA-1 CertID, as openssl sends by default).
fn ocsp_request(app: &TestApp, leaf: &Path, dir: &Path, nonce: bool) -> Vec<u8> {
    let out_path = dir.join("req.der");
    let issuing = app.env.ca_root().join("issuing.pem");
    let status = Command::new("openssl")
        .args([
            "ocsp",
            "-issuer",
            issuing.to_str().unwrap(),
            "-cert",
            leaf.to_str().unwrap(),
            if nonce { "-nonce" } else { "-no_nonce" },
            "-reqout",
            out_path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(status.status.success());
    std::fs::read(out_path).unwrap()
}

async fn post_ocsp(app: &TestApp, der: Vec<u8>) -> reqwest::Response {
    app.http
        .post(app.url("/ocsp"))
        .header("content-type", "application/ocsp-request")
        .body(der)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocsp_answers_hold_until_accepted_then_good_then_revoked_with_time_and_reason() {
    let mut app = TestApp::spawn().await;
    let cert = issue(&mut app, 1).await;

    let run = ocsp_for(&app, &cert.leaf, &[]);
    assert_verified_status(&run, "revoked");
    assert!(run.text.contains("Reason: certificateHold"), "{}", run.text);

    set_status(&app, &cert.serial, "active");
    assert_verified_status(&ocsp_for(&app, &cert.leaf, &[]), "good");

    set_status(&app, &cert.serial, "suspended");
    let run = ocsp_for(&app, &cert.leaf, &[]);
    assert_verified_status(&run, "revoked");
    assert!(run.text.contains("Reason: certificateHold"), "{}", run.text);

    app.env.sql(&format!(
        "UPDATE certificates SET status = 'revoked', revoked_at = '2026-01-02 03:04:05', \
         revocation_reason = 'keyCompromise' WHERE serial = '{}'",
        cert.serial
    ));
    let run = ocsp_for(&app, &cert.leaf, &[]);
    assert_verified_status(&run, "revoked");
    assert!(run.text.contains("Reason: keyCompromise"), "{}", run.text);
    assert!(
        run.text
            .contains("Revocation Time: Jan  2 03:04:05 2026 GMT"),
        "{}",
        run.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocsp_answers_pass_pkilint_for_every_status_and_echo_the_nonce() {
    let mut app = TestApp::spawn().await;
    let cert = issue(&mut app, 1).await;
    for status in ["pending_acceptance", "active", "revoked"] {
        set_status(&app, &cert.serial, status);
        for nonce in [false, true] {
            let req = ocsp_request(&app, &cert.leaf, cert.dir.path(), nonce);
            let resp = post_ocsp(&app, req).await;
            assert_eq!(
                resp.headers()["content-type"],
                "application/ocsp-response",
                "{status}"
            );
            let der = resp.bytes().await.unwrap().to_vec();
            assert_pkilint_ocsp_clean(&der);
        }
    }
    // openssl checks the nonce it sent comes back (it says "WARNING: no nonce in response"
    // otherwise).
    let run = ocsp_for(&app, &cert.leaf, &["-nonce"]);
    assert_verified_status(&run, "revoked");
    assert!(!run.text.contains("no nonce"), "{}", run.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocsp_says_unauthorized_for_an_unknown_serial_and_for_another_issuer_and_malformed_for_garbage(
) {
    let app = TestApp::spawn().await;
    let ca = app.env.ca_root();
    let issuing = ca.join("issuing.pem");
    let run = openssl_ocsp(
        &app,
        &[
            "-issuer",
            issuing.to_str().unwrap(),
            "-serial",
            "0x4242424242424242",
        ],
    );
    // Never issued: the unsigned status Let's Encrypt answers, not a signed `unknown`.
    assert!(run.text.contains("unauthorized (6)"), "{}", run.text);

    let root = ca.join("root.pem");
    let run = openssl_ocsp(
        &app,
        &["-issuer", root.to_str().unwrap(), "-serial", "0x4242"],
    );
    assert!(run.text.contains("unauthorized (6)"), "{}", run.text);

    let resp = post_ocsp(&app, b"not an OCSP request".to_vec()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.bytes().await.unwrap().as_ref(),
        &[0x30, 0x03, 0x0A, 0x01, 0x01],
        "malformedRequest"
    );
    let resp = app.http.get(app.url("/ocsp/%%%")).send().await.unwrap();
    assert_eq!(
        resp.bytes().await.unwrap().as_ref(),
        &[0x30, 0x03, 0x0A, 0x01, 0x01]
    );
}

/// The exact unsigned `unauthorized` OCSPResponse (RFC 6960 §2.3: responseStatus 6, no
/// responseBytes).
const UNAUTHORIZED: [u8; 5] = [0x30, 0x03, 0x0A, 0x01, 0x06];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serial_unknown_until_inserted_gets_its_real_answer_on_the_next_request() {
    let mut app = TestApp::spawn().await;
    // A certificate answered from the cache first, so the freshness checks are running.
    let warm = issue(&mut app, 1).await;
    set_status(&app, &warm.serial, "active");
    assert_verified_status(&ocsp_for(&app, &warm.leaf, &[]), "good");

    let serial = "42a1b2c3d4e5f60718293a4b5c6d7e8f";
    let issuing = app.env.ca_root().join("issuing.pem");
    let issuing = issuing.to_str().unwrap();
    let hex = format!("0x{serial}");
    let ask =
        |digest: &str| openssl_ocsp(&app, &["-issuer", issuing, digest, "-serial", &hex]).text;
    let req_path = warm.dir.path().join("unknown-req.der");
    let made = Command::new("openssl")
        .args([
            "ocsp",
            "-issuer",
            issuing,
            "-serial",
            &hex,
            "-no_nonce",
            "-reqout",
        ])
        .arg(&req_path)
        .output()
        .unwrap();
    assert!(made.status.success());
    let request = std::fs::read(&req_path).unwrap();
    let cached_before = app.state.status.ocsp_cache_stats().responses;
    for _ in 0..2 {
        let resp = post_ocsp(&app, request.clone()).await;
        assert_eq!(resp.status(), 200);
        // Not kept by HTTP caches either: the serial may be issued at any moment.
        assert_eq!(resp.headers()["cache-control"], "no-cache");
        let der = resp.bytes().await.unwrap();
        assert_eq!(der.as_ref(), &UNAUTHORIZED, "unauthorized, unsigned");
        assert_pkilint_ocsp_clean(&der);
    }
    for digest in ["-sha1", "-sha256"] {
        let text = ask(digest);
        assert!(text.contains("unauthorized (6)"), "{text}");
    }
    assert_eq!(
        app.state.status.ocsp_cache_stats().responses,
        cached_before,
        "nothing cached for the unknown serial"
    );

    // The serial is now recorded as issuance records it (`signing`, before the signature): an
    // insert, stamped by the triggers like any status change. A copy of the warm row keeps the
    // columns right on both dialects; the key column is unique.
    app.env.sql(&format!(
        "CREATE TABLE new_certificate AS SELECT * FROM certificates WHERE serial = '{}'",
        warm.serial
    ));
    app.env.sql(&format!(
        "UPDATE new_certificate SET serial = '{serial}', spki_sha256 = 'new', status = 'signing'"
    ));
    app.env
        .sql("INSERT INTO certificates SELECT * FROM new_certificate");
    // Recorded but not yet accepted: on hold (revoked, certificateHold).
    for digest in ["-sha1", "-sha256"] {
        let text = ask(digest);
        assert!(text.contains("Response verify OK"), "{text}");
        assert!(text.contains(": revoked"), "{text}");
        assert!(text.contains("certificateHold"), "{text}");
    }
    set_status(&app, serial, "active");
    for digest in ["-sha1", "-sha256"] {
        let text = ask(digest);
        assert!(text.contains("Response verify OK"), "{text}");
        assert!(text.contains(": good"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocsp_get_requests_are_answered_with_cache_control_and_verify_with_openssl() {
    let mut app = TestApp::spawn().await;
    let cert = issue(&mut app, 1).await;
    set_status(&app, &cert.serial, "active");
    let req = ocsp_request(&app, &cert.leaf, cert.dir.path(), false);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&req);
    let escaped = b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    for path in [format!("/ocsp/{b64}"), format!("/ocsp/{escaped}")] {
        let resp = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/ocsp-response");
        let cc = resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(cc.contains("max-age=60"), "{cc}");
        let der = resp.bytes().await.unwrap().to_vec();
        let resp_path = cert.dir.path().join("resp.der");
        std::fs::write(&resp_path, &der).unwrap();
        let run = ocsp_for(&app, &cert.leaf, &["-respin", resp_path.to_str().unwrap()]);
        assert_verified_status(&run, "good");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_ocsp_response_is_never_served_after_a_status_change_even_by_another_process() {
    let mut app = TestApp::spawn().await;
    let cert = issue(&mut app, 1).await;
    set_status(&app, &cert.serial, "active");
    // Warm both the SHA-1 and SHA-256 CertID caches.
    assert_verified_status(&ocsp_for(&app, &cert.leaf, &[]), "good");
    assert_verified_status(&ocsp_for(&app, &cert.leaf, &["-sha256"]), "good");
    // The change comes from outside this process (SQL), so no in-process hook can see it.
    set_status(&app, &cert.serial, "suspended");
    assert_verified_status(&ocsp_for(&app, &cert.leaf, &[]), "revoked");
    assert_verified_status(&ocsp_for(&app, &cert.leaf, &["-sha256"]), "revoked");
    set_status(&app, &cert.serial, "active");
    assert_verified_status(&ocsp_for(&app, &cert.leaf, &["-sha256"]), "good");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_concurrent_load_no_ocsp_request_started_after_a_status_change_gets_the_old_answer() {
    let mut app = TestApp::spawn().await;
    let cert = issue(&mut app, 1).await;
    set_status(&app, &cert.serial, "active");
    let request = std::sync::Arc::new(ocsp_request(&app, &cert.leaf, cert.dir.path(), false));
    let s = &app.state;
    // A second service over the same database, with its own cache: another process.
    let other = ca_enrol::status::StatusService::new(
        s.store.clone(),
        app.clock.clone(),
        s.ca.issuing.clone(),
        s.ca.ocsp.clone(),
        s.ca.profile.clone(),
    )
    .unwrap();
    let services = [s.status.clone(), other];
    // Warm both caches until they answer from memory.
    for service in &services {
        let mut tries = 0;
        while service.ocsp_cache_stats().hits == 0 {
            service.ocsp(&request).await;
            tries += 1;
            assert!(tries < 1000, "the cache never answered");
        }
    }
    let good = services[0].ocsp(&request).await.der;
    assert_verified_status(&ocsp_for(&app, &cert.leaf, &[]), "good");

    // Readers in both "processes" ask again and again; each answer is recorded with the time
    // its request started.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for i in 0..8 {
        let service = services[i % 2].clone();
        let (request, stop, good) = (request.clone(), stop.clone(), good.clone());
        readers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && seen.len() < 100_000 {
                let started = std::time::Instant::now();
                let answer = service.ocsp(&request).await;
                seen.push((started, answer.der == good));
                tokio::task::yield_now().await;
            }
            seen
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    // The change comes through SQL, outside both services.
    app.env.sql(&format!(
        "UPDATE certificates SET status = 'revoked', revoked_at = '2026-01-02 03:04:05', \
         revocation_reason = 'keyCompromise' WHERE serial = '{}'",
        cert.serial
    ));
    let committed = std::time::Instant::now();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut before, mut after) = (0, 0);
    for reader in readers {
        for (started, old_answer) in reader.await.unwrap() {
            if started > committed {
                after += 1;
                assert!(
                    !old_answer,
                    "a request started after the change got the old answer"
                );
            } else if old_answer {
                before += 1;
            }
        }
    }
    assert!(
        before > 0 && after > 0,
        "{before} answers before, {after} after"
    );
    for service in &services {
        let stats = service.ocsp_cache_stats();
        assert!(stats.hits > 0 && stats.checks > 0, "{stats:?}");
    }
    let run = ocsp_for(&app, &cert.leaf, &[]);
    assert_verified_status(&run, "revoked");
    assert!(run.text.contains("Reason: keyCompromise"), "{}", run.text);
}

// Lifecycle: revoke, suspend, resume through the API, and what OCSP says right after.

async fn lifecycle_key(app: &mut TestApp) -> String {
    common::enrol::app_key_with(app, "subscriber app", &["lifecycle"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_ocsp_request_after_a_revocation_call_already_answers_revoked() {
    let mut app = TestApp::spawn().await;
    let cert = issue(&mut app, 1).await;
    set_status(&app, &cert.serial, "active");
    let officer = common::enrol::staff(&mut app, "ra.officer", "ra_officer").await;
    // Warm the caches, in process and through HTTP.
    let request = ocsp_request(&app, &cert.leaf, cert.dir.path(), false);
    let before = app.state.status.ocsp(&request).await;
    assert!(ocsp_for(&app, &cert.leaf, &[]).text.contains(": good"));

    let (status, body) = app
        .post(
            &format!("/api/v1/certificates/{}/revoke", cert.serial),
            Some(&officer),
            json!({"reason": "keyCompromise", "note": "subscriber lost the phone"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "revoked");
    assert_eq!(body["revocation_reason"], "keyCompromise");

    let after = app.state.status.ocsp(&request).await;
    assert_ne!(
        before.der, after.der,
        "the cached good answer is not served"
    );
    let text = ocsp_for(&app, &cert.leaf, &[]).text;
    assert!(text.contains(": revoked"), "{text}");
    assert!(text.contains("Reason: keyCompromise"), "{text}");

    // Revoked is final.
    for (action, body) in [
        ("revoke", json!({"reason": "superseded"})),
        ("suspend", json!({})),
        ("resume", json!({})),
    ] {
        let (status, body) = app
            .post(
                &format!("/api/v1/certificates/{}/{action}", cert.serial),
                Some(&officer),
                body,
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("certificate_revoked")),
            "{action}"
        );
    }
    let events = common::enrol::audit_actions(&mut app, "certificate.revoked").await;
    assert_eq!(events.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_certificate_is_on_hold_until_resumed() {
    let mut app = TestApp::spawn().await;
    let cert = issue(&mut app, 1).await;
    set_status(&app, &cert.serial, "active");
    let officer = common::enrol::staff(&mut app, "ra.officer", "ra_officer").await;
    let path = |a: &str| format!("/api/v1/certificates/{}/{a}", cert.serial);

    let (status, body) = app
        .post(
            &path("suspend"),
            Some(&officer),
            json!({"note": "asked by phone"}),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("suspended")),
        "{body}"
    );
    let text = ocsp_for(&app, &cert.leaf, &[]).text;
    assert!(
        text.contains(": revoked") && text.contains("Reason: certificateHold"),
        "{text}"
    );

    let (status, body) = app.post(&path("suspend"), Some(&officer), json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("certificate_status_conflict"))
    );

    let (status, body) = app.post(&path("resume"), Some(&officer), json!({})).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("active")),
        "{body}"
    );
    assert!(ocsp_for(&app, &cert.leaf, &[]).text.contains(": good"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_revocation_takes_effect_only_with_the_otp_sent_to_the_subscriber() {
    let mut app = TestApp::spawn().await;
    let cert = issue(&mut app, 1).await;
    set_status(&app, &cert.serial, "active");
    let key = lifecycle_key(&mut app).await;
    let path = |a: &str| format!("/api/v1/certificates/{}/{a}", cert.serial);

    let (status, body) = app
        .post(
            &path("revoke"),
            Some(&key),
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("otp_code_required")),
        "{body}"
    );

    let sent_before = app.messages_to(common::contract::PHONE, 0).await.len();
    let (status, sent) = app
        .post(
            &path("revoke/otp"),
            Some(&key),
            json!({"reason": "keyCompromise"}),
        )
        .await;
    // 202 as before the code-sent answers were unified; the body is the common one.
    assert_eq!(status, 202, "{sent}");
    assert_eq!(sent["channel"], "sms", "{sent}");
    assert!(sent["challenge_id"].is_string() && sent["masked_destination"].is_string());
    let code = app.nth_otp(common::contract::PHONE, sent_before + 1).await;

    // The code confirms this reason only.
    let (status, body) = app
        .post(
            &path("revoke"),
            Some(&key),
            json!({"reason": "superseded", "otp_code": code}),
        )
        .await;
    assert_eq!(status / 100, 4, "{body}");
    assert!(ocsp_for(&app, &cert.leaf, &[]).text.contains(": good"));

    let (status, body) = app
        .post(
            &path("revoke"),
            Some(&key),
            json!({"reason": "keyCompromise", "otp_code": code, "note": "lost phone"}),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("revoked")),
        "{body}"
    );
    let text = ocsp_for(&app, &cert.leaf, &[]).text;
    assert!(
        text.contains(": revoked") && text.contains("Reason: keyCompromise"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_is_read_as_json_pem_chain_or_der_by_permitted_roles() {
    let mut app = TestApp::spawn().await;
    let cert = issue(&mut app, 1).await;
    let auditor = common::enrol::staff(&mut app, "auditor.one", "auditor").await;
    let operator = common::enrol::staff(&mut app, "video.op", "operator").await;
    let path = format!("/api/v1/certificates/{}", cert.serial);

    let (status, body) = app.get(&path, Some(&auditor)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "pending_acceptance");
    assert_eq!(body["package_code"], "PS0");
    assert!(body["contract_id"].is_string(), "{body}");

    let pem = app
        .http
        .get(app.url(&path))
        .bearer_auth(&auditor)
        .header("accept", "application/pem-certificate-chain")
        .send()
        .await
        .unwrap();
    assert_eq!(
        pem.headers()["content-type"],
        "application/pem-certificate-chain"
    );
    let pem = pem.text().await.unwrap();
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 3);
    assert!(pem.starts_with(&std::fs::read_to_string(&cert.leaf).unwrap()));

    let der = app
        .http
        .get(app.url(&path))
        .bearer_auth(&auditor)
        .header("accept", "application/pkix-cert")
        .send()
        .await
        .unwrap();
    assert_eq!(der.headers()["content-type"], "application/pkix-cert");
    let der = der.bytes().await.unwrap();
    let parsed = openssl::x509::X509::from_der(&der).unwrap();
    assert_eq!(
        parsed
            .serial_number()
            .to_bn()
            .unwrap()
            .to_hex_str()
            .unwrap()
            .to_lowercase(),
        cert.serial.trim_start_matches('0')
    );

    let (status, _) = app.get(&path, Some(&operator)).await;
    assert_eq!(status, 403);
    let (status, body) = app.get("/api/v1/certificates/0123", Some(&auditor)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("certificate_not_found"))
    );
}

// CRL: built from the database, checked by openssl and pkilint.

async fn fetch_crl(app: &TestApp) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let name = app.state.ca.issuing.name().to_string();
    let resp = app
        .http
        .get(app.url(&format!("/crl/{name}.crl")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    (headers, resp.bytes().await.unwrap().to_vec())
}

/// (serial hex lower-case without leading zeros, reason) of each CRL entry, and the number.
fn crl_listing(der: &[u8]) -> (Vec<String>, i64) {
    let crl = openssl::x509::X509Crl::from_der(der).unwrap();
    let serials = crl
        .get_revoked()
        .map(|s| {
            s.iter()
                .map(|r| {
                    r.serial_number()
                        .to_bn()
                        .unwrap()
                        .to_hex_str()
                        .unwrap()
                        .to_lowercase()
                })
                .collect()
        })
        .unwrap_or_default();
    let text = Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-crlnumber"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(der)?;
            c.wait_with_output()
        })
        .unwrap();
    let out = String::from_utf8_lossy(&text.stdout).to_string();
    let hex = out
        .trim()
        .trim_start_matches("crlNumber=")
        .trim_start_matches("0x");
    (serials, i64::from_str_radix(hex, 16).unwrap_or(-1))
}

fn bare(serial: &str) -> String {
    serial.trim_start_matches('0').to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crl_verifies_passes_pkilint_and_makes_openssl_verify_report_a_revoked_certificate() {
    let mut app = TestApp::spawn().await;
    let revoked = issue(&mut app, 1).await;
    let held = issue(&mut app, 2).await;
    let good = issue(&mut app, 3).await;
    set_status(&app, &revoked.serial, "active");
    set_status(&app, &good.serial, "active");
    let officer = common::enrol::staff(&mut app, "ra.officer", "ra_officer").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/certificates/{}/revoke", revoked.serial),
            Some(&officer),
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (headers, der) = fetch_crl(&app).await;
    assert_eq!(headers["content-type"], "application/pkix-crl");
    assert!(headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age="));
    let (serials, _) = crl_listing(&der);
    assert!(serials.contains(&bare(&revoked.serial)));
    assert!(
        serials.contains(&bare(&held.serial)),
        "not yet accepted: on hold"
    );
    assert!(!serials.contains(&bare(&good.serial)));

    let dir = tempfile::tempdir().unwrap();
    let crl_der = dir.path().join("x.crl");
    std::fs::write(&crl_der, &der).unwrap();
    let ca = app.env.ca_root();
    let out = Command::new("openssl")
        .args(["crl", "-inform", "DER", "-in", crl_der.to_str().unwrap()])
        .args([
            "-CAfile",
            ca.join("issuing.pem").to_str().unwrap(),
            "-noout",
        ])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("verify OK"), "{text}");

    let out = Command::new("lint_crl")
        .args(["lint", "-t", "CRL", "-p", "PKIX", "-s", "WARNING"])
        .arg(&crl_der)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.trim().is_empty(), "{text}");

    let crl_pem = dir.path().join("x.pem");
    let out = Command::new("openssl")
        .args(["crl", "-inform", "DER", "-in", crl_der.to_str().unwrap()])
        .args(["-out", crl_pem.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let verify = |leaf: &std::path::Path| {
        let out = Command::new("openssl")
            .args(["verify", "-crl_check", "-attime", &app.now().to_string()])
            .args(["-CAfile", ca.join("root.pem").to_str().unwrap()])
            .args(["-untrusted", ca.join("issuing.pem").to_str().unwrap()])
            .args(["-CRLfile", crl_pem.to_str().unwrap()])
            .arg(leaf)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
    };
    let text = verify(&revoked.leaf);
    assert!(text.contains("certificate revoked"), "{text}");
    let text = verify(&good.leaf);
    assert!(text.contains(": OK"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crl_lists_a_newly_revoked_certificate_within_one_second() {
    let mut app = TestApp::spawn().await;
    let cert = issue(&mut app, 1).await;
    set_status(&app, &cert.serial, "active");
    let officer = common::enrol::staff(&mut app, "ra.officer", "ra_officer").await;
    let (_, before) = fetch_crl(&app).await;
    let (serials, number_before) = crl_listing(&before);
    assert!(!serials.contains(&bare(&cert.serial)));

    let (status, body) = app
        .post(
            &format!("/api/v1/certificates/{}/revoke", cert.serial),
            Some(&officer),
            json!({"reason": "superseded"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let started = std::time::Instant::now();
    loop {
        let (_, der) = fetch_crl(&app).await;
        let (serials, number) = crl_listing(&der);
        if serials.contains(&bare(&cert.serial)) {
            assert!(number > number_before);
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "not listed within 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crl_numbers_strictly_increase_across_processes_sharing_the_database() {
    let mut app = TestApp::spawn().await;
    let cert = issue(&mut app, 1).await;
    let s = &app.state;
    // A second service over the same database, with its own caches: another process.
    let other = ca_enrol::status::StatusService::new(
        s.store.clone(),
        app.clock.clone(),
        s.ca.issuing.clone(),
        s.ca.ocsp.clone(),
        s.ca.profile.clone(),
    )
    .unwrap();
    let mut last = 0;
    for (i, status) in ["active", "suspended", "active", "revoked"]
        .iter()
        .enumerate()
    {
        set_status(&app, &cert.serial, status);
        let (first, second) = if i % 2 == 0 {
            (&s.status, &other)
        } else {
            (&other, &s.status)
        };
        let a = first.crl(0).await.unwrap();
        assert!(a.number > last, "{} after {last}", a.number);
        let b = second.crl(0).await.unwrap();
        assert_eq!(
            b.number, a.number,
            "the other process serves the same newest CRL"
        );
        last = a.number;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crls_built_concurrently_by_several_processes_only_ever_move_forward() {
    let mut app = TestApp::spawn().await;
    let mut serials = Vec::new();
    for n in 1..=4 {
        let cert = issue(&mut app, n).await;
        set_status(&app, &cert.serial, "active");
        serials.push(cert.serial);
    }
    let s = &app.state;
    // Four services over the same database, each with its own caches: four processes.
    let services: Vec<_> = (0..4)
        .map(|_| {
            ca_enrol::status::StatusService::new(
                s.store.clone(),
                app.clock.clone(),
                s.ca.issuing.clone(),
                s.ca.ocsp.clone(),
                s.ca.profile.clone(),
            )
            .unwrap()
        })
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut fetchers = Vec::new();
    for service in services {
        let stop = stop.clone();
        fetchers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let crl = service.crl(0).await.unwrap();
                seen.push((crl.number, crl.der));
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            seen
        }));
    }
    for serial in &serials {
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        app.env.sql(&format!(
            "UPDATE certificates SET status = 'revoked', revoked_at = '2026-01-02 03:04:05', \
             revocation_reason = 'keyCompromise' WHERE serial = '{serial}'"
        ));
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut by_number = std::collections::BTreeMap::new();
    for fetcher in fetchers {
        let mut last = 0;
        for (number, der) in fetcher.await.unwrap() {
            assert!(number >= last, "CRL {number} published after {last}");
            last = number;
            let known = by_number.entry(number).or_insert_with(|| der.clone());
            assert_eq!(*known, der, "two different CRLs numbered {number}");
        }
    }
    // Revocations only accumulate, so every CRL lists at least what any lower-numbered one did.
    let mut before: Vec<String> = Vec::new();
    for (number, der) in &by_number {
        let crl = openssl::x509::X509Crl::from_der(der).unwrap();
        let listed: Vec<String> = crl
            .get_revoked()
            .map(|r| {
                r.iter()
                    .map(|e| {
                        e.serial_number()
                            .to_bn()
                            .unwrap()
                            .to_hex_str()
                            .unwrap()
                            .to_lowercase()
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            before.iter().all(|b| listed.contains(b)),
            "CRL {number} lost an entry of an earlier one"
        );
        before = listed;
    }
    assert!(by_number.len() >= 5, "{} CRLs seen", by_number.len());
    for serial in &serials {
        assert!(
            before.contains(&bare(serial)),
            "{serial} missing from the last CRL"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_searched_by_id_number_and_status_with_cursor_paging() {
    let mut app = TestApp::spawn().await;
    let a = issue(&mut app, 1).await;
    let b = issue(&mut app, 2).await;
    set_status(&app, &a.serial, "active");
    let auditor = common::enrol::staff(&mut app, "auditor.one", "auditor").await;
    let operator = common::enrol::staff(&mut app, "video.op", "operator").await;

    let (status, page) = app
        .get("/api/v1/certificates?limit=1", Some(&auditor))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, next) = app
        .get(
            &format!("/api/v1/certificates?limit=1&cursor={cursor}"),
            Some(&auditor),
        )
        .await;
    let mut seen = vec![
        page["items"][0]["serial"].as_str().unwrap().to_string(),
        next["items"][0]["serial"].as_str().unwrap().to_string(),
    ];
    seen.sort();
    let mut expected = vec![a.serial.clone(), b.serial.clone()];
    expected.sort();
    assert_eq!(seen, expected);

    let (_, active) = app
        .get("/api/v1/certificates?status=active", Some(&auditor))
        .await;
    assert_eq!(active["items"].as_array().unwrap().len(), 1);
    assert_eq!(active["items"][0]["serial"], a.serial.as_str());
    let id = common::enrol::id_number(2);
    let (_, mine) = app
        .get(
            &format!("/api/v1/certificates?id_number={id}"),
            Some(&auditor),
        )
        .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    assert_eq!(mine["items"][0]["serial"], b.serial.as_str());

    let (status, body) = app
        .get("/api/v1/certificates?status=lost", Some(&auditor))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("status_invalid"))
    );
    let (status, _) = app.get("/api/v1/certificates", Some(&operator)).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_a_certificate_lifts_its_hold_in_ocsp_at_once_and_in_the_crl_within_one_second() {
    let mut app = TestApp::spawn().await;
    let cert = issue(&mut app, 1).await;
    // Before acceptance: on hold everywhere.
    let run = ocsp_for(&app, &cert.leaf, &[]);
    assert_verified_status(&run, "revoked");
    assert!(run.text.contains("Reason: certificateHold"), "{}", run.text);
    let (_, crl) = fetch_crl(&app).await;
    assert!(crl_listing(&crl).0.contains(&bare(&cert.serial)));

    // The citizen accepts with the code sent by SMS.
    let key = common::enrol::enrol_key(&mut app).await;
    let phone = common::contract::PHONE;
    let before = app.messages_to(phone, 0).await.len();
    let (status, sent) = app
        .post(
            &format!("/api/v1/certificates/{}/acceptance/otp", cert.serial),
            Some(&key),
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    let code = app.nth_otp(phone, before + 1).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/certificates/{}/acceptance", cert.serial),
            Some(&key),
            json!({"agree": true, "otp_code": code, "challenge_id": sent["challenge_id"],
                   "client_ip": "203.0.113.7", "user_agent": "SmartCA/5.2 (Android 14)"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // The first OCSP request after the confirmation already answers good.
    assert_verified_status(&ocsp_for(&app, &cert.leaf, &[]), "good");
    let started = std::time::Instant::now();
    loop {
        let (_, der) = fetch_crl(&app).await;
        if !crl_listing(&der).0.contains(&bare(&cert.serial)) {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "still on the CRL after 1 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
