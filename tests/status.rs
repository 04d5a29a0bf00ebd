//! Revocation status services checked by tools this project did not write: `openssl ocsp` as
//! the client, pkilint on the responses.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use common::TestApp;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::X509ReqBuilder;

/// A certificate issued through the API, in `pending_acceptance`.
pub struct Issued {
    pub serial: String,
    pub leaf: PathBuf,
    pub dir: tempfile::TempDir,
}

pub async fn issue(app: &mut TestApp, n: u32) -> Issued {
    let key = common::enrol::enrol_key(app).await;
    let enrolment = common::contract::contracted(app, &key, n).await;
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let pkey = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut req = X509ReqBuilder::new().unwrap();
    req.set_pubkey(&pkey).unwrap();
    req.sign(&pkey, MessageDigest::sha256()).unwrap();
    let csr = String::from_utf8(req.build().to_pem().unwrap()).unwrap();
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
async fn ocsp_says_unknown_for_an_unknown_serial_unauthorized_for_another_issuer_and_malformed_for_garbage(
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
    assert!(run.text.contains("Response verify OK"), "{}", run.text);
    assert!(run.text.contains(": unknown"), "{}", run.text);

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
